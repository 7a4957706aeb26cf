//! The sections of the configuration file, as typed structs with their defaults. Unknown keys are errors.

use serde::Deserialize;

use super::clients::{ClientConfig, DpopConfig};
use super::keys::{JwtSigningKeyConfig, SamlSigningKeyConfig};
use super::proxy::{ProxyConfig, WsTrustConfig};
use super::rules::RulesConfig;
use super::tls::TlsConfig;
use crate::jwt::JwtAlgorithm;

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
    /// The PostgreSQL connection of the `postgres` stores (`src/config/database.rs`).
    #[serde(default)]
    pub database: crate::config::database::DatabaseConfig,
    /// Value validation and the fastlege rule (`src/rules`).
    #[serde(default)]
    pub rules: RulesConfig,
    /// Who may call `/token` and what each client may exchange (`config/clients.rs`).
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    #[serde(default)]
    pub dpop: DpopConfig,
    /// The inspector: `POST /inspect` and the page at `/inspector`.
    #[serde(default)]
    pub inspector: InspectorConfig,
    /// The XCA proxy (`config/proxy.rs`).
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// The WS-Trust 1.3 Issue endpoint.
    #[serde(default)]
    pub ws_trust: WsTrustConfig,
    #[serde(default)]
    pub insight: super::reports::InsightConfig,
    #[serde(default)]
    pub review: super::reports::ReviewConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectorConfig {
    /// Off in production deployments that want no inspection surface: `/inspect` and the page answer 404.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for InspectorConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// A TLS-terminating proxy sits in front: plain HTTP may then listen on a non-loopback address. Client
    /// certificates are never taken from the proxy (mTLS needs `[server.tls]`).
    #[serde(default)]
    pub behind_tls_proxy: bool,
    /// The gateway terminates TLS itself (`config/tls.rs`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Requests that may wait for a blocking thread beyond those running (all workers together); past it a
    /// request gets 503 with `Retry-After` at once instead of a place in an ever longer line.
    #[serde(default = "default_max_queued")]
    pub max_queued: usize,
    /// The `Retry-After` of such a 503, in seconds.
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
    /// Inspections running at once (all workers together), fewer than `blocking_threads`: the inspector
    /// never takes the exchanges' threads.
    #[serde(default = "default_inspections")]
    pub max_inspections: usize,
    /// Open connections per worker; with the open-file limit (raised at start-up) this bounds slow clients.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time for a client to send the request head (line and headers), in milliseconds.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// Total time for a client to send the whole body, in milliseconds (a body that trickles in or never
    /// comes is cut off and answered 400).
    #[serde(default = "default_body_timeout")]
    pub body_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            workers: 0,
            blocking_threads: default_blocking_threads(),
            behind_tls_proxy: false,
            tls: None,
            max_queued: default_max_queued(),
            retry_after_secs: default_retry_after(),
            max_inspections: default_inspections(),
            max_connections: default_max_connections(),
            header_timeout_ms: default_header_timeout(),
            body_timeout_ms: default_body_timeout(),
        }
    }
}

fn default_max_queued() -> usize {
    256
}
fn default_retry_after() -> u64 {
    1
}
fn default_inspections() -> usize {
    2
}
fn default_max_connections() -> usize {
    1024
}
fn default_header_timeout() -> u64 {
    5000
}
fn default_body_timeout() -> u64 {
    10_000
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
    /// `/readyz` and `/metrics` warn this many days before a certificate (a trust anchor, a signing
    /// certificate) expires.
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: u32,
}

fn default_expiry_warning_days() -> u32 {
    30
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    #[serde(default = "default_alg")]
    pub algorithm: JwtAlgorithm,
    /// One key, current (the configuration of a gateway that does not rotate); it counts as one entry of
    /// `signing_keys` with `state = "current"`.
    #[serde(default)]
    pub signing_key: String,
    /// Keys in rotation, each `next`, `current` or `retired` (with `retired_after`): exactly one is current.
    #[serde(default)]
    pub signing_keys: Vec<JwtSigningKeyConfig>,
    #[serde(default = "default_jwt_lifetime")]
    pub max_lifetime_secs: u64,
    pub audiences: Vec<String>,
    /// Scopes a caller may ask for (RFC 8693 `scope`), per audience of `audiences`; an audience not named
    /// here grants none. A granted scope is the issued JWT's `scope` claim.
    #[serde(default)]
    pub scopes: std::collections::BTreeMap<String, Vec<String>>,
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
    /// The issuer's certificate (PEM) ...
    #[serde(default)]
    pub certificate: String,
    /// ... and/or several (an issuer rolling over its key): any of them that is valid verifies.
    #[serde(default)]
    pub certificates: Vec<String>,
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
    /// Longest accepted validity of an incoming assertion (IssueInstant to NotOnOrAfter), as
    /// `[jwt.trust] max_lifetime_secs` is for JWTs.
    #[serde(default = "default_inbound_saml_lifetime")]
    pub max_lifetime_secs: u64,
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
    /// How the gateway issues XUA assertions (JWT → SAML).
    #[serde(default)]
    pub signing: Option<SamlSigningConfig>,
    /// The XML-DSig implementation that verifies assertions and signs the gateway's own: `streaming` (one
    /// reading of the bytes; the gateway's assertions signed as they are written) or `libxmlsec1`. Unset:
    /// the library's default (`saml::verify::VerifierEngine::DEFAULT`).
    #[serde(default)]
    pub verifier: Option<VerifierChoice>,
}

/// `[saml] verifier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum VerifierChoice {
    #[serde(rename = "streaming")]
    Streaming,
    #[serde(rename = "libxmlsec1")]
    Libxmlsec1,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSigningConfig {
    /// RSA private key (PEM) and its X.509 certificate (PEM), published at /saml/metadata: one identity,
    /// current (an entry of `keys` with `state = "current"`).
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub certificate: String,
    /// Identities in rotation (`[[saml.signing.keys]]`), each `next`, `current` or `retired`: exactly one is
    /// current; the metadata lists every one not retired.
    #[serde(default)]
    pub keys: Vec<SamlSigningKeyConfig>,
    /// Audiences a caller may request for an assertion; the first is used when none is requested.
    pub audiences: Vec<String>,
    /// Scopes a caller may ask for, per audience; a granted scope travels as the profile's `session.scope`
    /// attribute.
    #[serde(default)]
    pub scopes: std::collections::BTreeMap<String, Vec<String>>,
    /// No assertion lives longer than this, and never longer than the JWT it was made from.
    #[serde(default = "default_saml_lifetime")]
    pub max_lifetime_secs: u64,
    #[serde(default = "default_authn_class")]
    pub authn_context_class: String,
}

/// A working day: IdPs issue XUA assertions for minutes (NHN, HelseID: 60) up to a shift.
fn default_inbound_saml_lifetime() -> u64 {
    8 * 3600
}

fn default_saml_lifetime() -> u64 {
    3600
}
fn default_authn_class() -> String {
    "urn:oasis:names:tc:SAML:2.0:ac:classes:X509".to_string()
}

fn default_methods() -> Vec<String> {
    vec![crate::saml::uri::CM_BEARER.to_string()]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    pub store: crate::config::database::ReplayStore,
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The access log; empty keeps records in memory only (tests; `serve` refuses it).
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub store: AuditStore,
    /// Where the SQLite store keeps its chain head (sequence number and hash) for the next start to check;
    /// empty: beside the database (`<path>.head`). Another disk or host keeps it safe from whatever removes
    /// the database.
    #[serde(default)]
    pub head_file: String,
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
            head_file: String::new(),
            retention_days: default_retention_days(),
            queue_capacity: default_audit_queue(),
            max_batch: default_audit_batch(),
            enqueue_timeout_ms: default_enqueue_timeout(),
            commit_timeout_ms: default_commit_timeout(),
        }
    }
}

/// Ten years. Neither Normen's guide (docs/norway-profile.md, "The access log: what Normen requires") nor pasientjournalloven § 25 fixes a period (logs are kept
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
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
