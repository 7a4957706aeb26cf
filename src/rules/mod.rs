//! The rules stage of the pipeline: value validation, declared rules (the fastlege override) and declared
//! checks against the sector's registers (HPR authorization, access blocks), all read from `mappings/` like
//! the profiles.
//!
//! ```text
//! decode ──► validate (mappings/rules: per-field checks, code tables) ──► rules for the direction
//!        ──► checks (HPR, access blocks; when the deployment turns them on) ──► encode
//! ```
//!
//! [`Rules`] (in `stage`) is what start-up assembles from configuration and the pipeline runs.

mod checks;
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

pub use checks::{
    BlockCheckSettings, CheckAnswer, CheckDecision, CheckRegisters, CheckSettings, ChecksOutcome,
    HprCheckSettings, NotAuthorized, Registered, BLOCKS, HPR,
};
pub use codes::{CodeSystem, CodeTables};
pub use embedded::embedded_rule_files;
pub use engine::{EngineSettings, RegisterAnswer, RuleDecision, RuleEngine, TextChange};
pub use register::{
    Authorization, Block, BlockFile, BlockHttp, BlockHttpSettings, BlockPointers, BlockRegister,
    BlockScope, FastlegeRegister, FileRegister, HprFile, HprHttp, HprHttpSettings, HprPointers,
    HprRegister, HttpClientSettings, HttpRegister, HttpRegisterSettings, Looked, NoRegister,
    RegisterError, RegisterStats, RegisterStatsSnapshot, Validity,
};
pub use rule::{OnUnavailable, RuleDirection, UnknownCodes};
pub use stage::{Rules, RulesOutcome, RulesSettings};
pub use table::{RuleSet, DEFAULT_MAX_LEN};
pub use validate::{Finding, Severity, ValidationSettings, Validator, Warning};
