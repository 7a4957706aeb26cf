//! From untrusted bytes to a verified assertion view: pre-scan, choose the issuer's certificate, verify the
//! signature, read claims from the signed bytes only, then the protocol checks.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::checks::{self, Checked, SamlPolicy};
use super::dsig::{self, TrustAnchor};
use super::extract;
use super::prescan::{self, Root, Shape, XmlLimits};
use super::stream;
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

/// Which XML-DSig verifier checks the signature: libxmlsec1 (libxml2's tree, xmlsec's transforms), or the
/// streaming verifier (`saml::stream`: one reading of the bytes, the same profile). Both take the same
/// inputs and give the same verdicts; the differential fuzz target `dsig_differential` holds them to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierEngine {
    Libxmlsec,
    Streaming,
}

impl VerifierEngine {
    /// The engine when `[saml] verifier` is not set, and the one [`verify`] uses.
    pub const DEFAULT: VerifierEngine = VerifierEngine::Libxmlsec;

    /// The configuration spelling: `libxmlsec1` or `streaming`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "libxmlsec1" => Some(VerifierEngine::Libxmlsec),
            "streaming" => Some(VerifierEngine::Streaming),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VerifierEngine::Libxmlsec => "libxmlsec1",
            VerifierEngine::Streaming => "streaming",
        }
    }
}

/// An assertion whose signature verified, with its claims, before the protocol checks.
#[derive(Debug, Clone)]
pub struct SignedAssertion {
    pub view: AssertionView,
    /// The exact bytes the Reference digest covered.
    pub signed_bytes: Vec<u8>,
    pub assertion_id: String,
}

/// The issuer's anchor (and the issuer), chosen from the unverified shape, with the Response-level checks.
pub fn select_anchor<'t>(
    shape: &Shape,
    trust: &'t TrustStore,
) -> Result<(&'t TrustAnchor, String), Rejection> {
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
    Ok((anchor, issuer.to_string()))
}

/// The signature alone, as `engine` checks it (the streaming verifier with the pre-scan it is part of): for
/// the inspector's signature item, which must agree with what the exchange would say.
pub fn verify_signature(
    engine: VerifierEngine,
    xml: &[u8],
    anchor: &TrustAnchor,
    limits: &XmlLimits,
) -> Result<dsig::VerifiedAssertion, Rejection> {
    match engine {
        VerifierEngine::Libxmlsec => dsig::verify_assertion(xml, anchor),
        VerifierEngine::Streaming => {
            stream::verify_assertion(xml, anchor, limits).map(|s| s.verified)
        }
    }
}

/// Everything up to the protocol checks: pre-scan, issuer, signature, claims from the signed bytes.
pub fn verify_signed(
    engine: VerifierEngine,
    xml: &[u8],
    trust: &TrustStore,
    limits: &XmlLimits,
) -> Result<SignedAssertion, Rejection> {
    let (view, signed, issuer) = match engine {
        VerifierEngine::Libxmlsec => {
            let shape = prescan::scan(xml, limits)?;
            let (anchor, issuer) = select_anchor(&shape, trust)?;
            let signed = dsig::verify_assertion(xml, anchor)?;
            let view = extract::assertion_view(&signed.signed_bytes)?;
            (view, signed, issuer)
        }
        VerifierEngine::Streaming => {
            let mut issuer = String::new();
            let verified = stream::verify_document(xml, limits, |shape| {
                let (anchor, name) = select_anchor(shape, trust)?;
                issuer = name;
                Ok(anchor)
            })?;
            (verified.view?, verified.verified, issuer)
        }
    };
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
    Ok(SignedAssertion {
        view,
        signed_bytes: signed.signed_bytes,
        assertion_id: signed.assertion_id,
    })
}

/// The pipeline's SAML stage with the default engine ([`VerifierEngine::DEFAULT`]).
pub fn verify(
    xml: &[u8],
    trust: &TrustStore,
    policy: &SamlPolicy,
    limits: &XmlLimits,
    requested_audience: Option<&str>,
    now: OffsetDateTime,
) -> Result<Verified, Rejection> {
    verify_with(
        VerifierEngine::DEFAULT,
        xml,
        trust,
        policy,
        limits,
        requested_audience,
        now,
    )
}

/// The pipeline's SAML stage with the engine start-up chose (`[saml] verifier`).
pub fn verify_with(
    engine: VerifierEngine,
    xml: &[u8],
    trust: &TrustStore,
    policy: &SamlPolicy,
    limits: &XmlLimits,
    requested_audience: Option<&str>,
    now: OffsetDateTime,
) -> Result<Verified, Rejection> {
    let signed = verify_signed(engine, xml, trust, limits)?;
    let checked = checks::check(&signed.view, policy, requested_audience, now)?;
    Ok(Verified {
        view: signed.view,
        checked,
    })
}
