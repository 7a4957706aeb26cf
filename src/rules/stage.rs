//! The rules stage as the pipeline runs it: per profile a validator, a rule engine and the checks the
//! deployment turned on; the code tables; the fastlege register with its counters, and the registers the
//! checks ask. The pipeline calls [`Rules::run`] after decoding and keeps the returned [`RulesOutcome`] for
//! the audit record, then [`Rules::check`] before encoding, whose decisions go into the record too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::checks::{self, Check, CheckKind, CheckRegisters, CheckSettings, ChecksOutcome};
use super::codes::CodeTables;
use super::engine::{EngineSettings, RuleDecision, RuleEngine};
use super::register::{FastlegeRegister, RegisterStats};
use super::rule::{RuleDirection, UnknownCodes};
use super::table::RuleSet;
use super::validate::{ValidationSettings, Validator, Warning};
use crate::error::Rejection;
use crate::mapping::MappingError;
use crate::model::AccessContext;

/// Deployment choices for the rules stage (start-up fills them from `[rules]`).
#[derive(Debug, Clone, Default)]
pub struct RulesSettings {
    /// Per profile: `strict` or `lenient` for unknown codes; a profile not named keeps its rules file's mode.
    pub unknown_codes: BTreeMap<String, UnknownCodes>,
    /// Accept synthetic test fødselsnumre and D-numbers. Never in production.
    pub synthetic_nin: bool,
    pub engine: EngineSettings,
    /// The checks against registers this deployment runs (none unless configured).
    pub checks: CheckSettings,
}

/// What the rules stage did to one exchange, for the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesOutcome {
    /// Lenient-mode findings (unknown codes) that let the value pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Every rule evaluated, applied or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    checks: Vec<Check>,
}

/// The rules stage for every profile the gateway runs.
#[derive(Debug)]
pub struct Rules {
    codes: Arc<CodeTables>,
    profiles: HashMap<String, ProfileRules>,
    register: Arc<dyn FastlegeRegister>,
    stats: Arc<RegisterStats>,
    check_registers: CheckRegisters,
    check_settings: CheckSettings,
}

/// Codes a configuration lets through without an HPR number must be `none` or codes of the check's system.
fn check_exemptions(
    set: &RuleSet,
    codes: &CodeTables,
    settings: &RulesSettings,
) -> Result<(), MappingError> {
    let Some(hpr) = &settings.checks.hpr else {
        return Ok(());
    };
    for check in &set.checks {
        let CheckKind::HprAuthorization(h) = &check.kind else {
            continue;
        };
        for code in &hpr.allow_without_hpr_number {
            let known = code == checks::NONE
                || codes
                    .system(&h.authorization_system)
                    .is_some_and(|t| t.display(code).is_some());
            if !known {
                return Err(MappingError {
                    file: set.source.clone(),
                    line: None,
                    message: format!(
                        "rule {}: allow_without_hpr_number names {code:?}, which is neither \"none\" nor a code of {} (asked for by the configuration)",
                        check.name, h.authorization_system
                    ),
                });
            }
        }
    }
    Ok(())
}

impl Rules {
    /// Assembles the stage from parts (tests, tools): one validator and engine per rules file.
    pub fn new(
        codes: Arc<CodeTables>,
        sets: Vec<RuleSet>,
        settings: &RulesSettings,
        register: Arc<dyn FastlegeRegister>,
        stats: Arc<RegisterStats>,
    ) -> Result<Self, MappingError> {
        let mut profiles = HashMap::new();
        for set in sets {
            let validation = ValidationSettings {
                unknown_codes: settings
                    .unknown_codes
                    .get(&set.profile)
                    .copied()
                    .unwrap_or(set.unknown_codes),
                synthetic_nin: settings.synthetic_nin,
            };
            check_exemptions(&set, &codes, settings)?;
            let rules = ProfileRules {
                validator: Validator::new(&set, codes.clone(), validation),
                engine: RuleEngine::new(&set, &codes, &settings.engine, stats.clone())?,
                checks: settings.checks.enabled(&set.checks),
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
            check_registers: CheckRegisters::default(),
            check_settings: settings.checks.clone(),
        })
    }

    /// The registers the checks ask (HPR, access blocks); without them a check that is on finds its
    /// register unavailable.
    pub fn with_check_registers(mut self, registers: CheckRegisters) -> Self {
        self.check_registers = registers;
        self
    }

    pub fn check_registers(&self) -> &CheckRegisters {
        &self.check_registers
    }

    /// The checks `profile` runs, as `(name, register, directions, description)`.
    pub fn checks(
        &self,
        profile: &str,
    ) -> impl Iterator<Item = (&str, &'static str, &[RuleDirection], &str)> {
        self.profiles
            .get(profile)
            .into_iter()
            .flat_map(|p| p.checks.iter())
            .map(|c| {
                (
                    c.name.as_str(),
                    c.register(),
                    c.directions.as_slice(),
                    c.description.as_str(),
                )
            })
    }

    /// The code tables: `display()` and `system_name()` fill display texts and `codeSystemName` on output.
    pub fn codes(&self) -> &CodeTables {
        &self.codes
    }

    /// A bare national identifier read with the system the profile's rules give it (see
    /// [`Validator::national_identifier`]).
    pub fn national_identifier(
        &self,
        profile: &str,
        id: &str,
    ) -> Result<crate::model::Identifier, &'static str> {
        self.validator(profile)
            .ok_or("this profile has no rules that name identifier systems")?
            .national_identifier(id)
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

    /// What the pipeline calls after the rules, before encoding: the checks against registers declared for
    /// any of `directions` (each once), as of `now`, on the model as it will be issued. Their decisions are
    /// kept whatever the verdict, for the audit record.
    pub fn check(
        &self,
        profile: &str,
        directions: &[RuleDirection],
        ctx: &AccessContext,
        now: OffsetDateTime,
    ) -> ChecksOutcome {
        match self.profiles.get(profile) {
            Some(p) if !p.checks.is_empty() => checks::run(
                &p.checks,
                &self.check_registers,
                &self.check_settings,
                directions,
                ctx,
                now,
            ),
            _ => ChecksOutcome {
                decisions: Vec::new(),
                verdict: Ok(()),
            },
        }
    }
}
