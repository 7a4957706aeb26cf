//! Where exchanged tokens and the access log are kept.

use std::path::Path;
use std::sync::Arc;

use super::StartupError;
use crate::audit::sqlite::{self, SqliteSink};
use crate::audit::{AuditSink, JsonLinesSink, MemorySink};
use crate::clock::SharedClock;
use crate::config::{AuditConfig, AuditStore, LoadedConfig};
use crate::observability::metrics::Metrics;
use crate::observability::readiness::ReadinessCheck;
use crate::pipeline::ReplayPolicy;

/// The SQLite store's settings from `[audit]`.
pub fn sqlite_settings(c: &AuditConfig) -> sqlite::Settings {
    sqlite::Settings {
        queue_capacity: c.queue_capacity.max(1),
        max_batch: c.max_batch.max(1),
        enqueue_timeout: std::time::Duration::from_millis(c.enqueue_timeout_ms),
        commit_timeout: std::time::Duration::from_millis(c.commit_timeout_ms),
        retention_days: c.retention_days,
    }
}

/// The store `[audit]` names: PostgreSQL with `store = "postgres"`; otherwise nothing (memory) when the path
/// is empty, SQLite by default or JSON lines when `store = "jsonl"`.
pub(super) fn audit(
    loaded: &LoadedConfig,
    metrics: Arc<Metrics>,
    clock: SharedClock,
) -> Result<Arc<dyn AuditSink>, StartupError> {
    let c = &loaded.config.audit;
    if c.path.is_empty() && c.store != AuditStore::Postgres {
        return Ok(Arc::new(MemorySink::default()));
    }
    let path = Path::new(&c.path);
    let sink: Arc<dyn AuditSink> = match c.store {
        AuditStore::Sqlite => Arc::new(
            SqliteSink::open(path, sqlite_settings(c), Some(metrics), clock)
                .map_err(|e| StartupError::Audit(e.to_string()))?,
        ),
        AuditStore::Jsonl => {
            Arc::new(JsonLinesSink::open(path).map_err(|e| StartupError::Audit(e.to_string()))?)
        }
        AuditStore::Postgres => {
            crate::store::open_postgres_audit(loaded, sqlite_settings(c), Some(metrics), clock)
                .map_err(|e| StartupError::Audit(e.to_string()))?
        }
    };
    Ok(sink)
}

/// The replay policy with the configured store, and the `/readyz` checks that store brings.
pub(super) fn replay(
    loaded: &LoadedConfig,
    clock: SharedClock,
) -> Result<(ReplayPolicy, Vec<Arc<dyn ReadinessCheck>>), StartupError> {
    let r = &loaded.config.replay;
    let (cache, checks) = crate::store::open_replay(loaded, clock).map_err(StartupError::Store)?;
    Ok((
        ReplayPolicy {
            cache,
            saml: r.saml,
            jwt: r.jwt,
        },
        checks,
    ))
}
