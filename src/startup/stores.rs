//! Where exchanged tokens and the access log are kept.

use std::sync::Arc;

use super::StartupError;
use crate::audit::sqlite::{self, SqliteSink};
use crate::audit::{AuditSink, JsonLinesSink, MemorySink};
use crate::clock::SharedClock;
use crate::config::{AuditConfig, AuditStore, LoadedConfig};
use crate::observability::metrics::Metrics;
use crate::replay::ReplayCache;

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

/// The store `[audit]` names: PostgreSQL with `store = "postgres"`; otherwise nothing (memory) when the path
/// is empty, SQLite by default or JSON lines when `store = "jsonl"`.
pub(super) fn audit(
    loaded: &LoadedConfig,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    replay: &dyn ReplayCache,
) -> Result<Arc<dyn AuditSink>, StartupError> {
    let c = &loaded.config.audit;
    if c.path.is_empty() && c.store != AuditStore::Postgres {
        return Ok(Arc::new(MemorySink::default()));
    }
    // Relative to the configuration file, like every other path it names.
    let resolved = loaded.resolve_path(&c.path);
    let path = resolved.as_path();
    let sink: Arc<dyn AuditSink> = match c.store {
        AuditStore::Sqlite => {
            let sink = SqliteSink::open(
                path,
                sqlite::Settings {
                    head_file: (!c.head_file.is_empty()).then(|| loaded.resolve_path(&c.head_file)),
                    ..sqlite_settings(c)
                },
                Some(metrics),
                clock.clone(),
            )
            .map_err(|e| StartupError::Audit(e.to_string()))?;
            remember_exchanged(&sink, replay, clock.now())?;
            Arc::new(sink)
        }
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

/// How far back an exchanged token can still be live: the longest input lifetime the configuration can
/// allow plus the skew on both sides (a bound that holds whatever the configuration said then).
fn replay_horizon() -> time::Duration {
    let secs = crate::config::MAX_INPUT_LIFETIME_SECS + 2 * crate::config::MAX_CLOCK_SKEW_SECS;
    time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
}

/// Fills the replay cache with the tokens the access log says were exchanged and are still live, so that
/// a restart does not make them exchangeable again.
fn remember_exchanged(
    sink: &SqliteSink,
    replay: &dyn ReplayCache,
    now: time::OffsetDateTime,
) -> Result<(), StartupError> {
    let entries = sink
        .replay_entries(now.saturating_sub(replay_horizon()), now)
        .map_err(|e| StartupError::Audit(e.to_string()))?;
    let mut full = 0usize;
    for (key, until) in &entries {
        match replay.check_and_insert(key, *until, now) {
            Ok(()) => {}
            // The same token twice in the log (it cannot be issued twice, but a copied record can be there).
            Err(e) if e.class == crate::error::ErrorClass::Replay => {}
            Err(_) => full += 1,
        }
    }
    if full > 0 {
        tracing::error!(
            missing = full,
            "the replay cache is too small for the unexpired tokens in the access log: raise [replay] capacity"
        );
    }
    if !entries.is_empty() {
        tracing::info!(
            entries = entries.len(),
            "replay cache rebuilt from the access log"
        );
    }
    Ok(())
}

/// The configured replay store, and the `/readyz` checks that store brings.
pub(super) fn replay(
    loaded: &LoadedConfig,
    clock: SharedClock,
) -> Result<crate::store::OpenedReplay, StartupError> {
    crate::store::open_replay(loaded, clock).map_err(StartupError::Store)
}
