//! The access log: one record per translation attempt, accepted or rejected.
//!
//! This is the legally required log of who accessed which patient's records and on what grounds (Normen,
//! "Hva skal logges?": identity, organisational affiliation, grounds, time period; attempts at unauthorised
//! use too), so it holds identifiers that ordinary logs never do. For an accepted exchange the record is
//! durable before the token is returned; if it cannot be written, no token is issued.
//!
//! Stores: [`sqlite::SqliteSink`] (the default: an embedded database, group-committed, hash-chained),
//! [`JsonLinesSink`] (append-only file, kept for simple set-ups), [`MemorySink`] (tests), and PostgreSQL for
//! a cluster (`crate::store::postgres::audit`, opened by `crate::store::open_postgres_audit`).

pub mod ack;
pub mod chain;
pub mod columns;
mod event;
pub mod log;
pub mod sqlite;

pub use event::{CoveredHead, Event, LogUse};

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::ErrorClass;
use crate::model::{AccessContext, Coded, Direction, Outcome};
use crate::rules::{CheckDecision, RegisterAnswer, RulesOutcome};

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

impl OverrideAudit {
    /// The rule that replaced a value, in the access log's own columns: the rule, the value it replaced, the
    /// register's answer (the full decision list stays in `rules`).
    pub fn of(outcome: &RulesOutcome) -> Option<Self> {
        outcome.decisions.iter().find(|d| d.applied).map(|d| Self {
            rule: d.rule.clone(),
            original: d.original.clone(),
            register_answer: match &d.register_answer {
                RegisterAnswer::Hit => "listed".to_string(),
                RegisterAnswer::Miss => "not-listed".to_string(),
                RegisterAnswer::Unavailable(why) => format!("unavailable: {why}"),
                RegisterAnswer::NotAsked(why) => format!("not asked: {why}"),
            },
        })
    }
}

/// One attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub request_id: String,
    /// Which way a translation went, or which use of the log itself this records (column `direction`).
    pub direction: Event,
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
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_expires: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// The grounds for access, as issued (absent when the input never got as far as decoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<AccessContext>,
    /// What the rules stage did: lenient-mode warnings and every rule decision (e.g. the fastlege override
    /// with the original value and the register's answer). Absent when there was nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<RulesOutcome>,
    /// Set when the fastlege rule replaced `healthcare_service`; `context` then holds the new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fastlege: Option<OverrideAudit>,
    /// The client that sent the request: the authenticated one, or the one it claimed when its
    /// authentication failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// How the client authenticated (`private_key_jwt`, `tls_client_auth`, ...); absent when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<String>,
    /// The RFC 7638 thumbprint of the DPoP proof's key, when a proof verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// The `x5t#S256` thumbprint of the TLS client certificate, when the connection presented one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_thumbprint: Option<String>,
    /// Who acted for the subject in a delegated exchange (`actor_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorAudit>,
    /// The input token's replay-cache entry, so that a restart can remember the tokens exchanged before it
    /// (kept in `record_json`, which the chain covers; no column of its own, so the chain format is
    /// unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayEntry>,
    /// What the checks against registers found (HPR authorization, access blocks): each register's answer,
    /// a block's id, a lapsed authorization. Only here, never in a response or an ordinary log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckDecision>,
    /// The WS-Addressing Action of a SOAP request (the XCA proxy, WS-Trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap_action: Option<String>,
    /// The proxy route's gateway path the request came in on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_route: Option<String>,
    /// The HTTP status the upstream answered a forwarded request with (outcome `forwarded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    /// For a use of the log itself (an insight report, a review): who asked, for what, and which chain head
    /// the answer covered. Absent on translation records, whose stored form this leaves unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_use: Option<LogUse>,
}

/// The actor of a delegated exchange, from its verified actor token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorAudit {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A replay-cache entry as the access log keeps it: the key's digest (hex; no token content) and until when
/// the token could be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayEntry {
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

impl AuditRecord {
    /// A record for an attempt that has just begun: rejected until the pipeline says otherwise.
    pub fn begin(
        direction: Direction,
        time: OffsetDateTime,
        request_id: &str,
        client_address: Option<&str>,
    ) -> Self {
        Self {
            time,
            request_id: request_id.to_string(),
            direction: direction.into(),
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
            client_id: None,
            client_auth: None,
            dpop_jkt: None,
            client_cert_thumbprint: None,
            actor: None,
            replay: None,
            checks: Vec::new(),
            soap_action: None,
            proxy_route: None,
            upstream_status: None,
            log_use: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit record could not be written: {0}")]
pub struct AuditError(pub String);

pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Returns only once the record is durable.
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// Hands the record over and says when it is durable, for a caller that waits without holding a thread
    /// ([`ack::Pending::settled`]). A store that writes synchronously has answered when this returns (the
    /// default); a group-committing store answers once the batch holding the record has committed.
    fn submit(&self, record: &AuditRecord) -> ack::Pending {
        ack::Pending::done(self.write(record))
    }

    /// A cheap check that a write would succeed now (for `/readyz`): it fails when the store could not
    /// commit a record where it promises to keep it (a database file deleted or replaced under it, a writer
    /// that stopped, a commit that failed). Stores that cannot tell say yes.
    fn ready(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Short name for health output and logs.
    fn kind(&self) -> &'static str;
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
