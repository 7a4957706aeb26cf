//! The access log: one record per translation attempt, accepted or rejected.
//!
//! This is the legally required log of who accessed which patient's records and on what grounds (Normen,
//! "Hva skal logges?": identity, organisational affiliation, grounds, time period; attempts at unauthorised
//! use too), so it holds identifiers that ordinary logs never do. For an accepted exchange the record is
//! durable before the token is returned; if it cannot be written, no token is issued.
//!
//! Stores: [`sqlite::SqliteSink`] (the default: an embedded database, group-committed, hash-chained),
//! [`JsonLinesSink`] (append-only file, kept for simple set-ups), [`MemorySink`] (tests), and PostgreSQL for
//! a cluster (`crate::store::postgres::audit`, opened by `crate::store::open_audit`).

pub mod chain;
pub mod cli;
pub mod columns;
pub mod sqlite;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::config::{AuditConfig, AuditStore};
use crate::error::ErrorClass;
use crate::model::{AccessContext, Coded};
use crate::observability::metrics::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    SamlToJwt,
    JwtToSaml,
}

impl Direction {
    /// Stable label (audit column, metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SamlToJwt => "saml-to-jwt",
            Direction::JwtToSaml => "jwt-to-saml",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Issued,
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Rejected => "rejected",
        }
    }
}

/// A rule that changed the grounds on the way through (today: the fastlege override of
/// `healthcare_service`), with what was there before and what the register said. Filled by `rules/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideAudit {
    /// The rule's name as declared in `mappings/` (e.g. `fastlege`).
    pub rule: String,
    /// The value the input carried before the rule replaced it (absent when the input had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Coded>,
    /// What the register answered, in the rule's own words (`listed`, `not-listed`, `unreachable`, ...).
    pub register_answer: String,
}

/// One attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: String,
    pub request_id: String,
    pub direction: Direction,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_audience: Option<String>,
    /// End of the issued token's validity: with `time`, the period access was granted for (Normen's
    /// "tidsperioden for tilgjengeliggjøringen").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// The grounds for access, as issued (absent when the input never got as far as decoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<AccessContext>,
    /// What the rules stage did: lenient-mode warnings and every rule decision (e.g. the fastlege override
    /// with the original value and the register's answer), as the rules stage wrote it. Absent when there was
    /// nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<serde_json::Value>,
    /// Set when the fastlege rule replaced `healthcare_service`; `context` then holds the new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fastlege: Option<OverrideAudit>,
}

impl AuditRecord {
    /// A record for an attempt that has just begun: rejected until the pipeline says otherwise.
    pub fn begin(
        direction: Direction,
        time: String,
        request_id: &str,
        client_address: Option<&str>,
    ) -> Self {
        Self {
            time,
            request_id: request_id.to_string(),
            direction,
            outcome: Outcome::Rejected,
            error_class: None,
            error: None,
            input_issuer: None,
            input_token_id: None,
            output_token_id: None,
            output_audience: None,
            output_expires: None,
            profile: None,
            client_address: client_address.map(str::to_string),
            context: None,
            rules: None,
            fastlege: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit record could not be written: {0}")]
pub struct AuditError(pub String);

pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Returns only once the record is durable.
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// A cheap check that a write would succeed now (for `/readyz`); stores that cannot tell say yes.
    fn ready(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Short name for health output and logs.
    fn kind(&self) -> &'static str;
}

/// Opens the store the configuration names: nothing (memory) when `path` is empty, otherwise SQLite by
/// default or JSON lines when `store = "jsonl"`.
pub fn open_configured(
    config: &AuditConfig,
    metrics: Option<Arc<Metrics>>,
    clock: SharedClock,
) -> Result<Arc<dyn AuditSink>, AuditError> {
    if config.path.is_empty() && config.store != AuditStore::Postgres {
        return Ok(Arc::new(MemorySink::default()));
    }
    let path = Path::new(&config.path);
    Ok(match config.store {
        AuditStore::Sqlite => Arc::new(sqlite::SqliteSink::open(
            path,
            sqlite::Settings::from_config(config),
            metrics,
            clock,
        )?),
        AuditStore::Jsonl => Arc::new(JsonLinesSink::open(path)?),
        AuditStore::Postgres => {
            return Err(AuditError(
                "the PostgreSQL access log needs [database]: open it with store::open_audit".into(),
            ))
        }
    })
}

/// Appends JSON lines to a file and syncs each one to disk (no chain, no group commit).
#[derive(Debug)]
pub struct JsonLinesSink {
    file: Mutex<std::fs::File>,
}

impl JsonLinesSink {
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| AuditError(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }
}

impl AuditSink for JsonLinesSink {
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record).map_err(|e| AuditError(e.to_string()))?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| AuditError("the audit file lock is poisoned".into()))?;
        file.write_all(&line)
            .map_err(|e| AuditError(e.to_string()))?;
        file.sync_data().map_err(|e| AuditError(e.to_string()))
    }

    fn kind(&self) -> &'static str {
        "jsonl"
    }
}

/// Keeps records in memory (tests, and configurations with no audit path, which `serve` refuses).
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemorySink {
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemorySink {
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.records
            .lock()
            .map_err(|_| AuditError("the audit memory lock is poisoned".into()))?
            .push(record.clone());
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
