//! The gateway's own identities: the keys it signs JWTs with and the keys and certificates it signs XUA
//! assertions with, each set in rotation (exactly one current), with the audiences it issues for and the
//! longest lifetime it gives.

use super::trust::secs;
use super::StartupError;
use crate::config::LoadedConfig;
use crate::jwt::JwtIssuer;
use crate::pipeline::{JwtOutput, SamlOutput, Targets};
use crate::rotation::KeyRing;
use crate::saml::dsig::SigningIdentity;

pub(super) fn jwt_output(loaded: &LoadedConfig) -> Result<JwtOutput, StartupError> {
    let c = &loaded.config;
    let mut entries = Vec::new();
    for k in loaded.jwt_signing_keys()? {
        let pem = loaded.read_file(&k.file)?;
        let issuer = JwtIssuer::new(k.algorithm, &pem, &c.gateway.entity_id, &c.jwt.typ)
            .map_err(|e| StartupError::Key(format!("{} {}: {e}", k.setting, k.file)))?;
        if entries
            .iter()
            .any(|(i, _): &(JwtIssuer, _)| i.kid() == issuer.kid())
        {
            return Err(StartupError::Key(format!(
                "{} {}: the same key is configured twice (kid {})",
                k.setting,
                k.file,
                issuer.kid()
            )));
        }
        entries.push((issuer, k.state));
    }
    let keys = KeyRing::new(entries)
        .map_err(|e| StartupError::Key(format!("jwt.signing_key / [[jwt.signing_keys]]: {e}")))?;
    Ok(JwtOutput {
        keys,
        targets: Targets {
            audiences: c.jwt.audiences.clone(),
            scopes: c.jwt.scopes.clone().into_iter().collect(),
        },
        max_lifetime: secs(c.jwt.max_lifetime_secs),
    })
}

/// `[saml.signing]`, when the gateway issues assertions at all (JWT → SAML).
pub(super) fn saml_output(loaded: &LoadedConfig) -> Result<Option<SamlOutput>, StartupError> {
    let c = &loaded.config;
    let Some(s) = &c.saml.signing else {
        return Ok(None);
    };
    let mut entries: Vec<(SigningIdentity, _)> = Vec::new();
    for k in loaded.saml_signing_keys()? {
        let key = loaded.read_file(&k.key)?;
        let cert = loaded.read_file(&k.certificate)?;
        let identity = SigningIdentity::from_pem(&key, &cert).map_err(|e| {
            StartupError::Key(format!(
                "{} {} / {}: {}",
                k.setting, k.key, k.certificate, e.message
            ))
        })?;
        if entries
            .iter()
            .any(|(i, _)| i.sha256_fingerprint() == identity.sha256_fingerprint())
        {
            return Err(StartupError::Key(format!(
                "{} {}: the same certificate is configured twice",
                k.setting, k.certificate
            )));
        }
        entries.push((identity, k.state));
    }
    let identities = KeyRing::new(entries).map_err(|e| {
        StartupError::Key(format!(
            "[saml.signing] key/certificate / [[saml.signing.keys]]: {e}"
        ))
    })?;
    Ok(Some(SamlOutput {
        identities,
        signer: super::trust::verifier(loaded),
        issuer: c.gateway.entity_id.clone(),
        targets: Targets {
            audiences: s.audiences.clone(),
            scopes: s.scopes.clone().into_iter().collect(),
        },
        max_lifetime: secs(s.max_lifetime_secs),
        authn_context_class: s.authn_context_class.clone(),
        bound_max_lifetime: secs(c.dpop.bound_assertion_lifetime_secs),
    }))
}
