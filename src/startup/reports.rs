//! The configuration → what the access log's reports need: the store to read (the one `[audit]` writes),
//! the store their own use is recorded in, and the tables (from `[gateway] mappings`, or embedded).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::stores::sqlite_settings;
use super::StartupError;
use crate::audit::log::AuditLog;
use crate::audit::sqlite::{SqliteLog, SqliteSink};
use crate::audit::AuditSink;
use crate::clock::SharedClock;
use crate::config::{AuditStore, LoadedConfig};
use crate::reports::service::InsightService;
use crate::reports::tables::Tables;
use crate::rules::CodeTables;

/// The configured access log, for reading. Refused for `jsonl` (no chain) and for an empty path.
pub fn open_log(loaded: &LoadedConfig) -> Result<Arc<dyn AuditLog>, StartupError> {
    let c = &loaded.config.audit;
    match c.store {
        AuditStore::Postgres => {
            let db = crate::store::postgres::open_checked(loaded, 1, "audit reports")
                .map_err(|e| StartupError::Audit(format!("[audit] store = \"postgres\": {e}")))?;
            Ok(Arc::new(crate::store::postgres::log::PgLog::new(db)))
        }
        AuditStore::Jsonl => Err(StartupError::Audit(
            "the reports read the hash-chained SQLite or PostgreSQL log; [audit] store is jsonl"
                .into(),
        )),
        AuditStore::Sqlite if c.path.is_empty() => Err(StartupError::Audit(format!(
            "{}: [audit] path is empty: there is no access log to read",
            loaded.origin.label()
        ))),
        AuditStore::Sqlite => Ok(Arc::new(
            SqliteLog::open(Path::new(&c.path)).map_err(|e| StartupError::Audit(e.0))?,
        )),
    }
}

/// The store a report's own use is recorded in: the same log.
pub fn open_writer(
    loaded: &LoadedConfig,
    clock: SharedClock,
) -> Result<Arc<dyn AuditSink>, StartupError> {
    let c = &loaded.config.audit;
    match c.store {
        AuditStore::Postgres => {
            crate::store::open_postgres_audit(loaded, sqlite_settings(c), None, clock)
                .map_err(|e| StartupError::Audit(e.0))
        }
        _ => Ok(Arc::new(
            SqliteSink::open(Path::new(&c.path), sqlite_settings(c), None, clock)
                .map_err(|e| StartupError::Audit(e.0))?,
        )),
    }
}

/// The code tables and the reports' tables.
pub fn tables(loaded: &LoadedConfig) -> Result<(Tables, CodeTables), StartupError> {
    let mappings = &loaded.config.gateway.mappings;
    if mappings.is_empty() {
        let codes = CodeTables::embedded()?;
        let tables = Tables::embedded(&codes)?;
        return Ok((tables, codes));
    }
    let dir = loaded.resolve_dir(mappings);
    let codes = CodeTables::load_dir(&dir.join("codes"))?;
    let tables = Tables::load(Some(&dir), &codes)?;
    Ok((tables, codes))
}

/// The watch list `file` names (relative to the working directory), or `[review] watch_list` (relative to
/// the configuration file); empty when neither is given.
pub fn watch_list(
    loaded: &LoadedConfig,
    file: Option<&Path>,
) -> Result<BTreeSet<String>, StartupError> {
    let text = match file {
        Some(f) => std::fs::read(f).map_err(|e| {
            StartupError::Audit(format!("cannot read the watch list {}: {e}", f.display()))
        })?,
        None if loaded.config.review.watch_list.is_empty() => return Ok(BTreeSet::new()),
        None => loaded.read_file(&loaded.config.review.watch_list)?,
    };
    let text = String::from_utf8(text)
        .map_err(|_| StartupError::Audit("the watch list is not UTF-8 text".into()))?;
    Ok(crate::reports::review::parse_watch_list(&text))
}

/// What `POST /audit/insight` reads with `[insight] enabled = true`: the log and the tables. The sink its
/// requests are recorded in is the running gateway's ([`InsightReading::service`]). Which clients may ask is
/// their `[[clients]] insight_reports`.
pub struct InsightReading {
    log: Arc<dyn AuditLog>,
    tables: Tables,
    codes: CodeTables,
}

impl InsightReading {
    pub fn service(self, sink: Arc<dyn AuditSink>) -> InsightService {
        InsightService {
            log: self.log,
            sink,
            tables: self.tables,
            codes: self.codes,
        }
    }
}

pub(super) fn insight_reading(
    loaded: &LoadedConfig,
) -> Result<Option<InsightReading>, StartupError> {
    if !loaded.config.insight.enabled {
        return Ok(None);
    }
    let log = open_log(loaded)
        .map_err(|e| StartupError::Audit(format!("[insight] enabled = true: {e}")))?;
    let (tables, codes) = tables(loaded)?;
    Ok(Some(InsightReading { log, tables, codes }))
}
