//! What start-up hands the pipeline: per direction the trust it verifies with and the identity it issues
//! with, every per-issuer and per-deployment choice already resolved.

use std::collections::HashMap;
use std::sync::Arc;

use time::Duration;

use super::targets::Targets;
use crate::jwt::{JwtIssuer, JwtPolicy, JwtTrust};
use crate::replay::ReplayCache;
use crate::rotation::KeyRing;
use crate::saml::checks::SamlPolicy;
use crate::saml::dsig::SigningIdentity;
use crate::saml::prescan::XmlLimits;
use crate::saml::verify::{TrustStore, VerifierEngine};

/// SAML input: the issuers' certificates, the protocol checks, the input limits.
#[derive(Debug)]
pub struct SamlInput {
    pub trust: TrustStore,
    /// Which XML-DSig verifier checks the signature (`[saml] verifier`).
    pub verifier: VerifierEngine,
    pub policy: SamlPolicy,
    pub limits: XmlLimits,
    /// The profile (an index into the profile set) configured for an issuer's assertions.
    pub profile_by_issuer: HashMap<String, usize>,
}

/// JWT input: the issuers' keys and what their tokens must satisfy.
#[derive(Debug)]
pub struct JwtInput {
    pub trust: JwtTrust,
    pub policy: JwtPolicy,
    pub profile_by_issuer: HashMap<String, usize>,
}

/// JWT output: the gateway's signing keys (the current one signs, the others are published beside it) and
/// the audiences (and their scopes) it issues for.
#[derive(Debug)]
pub struct JwtOutput {
    pub keys: KeyRing<JwtIssuer>,
    pub targets: Targets,
    /// No issued JWT lives longer than this, and never longer than its input.
    pub max_lifetime: Duration,
}

/// SAML output: the gateway's XUA signing identities (the current one signs; the metadata lists the others
/// beside it) and policy.
pub struct SamlOutput {
    pub identities: KeyRing<SigningIdentity>,
    /// Who signs: the direct signer (`Streaming`: the assertion is signed as it is written) or libxmlsec1
    /// (`[saml] verifier`).
    pub signer: VerifierEngine,
    /// The assertion's Issuer: the gateway's entity id.
    pub issuer: String,
    pub targets: Targets,
    pub max_lifetime: Duration,
    pub authn_context_class: String,
    /// Longest life of an assertion made from a sender-constrained (DPoP- or certificate-bound) JWT; such
    /// an assertion is also marked `OneTimeUse`.
    pub bound_max_lifetime: Duration,
}

impl std::fmt::Debug for SamlOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlOutput")
            .field("issuer", &self.issuer)
            .field("signer", &self.signer)
            .field("audiences", &self.targets.audiences)
            .finish_non_exhaustive()
    }
}

/// Which tokens are exchanged at most once, and where the exchanged ones are remembered.
pub struct ReplayPolicy {
    pub cache: Arc<dyn ReplayCache>,
    /// Refuse a SAML assertion that was already exchanged (`OneTimeUse` is refused on reuse regardless).
    pub saml: bool,
    /// Refuse a JWT that was already exchanged.
    pub jwt: bool,
}

impl std::fmt::Debug for ReplayPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayPolicy")
            .field("saml", &self.saml)
            .field("jwt", &self.jwt)
            .finish_non_exhaustive()
    }
}
