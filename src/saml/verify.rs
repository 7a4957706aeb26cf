//! From untrusted bytes to a verified assertion view: pre-scan, choose the issuer's certificate, verify the
//! signature, read claims from the signed bytes only, then the protocol checks.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::checks::{self, Checked, SamlPolicy};
use super::dsig::{self, TrustAnchor};
use super::extract;
use super::prescan::{self, Root, XmlLimits};
use super::view::AssertionView;
use crate::error::{shown, Rejection};
use crate::saml::uri;

/// The certificates of the issuers we trust, by entity id. Nothing else is ever used to verify.
#[derive(Debug, Default)]
pub struct TrustStore {
    anchors: HashMap<String, TrustAnchor>,
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, entity_id: &str, anchor: TrustAnchor) {
        self.anchors.insert(entity_id.to_string(), anchor);
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.anchors.keys().map(String::as_str)
    }

    pub fn get(&self, issuer: &str) -> Option<&TrustAnchor> {
        self.anchors.get(issuer)
    }
}

/// An assertion whose signature verified with a trusted issuer's certificate and that passed the protocol
/// checks. Its only constructor is [`verify`], so holding one proves both.
#[derive(Debug, Clone)]
pub struct Verified {
    view: AssertionView,
    checked: Checked,
}

impl Verified {
    pub fn view(&self) -> &AssertionView {
        &self.view
    }

    pub fn checked(&self) -> &Checked {
        &self.checked
    }
}

pub fn verify(
    xml: &[u8],
    trust: &TrustStore,
    policy: &SamlPolicy,
    limits: &XmlLimits,
    requested_audience: Option<&str>,
    now: OffsetDateTime,
) -> Result<Verified, Rejection> {
    let shape = prescan::scan(xml, limits)?;
    let issuer = shape
        .assertion_issuer
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::iss("the assertion has no Issuer"))?;
    let anchor = trust
        .anchors
        .get(issuer)
        .ok_or_else(|| Rejection::iss(format!("issuer {} is not trusted", shown(issuer))))?;
    if shape.root == Root::Response {
        if let Some(response_issuer) = &shape.response_issuer {
            if response_issuer != issuer {
                return Err(Rejection::iss(
                    "the Response and its Assertion name different issuers",
                ));
            }
        }
        match shape.response_status.as_deref() {
            Some(uri::STATUS_SUCCESS) => {}
            Some(_) => return Err(Rejection::claim("the Response's status is not Success")),
            None => return Err(Rejection::structure("the Response has no StatusCode")),
        }
    }

    let signed = dsig::verify_assertion(xml, anchor)?;
    let view = extract::assertion_view(&signed.signed_bytes)?;
    if view.issuer != issuer {
        return Err(Rejection::iss(
            "the signed Issuer differs from the one that selected the certificate",
        ));
    }
    if view.id != signed.assertion_id {
        return Err(Rejection::structure(
            "the signed element's ID differs from the verified reference",
        ));
    }
    let checked = checks::check(&view, policy, requested_audience, now)?;
    Ok(Verified { view, checked })
}
