//! The rules stage of the pipeline: value validation and declared rules (the fastlege override), both read
//! from `mappings/` like the profiles.
//!
//! ```text
//! decode ──► validate (mappings/rules: per-field checks, code tables) ──► rules for the direction ──► encode
//! ```
//!
//! [`Rules`] (in `stage`) is what start-up assembles from configuration and the pipeline runs.

pub mod codes;
mod declared;
mod embedded;
mod engine;
pub mod ident;
mod register;
mod rule;
mod source;
mod stage;
mod table;
mod validate;

pub use codes::{CodeSystem, CodeTables};
pub use embedded::embedded_rule_files;
pub use engine::{EngineSettings, RegisterAnswer, RuleDecision, RuleEngine, TextChange};
pub use register::{
    FastlegeRegister, FileRegister, HttpRegister, HttpRegisterSettings, NoRegister, RegisterError,
    RegisterStats, RegisterStatsSnapshot,
};
pub use rule::{OnUnavailable, RuleDirection, UnknownCodes};
pub use stage::{Rules, RulesOutcome, RulesSettings};
pub use table::{RuleSet, DEFAULT_MAX_LEN};
pub use validate::{Finding, Severity, ValidationSettings, Validator, Warning};
