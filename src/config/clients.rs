//! `[[clients]]` and `[dpop]`: who may call the token endpoint, how each client authenticates, what it may
//! exchange, and how DPoP proofs are checked. Read once; start-up turns them into ready objects.

use serde::Deserialize;

use super::{ConfigError, LoadedConfig};
use crate::clients::AuthMethod;
use crate::model::Direction;

/// One `[[clients]]` entry: identity, authentication and the exchange policy. Every list of the policy
/// allows nothing when it is left out; `"*"` allows whatever the gateway itself allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    pub auth: AuthMethod,
    /// Requests that name no client are this client's (`auth = "none"` only; at most one client).
    #[serde(default)]
    pub anonymous: bool,

    /// `private_key_jwt`: the client's keys, with the same pinning, binding and refresh rules as
    /// `[[jwt.trust.issuers]]`.
    #[serde(default)]
    pub jwks_file: Option<String>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub algorithms: Vec<String>,
    #[serde(default = "default_fetch_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,

    /// `tls_client_auth`: exactly one of these names the certificate (RFC 8705 §2.1.2).
    #[serde(default)]
    pub tls_client_auth_subject_dn: Option<String>,
    #[serde(default)]
    pub tls_client_auth_san_dns: Option<String>,
    #[serde(default)]
    pub tls_client_auth_san_uri: Option<String>,
    #[serde(default)]
    pub tls_client_auth_san_ip: Option<String>,
    #[serde(default)]
    pub tls_client_auth_san_email: Option<String>,
    /// `self_signed_tls_client_auth`: the client's certificates (PEM files).
    #[serde(default)]
    pub certificates: Vec<String>,

    /// Issuers (SAML entity ids and JWT `iss`) whose subject tokens the client may present.
    #[serde(default)]
    pub subject_issuers: Vec<String>,
    #[serde(default)]
    pub directions: Vec<Direction>,
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Audiences (or resources) the client may have a token issued for.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Scopes the client may request with the `scope` parameter.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes the subject token must carry (the model's `session.scope`).
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Lowest `session.security_level` accepted (NHN requires 4 for user tokens).
    #[serde(default)]
    pub min_security_level: Option<u8>,
    /// No token issued to this client lives longer (the gateway's own caps still apply).
    #[serde(default)]
    pub max_lifetime_secs: Option<u64>,
    /// Every exchange by this client must carry a valid DPoP proof.
    #[serde(default)]
    pub require_dpop: bool,
    /// Subject-token issuers for which this client may present an `actor_token` (delegation).
    #[serde(default)]
    pub actor_for_issuers: Vec<String>,
}

fn default_fetch_timeout_ms() -> u64 {
    2000
}
fn default_refresh_secs() -> u64 {
    300
}

/// `[dpop]`: how DPoP proofs (RFC 9449) are checked at `/token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopConfig {
    /// Asymmetric JWS algorithms a proof may be signed with.
    #[serde(default = "default_dpop_algorithms")]
    pub algorithms: Vec<String>,
    /// How old a proof's `iat` may be (the clock skew is added on both sides).
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
    /// Require a server-provided `nonce` in every proof (`use_dpop_nonce` with a `DPoP-Nonce` header).
    #[serde(default)]
    pub nonce: bool,
    /// How long a nonce stays good (it is accepted for up to twice this long).
    #[serde(default = "default_nonce_lifetime")]
    pub nonce_lifetime_secs: u64,
    /// Longest life of a XUA assertion issued for a DPoP- or certificate-bound JWT (bearer, OneTimeUse).
    #[serde(default = "default_bound_assertion_lifetime")]
    pub bound_assertion_lifetime_secs: u64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            algorithms: default_dpop_algorithms(),
            max_age_secs: default_max_age(),
            nonce: false,
            nonce_lifetime_secs: default_nonce_lifetime(),
            bound_assertion_lifetime_secs: default_bound_assertion_lifetime(),
        }
    }
}

fn default_dpop_algorithms() -> Vec<String> {
    ["ES256", "ES384", "PS256", "RS256", "EdDSA"]
        .into_iter()
        .map(str::to_string)
        .collect()
}
fn default_max_age() -> u64 {
    60
}
fn default_nonce_lifetime() -> u64 {
    300
}
fn default_bound_assertion_lifetime() -> u64 {
    300
}

impl ClientConfig {
    /// The `tls_client_auth` matchers that are set, by name.
    pub fn tls_matchers(&self) -> Vec<(&'static str, &str)> {
        [
            (
                "tls_client_auth_subject_dn",
                &self.tls_client_auth_subject_dn,
            ),
            ("tls_client_auth_san_dns", &self.tls_client_auth_san_dns),
            ("tls_client_auth_san_uri", &self.tls_client_auth_san_uri),
            ("tls_client_auth_san_ip", &self.tls_client_auth_san_ip),
            ("tls_client_auth_san_email", &self.tls_client_auth_san_email),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
        .collect()
    }
}

impl LoadedConfig {
    pub(super) fn check_clients(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        let mut seen = std::collections::HashSet::new();
        let mut anonymous = 0;
        let tls = c.server.tls.as_ref();
        for client in &c.clients {
            let id = &client.id;
            let bad = |what: &str| self.invalid(format!("clients {id:?}: {what}"));
            if id.trim().is_empty() || id.len() > 256 {
                return Err(
                    self.invalid("clients: every client needs an id of 1 to 256 characters")
                );
            }
            if !seen.insert(id) {
                return Err(self.invalid(format!("clients names {id:?} twice")));
            }
            if client.anonymous {
                anonymous += 1;
                if client.auth != AuthMethod::None {
                    return Err(bad("anonymous = true needs auth = \"none\""));
                }
            }
            let keys = client.jwks_file.is_some() || client.jwks_url.is_some();
            let tls_names = client.tls_matchers();
            match client.auth {
                AuthMethod::PrivateKeyJwt => {
                    if client.jwks_file.is_some() == client.jwks_url.is_some() {
                        return Err(bad(
                            "private_key_jwt needs exactly one of jwks_file and jwks_url",
                        ));
                    }
                    if client.algorithms.is_empty() {
                        return Err(bad("private_key_jwt needs algorithms"));
                    }
                    for a in &client.algorithms {
                        if crate::jwt::alg::accepted(a).is_none() {
                            return Err(bad(&format!(
                                "algorithm {a:?} is not accepted (HMAC and none never are)"
                            )));
                        }
                    }
                }
                AuthMethod::TlsClientAuth => {
                    if tls_names.len() != 1 {
                        return Err(bad("tls_client_auth needs exactly one tls_client_auth_subject_dn or tls_client_auth_san_* setting"));
                    }
                    if tls.is_none_or(|t| t.client_ca.is_empty()) {
                        return Err(bad(
                            "tls_client_auth needs [server.tls] with client_ca (the CAs client certificates chain to)",
                        ));
                    }
                }
                AuthMethod::SelfSignedTlsClientAuth => {
                    if client.certificates.is_empty() {
                        return Err(bad("self_signed_tls_client_auth needs certificates"));
                    }
                    if tls.is_none() {
                        return Err(bad(
                            "self_signed_tls_client_auth needs [server.tls]: the certificate is presented on the gateway's own TLS listener",
                        ));
                    }
                }
                AuthMethod::None => {}
            }
            let wants_keys = client.auth == AuthMethod::PrivateKeyJwt;
            if keys != wants_keys || (!wants_keys && !client.algorithms.is_empty()) {
                return Err(bad(
                    "jwks_file, jwks_url and algorithms belong to private_key_jwt only",
                ));
            }
            if client.auth != AuthMethod::TlsClientAuth && !tls_names.is_empty() {
                return Err(bad(
                    "tls_client_auth_* settings belong to tls_client_auth only",
                ));
            }
            if client.auth != AuthMethod::SelfSignedTlsClientAuth && !client.certificates.is_empty()
            {
                return Err(bad(
                    "certificates belong to self_signed_tls_client_auth only",
                ));
            }
            if client.max_lifetime_secs == Some(0) {
                return Err(bad("max_lifetime_secs must be at least 1"));
            }
            if client.min_security_level.is_some_and(|l| l > 4) {
                return Err(bad("min_security_level is at most 4"));
            }
        }
        if anonymous > 1 {
            return Err(self.invalid("clients: at most one client may be anonymous"));
        }
        let d = &c.dpop;
        if d.algorithms.is_empty() {
            return Err(self.invalid("dpop.algorithms must name at least one algorithm"));
        }
        for a in &d.algorithms {
            if crate::jwt::alg::accepted(a).is_none() {
                return Err(self.invalid(format!(
                    "dpop.algorithms: {a:?} is not an accepted asymmetric algorithm"
                )));
            }
        }
        if d.max_age_secs == 0 || d.max_age_secs > 600 {
            return Err(self.invalid("dpop.max_age_secs must be between 1 and 600"));
        }
        if d.nonce_lifetime_secs < 10 || d.nonce_lifetime_secs > 3600 {
            return Err(self.invalid("dpop.nonce_lifetime_secs must be between 10 and 3600"));
        }
        if d.bound_assertion_lifetime_secs == 0 || d.bound_assertion_lifetime_secs > 3600 {
            return Err(
                self.invalid("dpop.bound_assertion_lifetime_secs must be between 1 and 3600")
            );
        }
        Ok(())
    }
}
