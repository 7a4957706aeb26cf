//! What the benches share. Each bench compiles this module on its own and uses part of it.
#![allow(dead_code)]

use xua_gateway::audit::{AuditError, AuditRecord, AuditSink};
use xua_gateway::config::{LoadedConfig, Origin};

/// The embedded configuration with replay protection off: a benchmark re-sends the same tokens on purpose,
/// and replay protection would refuse every second one. (Client assertions and DPoP proofs are fresh each
/// time and always remembered, so the store is made large enough for a whole run of them.)
pub fn no_replay_config() -> LoadedConfig {
    let text = include_str!("../../samples/config.toml")
        .replace("saml = true", "saml = false")
        .replace("jwt = true", "jwt = false")
        .replace("capacity = 100000", "capacity = 10000000");
    LoadedConfig::parse(&text, Origin::Embedded).expect("config")
}

/// Drops audit records: the access log's cost is measured on its own (`benches/audit.rs`).
#[derive(Debug)]
pub struct NullSink;

impl AuditSink for NullSink {
    fn write(&self, _: &AuditRecord) -> Result<(), AuditError> {
        Ok(())
    }
    fn kind(&self) -> &'static str {
        "null"
    }
}
