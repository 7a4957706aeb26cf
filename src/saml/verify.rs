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
use crate::error::{shown, ErrorClass, Rejection};
use crate::saml::uri;

/// The certificates of the issuers we trust, by entity id. Nothing else is ever used to verify.
///
/// An issuer may have several (its own rollover): any of them that is inside its validity period verifies.
#[derive(Debug, Default)]
pub struct TrustStore {
    anchors: HashMap<String, Vec<TrustAnchor>>,
}

impl TrustStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one of `entity_id`'s certificates beside those it already has.
    pub fn add(&mut self, entity_id: &str, anchor: TrustAnchor) {
        self.anchors
            .entry(entity_id.to_string())
            .or_default()
            .push(anchor);
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.anchors.keys().map(String::as_str)
    }

    /// Every certificate configured for `issuer`, whatever its validity (empty when the issuer is not trusted).
    pub fn anchors(&self, issuer: &str) -> &[TrustAnchor] {
        self.anchors.get(issuer).map_or(&[], Vec::as_slice)
    }

    /// The certificates that may verify `issuer`'s signatures at `now`. ISS when the issuer is not trusted,
    /// SIG when none of its certificates is inside its validity period: an expired anchor never verifies.
    pub fn usable(
        &self,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<&TrustAnchor>, Rejection> {
        let all = self.anchors(issuer);
        if all.is_empty() {
            return Err(Rejection::iss(format!(
                "issuer {} is not trusted",
                shown(issuer)
            )));
        }
        let usable: Vec<&TrustAnchor> = all.iter().filter(|a| a.validity().contains(now)).collect();
        if usable.is_empty() {
            let why: Vec<String> = all
                .iter()
                .filter_map(|a| a.validity().why_not(now))
                .collect();
            return Err(Rejection::sig(format!(
                "no certificate configured for issuer {} is valid now (it {}): an expired trust anchor verifies nothing",
                shown(issuer),
                why.join("; another ")
            )));
        }
        Ok(usable)
    }
}

/// The signature of the assertion in `xml`, checked by libxmlsec1 with `issuer`'s certificates valid at
/// `now`: the first that verifies wins. A refusal that does not depend on the key (structure, a forbidden
/// transform) is the same with every certificate and is returned as it is.
pub fn verify_signature(
    xml: &[u8],
    trust: &TrustStore,
    issuer: &str,
    now: OffsetDateTime,
) -> Result<dsig::VerifiedAssertion, Rejection> {
    with_usable_anchors(trust, issuer, now, |anchor| {
        dsig::verify_assertion(xml, anchor)
    })
}

/// [`verify_signature`] with either engine (the streaming one with the pre-scan it is part of).
pub fn verify_signature_with(
    engine: VerifierEngine,
    xml: &[u8],
    trust: &TrustStore,
    issuer: &str,
    limits: &XmlLimits,
    now: OffsetDateTime,
) -> Result<dsig::VerifiedAssertion, Rejection> {
    match engine {
        VerifierEngine::Libxmlsec => verify_signature(xml, trust, issuer, now),
        VerifierEngine::Streaming => stream::verify_document_with(xml, limits, |_, with_anchor| {
            with_usable_anchors(trust, issuer, now, |anchor| {
                with_anchor(anchor).map(|s| s.verified)
            })
        }),
    }
}

/// The signature with one given certificate, as `engine` checks it (the streaming verifier with the
/// pre-scan it is part of): for the inspector's view of a certificate that is not configured.
pub fn verify_with_anchor(
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

/// Runs `check` with each of `issuer`'s certificates valid at `now` until one verifies; the refusals are
/// combined the same way whichever engine checks.
fn with_usable_anchors<T>(
    trust: &TrustStore,
    issuer: &str,
    now: OffsetDateTime,
    mut check: impl FnMut(&TrustAnchor) -> Result<T, Rejection>,
) -> Result<T, Rejection> {
    let usable = trust.usable(issuer, now)?;
    let outside = trust.anchors(issuer).len().saturating_sub(usable.len());
    let mut refused = None;
    for anchor in &usable {
        match check(anchor) {
            Ok(verified) => return Ok(verified),
            Err(e) if e.class != ErrorClass::Sig => return Err(e),
            Err(e) => {
                refused.get_or_insert(e);
            }
        }
    }
    let first = refused.unwrap_or_else(|| Rejection::sig("the signature does not verify"));
    if usable.len() == 1 && outside == 0 {
        return Err(first);
    }
    Err(Rejection::sig(format!(
        "{} with none of the {} valid certificates configured for the issuer{}",
        first.message,
        usable.len(),
        if outside > 0 {
            format!(" ({outside} more outside their validity period)")
        } else {
            String::new()
        }
    )))
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
    /// The engine when `[saml] verifier` is not set, and the one [`verify`] uses: the streaming verifier,
    /// since the differential fuzz target found no input on which the two differ in more than ten million
    /// executions (README, Fuzzing). libxmlsec1 stays selectable, and it stays the fuzz target's oracle.
    pub const DEFAULT: VerifierEngine = VerifierEngine::Streaming;

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

/// The issuer, from the unverified shape, with the checks before any signature: it is named and trusted, and
/// a Response names the same issuer and says Success.
pub fn check_shape<'s>(shape: &'s Shape, trust: &TrustStore) -> Result<&'s str, Rejection> {
    let issuer = shape
        .assertion_issuer
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::iss("the assertion has no Issuer"))?;
    if trust.anchors(issuer).is_empty() {
        return Err(Rejection::iss(format!(
            "issuer {} is not trusted",
            shown(issuer)
        )));
    }
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
    Ok(issuer)
}

/// Everything up to the protocol checks: pre-scan, issuer, signature (with the issuer's certificates valid
/// at `now`), claims from the signed bytes.
pub fn verify_signed(
    engine: VerifierEngine,
    xml: &[u8],
    trust: &TrustStore,
    limits: &XmlLimits,
    now: OffsetDateTime,
) -> Result<SignedAssertion, Rejection> {
    let (view, signed, issuer) = match engine {
        VerifierEngine::Libxmlsec => {
            let shape = prescan::scan(xml, limits)?;
            let issuer = check_shape(&shape, trust)?.to_string();
            let signed = verify_signature(xml, trust, &issuer, now)?;
            let view = extract::assertion_view(&signed.signed_bytes)?;
            (view, signed, issuer)
        }
        VerifierEngine::Streaming => {
            stream::verify_document_with(xml, limits, |shape, with_anchor| {
                let issuer = check_shape(shape, trust)?.to_string();
                let verified =
                    with_usable_anchors(trust, &issuer, now, |anchor| with_anchor(anchor))?;
                Ok((verified.view?, verified.verified, issuer))
            })?
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
    let signed = verify_signed(engine, xml, trust, limits, now)?;
    let checked = checks::check(&signed.view, policy, requested_audience, now)?;
    Ok(Verified {
        view: signed.view,
        checked,
    })
}
