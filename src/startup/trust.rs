//! The issuers the gateway accepts tokens from: their certificates and keys, what their tokens must satisfy,
//! and the profile each issuer's tokens are read with.

use std::collections::HashMap;

use time::Duration;

use super::StartupError;
use crate::config::{LoadedConfig, VerifierChoice};
use crate::jwt::keys::{bind_keys, KeySource, RemoteJwks};
use crate::jwt::{self, JwtLimits, JwtPolicy, JwtTrust, TrustedIssuer};
use crate::mapping::ProfileSet;
use crate::pipeline::{JwtInput, SamlInput};
use crate::saml::checks::SamlPolicy;
use crate::saml::dsig::TrustAnchor;
use crate::saml::prescan::XmlLimits;
use crate::saml::verify::{TrustStore, VerifierEngine};

pub(super) fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2))
}

/// The profile an issuer's configuration names, as an index into the set; refused when it is not loaded.
fn issuer_profile(
    profiles: &ProfileSet,
    issuer: &str,
    name: Option<&String>,
) -> Result<Option<usize>, StartupError> {
    let Some(name) = name else {
        return Ok(None);
    };
    profiles.index_of(name).map(Some).ok_or_else(|| {
        StartupError::Key(format!(
            "the trusted issuer {issuer:?} names the profile {name:?}, which is not among the loaded tables"
        ))
    })
}

pub(super) fn saml_input(
    loaded: &LoadedConfig,
    profiles: &ProfileSet,
) -> Result<SamlInput, StartupError> {
    let c = &loaded.config;
    let mut trust = TrustStore::new();
    let mut profile_by_issuer = HashMap::new();
    for t in &c.saml.trusted_issuers {
        if let Some(i) = issuer_profile(profiles, &t.entity_id, t.profile.as_ref())? {
            profile_by_issuer.insert(t.entity_id.clone(), i);
        }
        // Several certificates while the issuer rolls its key over: any valid one verifies.
        for file in t.certificate_files() {
            let pem = loaded.read_file(file)?;
            let anchor = TrustAnchor::from_cert_pem(&pem).map_err(|e| {
                StartupError::Key(format!(
                    "saml.trusted_issuers {:?}: certificate {file}: {}",
                    t.entity_id, e.message
                ))
            })?;
            if trust
                .anchors(&t.entity_id)
                .iter()
                .any(|a| a.sha256_fingerprint() == anchor.sha256_fingerprint())
            {
                return Err(StartupError::Key(format!(
                    "saml.trusted_issuers {:?}: certificate {file} is configured twice",
                    t.entity_id
                )));
            }
            trust.add(&t.entity_id, anchor);
        }
    }
    if trust.is_empty() {
        tracing::warn!("no trusted SAML issuers are configured: every assertion will be rejected");
    }
    Ok(SamlInput {
        trust,
        verifier: verifier(loaded),
        policy: SamlPolicy {
            audiences: c.saml.audiences.clone(),
            recipients: c.saml.recipients.clone(),
            confirmation_methods: c.saml.confirmation_methods.clone(),
            skew: secs(c.gateway.clock_skew_secs),
            max_lifetime: secs(c.saml.max_lifetime_secs),
        },
        limits: XmlLimits {
            max_bytes: c.limits.max_body_bytes,
            max_depth: c.limits.max_xml_depth,
            max_elements: c.limits.max_xml_elements,
            max_attributes_per_element: c.limits.max_xml_attributes_per_element,
            max_saml_attributes: c.limits.max_saml_attributes,
            max_value_chars: c.limits.max_value_chars,
        },
        profile_by_issuer,
    })
}

/// Where a key set comes from: a JWKS file or URL (exactly one, as the configuration checks ensure).
pub(super) struct JwksSource<'a> {
    pub file: Option<&'a String>,
    pub url: Option<&'a String>,
    pub timeout_ms: u64,
    pub refresh_secs: u64,
}

/// A key set, every key bound to one of `algorithms`: from a file (refused when no key is usable) or from a
/// URL (fetched now, and again on an unknown `kid` at most once per refresh interval). `label` names the
/// configuration entry in errors and warnings.
pub(super) fn key_source(
    loaded: &LoadedConfig,
    label: &str,
    source: &JwksSource<'_>,
    algorithms: &[jsonwebtoken::Algorithm],
    configured: &[String],
) -> Result<Option<KeySource>, StartupError> {
    match (source.file, source.url) {
        (Some(file), _) => {
            let bytes = loaded.read_file(file)?;
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&bytes)
                .map_err(|e| StartupError::Key(format!("{label}: {file} is not a JWK set: {e}")))?;
            let (keys, skipped) = bind_keys(&set, algorithms)
                .map_err(|why| StartupError::Key(format!("{label}: {file}: {why}")))?;
            for why in skipped {
                tracing::warn!(entry = %label, "ignoring a JWKS entry: {why}");
            }
            if keys.is_empty() {
                return Err(StartupError::Key(format!(
                    "{label}: {file} holds no key usable with {configured:?}"
                )));
            }
            Ok(Some(KeySource::Static(keys)))
        }
        (None, Some(url)) => {
            let remote = RemoteJwks::new(
                url,
                algorithms.to_vec(),
                std::time::Duration::from_millis(source.timeout_ms),
                std::time::Duration::from_secs(source.refresh_secs),
            );
            if let Err(e) = remote.initial_fetch() {
                tracing::warn!(entry = %label, "JWKS not fetched at start-up (will retry on demand): {e}");
            }
            Ok(Some(KeySource::Remote(remote)))
        }
        (None, None) => Ok(None),
    }
}

/// `[jwt.trust]`, when the gateway takes JWTs at all (JWT → SAML).
pub(super) fn jwt_input(
    loaded: &LoadedConfig,
    profiles: &ProfileSet,
) -> Result<Option<JwtInput>, StartupError> {
    let c = &loaded.config;
    let Some(t) = &c.jwt.trust else {
        return Ok(None);
    };
    let mut trust = JwtTrust::default();
    let mut profile_by_issuer = HashMap::new();
    for i in &t.issuers {
        if let Some(p) = issuer_profile(profiles, &i.issuer, i.profile.as_ref())? {
            profile_by_issuer.insert(i.issuer.clone(), p);
        }
        let algorithms: Vec<jsonwebtoken::Algorithm> = i
            .algorithms
            .iter()
            .filter_map(|a| jwt::alg::accepted(a))
            .collect();
        let label = format!("jwt.trust.issuers {:?}", i.issuer);
        let source = JwksSource {
            file: i.jwks_file.as_ref(),
            url: i.jwks_url.as_ref(),
            timeout_ms: i.timeout_ms,
            refresh_secs: i.refresh_secs,
        };
        let Some(keys) = key_source(loaded, &label, &source, &algorithms, &i.algorithms)? else {
            continue;
        };
        trust.add(TrustedIssuer {
            issuer: i.issuer.clone(),
            algorithms,
            keys,
        });
    }
    Ok(Some(JwtInput {
        trust,
        policy: JwtPolicy {
            audiences: t.audiences.clone(),
            types: t.types.clone(),
            skew: secs(c.gateway.clock_skew_secs),
            max_lifetime: secs(t.max_lifetime_secs),
            limits: JwtLimits {
                max_bytes: c.limits.max_jwt_bytes,
            },
        },
        profile_by_issuer,
    }))
}

/// `[saml] verifier`, resolved once: it picks the verifier of SAML input and the signer of our assertions.
pub(super) fn verifier(loaded: &LoadedConfig) -> VerifierEngine {
    match loaded.config.saml.verifier {
        None => VerifierEngine::DEFAULT,
        Some(VerifierChoice::Streaming) => VerifierEngine::Streaming,
        Some(VerifierChoice::Libxmlsec1) => VerifierEngine::Libxmlsec,
    }
}
