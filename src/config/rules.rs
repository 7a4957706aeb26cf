//! `[rules]`: deployment choices for validation, the fastlege rule and the checks against HPR and the
//! access-block register.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::rules::{
    BlockCheckSettings, BlockPointers, CheckSettings, EngineSettings, HprCheckSettings,
    HprPointers, HttpClientSettings, HttpRegisterSettings, OnUnavailable, RuleDirection,
    RulesSettings, UnknownCodes,
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
    /// The HPR authorization check; absent: off.
    #[serde(default)]
    pub hpr: Option<HprConfig>,
    /// The access-block check; absent: off.
    #[serde(default)]
    pub blocks: Option<BlocksConfig>,
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
    /// How long "no GP" is reused (absent: `cache_ttl_secs`).
    #[serde(default)]
    pub negative_cache_ttl_secs: Option<u64>,
}

fn reject() -> OnUnavailable {
    OnUnavailable::Reject
}

/// `[rules.hpr]`: the register the `hpr_authorization` check asks, and what it does when the register cannot
/// answer or the practitioner has no HPR number. Present means on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HprConfig {
    pub register: RegisterBackend,
    /// The register file (`register = "file"`), relative to the configuration file.
    #[serde(default)]
    pub file: String,
    /// `reject` (the default: an access check that cannot be made refuses) or `keep` (issue anyway).
    #[serde(default = "reject")]
    pub on_unavailable: OnUnavailable,
    /// Replaces the directions the rules file declares (default there: `encode-jwt` and `encode-xua`).
    #[serde(default)]
    pub direction: Option<Vec<RuleDirection>>,
    /// Volven 9060 categories let through without an HPR number; `"none"` for a token that claims no
    /// authorization (administrative personnel). Empty: a practitioner without an HPR number is refused.
    #[serde(default)]
    pub allow_without_hpr_number: Vec<String>,
    #[serde(default)]
    pub http: Option<CheckHttpConfig<HprPointers>>,
}

/// `[rules.blocks]`: the register the `access_block` check asks. Present means on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlocksConfig {
    pub register: RegisterBackend,
    #[serde(default)]
    pub file: String,
    #[serde(default = "reject")]
    pub on_unavailable: OnUnavailable,
    #[serde(default)]
    pub direction: Option<Vec<RuleDirection>>,
    #[serde(default)]
    pub http: Option<CheckHttpConfig<BlockPointers>>,
}

/// `[rules.hpr.http]`, `[rules.blocks.http]`: the shared HTTP transport, and `[... .http.pointers]` for
/// where the register's answer holds each field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckHttpConfig<P> {
    /// URL template with `{hpr}` (HPR) or `{patient}` (blocks).
    pub url: String,
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_ttl")]
    pub cache_ttl_secs: u64,
    /// How long a negative answer (HPR: number not known or nothing listed; blocks: none) is reused.
    #[serde(default = "default_negative_ttl")]
    pub negative_cache_ttl_secs: u64,
    #[serde(default = "default_capacity")]
    pub cache_capacity: u64,
    #[serde(default = "default_concurrency")]
    pub max_concurrent: usize,
    #[serde(default = "default_queue_ms")]
    pub queue_wait_ms: u64,
    #[serde(default)]
    pub pointers: P,
}

fn default_negative_ttl() -> u64 {
    30
}

impl<P: Clone> CheckHttpConfig<P> {
    pub fn client(&self) -> HttpClientSettings {
        HttpClientSettings {
            url: self.url.clone(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            cache_ttl: Duration::from_secs(self.cache_ttl_secs),
            negative_ttl: Duration::from_secs(self.negative_cache_ttl_secs),
            cache_capacity: self.cache_capacity,
            max_concurrent: self.max_concurrent,
            queue_wait: Duration::from_millis(self.queue_wait_ms),
            ..HttpClientSettings::default()
        }
    }
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
            negative_ttl: self.negative_cache_ttl_secs.map(Duration::from_secs),
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
            checks: CheckSettings {
                hpr: self.hpr.as_ref().map(|h| HprCheckSettings {
                    on_unavailable: h.on_unavailable,
                    directions: h.direction.clone(),
                    allow_without_hpr_number: h.allow_without_hpr_number.clone(),
                }),
                blocks: self.blocks.as_ref().map(|b| BlockCheckSettings {
                    on_unavailable: b.on_unavailable,
                    directions: b.direction.clone(),
                }),
            },
        }
    }
}
