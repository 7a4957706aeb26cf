//! The stage type both directions share: one exchange in flight. Every stage reads the request and the time
//! from it and writes into it: the access-log record, the stage timings, the replay reservations. Finishing
//! it writes the record, and only a durable record lets a token out.

use std::time::Instant;

use time::OffsetDateTime;

use super::Pipeline;
use crate::audit::AuditRecord;
use crate::clients::{AuthenticatedClient, VerifiedProof};
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
    /// RFC 8693 `resource`: another way to name the target, handled like `audience`.
    pub resource: Option<String>,
    /// RFC 8693 `scope`: space-separated scope tokens the issued token should carry.
    pub scope: Option<String>,
    pub profile: Option<String>,
    /// The patient, when the input token does not name one (JWT → SAML; the `patient` request parameter):
    /// an identifier the profile's rules know the system of (a fødselsnummer or D-number in no-pjd), or a CX
    /// value `id^^^&oid&ISO`.
    pub patient: Option<String>,
    pub request_id: String,
    pub client_address: Option<String>,
    /// Who sends the request, authenticated by the HTTP layer. `None` only where no client registry
    /// applies: a configuration without `[[clients]]`, the offline CLI run by the operator, the inspector.
    pub client: Option<AuthenticatedClient>,
    /// The client the request claimed to be, for the record of a refused authentication.
    pub claimed_client: Option<String>,
    /// A verified DPoP proof (RFC 9449) that came with the request.
    pub proof: Option<VerifiedProof>,
    /// The `x5t#S256` thumbprint of the TLS client certificate the connection presented.
    pub client_certificate: Option<String>,
    /// An RFC 8693 actor token (delegation).
    pub actor: Option<super::ActorToken>,
    /// Where a SOAP request came in (the XCA proxy, WS-Trust), for the access-log record.
    pub soap: Option<SoapOrigin>,
}

/// The SOAP side of a request: its WS-Addressing Action and the proxy route it came in on.
#[derive(Debug, Clone, Default)]
pub struct SoapOrigin {
    pub action: Option<String>,
    pub route: Option<String>,
    /// The token came as `Authorization: DPoP`: it must be DPoP-bound, and the proof is by its key.
    pub presented_as_dpop: bool,
    /// The JWT is presented as an access token (an XCA proxy route), which its holder uses for every call
    /// until it expires (RFC 9068), not exchanged once: it is not reserved against replay. Each call still
    /// gets its own assertion and record, and a DPoP proof is still used once.
    pub access_token: bool,
}

/// An issued token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT (compact) or the signed assertion (XML).
    pub token: String,
    pub token_id: String,
    pub expires_in: i64,
    /// The issued token's validity: its issue instant (an assertion's IssueInstant, a JWT's iat) and its
    /// end (NotOnOrAfter, exp).
    pub valid_from: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub audience: String,
    /// The issued JWT is bound to the request's DPoP key (`cnf.jkt`): its `token_type` is `DPoP`.
    pub dpop_bound: bool,
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
    direction: Direction,
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
    reservations: Vec<Reservation>,
}

impl<'p> Exchange<'p> {
    pub fn begin(
        pipeline: &'p Pipeline,
        direction: Direction,
        request: &'p ExchangeRequest,
        mode: Mode,
    ) -> Self {
        let now = pipeline.clock.now();
        let mut record = AuditRecord::begin(
            direction,
            now,
            &request.request_id,
            request.client_address.as_deref(),
        );
        record.client_id = request
            .client
            .as_ref()
            .map(|c| c.id().to_string())
            .or_else(|| request.claimed_client.clone());
        record.client_auth = request
            .client
            .as_ref()
            .map(|c| c.method().as_str().to_string());
        record.dpop_jkt = request.proof.as_ref().map(|p| p.thumbprint.clone());
        record.client_cert_thumbprint = request.client_certificate.clone();
        if let Some(soap) = &request.soap {
            record.soap_action = soap.action.clone();
            record.proxy_route = soap.route.clone();
        }
        Self {
            pipeline,
            direction,
            request,
            now,
            mode,
            record,
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
                let reserved = replay::reserve(&self.pipeline.replay.cache, key, until, self.now);
                self.pipeline.metrics.replay_cache_size(cache.len());
                self.reservations.push(reserved?);
                self.record.replay = Some(crate::audit::ReplayEntry {
                    key: key.to_hex(),
                    until,
                });
                Ok(())
            }
            Mode::Inspect => replay::refuse_if_seen(cache, &key, self.now),
        }
    }

    /// Runs an exchange's stages and finishes it. A panic in a stage (a bug: the stages refuse, they do not
    /// panic) is caught here so that the attempt still gets its access-log record, as an INTERNAL refusal,
    /// and its replay slots are given back.
    pub fn run(mut self, stages: impl FnOnce(&mut Self) -> Result<Issued, Rejection>) -> Finishing {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stages(&mut self)))
            .unwrap_or_else(|_| {
                tracing::error!(
                    direction = self.record.direction.as_str(),
                    "a pipeline stage panicked; the attempt is refused and logged"
                );
                Err(Rejection::internal(
                    "the translation failed unexpectedly; nothing was issued",
                ))
            });
        self.finish(result)
    }

    /// Ends an exchange that issues: completes its access-log record and hands it to the store. What the
    /// caller may answer is known once the store has made it durable ([`Finishing`]).
    pub fn finish(self, result: Result<Issued, Rejection>) -> Finishing {
        let Exchange {
            pipeline,
            direction,
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
        // A refused exchange gives its slots back now, on the thread that ran it: the token was not
        // exchanged whatever the access log says, and giving a slot back may need the replay store.
        let slots = Slots(reservations);
        let slots = match result {
            Ok(_) => slots,
            Err(_) => {
                slots.release();
                Slots(Vec::new())
            }
        };
        stages.restart();
        let written = pipeline.audit.submit(&record);
        Finishing {
            written,
            rest: Settling {
                result,
                submitted: Instant::now(),
                direction,
                stages,
                slots,
                metrics: pipeline.metrics.clone(),
                replay: pipeline.replay.cache.clone(),
            },
        }
    }
}

/// The replay slots of an issued token whose access-log record is not durable yet. They are kept once it
/// is, and given back when it cannot be written (no token goes out). Dropped before either (the caller went
/// away while the record was committing), they are kept: the record may have committed, and a slot kept too
/// long refuses a replay, where one given back too early could let one token be exchanged twice.
struct Slots(Vec<Reservation>);

impl Slots {
    /// Gives the slots back (this may ask the replay store: call it off the event loop).
    fn release(mut self) {
        drop(std::mem::take(&mut self.0));
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.0.drain(..).for_each(Reservation::keep);
    }
}

/// An exchange whose record is with the access-log store: only a durable record lets a token out (an
/// accepted exchange whose record cannot be written issues nothing). It owns what it needs, so the thread
/// that ran the stages can go back to its pool while the record waits for its group commit: an HTTP handler
/// awaits [`Finishing::settled`] on its event loop; the CLI, the SOAP edge and tests call
/// [`Finishing::wait`].
#[must_use = "a token may only go out once its access-log record is durable"]
pub struct Finishing {
    written: crate::audit::ack::Pending,
    rest: Settling,
}

impl std::fmt::Debug for Finishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finishing")
            .field("direction", &self.rest.direction)
            .field("issued", &self.rest.result.is_ok())
            .finish_non_exhaustive()
    }
}

impl Finishing {
    /// The token the exchange issues once its record is durable, or why it refuses. The SOAP edge reads
    /// it to build the message that will carry the assertion while the record commits; nothing of it may
    /// leave the gateway before [`Finishing::settled`] or [`Finishing::wait`] answers `Ok`.
    pub fn to_answer(&self) -> Result<&Issued, &Rejection> {
        self.rest.result.as_ref()
    }

    /// Blocks this thread until the record is durable, then answers.
    pub fn wait(self) -> Result<Issued, Rejection> {
        let Finishing { written, rest } = self;
        let written = written.wait();
        let (answer, unsent) = rest.settle(written);
        if let Some(slots) = unsent {
            slots.release();
        }
        answer
    }

    /// As [`Finishing::wait`], holding no thread while the record waits for its commit. Slots to give back
    /// (a record that could not be written) are given back on the blocking pool, since the replay store
    /// may be a database, before the refusal is answered.
    pub async fn settled(self) -> Result<Issued, Rejection> {
        let Finishing { written, rest } = self;
        let written = written.settled().await;
        let (answer, unsent) = rest.settle(written);
        if let Some(slots) = unsent {
            let _ = actix_web::rt::task::spawn_blocking(move || slots.release()).await;
        }
        answer
    }
}

/// A [`Finishing`] without its pending record.
struct Settling {
    result: Result<Issued, Rejection>,
    submitted: Instant,
    direction: Direction,
    stages: StageTimer,
    slots: Slots,
    metrics: std::sync::Arc<crate::observability::metrics::Metrics>,
    replay: std::sync::Arc<dyn crate::replay::ReplayCache>,
}

impl Settling {
    /// The answer once the store has spoken, with the slots to give back when the token does not go out.
    /// Counts the exchange in the metrics and logs its outcome (class and message only: no identifiers; for
    /// a block, the class alone).
    fn settle(
        self,
        written: Result<(), crate::audit::AuditError>,
    ) -> (Result<Issued, Rejection>, Option<Slots>) {
        let Settling {
            result,
            submitted,
            direction,
            mut stages,
            slots,
            metrics,
            replay,
        } = self;
        metrics.audit_write(submitted.elapsed(), written.is_ok());
        stages.lap(Stage::Audit);
        let (result, unsent) = match written {
            // A token that goes out keeps its slots (dropping `Slots` keeps them).
            Ok(()) => (result, None),
            Err(e) => {
                tracing::error!(error = %e, "audit write failed");
                match result {
                    Ok(_) => (
                        Err(Rejection::unavailable(
                            "the access log cannot be written, so no token is issued; try again later",
                        )),
                        Some(slots),
                    ),
                    Err(e) => (Err(e), None),
                }
            }
        };
        metrics.replay_cache_size(replay.len());
        let outcome = if result.is_ok() {
            Outcome::Issued
        } else {
            Outcome::Rejected
        };
        let class = result.as_ref().err().map(|e| e.class);
        metrics.exchange(direction, outcome, class, &stages);
        match &result {
            Ok(_) => tracing::info!(direction = direction.as_str(), "token issued"),
            // Blocks never reach ordinary logs beyond the class; which rule and block stay in the access log.
            Err(e) if e.class == ErrorClass::Blocked => tracing::info!(
                direction = direction.as_str(),
                error_class = e.class.as_str(),
                "exchange rejected"
            ),
            Err(e) => tracing::info!(
                direction = direction.as_str(),
                error_class = e.class.as_str(),
                reason = %e.message,
                "exchange rejected"
            ),
        }
        (result, unsent)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::MemorySink;
    use crate::config::LoadedConfig;
    use crate::error::ErrorClass;
    use crate::startup::Gateway;

    #[test]
    fn a_stage_that_panics_is_an_audited_internal_refusal() {
        let audit = Arc::new(MemorySink::default());
        let gateway = Gateway::build(
            LoadedConfig::embedded().unwrap(),
            crate::clock::system(),
            Some(audit.clone()),
        )
        .unwrap();
        let request = ExchangeRequest {
            request_id: "r-panic".into(),
            ..ExchangeRequest::default()
        };
        let key = ReplayKey::saml("issuer", "_id");
        let result = Exchange::begin(
            gateway.pipeline(),
            Direction::SamlToJwt,
            &request,
            Mode::Issue,
        )
        .run(|x| {
            let until = x.now + time::Duration::minutes(5);
            x.remember(key, until)?;
            panic!("a bug in a stage");
        })
        .wait();
        assert_eq!(
            result.map_err(|e| e.class).err(),
            Some(ErrorClass::Internal)
        );
        let records = audit.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].outcome, Outcome::Rejected);
        assert_eq!(records[0].error_class, Some(ErrorClass::Internal));
        assert_eq!(records[0].request_id, "r-panic");
        // The slot the panicking exchange took was given back: the token was not exchanged.
        let cache = gateway.pipeline().replay_cache();
        assert!(!cache.seen(&key, crate::clock::system().now()).unwrap());
    }

    /// An access log that refuses every record.
    #[derive(Debug)]
    struct Refusing;

    impl crate::audit::AuditSink for Refusing {
        fn write(&self, _: &AuditRecord) -> Result<(), crate::audit::AuditError> {
            Err(crate::audit::AuditError("the disk is full".into()))
        }

        fn kind(&self) -> &'static str {
            "refusing"
        }
    }

    fn issued(now: OffsetDateTime) -> Issued {
        Issued {
            token: "t".into(),
            token_id: "id".into(),
            expires_in: 60,
            valid_from: now,
            valid_until: now + time::Duration::minutes(1),
            audience: "a".into(),
            dpop_bound: false,
        }
    }

    /// An exchange that issued, with its replay slot reserved, handed to `audit`.
    fn finishing(gateway: &Gateway, key: ReplayKey) -> Finishing {
        let request = ExchangeRequest::default();
        let mut x = Exchange::begin(
            gateway.pipeline(),
            Direction::SamlToJwt,
            &request,
            Mode::Issue,
        );
        let until = x.now + time::Duration::minutes(5);
        x.remember(key, until).unwrap();
        let token = issued(x.now);
        x.finish(Ok(token))
    }

    fn gateway(audit: Arc<dyn crate::audit::AuditSink>) -> Gateway {
        Gateway::build(
            LoadedConfig::embedded().unwrap(),
            crate::clock::system(),
            Some(audit),
        )
        .unwrap()
    }

    #[test]
    fn an_issued_token_keeps_its_slot_and_one_whose_record_fails_gives_it_back() {
        let now = || crate::clock::system().now();
        let kept = gateway(Arc::new(MemorySink::default()));
        let key = ReplayKey::saml("issuer", "_kept");
        assert!(finishing(&kept, key).wait().is_ok());
        assert!(kept.pipeline().replay_cache().seen(&key, now()).unwrap());

        let refusing = gateway(Arc::new(Refusing));
        let key = ReplayKey::saml("issuer", "_unsent");
        let err = finishing(&refusing, key).wait().unwrap_err();
        assert_eq!(err.class, ErrorClass::Unavailable);
        assert!(!refusing
            .pipeline()
            .replay_cache()
            .seen(&key, now())
            .unwrap());
    }

    #[test]
    fn a_finishing_dropped_before_it_settles_keeps_its_slot() {
        // The caller went away while the record was committing: the record may be durable, so the token
        // counts as exchanged.
        let gw = gateway(Arc::new(Refusing));
        let key = ReplayKey::saml("issuer", "_abandoned");
        drop(finishing(&gw, key));
        let seen = gw
            .pipeline()
            .replay_cache()
            .seen(&key, crate::clock::system().now());
        assert!(seen.unwrap());
    }

    #[actix_web::test]
    async fn awaiting_a_failed_record_gives_the_slot_back_before_answering() {
        let gw = gateway(Arc::new(Refusing));
        let key = ReplayKey::saml("issuer", "_async");
        let err = finishing(&gw, key).settled().await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Unavailable);
        let seen = gw
            .pipeline()
            .replay_cache()
            .seen(&key, crate::clock::system().now());
        assert!(!seen.unwrap());
    }
}
