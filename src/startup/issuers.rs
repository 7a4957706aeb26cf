//! The gateway's own identities: the key it signs JWTs with and the key and certificate it signs XUA
//! assertions with, each with the audiences it issues for and the longest lifetime it gives.

use super::trust::secs;
use super::StartupError;
use crate::config::LoadedConfig;
use crate::jwt::JwtIssuer;
use crate::pipeline::{JwtOutput, SamlOutput, Targets};
use crate::saml::dsig::SigningIdentity;

pub(super) fn jwt_output(loaded: &LoadedConfig) -> Result<JwtOutput, StartupError> {
    let c = &loaded.config;
    let key = loaded.read_file(&c.jwt.signing_key)?;
    let issuer = JwtIssuer::new(c.jwt.algorithm, &key, &c.gateway.entity_id, &c.jwt.typ)
        .map_err(|e| StartupError::Key(format!("jwt.signing_key {}: {e}", c.jwt.signing_key)))?;
    Ok(JwtOutput {
        issuer,
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
    let key = loaded.read_file(&s.key)?;
    let cert = loaded.read_file(&s.certificate)?;
    let identity = SigningIdentity::from_pem(&key, &cert).map_err(|e| {
        StartupError::Key(format!(
            "saml.signing {} / {}: {}",
            s.key, s.certificate, e.message
        ))
    })?;
    Ok(Some(SamlOutput {
        identity,
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
