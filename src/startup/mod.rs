//! Start-up: configuration → ready keys, trust, tables, rules and stores, assembled into a [`Gateway`].
//!
//! Everything a request could otherwise look up in the configuration (an issuer's profile, a lifetime, the
//! audiences) is resolved here once, so the pipeline never reads configuration. A problem stops start-up
//! with the file and the setting that caused it.

mod clients;
mod issuers;
pub mod open_files;
mod rules;
mod stores;
mod tls;
mod trust;

pub use tls::{Exposure, TlsSettings};

use std::sync::Arc;

use crate::audit::AuditSink;
use crate::clients::Callers;
use crate::clock::SharedClock;
use crate::config::{LoadedConfig, RegisterBackend};
use crate::error::Rejection;
use crate::mapping::ProfileSet;
use crate::observability::metrics::Metrics;
use crate::observability::readiness::{FnCheck, Readiness};
use crate::pipeline::Pipeline;
use crate::rules::OnUnavailable;
use crate::saml::dsig;

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

/// The assembled service: the pipeline, what `/readyz` asks, and how the server runs.
pub struct Gateway {
    pipeline: Pipeline,
    callers: Callers,
    readiness: Readiness,
    server: ServerSettings,
    metadata: Metadata,
    uses_test_keys: bool,
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
        let rules = rules::build(&loaded, &profiles)?;
        let callers = clients::callers(&loaded, &profiles)?;

        let saml_in = trust::saml_input(&loaded, &profiles)?;
        let jwt_in = trust::jwt_input(&loaded, &profiles)?;
        let jwt_out = issuers::jwt_output(&loaded)?;
        let saml_out = issuers::saml_output(&loaded)?;

        let metrics = Arc::new(Metrics::new().map_err(|e| StartupError::Audit(e.to_string()))?);
        let (replay, replay_checks) = stores::replay(&loaded, clock.clone())?;
        let audit = match audit {
            Some(a) => a,
            None => stores::audit(
                &loaded,
                metrics.clone(),
                clock.clone(),
                replay.cache.as_ref(),
            )?,
        };
        let readiness = Readiness::default();
        replay_checks
            .into_iter()
            .for_each(|check| readiness.register(check));
        register_readiness(&loaded, &rules, &readiness);

        let server = ServerSettings {
            listen: c.server.listen.clone(),
            workers: c.server.workers,
            blocking_threads: c.server.blocking_threads,
            body_limit: c.limits.max_body_bytes.saturating_mul(4) / 3 + 4096,
            inspector: c.inspector.enabled,
            tls: tls::tls(&loaded)?,
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
        let inspect_jwt_policy = match &jwt_in {
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
        let pipeline = Pipeline {
            profiles,
            rules,
            saml_in,
            jwt_in,
            jwt_out,
            saml_out,
            replay,
            inspect_jwt_policy,
            audit,
            metrics,
            clock,
        };
        Ok(Self {
            pipeline,
            callers,
            readiness,
            server,
            metadata,
            uses_test_keys,
        })
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
        let mut checks = vec![
            ("keys", keys),
            ("audit", self.pipeline.audit.ready().map_err(|e| e.0)),
        ];
        checks.extend(self.readiness.run());
        checks
    }

    /// SAML 2.0 metadata naming the gateway as an assertion issuer, when it issues any.
    pub fn saml_metadata(&self) -> Result<Option<String>, Rejection> {
        let Some(cert) = self.pipeline.saml_signing_certificate() else {
            return Ok(None);
        };
        crate::saml::metadata::entity_descriptor(
            &self.metadata.entity_id,
            &self.metadata.public_url,
            cert,
        )
        .map(Some)
    }
}

/// "Register reachable, or the policy allows going on without it": with `keep` (or a local file) an
/// unreachable register changes no answer; with `reject` over HTTP, an instance whose every lookup so far
/// failed should not take traffic.
fn register_readiness(loaded: &LoadedConfig, rules: &crate::rules::Rules, readiness: &Readiness) {
    let f = &loaded.config.rules.fastlege;
    let strict_http =
        f.register == RegisterBackend::Http && f.on_unavailable == OnUnavailable::Reject;
    let stats = rules.stats_handle();
    readiness.register(Arc::new(FnCheck::new("fastlege_register", move || {
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
