//! The gateway's signing keys and its trusted issuers' certificates as the configuration names them, each
//! key with its place in the rotation (README "Key rotation and reload").

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{ConfigError, LoadedConfig, TrustedIssuerConfig};
use crate::jwt::JwtAlgorithm;
use crate::rotation::KeyState;

/// `state` as written: `next`, `current` or `retired` (which needs `retired_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStateName {
    Next,
    Current,
    Retired,
}

/// An instant, as an RFC 3339 string (`"2025-07-01T00:00:00Z"`) or a TOML offset date-time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Instant {
    Text(String),
    Toml(toml::value::Datetime),
}

impl Instant {
    fn parse(&self) -> Option<OffsetDateTime> {
        let text = match self {
            Instant::Text(t) => t.clone(),
            Instant::Toml(d) => d.to_string(),
        };
        OffsetDateTime::parse(&text, &Rfc3339).ok()
    }
}

/// One of the gateway's JWT signing keys (`[[jwt.signing_keys]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSigningKeyConfig {
    /// The private key (PEM), relative to the configuration file.
    pub key: String,
    /// Defaults to `[jwt] algorithm`.
    #[serde(default)]
    pub algorithm: Option<JwtAlgorithm>,
    pub state: KeyStateName,
    /// With `state = "retired"`: the key stays in the JWKS until this instant, so tokens it signed verify.
    #[serde(default)]
    pub retired_after: Option<Instant>,
}

/// One of the gateway's XUA signing identities (`[[saml.signing.keys]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSigningKeyConfig {
    pub key: String,
    pub certificate: String,
    pub state: KeyStateName,
    /// With `state = "retired"`: the certificate stays in `/saml/metadata` until this instant.
    #[serde(default)]
    pub retired_after: Option<Instant>,
}

/// A JWT signing key as start-up loads it.
#[derive(Debug, Clone)]
pub struct JwtKeyEntry {
    /// The setting that named it, for messages (`jwt.signing_key`, `jwt.signing_keys[2]`).
    pub setting: String,
    pub file: String,
    pub algorithm: JwtAlgorithm,
    pub state: KeyState,
}

/// An XUA signing identity as start-up loads it.
#[derive(Debug, Clone)]
pub struct SamlKeyEntry {
    pub setting: String,
    pub key: String,
    pub certificate: String,
    pub state: KeyState,
}

impl TrustedIssuerConfig {
    /// Every certificate file configured for the issuer: `certificate`, then `certificates`.
    pub fn certificate_files(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.certificate)
            .filter(|c| !c.is_empty())
            .chain(self.certificates.iter())
    }
}

fn state(
    setting: &str,
    name: KeyStateName,
    retired_after: Option<&Instant>,
) -> Result<KeyState, String> {
    match (name, retired_after) {
        (KeyStateName::Next, None) => Ok(KeyState::Next),
        (KeyStateName::Current, None) => Ok(KeyState::Current),
        (KeyStateName::Retired, Some(at)) => at.parse().map(KeyState::RetiredAfter).ok_or_else(|| {
            format!("{setting}.retired_after is not an RFC 3339 date-time with an offset (e.g. 2025-07-01T00:00:00Z)")
        }),
        (KeyStateName::Retired, None) => Err(format!(
            "{setting} has state = \"retired\" but no retired_after (until when it stays published)"
        )),
        (_, Some(_)) => Err(format!(
            "{setting}.retired_after is only for state = \"retired\""
        )),
    }
}

impl LoadedConfig {
    /// `[jwt] signing_key` (one current key) and `[[jwt.signing_keys]]`, in that order.
    pub fn jwt_signing_keys(&self) -> Result<Vec<JwtKeyEntry>, ConfigError> {
        let j = &self.config.jwt;
        let mut out = Vec::new();
        if !j.signing_key.is_empty() {
            out.push(JwtKeyEntry {
                setting: "jwt.signing_key".to_string(),
                file: j.signing_key.clone(),
                algorithm: j.algorithm,
                state: KeyState::Current,
            });
        }
        for (i, k) in j.signing_keys.iter().enumerate() {
            let setting = format!("jwt.signing_keys[{i}]");
            if k.key.is_empty() {
                return Err(self.invalid(format!("{setting}.key is empty")));
            }
            out.push(JwtKeyEntry {
                state: state(&setting, k.state, k.retired_after.as_ref())
                    .map_err(|m| self.invalid(m))?,
                setting,
                file: k.key.clone(),
                algorithm: k.algorithm.unwrap_or(j.algorithm),
            });
        }
        if out.is_empty() {
            return Err(self.invalid(
                "the gateway has no JWT signing key: set jwt.signing_key or add [[jwt.signing_keys]]",
            ));
        }
        Ok(out)
    }

    /// `[saml.signing] key`/`certificate` (one current identity) and `[[saml.signing.keys]]`; empty when
    /// the gateway issues no assertions.
    pub fn saml_signing_keys(&self) -> Result<Vec<SamlKeyEntry>, ConfigError> {
        let Some(s) = &self.config.saml.signing else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        match (s.key.is_empty(), s.certificate.is_empty()) {
            (false, false) => out.push(SamlKeyEntry {
                setting: "saml.signing".to_string(),
                key: s.key.clone(),
                certificate: s.certificate.clone(),
                state: KeyState::Current,
            }),
            (true, true) => {}
            _ => {
                return Err(self.invalid(
                    "saml.signing: give key and certificate together (or neither, with [[saml.signing.keys]])",
                ))
            }
        }
        for (i, k) in s.keys.iter().enumerate() {
            let setting = format!("saml.signing.keys[{i}]");
            if k.key.is_empty() || k.certificate.is_empty() {
                return Err(self.invalid(format!("{setting}: key and certificate are required")));
            }
            out.push(SamlKeyEntry {
                state: state(&setting, k.state, k.retired_after.as_ref())
                    .map_err(|m| self.invalid(m))?,
                setting,
                key: k.key.clone(),
                certificate: k.certificate.clone(),
            });
        }
        if out.is_empty() {
            return Err(self.invalid(
                "[saml.signing] has no key: set key and certificate, or add [[saml.signing.keys]]",
            ));
        }
        Ok(out)
    }

    /// What the key settings must satisfy beyond their types (the one-current rule is start-up's, where the
    /// keys are loaded).
    pub(super) fn check_keys(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        if c.gateway.expiry_warning_days > 365 {
            return Err(self.invalid("gateway.expiry_warning_days must be at most 365"));
        }
        let jwt = self.jwt_signing_keys()?;
        let saml = self.saml_signing_keys()?;
        let mut seen = std::collections::HashSet::new();
        for k in &jwt {
            if !seen.insert(&k.file) {
                return Err(
                    self.invalid(format!("{}: the key {} is named twice", k.setting, k.file))
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for k in &saml {
            if !seen.insert(&k.certificate) {
                return Err(self.invalid(format!(
                    "{}: the certificate {} is named twice",
                    k.setting, k.certificate
                )));
            }
        }
        for t in &c.saml.trusted_issuers {
            let mut seen = std::collections::HashSet::new();
            let mut any = false;
            for f in t.certificate_files() {
                any = true;
                if !seen.insert(f) {
                    return Err(self.invalid(format!(
                        "saml.trusted_issuers {:?} names the certificate {f} twice",
                        t.entity_id
                    )));
                }
            }
            if !any {
                return Err(self.invalid(format!(
                    "saml.trusted_issuers {:?} has no certificate (certificate or certificates)",
                    t.entity_id
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    /// The sample configuration with `[jwt] signing_key` replaced by `key_line` and `tables` (TOML tables
    /// such as `[[jwt.signing_keys]]`) after the `[jwt]` section's keys.
    fn with_keys(key_line: &str, tables: &str) -> Result<LoadedConfig, ConfigError> {
        let text = include_str!("../../samples/config.toml")
            .replace(
                "signing_key = \"keys/TEST-ONLY-gateway-jwt-es256.key.pem\"\n",
                key_line,
            )
            .replace("[jwt.trust]\n", &format!("{tables}\n[jwt.trust]\n"));
        LoadedConfig::parse(&text, Origin::Embedded)
    }

    fn with(tables: &str) -> Result<LoadedConfig, ConfigError> {
        with_keys("", tables)
    }

    #[test]
    fn the_single_signing_key_is_one_current_key() {
        let loaded = LoadedConfig::embedded().unwrap();
        let keys = loaded.jwt_signing_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].state, KeyState::Current);
        assert_eq!(keys[0].setting, "jwt.signing_key");
        assert_eq!(
            loaded.saml_signing_keys().unwrap()[0].state,
            KeyState::Current
        );
    }

    #[test]
    fn retired_keys_need_an_instant_and_only_they_take_one() {
        let retired = with("[[jwt.signing_keys]]\nkey = \"a.pem\"\nstate = \"current\"\n[[jwt.signing_keys]]\nkey = \"b.pem\"\nstate = \"retired\"\nretired_after = 2025-07-01T00:00:00Z\n[[jwt.signing_keys]]\nkey = \"c.pem\"\nstate = \"retired\"\nretired_after = \"2025-08-01T12:00:00+02:00\"\n").unwrap();
        let keys = retired.jwt_signing_keys().unwrap();
        assert_eq!(
            keys[1].state,
            KeyState::RetiredAfter(time::macros::datetime!(2025-07-01 0:00 UTC))
        );
        assert_eq!(
            keys[2].state,
            KeyState::RetiredAfter(time::macros::datetime!(2025-08-01 10:00 UTC))
        );
        let no_instant = with("[[jwt.signing_keys]]\nkey = \"a.pem\"\nstate = \"retired\"\n")
            .unwrap_err()
            .to_string();
        assert!(no_instant.contains("no retired_after"), "{no_instant}");
        let instant_on_next = with("[[jwt.signing_keys]]\nkey = \"a.pem\"\nstate = \"next\"\nretired_after = \"2025-07-01T00:00:00Z\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            instant_on_next.contains("only for state = \"retired\""),
            "{instant_on_next}"
        );
        let local = with("[[jwt.signing_keys]]\nkey = \"a.pem\"\nstate = \"retired\"\nretired_after = 2025-07-01T00:00:00\n")
            .unwrap_err()
            .to_string();
        assert!(local.contains("with an offset"), "{local}");
        let unknown = with("[[jwt.signing_keys]]\nkey = \"a.pem\"\nstate = \"active\"\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown variant"), "{unknown}");
    }

    #[test]
    fn a_gateway_without_any_signing_key_or_with_one_twice_is_refused() {
        let none = with("").unwrap_err().to_string();
        assert!(none.contains("no JWT signing key"), "{none}");
        let twice = with_keys(
            "signing_key = \"a.pem\"\n",
            "[[jwt.signing_keys]]\nkey = \"a.pem\"\nstate = \"next\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(twice.contains("named twice"), "{twice}");
    }
}
