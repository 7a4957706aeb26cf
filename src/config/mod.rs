//! Typed configuration. Unknown keys are errors (a typo must not silently fall back to a default), and every
//! file a configuration names is read at start-up, never per request.

mod check;
mod clients;
pub mod database;
mod keys;
pub mod log_filter;
mod proxy;
mod reports;
mod rules;
mod sections;
mod tls;

pub use check::{MAX_CLOCK_SKEW_SECS, MAX_INPUT_LIFETIME_SECS};
pub use clients::{ClientConfig, DpopConfig};
pub use keys::{
    Instant, JwtKeyEntry, JwtSigningKeyConfig, KeyStateName, SamlKeyEntry, SamlSigningKeyConfig,
};
pub use proxy::{ProxyConfig, ProxyRouteConfig, WsTrustConfig};
pub use reports::{InsightConfig, ReviewConfig};
pub use rules::{
    BlocksConfig, CheckHttpConfig, FastlegeConfig, HprConfig, HttpRegisterConfig, RegisterBackend,
    RulesConfig,
};
pub use sections::{
    AuditConfig, AuditStore, Config, GatewayConfig, InspectorConfig, JwtConfig, JwtIssuerConfig,
    JwtTrustConfig, LimitsConfig, LogFormat, LoggingConfig, ReplayConfig, SamlConfig,
    SamlSigningConfig, ServerConfig, TrustedIssuerConfig, VerifierChoice,
};
pub use tls::TlsConfig;

use std::path::{Path, PathBuf};

/// The embedded default configuration and the files it names, so the binary runs with nothing beside it.
const EMBEDDED_CONFIG: &str = include_str!("../../samples/config.toml");
const EMBEDDED_FILES: &[(&str, &[u8])] = &[
    (
        "keys/TEST-ONLY-idp.crt.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-idp.crt.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-jwt-es256.key.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-jwt-rsa.key.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-gateway-jwt-rsa.key.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-saml.key.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-gateway-saml.key.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-saml.crt.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-gateway-saml.crt.pem"),
    ),
    (
        "keys/TEST-ONLY-idp.key.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-idp.key.pem"),
    ),
    (
        "keys/TEST-ONLY-helseid-es256.key.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-helseid-es256.key.pem"),
    ),
    (
        "keys/TEST-ONLY-helseid-es256.pub.pem",
        include_bytes!("../../samples/keys/TEST-ONLY-helseid-es256.pub.pem"),
    ),
    (
        "keys/TEST-ONLY-helseid.jwks.json",
        include_bytes!("../../samples/keys/TEST-ONLY-helseid.jwks.json"),
    ),
    (
        "keys/TEST-ONLY-client.jwks.json",
        include_bytes!("../../samples/keys/TEST-ONLY-client.jwks.json"),
    ),
    (
        "fastlege-register.toml",
        include_bytes!("../../samples/fastlege-register.toml"),
    ),
    (
        "hpr-register.toml",
        include_bytes!("../../samples/hpr-register.toml"),
    ),
    (
        "block-register.toml",
        include_bytes!("../../samples/block-register.toml"),
    ),
];

/// Whether `bytes` are one of the published TEST-ONLY sample keys, certificates or key sets (surrounding
/// whitespace aside).
fn is_sample_key(bytes: &[u8]) -> bool {
    let trim = |b: &[u8]| -> Vec<u8> { String::from_utf8_lossy(b).trim().as_bytes().to_vec() };
    let wanted = trim(bytes);
    EMBEDDED_FILES
        .iter()
        .filter(|(name, _)| name.contains("TEST-ONLY"))
        .any(|(_, sample)| trim(sample) == wanted)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read {path}: {reason}")]
    Missing {
        file: String,
        path: String,
        reason: String,
    },
}

/// Where a configuration came from, so the files it names can be read relative to it.
#[derive(Debug, Clone)]
pub enum Origin {
    Embedded,
    File(PathBuf),
}

/// A parsed configuration plus where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub origin: Origin,
}

impl LoadedConfig {
    /// The embedded defaults (the sample configuration).
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::parse(EMBEDDED_CONFIG, Origin::Embedded)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Missing {
            file: path.display().to_string(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, Origin::File(path))
    }

    pub fn parse(text: &str, origin: Origin) -> Result<Self, ConfigError> {
        let label = origin.label();
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError::Invalid {
                file: match line {
                    Some(l) => format!("{label}:{l}"),
                    None => label.clone(),
                },
                message: e.message().to_string(),
            }
        })?;
        let loaded = Self { config, origin };
        loaded.check()?;
        Ok(loaded)
    }

    fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.label(),
            message: message.into(),
        }
    }

    /// Reads a file the configuration names (relative to the configuration file, or from the embedded set).
    pub fn read_file(&self, relative: &str) -> Result<Vec<u8>, ConfigError> {
        match &self.origin {
            Origin::Embedded => EMBEDDED_FILES
                .iter()
                .find(|(name, _)| *name == relative)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(|| ConfigError::Missing {
                    file: self.origin.label(),
                    path: relative.to_string(),
                    reason: "not among the embedded sample files".to_string(),
                }),
            Origin::File(_) => {
                let full = self.resolve_path(relative);
                std::fs::read(&full).map_err(|e| ConfigError::Missing {
                    file: self.origin.label(),
                    path: full.display().to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Resolves a folder the configuration names, relative to the configuration file.
    pub fn resolve_dir(&self, relative: &str) -> PathBuf {
        self.resolve_path(relative)
    }

    /// Resolves any path the configuration names (keys, tables, the register file, the audit database):
    /// relative to the configuration file's folder, or to the working directory for the embedded
    /// configuration, and made absolute so that messages name exactly the file meant.
    pub fn resolve_path(&self, relative: impl AsRef<Path>) -> PathBuf {
        let joined = match &self.origin {
            Origin::Embedded => relative.as_ref().to_path_buf(),
            Origin::File(path) => path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(relative),
        };
        std::path::absolute(&joined).unwrap_or(joined)
    }

    /// Whether the configuration uses a key shipped as a TEST-ONLY sample (to sign with, to trust, to
    /// authenticate clients with or to serve TLS with): by its name, or by its contents under another name.
    pub fn uses_test_keys(&self) -> bool {
        self.key_files()
            .into_iter()
            .any(|p| p.contains("TEST-ONLY") || self.read_file(p).is_ok_and(|b| is_sample_key(&b)))
    }

    fn key_files(&self) -> Vec<&String> {
        let c = &self.config;
        std::iter::once(&c.jwt.signing_key)
            .chain(c.jwt.signing_keys.iter().map(|k| &k.key))
            .chain(
                c.saml
                    .trusted_issuers
                    .iter()
                    .flat_map(|t| t.certificate_files()),
            )
            .chain(c.saml.signing.iter().map(|s| &s.key))
            .chain(
                c.saml
                    .signing
                    .iter()
                    .flat_map(|s| s.keys.iter().map(|k| &k.key)),
            )
            .chain(
                c.jwt
                    .trust
                    .iter()
                    .flat_map(|t| t.issuers.iter().filter_map(|i| i.jwks_file.as_ref())),
            )
            .chain(c.clients.iter().filter_map(|k| k.jwks_file.as_ref()))
            .chain(c.clients.iter().flat_map(|k| &k.certificates))
            .chain(self.tls_files())
            .chain(self.proxy_files())
            .collect()
    }
}

impl Origin {
    pub fn label(&self) -> String {
        match self {
            Origin::Embedded => "embedded:samples/config.toml".to_string(),
            Origin::File(p) => p.display().to_string(),
        }
    }
}
