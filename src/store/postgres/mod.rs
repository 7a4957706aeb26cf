//! PostgreSQL stores, for several gateway instances sharing one database: the replay cache
//! ([`replay::PgReplayCache`]: one atomic statement decides each use) and the access log
//! ([`audit::PgAuditSink`]: one hash chain for the cluster, group-committed per instance).
//!
//! Client: the synchronous `postgres` crate with an r2d2 pool. The pipeline already runs on actix's blocking
//! pool (it verifies signatures there and waits for the access log's commit there), so a synchronous client
//! on those threads adds no thread and no executor hand-off; every wait is bounded by `[database]`
//! timeouts, and the async workers never touch a connection.

pub mod audit;
pub mod migrations;
pub mod pool;
pub mod read;
pub mod replay;

pub use pool::{Database, Settings};

use crate::config::LoadedConfig;

/// A database failure, as a message that names the database and the operation, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

impl From<DbError> for crate::audit::AuditError {
    fn from(e: DbError) -> Self {
        crate::audit::AuditError(e.0)
    }
}

/// A PostgreSQL error without its DETAIL (which can quote a row's values: identifiers must not reach the
/// ordinary logs): the server's message and SQLSTATE, or the client's own error.
pub fn describe_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            // The client's errors say what failed ("error performing TLS handshake") and keep why in
            // their source ("certificate verify failed").
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// Opens a pool on the configured database and checks that its schema is the one this build knows.
pub fn open_checked(
    loaded: &LoadedConfig,
    pool_size: u32,
    purpose: &str,
) -> Result<Database, DbError> {
    let settings = Settings::from_config(loaded)?.with_pool_size(pool_size);
    let db = Database::open(&settings, purpose)?;
    migrations::check(&db)?;
    Ok(db)
}
