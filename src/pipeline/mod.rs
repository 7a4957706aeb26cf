//! The translation pipeline, one file per direction, over the parts start-up made ready:
//!
//! ```text
//! input ──► verify ──► decode ──► rules ──► encode ──► sign ──► audit ──► output
//! ```
//!
//! Nothing here reads configuration: every choice that depends on the issuer, the profile or the deployment
//! was resolved when the [`Pipeline`] was assembled (see `startup`). Each direction is written once, as
//! `prepare` (verify, decode, rules, encode) and `issue` (sign); the exchange runs both and writes the
//! access-log record, the inspector runs `prepare` in [`Mode::Inspect`], so the two share one definition
//! of the stage order.

mod actor;
mod exchange;
mod forwarded;
mod jwt_to_saml;
mod parts;
mod patient;
mod policy;
mod saml_to_jwt;
pub mod sniff;
mod targets;

use std::sync::Arc;

use time::OffsetDateTime;

pub use actor::ActorToken;
pub(crate) use exchange::Exchange;
pub use exchange::{ExchangeRequest, Finishing, Issued, Mode, SoapOrigin};
pub use forwarded::{Forwarding, Recording};
pub use jwt_to_saml::SamlDraft;
pub use parts::{JwtInput, JwtOutput, ReplayPolicy, SamlInput, SamlOutput};
pub use saml_to_jwt::JwtDraft;
pub use targets::{Target, Targets};

use crate::audit::AuditSink;
use crate::clock::SharedClock;
use crate::error::{shown, Rejection};
use crate::jwt::JwtIssuer;
use crate::mapping::{Profile, ProfileSet};
use crate::model::Direction;
use crate::observability::metrics::Metrics;
use crate::replay::ReplayCache;
use crate::rules::Rules;

/// Everything an exchange needs, ready to use. Built once by start-up; shared by every request.
pub struct Pipeline {
    pub(crate) profiles: ProfileSet,
    pub(crate) rules: Rules,
    pub(crate) saml_in: SamlInput,
    pub(crate) jwt_in: Option<JwtInput>,
    pub(crate) jwt_out: JwtOutput,
    pub(crate) saml_out: Option<SamlOutput>,
    pub(crate) replay: ReplayPolicy,
    /// What the inspector checks a JWT against when the gateway takes no JWTs (`[jwt.trust]` absent).
    pub(crate) inspect_jwt_policy: crate::jwt::JwtPolicy,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("profiles", &self.profiles.names().collect::<Vec<_>>())
            .field("audit", &self.audit.kind())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn profiles(&self) -> &ProfileSet {
        &self.profiles
    }

    /// Validation, code tables, declared rules and the fastlege register (with its counters).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn replay_cache(&self) -> &Arc<dyn ReplayCache> {
        &self.replay.cache
    }

    pub fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// The key the gateway signs its JWTs with now (the current one of `[jwt]`'s keys).
    pub fn jwt_issuer(&self) -> &JwtIssuer {
        self.jwt_out.keys.current()
    }

    /// `/.well-known/jwks.json`: every signing key not retired at the gateway's now, the current one first.
    pub fn jwks_json(&self) -> Result<String, Rejection> {
        let now = self.clock.now();
        crate::jwt::jwks_of(self.jwt_out.keys.published(now).map(JwtIssuer::jwk))
            .map_err(|e| Rejection::internal(format!("cannot serialise the JWKS: {e}")))
    }

    /// The certificate the gateway signs assertions with now, when it issues any.
    pub fn saml_signing_certificate(&self) -> Option<&[u8]> {
        self.saml_out
            .as_ref()
            .map(|s| s.identities.current().cert_pem())
    }

    /// The certificates `/saml/metadata` lists: the current one first, then the next and the not yet retired.
    pub fn saml_published_certificates(&self) -> Vec<&[u8]> {
        let now = self.clock.now();
        self.saml_out
            .as_ref()
            .map(|s| s.identities.published(now).map(|i| i.cert_pem()).collect())
            .unwrap_or_default()
    }

    /// Audits a request refused before its pipeline ran (e.g. a `subject_token` that is not base64) and
    /// returns the rejection to answer with, so that every translation attempt, however malformed, leaves
    /// one record. It waits on this thread for the audit commit: call it on the blocking pool, like the
    /// pipeline.
    pub fn refuse(
        &self,
        direction: Direction,
        request: &ExchangeRequest,
        rejection: Rejection,
    ) -> Rejection {
        match self.refuse_queued(direction, request, rejection).wait() {
            Err(r) => r,
            Ok(_) => Rejection::internal("a refused request was issued a token"),
        }
    }

    /// As [`Pipeline::refuse`], up to the record handed to the store: its answer is always the refusal
    /// (or UNAVAILABLE when the record cannot be written).
    pub fn refuse_queued(
        &self,
        direction: Direction,
        request: &ExchangeRequest,
        rejection: Rejection,
    ) -> Finishing {
        let mut x = Exchange::begin(self, direction, request, Mode::Issue);
        x.record.profile = request.profile.clone();
        x.finish(Err(rejection))
    }

    /// Counts the fastlege register's answers in the metrics (backend and outcome only, never a person).
    fn count_register_lookups(&self, outcome: &crate::rules::RulesOutcome) {
        use crate::observability::metrics::RegisterOutcome;
        use crate::rules::{RegisterAnswer, RegisterError};
        let backend = self.rules.register().kind();
        for d in &outcome.decisions {
            let counted = match &d.register_answer {
                RegisterAnswer::Hit => RegisterOutcome::Listed,
                RegisterAnswer::Miss => RegisterOutcome::NotListed,
                RegisterAnswer::Unavailable(RegisterError::Timeout) => RegisterOutcome::Timeout,
                RegisterAnswer::Unavailable(_) => RegisterOutcome::Error,
                RegisterAnswer::NotAsked(_) => continue,
            };
            self.metrics.register_lookup("fastlege", backend, counted);
        }
    }

    /// Counts the answers of the registers the checks asked (register, backend and outcome; a cached answer
    /// also as `cache-hit`). Checks that asked nothing (no HPR number, no patient) are not lookups.
    fn count_check_lookups(&self, decisions: &[crate::rules::CheckDecision]) {
        use crate::observability::metrics::RegisterOutcome;
        use crate::rules::{CheckAnswer, RegisterError, BLOCKS, HPR};
        let registers = self.rules.check_registers();
        for d in decisions {
            let (register, backend) = if d.register == HPR {
                (HPR, registers.hpr.register.kind())
            } else {
                (BLOCKS, registers.blocks.register.kind())
            };
            let counted = match &d.answer {
                CheckAnswer::Confirmed { .. } => RegisterOutcome::Confirmed,
                CheckAnswer::NotAuthorized { .. } => RegisterOutcome::NotAuthorized,
                CheckAnswer::Blocked { .. } => RegisterOutcome::Blocked,
                CheckAnswer::NotBlocked { .. } => RegisterOutcome::NotBlocked,
                CheckAnswer::Unavailable {
                    reason: RegisterError::Timeout,
                } => RegisterOutcome::Timeout,
                CheckAnswer::Unavailable { .. } => RegisterOutcome::Error,
                CheckAnswer::Exempt { .. }
                | CheckAnswer::NoHprNumber { .. }
                | CheckAnswer::NotAsked { .. } => continue,
            };
            self.metrics.register_lookup(register, backend, counted);
            if d.cached {
                self.metrics
                    .register_lookup(register, backend, RegisterOutcome::CacheHit);
            }
        }
    }

    /// The `patient` request parameter read with the profile's identifier systems.
    pub(crate) fn patient_parameter(
        &self,
        profile: &Profile,
        value: Option<&str>,
    ) -> Result<Option<crate::model::Identifier>, Rejection> {
        value
            .map(|p| patient::parse(p, &self.rules, &profile.name))
            .transpose()
    }

    /// The request's profile, else the one configured for the token's issuer, else the default.
    pub(crate) fn profile_for(
        &self,
        requested: Option<&str>,
        configured: Option<usize>,
    ) -> Result<&Profile, Rejection> {
        match requested {
            Some(name) => self.profiles.get(name).ok_or_else(|| {
                Rejection::request(format!("profile {} is not configured", shown(name)))
            }),
            None => Ok(configured
                .and_then(|i| self.profiles.by_index(i))
                .unwrap_or_else(|| self.profiles.default_profile())),
        }
    }
}
