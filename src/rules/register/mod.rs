//! The sector's registers the rules ask: the fastlege (regular GP) register (who is the registered GP of a
//! patient), HPR (which authorizations a health professional holds) and the access-block register (which
//! blocks a patient has placed).
//!
//! Each is a trait with backends: a local file (TEST-ONLY samples under `samples/`, or an extract a small
//! deployment receives) and an HTTP lookup over the shared transport in `client.rs` (timeouts, a TTL cache
//! with a shorter TTL for negative answers, bounded concurrency). The traits are synchronous because the
//! pipeline runs on actix's blocking thread pool.

mod blocks;
mod client;
mod file;
mod hpr;
mod http;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::ident::HprNumber;

pub use blocks::{
    Block, BlockFile, BlockHttp, BlockHttpSettings, BlockPointers, BlockRegister, BlockScope,
};
pub use client::{HttpClientSettings, Looked};
pub use file::FileRegister;
pub use hpr::{
    Authorization, HprFile, HprHttp, HprHttpSettings, HprPointers, HprRegister, Validity,
};
pub use http::{HttpRegister, HttpRegisterSettings};

/// Why the register could not answer. The texts name no person and no URL (the URL holds the patient's
/// identifier), so they can go into error responses and audit records.
///
/// Stored as its message (audit records carry the register's answer in words), and read back from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum RegisterError {
    #[error("the register did not answer in time")]
    Timeout,
    #[error("too many register lookups are in progress")]
    Saturated,
    #[error("the register cannot be reached")]
    Connect,
    #[error("the register answered with HTTP status {0}")]
    Status(u16),
    #[error("the register's answer is malformed: {0}")]
    Malformed(Cow<'static, str>),
    #[error("no fastlege register is configured")]
    NotConfigured,
    /// Another register than the fastlege register (`HPR`, `access-block`) is not configured.
    #[error("no {0} register is configured")]
    NotConfiguredFor(Cow<'static, str>),
    #[error("the register lookup failed: {0}")]
    Other(Cow<'static, str>),
}

impl From<RegisterError> for String {
    fn from(e: RegisterError) -> Self {
        e.to_string()
    }
}

/// The inverse of the messages above; a message from another version is kept as it was written.
impl From<String> for RegisterError {
    fn from(message: String) -> Self {
        let fixed = [
            RegisterError::Timeout,
            RegisterError::Saturated,
            RegisterError::Connect,
            RegisterError::NotConfigured,
        ];
        if let Some(e) = fixed.into_iter().find(|e| e.to_string() == message) {
            return e;
        }
        if let Some(code) = message
            .strip_prefix("the register answered with HTTP status ")
            .and_then(|c| c.parse().ok())
        {
            return RegisterError::Status(code);
        }
        if let Some(which) = message
            .strip_prefix("no ")
            .and_then(|m| m.strip_suffix(" register is configured"))
        {
            return RegisterError::NotConfiguredFor(Cow::Owned(which.to_string()));
        }
        if let Some(why) = message.strip_prefix("the register's answer is malformed: ") {
            return RegisterError::Malformed(Cow::Owned(why.to_string()));
        }
        match message.strip_prefix("the register lookup failed: ") {
            Some(why) => RegisterError::Other(Cow::Owned(why.to_string())),
            None => RegisterError::Other(Cow::Owned(message)),
        }
    }
}

/// Answers "who is the registered GP of this patient?".
pub trait FastlegeRegister: Send + Sync + fmt::Debug {
    /// The HPR number of the patient's registered GP; `Ok(None)` when the register lists none.
    /// `patient` is a fødselsnummer or D-number (validated before any rule asks).
    fn gp_of(&self, patient: &str) -> Result<Option<HprNumber>, RegisterError>;

    /// The backend's name in metrics (`file`, `http`, `none`).
    fn kind(&self) -> &'static str;
}

/// The register of a deployment that configures none: every lookup is unavailable, so a rule that needs
/// the register follows the configured failure policy (and says so in the audit record).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRegister;

impl FastlegeRegister for NoRegister {
    fn gp_of(&self, _patient: &str) -> Result<Option<HprNumber>, RegisterError> {
        Err(RegisterError::NotConfigured)
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}

impl HprRegister for NoRegister {
    fn authorizations(
        &self,
        _hpr: &HprNumber,
    ) -> Result<Looked<Option<std::sync::Arc<[Authorization]>>>, RegisterError> {
        Err(RegisterError::NotConfiguredFor(Cow::Borrowed("HPR")))
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}

impl BlockRegister for NoRegister {
    fn blocks(&self, _patient: &str) -> Result<Looked<std::sync::Arc<[Block]>>, RegisterError> {
        Err(RegisterError::NotConfiguredFor(Cow::Borrowed(
            "access-block",
        )))
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}

/// Counters for metrics: lookups and their outcomes as the rule engine saw them, and what the HTTP backend
/// did to answer them. Read with [`RegisterStats::snapshot`]. Each register has its own; the HPR and block
/// checks count `lookups`, `unavailable` and the policy counters (their answers are counted in `/metrics`).
#[derive(Debug, Default)]
pub struct RegisterStats {
    /// Lookups the rule engine made.
    pub lookups: AtomicU64,
    /// The practitioner was the patient's GP.
    pub hits: AtomicU64,
    /// The patient has another GP or none.
    pub misses: AtomicU64,
    /// The register could not answer.
    pub unavailable: AtomicU64,
    /// Rules that changed the model.
    pub overrides_applied: AtomicU64,
    /// Unavailable answers under the `keep` policy (the input value went out unchanged).
    pub kept_on_unavailable: AtomicU64,
    /// Unavailable answers under the `reject` policy (nothing was issued).
    pub rejected_on_unavailable: AtomicU64,
    /// HTTP backend: answers served from the cache.
    pub cache_hits: AtomicU64,
    /// HTTP backend: requests sent.
    pub http_requests: AtomicU64,
    /// HTTP backend: requests that timed out.
    pub timeouts: AtomicU64,
    /// HTTP backend: error statuses, connection failures and malformed answers.
    pub http_errors: AtomicU64,
    /// HTTP backend: lookups refused because the concurrency limit stayed full.
    pub saturated: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RegisterStatsSnapshot {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub unavailable: u64,
    pub overrides_applied: u64,
    pub kept_on_unavailable: u64,
    pub rejected_on_unavailable: u64,
    pub cache_hits: u64,
    pub http_requests: u64,
    pub timeouts: u64,
    pub http_errors: u64,
    pub saturated: u64,
}

impl RegisterStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> RegisterStatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RegisterStatsSnapshot {
            lookups: r(&self.lookups),
            hits: r(&self.hits),
            misses: r(&self.misses),
            unavailable: r(&self.unavailable),
            overrides_applied: r(&self.overrides_applied),
            kept_on_unavailable: r(&self.kept_on_unavailable),
            rejected_on_unavailable: r(&self.rejected_on_unavailable),
            cache_hits: r(&self.cache_hits),
            http_requests: r(&self.http_requests),
            timeouts: r(&self.timeouts),
            http_errors: r(&self.http_errors),
            saturated: r(&self.saturated),
        }
    }
}
