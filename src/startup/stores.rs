//! Where exchanged tokens and the access log are kept.

use std::sync::Arc;

use super::StartupError;
use crate::audit::sqlite::{self, SqliteSink};
use crate::audit::{AuditSink, JsonLinesSink, MemorySink};
use crate::clock::SharedClock;
use crate::config::{AuditConfig, AuditStore, LoadedConfig};
use crate::observability::metrics::Metrics;
use crate::pipeline::ReplayPolicy;
use crate::replay::MemoryReplayCache;

/// The SQLite store's settings from `[audit]` (`head_file` is resolved against the configuration in `audit`).
pub fn sqlite_settings(c: &AuditConfig) -> sqlite::Settings {
    sqlite::Settings {
        queue_capacity: c.queue_capacity.max(1),
        max_batch: c.max_batch.max(1),
        enqueue_timeout: std::time::Duration::from_millis(c.enqueue_timeout_ms),
        commit_timeout: std::time::Duration::from_millis(c.commit_timeout_ms),
        retention_days: c.retention_days,
        head_file: None,
    }
}

/// The store `[audit] path` names: nothing (memory) when the path is empty, otherwise SQLite by default or
/// JSON lines when `store = "jsonl"`.
pub(super) fn audit(
    loaded: &LoadedConfig,
    metrics: Arc<Metrics>,
    clock: SharedClock,
) -> Result<Arc<dyn AuditSink>, StartupError> {
    let c = &loaded.config.audit;
    if c.path.is_empty() {
        return Ok(Arc::new(MemorySink::default()));
    }
    // Relative to the configuration file, like every other path it names.
    let resolved = loaded.resolve_path(&c.path);
    let path = resolved.as_path();
    let sink: Arc<dyn AuditSink> = match c.store {
        AuditStore::Sqlite => Arc::new(
            SqliteSink::open(
                path,
                sqlite::Settings {
                    head_file: (!c.head_file.is_empty()).then(|| loaded.resolve_path(&c.head_file)),
                    ..sqlite_settings(c)
                },
                Some(metrics),
                clock,
            )
            .map_err(|e| StartupError::Audit(e.to_string()))?,
        ),
        AuditStore::Jsonl => {
            Arc::new(JsonLinesSink::open(path).map_err(|e| StartupError::Audit(e.to_string()))?)
        }
    };
    Ok(sink)
}

pub(super) fn replay(loaded: &LoadedConfig) -> ReplayPolicy {
    let r = &loaded.config.replay;
    ReplayPolicy {
        cache: Arc::new(MemoryReplayCache::new(r.capacity)),
        saml: r.saml,
        jwt: r.jwt,
    }
}
