//! `[rules]`: deployment choices for validation and the fastlege rule.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::rules::{
    EngineSettings, HttpRegisterSettings, OnUnavailable, RulesSettings, UnknownCodes,
};

/// `[rules]`: deployment choices for validation and the fastlege rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Per profile: `strict` or `lenient` for unknown codes; a profile not named keeps its rules file's mode.
    #[serde(default)]
    pub unknown_codes: BTreeMap<String, UnknownCodes>,
    /// Accept synthetic test fødselsnumre and D-numbers (Tenor: month + 80; NAV: + 40 and + 60). Never in
    /// production.
    #[serde(default)]
    pub synthetic_nin: bool,
    #[serde(default)]
    pub fastlege: FastlegeConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterBackend {
    /// No register: every lookup is unavailable and the failure policy applies.
    #[default]
    None,
    File,
    Http,
}

/// `[rules.fastlege]`: the register the fastlege rule asks, and what happens when it cannot answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastlegeConfig {
    #[serde(default)]
    pub register: RegisterBackend,
    /// The register file (`register = "file"`), relative to the configuration file.
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    /// Replaces the code system of the rule's replacement code (empty: the rules file's).
    #[serde(default)]
    pub replacement_system: String,
    #[serde(default)]
    pub http: Option<HttpRegisterConfig>,
}

/// `[rules.fastlege.http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRegisterConfig {
    /// URL template with `{patient}`.
    pub url: String,
    /// JSON pointer to the GP's HPR number in the answer.
    pub hpr_pointer: String,
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_ttl")]
    pub cache_ttl_secs: u64,
    #[serde(default = "default_capacity")]
    pub cache_capacity: u64,
    #[serde(default = "default_concurrency")]
    pub max_concurrent: usize,
    #[serde(default = "default_queue_ms")]
    pub queue_wait_ms: u64,
}

fn default_connect_ms() -> u64 {
    500
}
fn default_timeout_ms() -> u64 {
    2000
}
fn default_ttl() -> u64 {
    300
}
fn default_capacity() -> u64 {
    10_000
}
fn default_concurrency() -> usize {
    8
}
fn default_queue_ms() -> u64 {
    100
}

impl HttpRegisterConfig {
    pub fn settings(&self) -> HttpRegisterSettings {
        HttpRegisterSettings {
            url: self.url.clone(),
            hpr_pointer: self.hpr_pointer.clone(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            cache_ttl: Duration::from_secs(self.cache_ttl_secs),
            cache_capacity: self.cache_capacity,
            max_concurrent: self.max_concurrent,
            queue_wait: Duration::from_millis(self.queue_wait_ms),
            ..HttpRegisterSettings::default()
        }
    }
}

impl RulesConfig {
    /// The settings the rules stage runs with.
    pub fn settings(&self) -> RulesSettings {
        let mut engine = EngineSettings {
            on_unavailable: self.fastlege.on_unavailable,
            replacement_systems: Vec::new(),
        };
        if !self.fastlege.replacement_system.is_empty() {
            engine.replacement_systems.push((
                "fastlege".to_string(),
                self.fastlege.replacement_system.clone(),
            ));
        }
        RulesSettings {
            unknown_codes: self.unknown_codes.clone(),
            synthetic_nin: self.synthetic_nin,
            engine,
        }
    }
}
