//! The rules stage of the pipeline: value validation and declared rules (the fastlege override), both read
//! from `mappings/` like the profiles.
//!
//! ```text
//! decode ──► validate (mappings/rules: per-field checks, code tables) ──► rules for the direction ──► encode
//! ```
//!
//! [`Rules`] is the one object the gateway builds from configuration: the code tables, per profile a
//! [`Validator`] and a [`RuleEngine`], the fastlege register and its counters. The pipeline calls
//! [`Rules::run`] after decoding and keeps the returned [`RulesOutcome`] for the audit record.

pub mod codes;
mod engine;
pub mod ident;
mod register;
mod source;
mod table;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use codes::{CodeSystem, CodeTables};
pub use engine::{
    EngineSettings, OnUnavailable, RegisterAnswer, RuleDecision, RuleDirection, RuleEngine,
    TextChange,
};
pub use register::{
    FastlegeRegister, FileRegister, HttpRegister, HttpRegisterSettings, NoRegister, RegisterError,
    RegisterStats, RegisterStatsSnapshot,
};
pub use table::{RuleSet, DEFAULT_MAX_LEN};
pub use validate::{Finding, Severity, ValidationSettings, Validator, Warning};

use crate::config::{ConfigError, LoadedConfig};
use crate::error::Rejection;
use crate::gateway::StartupError;
use crate::mapping::{MappingError, ProfileSet};
use crate::model::AccessContext;

/// Whether a code that is not in the code tables is refused or passed with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownCodes {
    /// Refuse (production).
    #[default]
    Strict,
    /// Pass, with a warning in the audit record (test events, inspection).
    Lenient,
}

impl UnknownCodes {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "strict" => Some(Self::Strict),
            "lenient" => Some(Self::Lenient),
            _ => None,
        }
    }
}

/// The rules files shipped in `mappings/rules/`, compiled into the binary.
const EMBEDDED_RULES: &[(&str, &str)] = &[
    (
        "mappings/rules/no-pjd.toml",
        include_str!("../../mappings/rules/no-pjd.toml"),
    ),
    (
        "mappings/rules/ihe-iua.toml",
        include_str!("../../mappings/rules/ihe-iua.toml"),
    ),
];

/// The names of the embedded rules files, so a test can check the list matches the folder.
pub fn embedded_rule_files() -> impl Iterator<Item = &'static str> {
    EMBEDDED_RULES.iter().map(|(name, _)| *name)
}

impl RuleSet {
    /// The rules files shipped in `mappings/rules/`, as compiled into the binary.
    pub fn embedded(codes: &CodeTables) -> Result<Vec<Self>, MappingError> {
        EMBEDDED_RULES
            .iter()
            .map(|(file, text)| Self::from_toml(&format!("embedded:{file}"), text, codes))
            .collect()
    }

    /// Every `*.toml` in `dir` (a mappings folder's `rules/`).
    pub fn load_dir(dir: &Path, codes: &CodeTables) -> Result<Vec<Self>, MappingError> {
        source::read_tables(dir)?
            .into_iter()
            .map(|(file, text)| Self::from_toml(&file, &text, codes))
            .collect()
    }
}

// ── configuration ([rules] in the gateway configuration) ────────────────────────────────────────────────

/// `[rules]`: deployment choices for validation and the fastlege rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Per profile: `strict` or `lenient` for unknown codes; a profile not named keeps its rules file's mode.
    #[serde(default)]
    pub unknown_codes: BTreeMap<String, UnknownCodes>,
    /// Accept synthetic test fødselsnumre and D-numbers (Tenor: month + 80). Never in production.
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

// ── the assembled stage ─────────────────────────────────────────────────────────────────────────────────

/// What the rules stage did to one exchange, for the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RulesOutcome {
    /// Lenient-mode findings (unknown codes) that let the value pass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Every rule evaluated, applied or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<RuleDecision>,
}

impl RulesOutcome {
    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.decisions.is_empty()
    }
}

#[derive(Debug)]
struct ProfileRules {
    validator: Validator,
    engine: RuleEngine,
}

/// The rules stage for every profile the gateway runs.
#[derive(Debug)]
pub struct Rules {
    codes: Arc<CodeTables>,
    profiles: HashMap<String, ProfileRules>,
    register: Arc<dyn FastlegeRegister>,
    stats: Arc<RegisterStats>,
}

impl Rules {
    /// Builds the stage from the gateway configuration: tables from `gateway.mappings` (or the embedded
    /// ones), the register from `[rules.fastlege]`. Every problem stops start-up with the file and line.
    pub fn build(loaded: &LoadedConfig, profiles: &ProfileSet) -> Result<Self, StartupError> {
        let c = &loaded.config;
        let (codes, sets) = if c.gateway.mappings.is_empty() {
            let codes = CodeTables::embedded()?;
            let sets = RuleSet::embedded(&codes)?;
            (codes, sets)
        } else {
            let dir = loaded.resolve_dir(&c.gateway.mappings);
            let codes = CodeTables::load_dir(&dir.join("codes"))?;
            let sets = RuleSet::load_dir(&dir.join("rules"), &codes)?;
            (codes, sets)
        };
        let invalid = |message: String| ConfigError::Invalid {
            file: loaded.origin.label(),
            message,
        };
        for set in &sets {
            if profiles.get(&set.profile).is_none() {
                return Err(MappingError {
                    file: set.source.clone(),
                    line: None,
                    message: format!(
                        "these rules are for profile {:?}, which is not loaded",
                        set.profile
                    ),
                }
                .into());
            }
        }
        for name in c.rules.unknown_codes.keys() {
            if profiles.get(name).is_none() {
                return Err(invalid(format!(
                    "rules.unknown_codes names profile {name:?}, which is not loaded"
                ))
                .into());
            }
        }
        for name in profiles.names() {
            if !sets.iter().any(|s| s.profile == name) {
                tracing::warn!(
                    profile = name,
                    "no rules file for this profile: its values are not validated"
                );
            }
        }

        let stats = Arc::new(RegisterStats::default());
        let f = &c.rules.fastlege;
        let register: Arc<dyn FastlegeRegister> = match f.register {
            RegisterBackend::None => Arc::new(NoRegister),
            RegisterBackend::File => {
                if f.file.is_empty() {
                    return Err(invalid(
                        "rules.fastlege.register is \"file\" but rules.fastlege.file is empty"
                            .into(),
                    )
                    .into());
                }
                let bytes = loaded.read_file(&f.file)?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    invalid(format!("rules.fastlege.file {}: not UTF-8 text", f.file))
                })?;
                Arc::new(FileRegister::from_toml(&f.file, &text)?)
            }
            RegisterBackend::Http => {
                let Some(http) = &f.http else {
                    return Err(invalid(
                        "rules.fastlege.register is \"http\" but [rules.fastlege.http] is missing"
                            .into(),
                    )
                    .into());
                };
                Arc::new(
                    HttpRegister::new(http.settings(), stats.clone())
                        .map_err(|m| invalid(format!("rules.fastlege.http: {m}")))?,
                )
            }
        };
        if f.register == RegisterBackend::None
            && sets.iter().any(|s| s.rule_names().next().is_some())
        {
            tracing::warn!(
                "no fastlege register is configured: the fastlege rule will find it unavailable and follow rules.fastlege.on_unavailable"
            );
        }
        if !f.replacement_system.is_empty()
            && !sets.iter().any(|s| s.rule_names().any(|n| n == "fastlege"))
        {
            return Err(invalid(
                "rules.fastlege.replacement_system is set, but no rules file declares a rule named fastlege".into(),
            )
            .into());
        }
        Ok(Self::new(Arc::new(codes), sets, &c.rules, register, stats)?)
    }

    /// Assembles the stage from parts (tests, tools): one validator and engine per rules file.
    pub fn new(
        codes: Arc<CodeTables>,
        sets: Vec<RuleSet>,
        config: &RulesConfig,
        register: Arc<dyn FastlegeRegister>,
        stats: Arc<RegisterStats>,
    ) -> Result<Self, MappingError> {
        let mut engine_settings = EngineSettings {
            on_unavailable: config.fastlege.on_unavailable,
            replacement_systems: Vec::new(),
        };
        if !config.fastlege.replacement_system.is_empty() {
            engine_settings.replacement_systems.push((
                "fastlege".to_string(),
                config.fastlege.replacement_system.clone(),
            ));
        }
        let mut profiles = HashMap::new();
        for set in sets {
            let settings = ValidationSettings {
                unknown_codes: config
                    .unknown_codes
                    .get(&set.profile)
                    .copied()
                    .unwrap_or(set.unknown_codes),
                synthetic_nin: config.synthetic_nin,
            };
            let rules = ProfileRules {
                validator: Validator::new(&set, codes.clone(), settings),
                engine: RuleEngine::new(&set, &codes, &engine_settings, stats.clone())?,
            };
            if profiles.insert(set.profile.clone(), rules).is_some() {
                return Err(MappingError {
                    file: set.source.clone(),
                    line: None,
                    message: format!("profile {:?} has two rules files", set.profile),
                });
            }
        }
        Ok(Self {
            codes,
            profiles,
            register,
            stats,
        })
    }

    /// The code tables: `display()` and `system_name()` fill display texts and `codeSystemName` on output.
    pub fn codes(&self) -> &CodeTables {
        &self.codes
    }

    pub fn validator(&self, profile: &str) -> Option<&Validator> {
        self.profiles.get(profile).map(|p| &p.validator)
    }

    pub fn engine(&self, profile: &str) -> Option<&RuleEngine> {
        self.profiles.get(profile).map(|p| &p.engine)
    }

    pub fn register(&self) -> &dyn FastlegeRegister {
        self.register.as_ref()
    }

    /// Register and override counters, for metrics.
    pub fn stats(&self) -> &RegisterStats {
        &self.stats
    }

    /// A shared handle on the counters, for readiness checks that outlive a borrow.
    pub fn stats_handle(&self) -> Arc<RegisterStats> {
        self.stats.clone()
    }

    /// What the pipeline calls after decoding: validates the model, then runs the rules declared for each of
    /// `directions` in turn (e.g. `[DecodeXua, EncodeJwt]` for SAML → JWT, `[DecodeJwt, EncodeXua]` for
    /// JWT → SAML). A profile without rules passes unchanged.
    pub fn run(
        &self,
        profile: &str,
        directions: &[RuleDirection],
        ctx: &mut AccessContext,
    ) -> Result<RulesOutcome, Rejection> {
        let Some(p) = self.profiles.get(profile) else {
            return Ok(RulesOutcome::default());
        };
        let warnings = p.validator.validate(ctx)?;
        let mut decisions = Vec::new();
        for direction in directions {
            decisions.extend(p.engine.apply(*direction, ctx, self.register.as_ref())?);
        }
        Ok(RulesOutcome {
            warnings,
            decisions,
        })
    }
}
