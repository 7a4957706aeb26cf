//! Typed configuration. Unknown keys are errors (a typo must not silently fall back to a default), and every
//! file a configuration names is read at start-up, never per request.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The embedded default configuration and the files it names, so the binary runs with nothing beside it.
const EMBEDDED_CONFIG: &str = include_str!("../samples/config.toml");
const EMBEDDED_FILES: &[(&str, &[u8])] = &[
    (
        "keys/TEST-ONLY-idp.crt.pem",
        include_bytes!("../samples/keys/TEST-ONLY-idp.crt.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-jwt-es256.key.pem",
        include_bytes!("../samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-jwt-rsa.key.pem",
        include_bytes!("../samples/keys/TEST-ONLY-gateway-jwt-rsa.key.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-saml.key.pem",
        include_bytes!("../samples/keys/TEST-ONLY-gateway-saml.key.pem"),
    ),
    (
        "keys/TEST-ONLY-gateway-saml.crt.pem",
        include_bytes!("../samples/keys/TEST-ONLY-gateway-saml.crt.pem"),
    ),
    (
        "keys/TEST-ONLY-idp.key.pem",
        include_bytes!("../samples/keys/TEST-ONLY-idp.key.pem"),
    ),
    (
        "keys/TEST-ONLY-helseid-es256.key.pem",
        include_bytes!("../samples/keys/TEST-ONLY-helseid-es256.key.pem"),
    ),
    (
        "keys/TEST-ONLY-helseid-es256.pub.pem",
        include_bytes!("../samples/keys/TEST-ONLY-helseid-es256.pub.pem"),
    ),
    (
        "keys/TEST-ONLY-helseid.jwks.json",
        include_bytes!("../samples/keys/TEST-ONLY-helseid.jwks.json"),
    ),
    (
        "fastlege-register.toml",
        include_bytes!("../samples/fastlege-register.toml"),
    ),
];

/// Longest clock skew the configuration may ask for (research/security.md: 60–180 s).
pub const MAX_CLOCK_SKEW_SECS: u64 = 180;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub gateway: GatewayConfig,
    pub jwt: JwtConfig,
    pub saml: SamlConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub replay: ReplayConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    /// The PostgreSQL connection of the `postgres` stores (`src/store/config.rs`).
    #[serde(default)]
    pub database: crate::store::config::DatabaseConfig,
    /// Value validation and the fastlege rule (`src/rules`).
    #[serde(default)]
    pub rules: crate::rules::RulesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub workers: usize,
    /// Threads per worker for signature work and for waiting on the access log's commit (actix's blocking
    /// pool, 512 split over the workers when unbounded).
    #[serde(default = "default_blocking_threads")]
    pub blocking_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            workers: 0,
            blocking_threads: default_blocking_threads(),
        }
    }
}

fn default_blocking_threads() -> usize {
    8
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub entity_id: String,
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default)]
    pub mappings: String,
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
    /// Where callers reach the gateway (used in /saml/metadata).
    #[serde(default = "default_public_url")]
    pub public_url: String,
}

fn default_public_url() -> String {
    "http://127.0.0.1:8080".to_string()
}

fn default_profile() -> String {
    "no-pjd".to_string()
}
fn default_skew() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    ES256,
    RS256,
    PS256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    #[serde(default = "default_alg")]
    pub algorithm: JwtAlgorithm,
    pub signing_key: String,
    #[serde(default = "default_jwt_lifetime")]
    pub max_lifetime_secs: u64,
    pub audiences: Vec<String>,
    #[serde(default = "default_typ")]
    pub typ: String,
    /// Which JWTs the gateway accepts as input (JWT → SAML).
    #[serde(default)]
    pub trust: Option<JwtTrustConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtTrustConfig {
    /// An incoming JWT's `aud` must name one of these.
    pub audiences: Vec<String>,
    /// Accepted `typ` header values; empty accepts any.
    #[serde(default = "default_types")]
    pub types: Vec<String>,
    /// Longest accepted lifetime (`exp - iat`) of an incoming JWT.
    #[serde(default = "default_inbound_lifetime")]
    pub max_lifetime_secs: u64,
    /// Moved to `[limits] max_jwt_bytes` (all input limits live in one section); still read so that an old
    /// configuration gets a clear error instead of "unknown field".
    #[serde(default)]
    pub max_bytes: Option<usize>,
    #[serde(default)]
    pub issuers: Vec<JwtIssuerConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    pub issuer: String,
    /// The mapping profile for this issuer's JWTs when a request names none.
    #[serde(default)]
    pub profile: Option<String>,
    /// A JWKS file (relative to the configuration) ...
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// ... or a JWKS URL, fetched with a timeout and refreshed on an unknown `kid` at most once per interval.
    #[serde(default)]
    pub jwks_url: Option<String>,
    pub algorithms: Vec<String>,
    #[serde(default = "default_fetch_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
}

/// RFC 9068 access tokens; issuers that type their access tokens plain `JWT` must be listed explicitly.
fn default_types() -> Vec<String> {
    vec!["at+jwt".to_string()]
}
fn default_inbound_lifetime() -> u64 {
    3600
}
fn default_jwt_bytes() -> usize {
    8 * 1024
}
fn default_fetch_timeout_ms() -> u64 {
    2000
}
fn default_refresh_secs() -> u64 {
    300
}

fn default_alg() -> JwtAlgorithm {
    JwtAlgorithm::ES256
}
fn default_jwt_lifetime() -> u64 {
    300
}
fn default_typ() -> String {
    "at+jwt".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    pub entity_id: String,
    pub certificate: String,
    /// The mapping profile for this issuer's assertions when a request names none.
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    pub audiences: Vec<String>,
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default = "default_methods")]
    pub confirmation_methods: Vec<String>,
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
    /// How the gateway issues XUA assertions (JWT → SAML).
    #[serde(default)]
    pub signing: Option<SamlSigningConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSigningConfig {
    /// RSA private key (PEM) and its X.509 certificate (PEM), published at /saml/metadata.
    pub key: String,
    pub certificate: String,
    /// Audiences a caller may request for an assertion; the first is used when none is requested.
    pub audiences: Vec<String>,
    /// No assertion lives longer than this, and never longer than the JWT it was made from.
    #[serde(default = "default_saml_lifetime")]
    pub max_lifetime_secs: u64,
    #[serde(default = "default_authn_class")]
    pub authn_context_class: String,
}

fn default_saml_lifetime() -> u64 {
    3600
}
fn default_authn_class() -> String {
    "urn:oasis:names:tc:SAML:2.0:ac:classes:X509".to_string()
}

fn default_methods() -> Vec<String> {
    vec![crate::saml::ns::CM_BEARER.to_string()]
}

/// Every size and complexity limit on input, in one place. All of them are enforced before the input is
/// parsed into a DOM or decoded (the body size before anything is read past it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest SAML document (decoded XML bytes); the HTTP body may be a third larger for base64 plus the
    /// form's other parameters.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    #[serde(default = "default_depth")]
    pub max_xml_depth: usize,
    #[serde(default = "default_elements")]
    pub max_xml_elements: usize,
    /// XML attributes on one element (namespace declarations included).
    #[serde(default = "default_xml_attributes")]
    pub max_xml_attributes_per_element: usize,
    /// `saml:Attribute` elements in one document.
    #[serde(default = "default_saml_attributes")]
    pub max_saml_attributes: usize,
    /// Characters in one value: the raw text of a NameID or AttributeValue before decoding, and every
    /// decoded string that enters the model (from SAML or from JWT claims).
    #[serde(default = "default_value_chars")]
    pub max_value_chars: usize,
    /// Largest compact JWT, checked before it is split or decoded. (It always has exactly three segments.)
    #[serde(default = "default_jwt_bytes")]
    pub max_jwt_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_body(),
            max_xml_depth: default_depth(),
            max_xml_elements: default_elements(),
            max_xml_attributes_per_element: default_xml_attributes(),
            max_saml_attributes: default_saml_attributes(),
            max_value_chars: default_value_chars(),
            max_jwt_bytes: default_jwt_bytes(),
        }
    }
}

fn default_body() -> usize {
    256 * 1024
}
fn default_depth() -> usize {
    64
}
fn default_elements() -> usize {
    4096
}
fn default_xml_attributes() -> usize {
    64
}
/// NHN's PJD assertions carry about 20 attributes, eHDSI's about 15.
fn default_saml_attributes() -> usize {
    128
}
fn default_value_chars() -> usize {
    1024
}

/// Replay protection (`src/replay.rs`): each assertion ID (per issuer) and each JWT `jti` (per issuer) is
/// exchanged once, and remembered until the token expires plus the clock skew.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Refuse a SAML assertion that was already exchanged. Assertions with `OneTimeUse` are refused on
    /// reuse even when this is off.
    #[serde(default = "default_true")]
    pub saml: bool,
    /// Refuse a JWT that was already exchanged. HelseID clients reuse an access token for its lifetime; with
    /// this on they must keep the assertion they got for it (it lives no longer than the JWT) instead of
    /// exchanging the JWT again.
    #[serde(default = "default_true")]
    pub jwt: bool,
    /// Most entries held at once; when every entry is still live a new token is refused with 503 rather
    /// than an entry forgotten.
    #[serde(default = "default_replay_capacity")]
    pub capacity: usize,
    /// `memory` (this process) or `postgres` (shared by every instance on `[database]`).
    #[serde(default)]
    pub store: crate::store::config::ReplayStore,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            saml: true,
            jwt: true,
            capacity: default_replay_capacity(),
            store: Default::default(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_replay_capacity() -> usize {
    100_000
}

/// Which store `[audit] path` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuditStore {
    /// Embedded SQLite database: group-committed, hash-chained, queryable (`xua-gateway audit ...`).
    #[default]
    Sqlite,
    /// Append-only JSON lines, one fsync per record; no chain and no queries.
    Jsonl,
    /// The `audit_record` table of `[database]`: one hash chain for every instance (`path` stays empty).
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The access log; empty keeps records in memory only (tests; `serve` refuses it).
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub store: AuditStore,
    /// Records older than this are pruned (the chain stays verifiable through an anchor); 0 keeps all.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Records waiting for the writer; a request that finds the queue full waits `enqueue_timeout_ms`.
    #[serde(default = "default_audit_queue")]
    pub queue_capacity: usize,
    /// Most records committed in one transaction (one fsync); 1 turns group commit off.
    #[serde(default = "default_audit_batch")]
    pub max_batch: usize,
    #[serde(default = "default_enqueue_timeout")]
    pub enqueue_timeout_ms: u64,
    /// How long a request waits for its record to be committed before it is refused with 503.
    #[serde(default = "default_commit_timeout")]
    pub commit_timeout_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            store: AuditStore::default(),
            retention_days: default_retention_days(),
            queue_capacity: default_audit_queue(),
            max_batch: default_audit_batch(),
            enqueue_timeout_ms: default_enqueue_timeout(),
            commit_timeout_ms: default_commit_timeout(),
        }
    }
}

/// Ten years. Neither Normen's guide (seeds/003) nor pasientjournalloven § 25 fixes a period (logs are kept
/// as long as the health care they document makes necessary); ten years covers the patient's right to see
/// who looked and the controller's follow-up of complaints, and an operator can lengthen it or set 0.
fn default_retention_days() -> u32 {
    3650
}
fn default_audit_queue() -> usize {
    4096
}
fn default_audit_batch() -> usize {
    256
}
fn default_enqueue_timeout() -> u64 {
    1000
}
fn default_commit_timeout() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: default_level(),
        }
    }
}

fn default_level() -> String {
    "info".to_string()
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
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Missing {
            file: path.display().to_string(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, Origin::File(path.to_path_buf()))
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

    fn check(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        if c.gateway.entity_id.trim().is_empty() {
            return Err(self.invalid("gateway.entity_id must not be empty"));
        }
        if c.gateway.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(self.invalid(format!(
                "gateway.clock_skew_secs is {}, more than the allowed {MAX_CLOCK_SKEW_SECS}",
                c.gateway.clock_skew_secs
            )));
        }
        if c.server.blocking_threads == 0 || c.server.blocking_threads > 512 {
            return Err(self.invalid("server.blocking_threads must be between 1 and 512"));
        }
        if c.jwt.audiences.is_empty() {
            return Err(self.invalid("jwt.audiences must name at least one audience"));
        }
        if c.jwt.max_lifetime_secs == 0 || c.jwt.max_lifetime_secs > 3600 {
            return Err(self.invalid("jwt.max_lifetime_secs must be between 1 and 3600"));
        }
        if c.saml.audiences.is_empty() {
            return Err(self.invalid("saml.audiences must name at least one audience"));
        }
        if c.saml.confirmation_methods.is_empty() {
            return Err(self.invalid("saml.confirmation_methods must name at least one method"));
        }
        for m in &c.saml.confirmation_methods {
            if m != crate::saml::ns::CM_BEARER && m != crate::saml::ns::CM_SENDER_VOUCHES {
                return Err(self.invalid(format!(
                    "saml.confirmation_methods: {m:?} is not supported (bearer or sender-vouches)"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &c.saml.trusted_issuers {
            if !seen.insert(&t.entity_id) {
                return Err(self.invalid(format!(
                    "saml.trusted_issuers names {:?} twice",
                    t.entity_id
                )));
            }
        }
        if let Some(t) = &c.jwt.trust {
            if t.audiences.is_empty() {
                return Err(self.invalid("jwt.trust.audiences must name at least one audience"));
            }
            if t.max_bytes.is_some() {
                return Err(self.invalid("jwt.trust.max_bytes has moved to [limits] max_jwt_bytes"));
            }
            let mut seen = std::collections::HashSet::new();
            for i in &t.issuers {
                if !seen.insert(&i.issuer) {
                    return Err(
                        self.invalid(format!("jwt.trust.issuers names {:?} twice", i.issuer))
                    );
                }
                if i.jwks_file.is_some() == i.jwks_url.is_some() {
                    return Err(self.invalid(format!(
                        "jwt.trust.issuers {:?}: give exactly one of jwks_file and jwks_url",
                        i.issuer
                    )));
                }
                if i.algorithms.is_empty() {
                    return Err(self.invalid(format!(
                        "jwt.trust.issuers {:?}: algorithms is empty",
                        i.issuer
                    )));
                }
                for a in &i.algorithms {
                    if !matches!(
                        a.as_str(),
                        "RS256"
                            | "RS384"
                            | "RS512"
                            | "PS256"
                            | "PS384"
                            | "PS512"
                            | "ES256"
                            | "ES384"
                            | "EdDSA"
                    ) {
                        return Err(self.invalid(format!(
                            "jwt.trust.issuers {:?}: algorithm {a:?} is not accepted (HMAC and none never are)",
                            i.issuer
                        )));
                    }
                }
            }
        }
        if let Some(s) = &c.saml.signing {
            if s.audiences.is_empty() {
                return Err(self.invalid("saml.signing.audiences must name at least one audience"));
            }
            if s.max_lifetime_secs == 0 || s.max_lifetime_secs > 8 * 3600 {
                return Err(
                    self.invalid("saml.signing.max_lifetime_secs must be between 1 and 28800")
                );
            }
        }
        if c.audit.queue_capacity == 0 || c.audit.max_batch == 0 {
            return Err(self.invalid("audit.queue_capacity and audit.max_batch must be at least 1"));
        }
        if c.audit.enqueue_timeout_ms == 0 || c.audit.commit_timeout_ms == 0 {
            return Err(self.invalid(
                "audit.enqueue_timeout_ms and audit.commit_timeout_ms must be at least 1",
            ));
        }
        let l = &c.limits;
        if l.max_body_bytes < 1024 || l.max_body_bytes > 16 * 1024 * 1024 {
            return Err(self.invalid("limits.max_body_bytes must be between 1024 and 16777216"));
        }
        if l.max_jwt_bytes < 512 || l.max_jwt_bytes > 64 * 1024 {
            return Err(self.invalid("limits.max_jwt_bytes must be between 512 and 65536"));
        }
        // A signed assertion is at least Assertion/Issuer/Signature/SignedInfo/Reference/Transforms/Transform:
        // limits below these would refuse every valid input.
        if l.max_xml_depth < 8 || l.max_xml_elements < 32 || l.max_xml_attributes_per_element < 8 {
            return Err(self.invalid(
                "limits.max_xml_depth, max_xml_elements and max_xml_attributes_per_element must be at least 8, 32 and 8",
            ));
        }
        if l.max_saml_attributes == 0 || l.max_value_chars < 64 {
            return Err(self.invalid(
                "limits.max_saml_attributes must be at least 1 and limits.max_value_chars at least 64",
            ));
        }
        if c.replay.capacity == 0 {
            return Err(self.invalid("replay.capacity must be at least 1"));
        }
        crate::store::config::check(c).map_err(|m| self.invalid(m))?;
        Ok(())
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
            Origin::File(path) => {
                let base = path.parent().unwrap_or_else(|| Path::new("."));
                let full = base.join(relative);
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
        match &self.origin {
            Origin::Embedded => PathBuf::from(relative),
            Origin::File(path) => path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(relative),
        }
    }

    /// Whether the configuration uses a key shipped as a TEST-ONLY sample.
    pub fn uses_test_keys(&self) -> bool {
        let c = &self.config;
        std::iter::once(&c.jwt.signing_key)
            .chain(c.saml.trusted_issuers.iter().map(|t| &t.certificate))
            .chain(c.saml.signing.iter().map(|s| &s.key))
            .chain(
                c.jwt
                    .trust
                    .iter()
                    .flat_map(|t| t.issuers.iter().filter_map(|i| i.jwks_file.as_ref())),
            )
            .any(|p| p.contains("TEST-ONLY"))
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
