//! Where the gateway keeps what outlives a request: the replay cache and the access log, in this process and
//! its files (the default) or in PostgreSQL, shared by every instance of a cluster (`[replay] store` and
//! `[audit] store` = `"postgres"`, connection in `[database]`).

pub mod cli;

pub mod group_commit;
pub mod postgres;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditError, AuditSink};
use crate::clock::SharedClock;
use crate::config::database::ReplayStore;
use crate::config::LoadedConfig;
use crate::observability::metrics::Metrics;
use crate::observability::readiness::{FnCheck, ReadinessCheck};
use crate::replay::{MemoryReplayCache, ReplayCache};

/// Connections of the access log's own pool: the writer, and the readiness probe beside it.
const AUDIT_POOL_SIZE: u32 = 2;

/// A replay cache and the `/readyz` checks it brings (none for the in-memory one).
pub type OpenedReplay = (Arc<dyn ReplayCache>, Vec<Arc<dyn ReadinessCheck>>);

/// The configured replay cache.
pub fn open_replay(loaded: &LoadedConfig, clock: SharedClock) -> Result<OpenedReplay, String> {
    let c = &loaded.config;
    match c.replay.store {
        ReplayStore::Memory => Ok((
            Arc::new(MemoryReplayCache::new(c.replay.capacity)),
            Vec::new(),
        )),
        ReplayStore::Postgres => {
            let db = postgres::open_checked(loaded, c.database.pool_size, "replay")
                .map_err(|e| format!("[replay] store = \"postgres\": {e}"))?;
            let cache = Arc::new(
                postgres::replay::PgReplayCache::start(
                    db,
                    clock,
                    Duration::from_secs(c.database.purge_interval_secs),
                    c.database.purge_batch,
                )
                .map_err(|e| e.0)?,
            );
            let probe = cache.clone();
            let check: Arc<dyn ReadinessCheck> =
                Arc::new(FnCheck::new("replay_store", move || probe.ready()));
            Ok((cache, vec![check]))
        }
    }
}

/// The PostgreSQL access log of `[audit] store = "postgres"`, with the group-commit settings of `[audit]`.
pub fn open_postgres_audit(
    loaded: &LoadedConfig,
    settings: crate::audit::sqlite::Settings,
    metrics: Option<Arc<Metrics>>,
    clock: SharedClock,
) -> Result<Arc<dyn AuditSink>, AuditError> {
    let db = postgres::open_checked(loaded, AUDIT_POOL_SIZE, "audit")
        .map_err(|e| AuditError(format!("[audit] store = \"postgres\": {e}")))?;
    Ok(Arc::new(postgres::audit::PgAuditSink::open(
        db, settings, metrics, clock,
    )?))
}
