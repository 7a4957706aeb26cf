//! Start-up: configuration → ready keys, trust, tables, rules and stores, assembled into a [`Gateway`].
//!
//! Everything a request could otherwise look up in the configuration (an issuer's profile, a lifetime, the
//! audiences) is resolved here once, so the pipeline never reads configuration. A problem stops start-up
//! with the file and the setting that caused it.

mod certificates;
mod clients;
mod issuers;
pub mod open_files;
mod reload;
mod rules;
mod soap;
mod stores;
mod tls;
mod trust;

pub use soap::{ProxyRoute, SoapEdge, WsTrustEndpoint};
pub use tls::{Exposure, TlsSettings};

use std::sync::Arc;

use crate::audit::AuditSink;
use crate::clients::Callers;
use crate::clock::SharedClock;
use crate::config::{LoadedConfig, RegisterBackend};
use crate::error::Rejection;
use crate::mapping::ProfileSet;
use crate::observability::metrics::{Metrics, MetricsError};
use crate::observability::readiness::{FnCheck, Readiness, ReadinessCheck};
use crate::observability::rotation::RotationMetrics;
use crate::pipeline::{JwtInput, JwtOutput, Pipeline, ReplayPolicy, SamlInput, SamlOutput};
use crate::replay::ReplayCache;
use crate::rules::{OnUnavailable, Rules};
use crate::saml::dsig;

pub use certificates::CertificateReport;
pub use reload::{LiveGateway, ReloadError, Reloaded};

/// Why the gateway cannot start. Names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Mapping(#[from] crate::mapping::MappingError),
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Audit(String),
    #[error("{0}")]
    Store(String),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// How the HTTP server runs (from `[server]` and `[limits]`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: String,
    pub workers: usize,
    /// Threads per worker for signature work and for waiting on the access log's commit.
    pub blocking_threads: usize,
    /// The largest request body read: a SAML document of `[limits] max_body_bytes` as base64url (4/3) plus
    /// room for the form's other parameters. The pipeline's own limits then apply to the decoded token.
    pub body_limit: usize,
    /// `[inspector] enabled`: whether `/inspect` and the page at `/inspector` answer.
    pub inspector: bool,
    /// The gateway's own TLS listener, when it terminates TLS.
    pub tls: Option<TlsSettings>,
    /// Whether it may listen beyond loopback (checked on the address actually bound).
    pub exposure: Exposure,
    pub max_queued: usize,
    pub retry_after_secs: u64,
    pub max_inspections: usize,
    pub max_connections: usize,
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
}

/// What `/saml/metadata` says about the gateway as an assertion issuer.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub entity_id: String,
    /// Where callers reach the gateway.
    pub public_url: String,
}

/// What outlives a reload: the stores (the access log with its writer and chain, the replay store and their
/// connection pools), the metrics registry and the clock. A reload hands them to the new gateway as they are.
#[derive(Clone)]
struct Stores {
    audit: Arc<dyn AuditSink>,
    replay: Arc<dyn ReplayCache>,
    replay_checks: Vec<Arc<dyn ReadinessCheck>>,
    metrics: Arc<Metrics>,
    rotation: Arc<RotationMetrics>,
    clock: SharedClock,
}

/// Everything built from the configuration alone: keys, certificates, tables, rules, clients.
struct Parts {
    profiles: ProfileSet,
    rules: Rules,
    callers: Callers,
    soap: soap::SoapEdge,
    tls: Option<TlsSettings>,
    saml_in: SamlInput,
    jwt_in: Option<JwtInput>,
    jwt_out: JwtOutput,
    saml_out: Option<SamlOutput>,
}

impl Parts {
    fn load(loaded: &LoadedConfig) -> Result<Self, StartupError> {
        dsig::init().map_err(|e| {
            StartupError::Key(format!("cannot initialise XML signature support: {e}"))
        })?;
        let c = &loaded.config;
        let mut profiles = if c.gateway.mappings.is_empty() {
            ProfileSet::embedded(&c.gateway.profile)?
        } else {
            ProfileSet::load_dir(&loaded.resolve_dir(&c.gateway.mappings), &c.gateway.profile)?
        };
        profiles.set_max_value_chars(c.limits.max_value_chars);
        let rules = rules::build(loaded, &profiles)?;
        let callers = clients::callers(loaded, &profiles)?;
        let soap = soap::soap_edge(loaded, &profiles, &callers)?;
        let tls = tls::tls(loaded)?;
        let saml_in = trust::saml_input(loaded, &profiles)?;
        let jwt_in = trust::jwt_input(loaded, &profiles)?;
        let jwt_out = issuers::jwt_output(loaded)?;
        let saml_out = issuers::saml_output(loaded)?;
        Ok(Self {
            profiles,
            rules,
            callers,
            soap,
            tls,
            saml_in,
            jwt_in,
            jwt_out,
            saml_out,
        })
    }
}

/// The assembled service: the pipeline, what `/readyz` asks, and how the server runs.
pub struct Gateway {
    pipeline: Pipeline,
    callers: Callers,
    soap: SoapEdge,
    readiness: Readiness,
    server: ServerSettings,
    metadata: Metadata,
    uses_test_keys: bool,
    certificates: certificates::CertificateWatch,
    stores: Stores,
    /// The configuration it was built from: a reload re-reads its origin and compares.
    loaded: LoadedConfig,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("entity_id", &self.metadata.entity_id)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway from configuration; every key, certificate and table is loaded and checked here.
    /// `audit` replaces the configured access-log store (tests, benchmarks, and one-shot commands that issue
    /// nothing).
    pub fn build(
        loaded: LoadedConfig,
        clock: SharedClock,
        audit: Option<Arc<dyn AuditSink>>,
    ) -> Result<Self, StartupError> {
        let parts = Parts::load(&loaded)?;
        let metrics = Arc::new(Metrics::new()?);
        let rotation = Arc::new(RotationMetrics::register(&metrics)?);
        let (replay, replay_checks) = stores::replay(&loaded, clock.clone())?;
        let audit = match audit {
            Some(a) => a,
            None => stores::audit(&loaded, metrics.clone(), clock.clone(), replay.as_ref())?,
        };
        let stores = Stores {
            audit,
            replay,
            replay_checks,
            metrics,
            rotation,
            clock,
        };
        Ok(Self::assemble(loaded, parts, stores))
    }

    /// The gateway from its parts and the stores it writes to (new at start-up, the running ones on reload).
    fn assemble(loaded: LoadedConfig, parts: Parts, stores: Stores) -> Self {
        let c = &loaded.config;
        let readiness = Readiness::default();
        stores
            .replay_checks
            .iter()
            .for_each(|check| readiness.register(check.clone()));
        register_readiness(&loaded, &parts.rules, &readiness);

        let server = ServerSettings {
            listen: c.server.listen.clone(),
            workers: c.server.workers,
            blocking_threads: c.server.blocking_threads,
            body_limit: c.limits.max_body_bytes.saturating_mul(4) / 3 + 4096,
            inspector: c.inspector.enabled,
            tls: parts.tls,
            exposure: Exposure::of(&loaded),
            max_queued: c.server.max_queued,
            retry_after_secs: c.server.retry_after_secs,
            max_inspections: c.server.max_inspections,
            max_connections: c.server.max_connections,
            header_timeout: std::time::Duration::from_millis(c.server.header_timeout_ms),
            body_timeout: std::time::Duration::from_millis(c.server.body_timeout_ms),
        };
        let metadata = Metadata {
            entity_id: c.gateway.entity_id.clone(),
            public_url: c.gateway.public_url.clone(),
        };
        let uses_test_keys = loaded.uses_test_keys();
        let inspect_jwt_policy = match &parts.jwt_in {
            Some(i) => i.policy.clone(),
            None => crate::jwt::JwtPolicy {
                audiences: vec![c.gateway.entity_id.clone()],
                types: Vec::new(),
                skew: time::Duration::seconds(60),
                max_lifetime: time::Duration::hours(1),
                limits: crate::jwt::JwtLimits {
                    max_bytes: c.limits.max_jwt_bytes,
                },
            },
        };
        let certificates = certificates::CertificateWatch::new(
            &parts.saml_in,
            parts.saml_out.as_ref(),
            c.gateway.expiry_warning_days,
        );
        certificates.log(stores.clock.now());
        let pipeline = Pipeline {
            profiles: parts.profiles,
            rules: parts.rules,
            saml_in: parts.saml_in,
            jwt_in: parts.jwt_in,
            jwt_out: parts.jwt_out,
            saml_out: parts.saml_out,
            replay: ReplayPolicy {
                cache: stores.replay.clone(),
                saml: c.replay.saml,
                jwt: c.replay.jwt,
            },
            inspect_jwt_policy,
            audit: stores.audit.clone(),
            metrics: stores.metrics.clone(),
            clock: stores.clock.clone(),
        };
        Self {
            pipeline,
            callers: parts.callers,
            soap: parts.soap,
            readiness,
            server,
            metadata,
            uses_test_keys,
            certificates,
            stores,
            loaded,
        }
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn server(&self) -> &ServerSettings {
        &self.server
    }

    /// Who may call: the client registry and the DPoP verifier.
    pub fn callers(&self) -> &Callers {
        &self.callers
    }

    /// The XCA proxy routes and the WS-Trust endpoint.
    pub fn soap(&self) -> &SoapEdge {
        &self.soap
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Where other modules add their `/readyz` checks.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Whether the configuration trusts or signs with a key shipped as a TEST-ONLY sample.
    pub fn uses_test_keys(&self) -> bool {
        self.uses_test_keys
    }

    /// `/readyz`: keys loaded, audit store writable, then every registered dependency.
    pub fn readiness_checks(&self) -> Vec<(&'static str, Result<(), String>)> {
        let keys = if self.pipeline.saml_in.trust.is_empty() {
            Err("no trusted SAML issuer is configured".to_string())
        } else {
            Ok(())
        };
        let certificates = match self.certificate_report().error {
            Some(e) => Err(e),
            None => Ok(()),
        };
        let mut checks = vec![
            ("keys", keys),
            ("certificates", certificates),
            ("audit", self.pipeline.audit.ready().map_err(|e| e.0)),
        ];
        checks.extend(self.readiness.run());
        checks
    }

    /// `/readyz` warnings that leave the instance ready: certificates expiring within `[gateway]
    /// expiry_warning_days`, or expired while others remain. By check name.
    pub fn readiness_warnings(&self) -> Vec<(&'static str, String)> {
        let warnings = self.certificate_report().warnings;
        if warnings.is_empty() {
            Vec::new()
        } else {
            vec![("certificates", warnings.join("; "))]
        }
    }

    /// Every configured certificate's standing at the gateway's now.
    pub fn certificate_report(&self) -> CertificateReport {
        self.certificates.report(self.stores.clock.now())
    }

    /// `/metrics`: the registry, with the certificate gauges measured now.
    pub fn metrics_text(&self) -> Result<String, MetricsError> {
        let now = self.stores.clock.now();
        self.stores.rotation.render_with(
            &self.stores.metrics,
            self.certificates.warning_seconds(),
            self.certificates.samples(now),
        )
    }

    /// SAML 2.0 metadata naming the gateway as an assertion issuer, when it issues any.
    pub fn saml_metadata(&self) -> Result<Option<String>, Rejection> {
        let certificates = self.pipeline.saml_published_certificates();
        if certificates.is_empty() {
            return Ok(None);
        }
        crate::saml::metadata::entity_descriptor(
            &self.metadata.entity_id,
            &self.metadata.public_url,
            &certificates,
        )
        .map(Some)
    }
}

/// "Register reachable, or the policy allows going on without it", for each configured register (fastlege,
/// and HPR and blocks when their checks are on): with `keep` (or a local file) an unreachable register
/// changes no answer; with `reject` over HTTP, an instance whose every lookup so far failed should not take
/// traffic.
fn register_readiness(loaded: &LoadedConfig, rules: &Rules, readiness: &Readiness) {
    let c = &loaded.config.rules;
    let strict = |backend: RegisterBackend, policy: OnUnavailable| {
        backend == RegisterBackend::Http && policy == OnUnavailable::Reject
    };
    let f = &c.fastlege;
    register_check(
        readiness,
        "fastlege_register",
        strict(f.register, f.on_unavailable),
        rules.stats_handle(),
    );
    if let Some(h) = &c.hpr {
        register_check(
            readiness,
            "hpr_register",
            strict(h.register, h.on_unavailable),
            rules.check_registers().hpr.stats.clone(),
        );
    }
    if let Some(b) = &c.blocks {
        register_check(
            readiness,
            "block_register",
            strict(b.register, b.on_unavailable),
            rules.check_registers().blocks.stats.clone(),
        );
    }
}

fn register_check(
    readiness: &Readiness,
    name: &'static str,
    strict_http: bool,
    stats: Arc<crate::rules::RegisterStats>,
) {
    readiness.register(Arc::new(FnCheck::new(name, move || {
        let s = stats.snapshot();
        if strict_http && s.lookups > 0 && s.unavailable == s.lookups {
            Err(format!(
                "all {} register lookups failed and the policy is reject",
                s.lookups
            ))
        } else {
            Ok(())
        }
    })));
}
