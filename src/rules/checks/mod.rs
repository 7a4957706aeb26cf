//! Declared checks that gate issuing: before the gateway issues anything it asks the sector's registers
//! whether the practitioner's authorization is still valid (HPR) and whether the patient has blocked this
//! access. They are declared in the rules files (`[[check]]` in `mappings/rules/*.toml`) beside the rules that
//! change the model, and run only when the deployment turns them on (`[rules.hpr]`, `[rules.blocks]`).
//!
//! ```text
//! validate ──► rules (fastlege) ──► checks: hpr-authorization ──► access-block ──► encode
//! ```
//!
//! Every check evaluated yields a [`CheckDecision`] for the access log. A refusal says only the class and the
//! rule (`CLAIM` for an authorization the register does not confirm, `BLOCKED` for a block): what the register
//! answered (a lapsed authorization, the block's id) stays in the access log.

mod blocks;
pub(crate) mod declared;
mod hpr;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::register::RegisterStats;
use super::register::{BlockRegister, BlockScope, HprRegister, NoRegister, RegisterError};
use super::rule::{OnUnavailable, RuleDirection};
use crate::error::Rejection;
use crate::model::{AccessContext, FieldId};

/// The declared HPR check: the practitioner's HPR number and the authorization categories the token claims.
#[derive(Debug, Clone)]
pub(crate) struct HprCheck {
    pub practitioner: FieldId,
    pub practitioner_systems: Vec<String>,
    pub authorization: FieldId,
    /// The code system of the categories the register lists (Volven 9060).
    pub authorization_system: String,
}

/// The declared access-block check: the patient asked about, and who is asking.
#[derive(Debug, Clone)]
pub(crate) struct BlockCheck {
    pub patient: FieldId,
    pub patient_systems: Vec<String>,
    /// The practitioner's identifiers a practitioner block may name (HPR number, fødselsnummer).
    pub practitioner: Vec<FieldId>,
    pub point_of_care: Vec<FieldId>,
    pub legal_entity: Vec<FieldId>,
}

#[derive(Debug, Clone)]
pub(crate) enum CheckKind {
    HprAuthorization(HprCheck),
    AccessBlock(BlockCheck),
}

#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub name: String,
    pub description: String,
    /// Where the check runs; a check runs once per exchange however many of these the exchange passes.
    pub directions: Vec<RuleDirection>,
    pub kind: CheckKind,
}

impl Check {
    pub fn register(&self) -> &'static str {
        match self.kind {
            CheckKind::HprAuthorization(_) => HPR,
            CheckKind::AccessBlock(_) => BLOCKS,
        }
    }
}

/// The word for "no authorization claimed" in `allow_without_hpr_number`.
pub const NONE: &str = "none";

/// The register names in the access log and in metrics.
pub const HPR: &str = "hpr";
pub const BLOCKS: &str = "blocks";

/// Why the register does not confirm an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotAuthorized {
    /// The register lists the category, but not valid at the exchange's time.
    Lapsed,
    /// The register lists no authorization of the category the token claims.
    OtherCategory,
    /// The register knows the number but lists no authorization at all.
    NoAuthorization,
    /// The register does not know the HPR number.
    UnknownHprNumber,
}

/// What a check found, for the access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum CheckAnswer {
    /// Every category the token claims is held and valid (empty: the token claims none, and the practitioner
    /// holds some valid authorization).
    Confirmed { categories: Vec<String> },
    /// Refused: the register does not confirm the authorization. `category` is the token's, when one failed.
    NotAuthorized {
        why: NotAuthorized,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
    },
    /// No HPR number, and the configuration lets these categories through without one (`none`: no
    /// authorization claimed).
    Exempt { categories: Vec<String> },
    /// Refused: no HPR number, and the configuration does not let these categories through without one.
    NoHprNumber { categories: Vec<String> },
    /// Refused: the patient has placed a block that applies to this exchange.
    Blocked { block: String, scope: BlockScope },
    /// The patient's blocks (if any) do not apply to this exchange.
    NotBlocked { blocks: usize },
    /// The register could not answer; the policy decided (see `refused`).
    Unavailable { reason: RegisterError },
    /// The register was not asked because the model lacks what the check needs.
    NotAsked { reason: String },
}

/// One check's evaluation, for the access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDecision {
    /// The check's name as declared (`hpr-authorization`, `access-block`).
    pub rule: String,
    /// The register asked (`hpr`, `blocks`) and its backend (`file`, `http`, `none`).
    pub register: String,
    pub backend: String,
    #[serde(flatten)]
    pub answer: CheckAnswer,
    /// Every lookup was served from the cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// This check refused the exchange.
    pub refused: bool,
}

/// What the checks did to one exchange: their decisions (in order, up to the first refusal) and the verdict.
#[derive(Debug, Clone)]
pub struct ChecksOutcome {
    pub decisions: Vec<CheckDecision>,
    pub verdict: Result<(), Rejection>,
}

/// Deployment choices for the HPR check (`[rules.hpr]`).
#[derive(Debug, Clone)]
pub struct HprCheckSettings {
    pub on_unavailable: OnUnavailable,
    /// Replaces the directions the rules file declares.
    pub directions: Option<Vec<RuleDirection>>,
    /// Categories (Volven 9060 codes) let through without an HPR number; `none` stands for a token that
    /// claims no authorization (administrative personnel).
    pub allow_without_hpr_number: Vec<String>,
}

impl Default for HprCheckSettings {
    fn default() -> Self {
        Self {
            on_unavailable: OnUnavailable::Reject,
            directions: None,
            allow_without_hpr_number: Vec::new(),
        }
    }
}

/// Deployment choices for the access-block check (`[rules.blocks]`).
#[derive(Debug, Clone)]
pub struct BlockCheckSettings {
    pub on_unavailable: OnUnavailable,
    /// Replaces the directions the rules file declares.
    pub directions: Option<Vec<RuleDirection>>,
}

impl Default for BlockCheckSettings {
    fn default() -> Self {
        Self {
            on_unavailable: OnUnavailable::Reject,
            directions: None,
        }
    }
}

/// A register with its own counters.
#[derive(Debug)]
pub struct Registered<R: ?Sized> {
    pub register: Arc<R>,
    pub stats: Arc<RegisterStats>,
}

impl<R: ?Sized> Clone for Registered<R> {
    fn clone(&self) -> Self {
        Self {
            register: self.register.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<R: ?Sized> Registered<R> {
    pub fn new(register: Arc<R>, stats: Arc<RegisterStats>) -> Self {
        Self { register, stats }
    }
}

/// The registers the checks ask; a deployment that turns a check on without a register gets [`NoRegister`]
/// (every lookup unavailable, so the policy applies).
#[derive(Debug, Clone)]
pub struct CheckRegisters {
    pub hpr: Registered<dyn HprRegister>,
    pub blocks: Registered<dyn BlockRegister>,
}

impl Default for CheckRegisters {
    fn default() -> Self {
        Self {
            hpr: Registered::new(Arc::new(NoRegister), Arc::new(RegisterStats::default())),
            blocks: Registered::new(Arc::new(NoRegister), Arc::new(RegisterStats::default())),
        }
    }
}

/// The settings of the checks a deployment turned on.
#[derive(Debug, Clone, Default)]
pub struct CheckSettings {
    pub hpr: Option<HprCheckSettings>,
    pub blocks: Option<BlockCheckSettings>,
}

impl CheckSettings {
    /// The checks of a rules file that this deployment runs, with the configured directions.
    pub(crate) fn enabled(&self, declared: &[Check]) -> Vec<Check> {
        declared
            .iter()
            .filter_map(|c| {
                let directions = match &c.kind {
                    CheckKind::HprAuthorization(_) => self.hpr.as_ref()?.directions.clone(),
                    CheckKind::AccessBlock(_) => self.blocks.as_ref()?.directions.clone(),
                };
                let mut c = c.clone();
                if let Some(d) = directions {
                    c.directions = d;
                }
                Some(c)
            })
            .collect()
    }
}

/// What one check returns: its decision and, when it refuses, why.
type Evaluated = (CheckDecision, Option<Rejection>);

/// Applies the failure policy to an unavailable register.
fn unavailable(
    check: &Check,
    backend: &str,
    reason: RegisterError,
    policy: OnUnavailable,
    stats: &RegisterStats,
) -> Evaluated {
    RegisterStats::bump(&stats.unavailable);
    let refusal = match policy {
        OnUnavailable::Keep => {
            RegisterStats::bump(&stats.kept_on_unavailable);
            None
        }
        OnUnavailable::Reject => {
            RegisterStats::bump(&stats.rejected_on_unavailable);
            Some(Rejection::unavailable(format!(
                "rule {}: the {} register cannot answer ({reason}), and the policy is to reject; nothing is issued, try again later",
                check.name,
                check.register()
            )))
        }
    };
    let decision = CheckDecision {
        rule: check.name.clone(),
        register: check.register().to_string(),
        backend: backend.to_string(),
        answer: CheckAnswer::Unavailable { reason },
        cached: false,
        refused: refusal.is_some(),
    };
    (decision, refusal)
}

/// Runs the enabled checks of one profile for an exchange passing `directions`, as of `now`, in file order;
/// stops at the first refusal (a register is not asked about a person once the exchange is refused).
pub(crate) fn run(
    checks: &[Check],
    registers: &CheckRegisters,
    settings: &CheckSettings,
    directions: &[RuleDirection],
    ctx: &AccessContext,
    now: OffsetDateTime,
) -> ChecksOutcome {
    let mut decisions = Vec::new();
    for check in checks
        .iter()
        .filter(|c| c.directions.iter().any(|d| directions.contains(d)))
    {
        let (decision, refusal) = match &check.kind {
            CheckKind::HprAuthorization(h) => {
                let (policy, allow) = settings
                    .hpr
                    .as_ref()
                    .map_or((OnUnavailable::Reject, &[][..]), |s| {
                        (s.on_unavailable, s.allow_without_hpr_number.as_slice())
                    });
                hpr::evaluate(check, h, &registers.hpr, policy, allow, ctx, now)
            }
            CheckKind::AccessBlock(b) => blocks::evaluate(
                check,
                b,
                &registers.blocks,
                settings
                    .blocks
                    .as_ref()
                    .map_or(OnUnavailable::Reject, |s| s.on_unavailable),
                ctx,
            ),
        };
        decisions.push(decision);
        if let Some(r) = refusal {
            return ChecksOutcome {
                decisions,
                verdict: Err(r),
            };
        }
    }
    ChecksOutcome {
        decisions,
        verdict: Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_read_back_from_the_access_log() {
        let answers = [
            CheckAnswer::Confirmed {
                categories: vec!["LE".into()],
            },
            CheckAnswer::NotAuthorized {
                why: NotAuthorized::Lapsed,
                category: Some("LE".into()),
            },
            CheckAnswer::Exempt { categories: vec![] },
            CheckAnswer::NoHprNumber {
                categories: vec!["XX".into()],
            },
            CheckAnswer::Blocked {
                block: "b-1".into(),
                scope: BlockScope::EveryoneExcept,
            },
            CheckAnswer::NotBlocked { blocks: 2 },
            CheckAnswer::Unavailable {
                reason: RegisterError::Status(502),
            },
            CheckAnswer::NotAsked {
                reason: "patient.identifier is absent".into(),
            },
        ];
        for answer in answers {
            let d = CheckDecision {
                rule: "r".into(),
                register: HPR.into(),
                backend: "http".into(),
                answer,
                cached: true,
                refused: false,
            };
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(
                serde_json::from_str::<CheckDecision>(&json).unwrap(),
                d,
                "{json}"
            );
        }
        let blocked: serde_json::Value = serde_json::to_value(CheckDecision {
            rule: "access-block".into(),
            register: BLOCKS.into(),
            backend: "file".into(),
            answer: CheckAnswer::Blocked {
                block: "b-1".into(),
                scope: BlockScope::PointOfCare,
            },
            cached: false,
            refused: true,
        })
        .unwrap();
        assert_eq!(
            blocked,
            serde_json::json!({"rule": "access-block", "register": "blocks", "backend": "file",
                "answer": "blocked", "block": "b-1", "scope": "point-of-care", "refused": true})
        );
    }
}
