//! The access log: one record per translation attempt, accepted or rejected.
//!
//! This is the legally required log of who accessed which patient's records and on what grounds (Normen),
//! so it holds identifiers that ordinary logs never do. For an accepted exchange the record is written
//! before the token is returned; if it cannot be written, no token is issued.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::error::ErrorClass;
use crate::model::AccessContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    SamlToJwt,
    JwtToSaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Issued,
    Rejected,
}

/// One attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub request_id: String,
    pub direction: Direction,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// The grounds for access, as decoded (absent when the input never got that far).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<AccessContext>,
    /// What the rules stage did: lenient-mode warnings and every rule decision (e.g. the fastlege override
    /// with the original value and the register's answer). Absent when there was nothing to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<crate::rules::RulesOutcome>,
}

#[derive(Debug, thiserror::Error)]
#[error("the audit record could not be written: {0}")]
pub struct AuditError(pub String);

pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Returns only once the record is durable.
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError>;
}

/// Appends JSON lines to a file and syncs each one to disk.
#[derive(Debug)]
pub struct JsonLinesSink {
    file: Mutex<std::fs::File>,
}

impl JsonLinesSink {
    pub fn open(path: &std::path::Path) -> Result<Self, AuditError> {
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
}

/// Keeps records in memory (tests, and `translate` on the command line, which issues nothing to anyone).
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
}
