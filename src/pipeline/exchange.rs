//! The stage type both directions share: one exchange in flight. Every stage reads the request and the time
//! from it and writes into it: the access-log record, the stage timings, the replay reservations. Finishing
//! it writes the record, and only a durable record lets a token out.

use std::time::Instant;

use time::OffsetDateTime;

use super::Pipeline;
use crate::audit::AuditRecord;
use crate::error::ErrorClass;
use crate::error::Rejection;
use crate::model::{AccessContext, Direction, Outcome};
use crate::observability::metrics::{Stage, StageTimer};
use crate::replay::{self, ReplayKey, Reservation};
use crate::rules::{CheckDecision, RulesOutcome};

/// What a caller asks for, beside the token itself.
#[derive(Debug, Clone, Default)]
pub struct ExchangeRequest {
    pub audience: Option<String>,
    pub profile: Option<String>,
    /// The patient, when the input token does not name one (JWT → SAML; the `patient` request parameter):
    /// an identifier the profile's rules know the system of (a fødselsnummer or D-number in no-pjd), or a CX
    /// value `id^^^&oid&ISO`.
    pub patient: Option<String>,
    pub request_id: String,
    pub client_address: Option<String>,
}

/// An issued token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT (compact) or the signed assertion (XML).
    pub token: String,
    pub token_id: String,
    pub expires_in: i64,
    pub audience: String,
}

/// Whether an exchange issues a token or only says what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reserve the token against replay, sign, and write the access-log record.
    Issue,
    /// The inspector: look the token up in the replay store without reserving it; sign nothing, audit nothing.
    Inspect,
}

/// One exchange in flight (see the module comment).
pub(crate) struct Exchange<'p> {
    pipeline: &'p Pipeline,
    pub request: &'p ExchangeRequest,
    pub now: OffsetDateTime,
    pub mode: Mode,
    pub record: AuditRecord,
    pub stages: StageTimer,
    /// The model as the stages have made it so far; moved into the record when the exchange ends.
    pub context: Option<AccessContext>,
    pub rules: RulesOutcome,
    /// The checks against registers (HPR, access blocks), up to the first refusal.
    pub checks: Vec<CheckDecision>,
    reservations: Vec<Reservation<'p>>,
}

impl<'p> Exchange<'p> {
    pub fn begin(
        pipeline: &'p Pipeline,
        direction: Direction,
        request: &'p ExchangeRequest,
        mode: Mode,
    ) -> Self {
        let now = pipeline.clock.now();
        Self {
            pipeline,
            request,
            now,
            mode,
            record: AuditRecord::begin(
                direction,
                now,
                &request.request_id,
                request.client_address.as_deref(),
            ),
            stages: StageTimer::start(),
            context: None,
            rules: RulesOutcome::default(),
            checks: Vec::new(),
            reservations: Vec::new(),
        }
    }

    pub fn lap(&mut self, stage: Stage) {
        self.stages.lap(stage);
    }

    /// Records a verified token as exchanged, or refuses it as a replay. Runs only after the signature and
    /// the validity checks, so forged or expired tokens never take a slot. In [`Mode::Inspect`] the store is
    /// only asked whether it has seen the token.
    pub fn remember(&mut self, key: ReplayKey, until: OffsetDateTime) -> Result<(), Rejection> {
        let cache = self.pipeline.replay.cache.as_ref();
        match self.mode {
            Mode::Issue => {
                let reserved = replay::reserve(cache, key, until, self.now);
                self.pipeline.metrics.replay_cache_size(cache.len());
                self.reservations.push(reserved?);
                Ok(())
            }
            Mode::Inspect => replay::refuse_if_seen(cache, &key, self.now),
        }
    }

    /// Ends an exchange that issues: writes the audit record (an accepted exchange whose record cannot be
    /// written issues nothing), keeps or gives back its replay slots, counts it in the metrics and logs its
    /// outcome (class and message only: no identifiers; for a block, the class alone).
    pub fn finish(self, result: Result<Issued, Rejection>) -> Result<Issued, Rejection> {
        let Exchange {
            pipeline,
            mut record,
            mut stages,
            context,
            rules,
            checks,
            reservations,
            ..
        } = self;
        record.context = context;
        record.checks = checks;
        if !rules.is_empty() {
            record.fastlege = crate::audit::OverrideAudit::of(&rules);
            record.rules = Some(rules);
        }
        match &result {
            Ok(_) => record.outcome = Outcome::Issued,
            Err(e) => {
                record.outcome = Outcome::Rejected;
                record.error_class = Some(e.class);
                record.error = Some(e.message.clone());
                record.output_token_id = None;
                record.output_expires = None;
            }
        }
        stages.restart();
        let started = Instant::now();
        let written = pipeline.audit.write(&record);
        pipeline
            .metrics
            .audit_write(started.elapsed(), written.is_ok());
        stages.lap(Stage::Audit);
        let result = match written {
            Ok(()) => result,
            Err(e) => {
                tracing::error!(error = %e, "audit write failed");
                match result {
                    Ok(_) => Err(Rejection::unavailable(
                        "the access log cannot be written, so no token is issued; try again later",
                    )),
                    Err(e) => Err(e),
                }
            }
        };
        // A token that went out keeps its slots; one that did not gives them back (dropping a reservation
        // releases it), so sending it again is not a replay.
        if result.is_ok() {
            reservations.into_iter().for_each(Reservation::keep);
        } else {
            drop(reservations);
        }
        pipeline
            .metrics
            .replay_cache_size(pipeline.replay.cache.len());
        let outcome = if result.is_ok() {
            Outcome::Issued
        } else {
            Outcome::Rejected
        };
        let class = result.as_ref().err().map(|e| e.class);
        pipeline
            .metrics
            .exchange(record.direction, outcome, class, &stages);
        match &result {
            Ok(_) => tracing::info!(direction = record.direction.as_str(), "token issued"),
            // Blocks never reach ordinary logs beyond the class; which rule and block stay in the access log.
            Err(e) if e.class == ErrorClass::Blocked => tracing::info!(
                direction = record.direction.as_str(),
                error_class = e.class.as_str(),
                "exchange rejected"
            ),
            Err(e) => tracing::info!(
                direction = record.direction.as_str(),
                error_class = e.class.as_str(),
                reason = %e.message,
                "exchange rejected"
            ),
        }
        result
    }
}
