//! The gateway as one object: configuration turned into ready-to-use keys, tables and trust, and the
//! translation pipeline for each direction.
//!
//! ```text
//! input ──► verify ──► decode ──► rules ──► encode ──► sign ──► audit ──► output
//! ```

use std::sync::Arc;
use std::time::Instant;

use time::{Duration, OffsetDateTime};

use crate::audit::{AuditRecord, AuditSink, Direction, Outcome};
use crate::clock::SharedClock;
use crate::config::LoadedConfig;
use crate::error::Rejection;
use crate::jwt::keys::{bind_keys, KeySource, RemoteJwks};
use crate::jwt::{
    self, JwtIssuer, JwtLimits, JwtPolicy, JwtTrust, RegisteredClaims, TrustedIssuer,
};
use crate::mapping::{Profile, ProfileSet, XuaInput};
use crate::model::{AccessContext, Identifier, Patient};
use crate::observability::metrics::{Metrics, Stage, StageTimer};
use crate::observability::readiness::Readiness;
use crate::replay::{ReplayCache, ReplayKey};
use crate::rules::{RuleDirection, Rules};
use crate::saml::build::{self, AssertionSpec};
use crate::saml::checks::SamlPolicy;
use crate::saml::dsig::{self, SigningIdentity, TrustAnchor};
use crate::saml::prescan::XmlLimits;
use crate::saml::verify::{self, TrustStore};

/// Why the gateway cannot start. Names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Mapping(#[from] crate::mapping::MappingError),
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Audit(String),
    #[error("{0}")]
    Store(String),
}

/// What a caller asks for, beside the token itself.
#[derive(Debug, Clone, Default)]
pub struct ExchangeRequest {
    pub audience: Option<String>,
    pub profile: Option<String>,
    /// The patient, when the input token does not name one (JWT → SAML; the `patient` request parameter):
    /// a fødselsnummer/D-number, or a CX value `id^^^&oid&ISO`.
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
    /// The model the token carries (for `translate --explain` and tests; never logged).
    pub context: AccessContext,
}

pub struct Gateway {
    loaded: LoadedConfig,
    profiles: ProfileSet,
    trust: TrustStore,
    saml_policy: SamlPolicy,
    xml_limits: XmlLimits,
    jwt: JwtIssuer,
    jwt_trust: JwtTrust,
    jwt_policy: Option<JwtPolicy>,
    saml_signer: Option<SamlSigner>,
    clock: SharedClock,
    audit: Arc<dyn AuditSink>,
    rules: Rules,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    /// Token ids already exchanged (`[replay]`).
    replay: Arc<dyn ReplayCache>,
}

/// The gateway's XUA issuing identity and policy.
struct SamlSigner {
    identity: SigningIdentity,
    audiences: Vec<String>,
    max_lifetime: Duration,
    authn_context_class: String,
}

fn parse_algorithm(name: &str) -> Option<jsonwebtoken::Algorithm> {
    use jsonwebtoken::Algorithm as A;
    Some(match name {
        "RS256" => A::RS256,
        "RS384" => A::RS384,
        "RS512" => A::RS512,
        "PS256" => A::PS256,
        "PS384" => A::PS384,
        "PS512" => A::PS512,
        "ES256" => A::ES256,
        "ES384" => A::ES384,
        "EdDSA" => A::EdDSA,
        _ => return None,
    })
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2))
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("entity_id", &self.loaded.config.gateway.entity_id)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway from configuration; every key, certificate and table is loaded and checked here.
    pub fn build(
        loaded: LoadedConfig,
        clock: SharedClock,
        audit: Option<Arc<dyn AuditSink>>,
    ) -> Result<Self, StartupError> {
        dsig::init().map_err(|e| {
            StartupError::Key(format!("cannot initialise XML signature support: {e}"))
        })?;
        let c = &loaded.config;
        let mut profiles = if c.gateway.mappings.is_empty() {
            ProfileSet::embedded(&c.gateway.profile)?
        } else {
            ProfileSet::load_dir(&loaded.resolve_dir(&c.gateway.mappings), &c.gateway.profile)?
        };
        profiles.set_max_value_chars(c.limits.max_value_chars);
        let rules = Rules::build(&loaded, &profiles)?;
        let issuer_profiles = c
            .saml
            .trusted_issuers
            .iter()
            .filter_map(|t| t.profile.as_ref().map(|p| (&t.entity_id, p)))
            .chain(c.jwt.trust.iter().flat_map(|t| {
                t.issuers
                    .iter()
                    .filter_map(|i| i.profile.as_ref().map(|p| (&i.issuer, p)))
            }));
        for (issuer, profile) in issuer_profiles {
            if profiles.get(profile).is_none() {
                return Err(StartupError::Key(format!(
                    "the trusted issuer {issuer:?} names the profile {profile:?}, which is not among the loaded tables"
                )));
            }
        }

        let mut trust = TrustStore::new();
        for t in &c.saml.trusted_issuers {
            let pem = loaded.read_file(&t.certificate)?;
            let anchor = TrustAnchor::from_cert_pem(&pem).map_err(|e| {
                StartupError::Key(format!(
                    "saml.trusted_issuers {:?}: certificate {}: {}",
                    t.entity_id, t.certificate, e.message
                ))
            })?;
            trust.add(&t.entity_id, anchor);
        }
        if trust.is_empty() {
            tracing::warn!(
                "no trusted SAML issuers are configured: every assertion will be rejected"
            );
        }

        let key = loaded.read_file(&c.jwt.signing_key)?;
        let jwt = JwtIssuer::new(c.jwt.algorithm, &key, &c.gateway.entity_id, &c.jwt.typ).map_err(
            |e| StartupError::Key(format!("jwt.signing_key {}: {e}", c.jwt.signing_key)),
        )?;

        let mut jwt_trust = JwtTrust::default();
        let mut jwt_policy = None;
        if let Some(t) = &c.jwt.trust {
            for i in &t.issuers {
                let algorithms: Vec<jsonwebtoken::Algorithm> = i
                    .algorithms
                    .iter()
                    .filter_map(|a| parse_algorithm(a))
                    .collect();
                let keys = match (&i.jwks_file, &i.jwks_url) {
                    (Some(file), _) => {
                        let bytes = loaded.read_file(file)?;
                        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&bytes)
                            .map_err(|e| {
                                StartupError::Key(format!(
                                    "jwt.trust.issuers {:?}: {file} is not a JWK set: {e}",
                                    i.issuer
                                ))
                            })?;
                        let (keys, skipped) = bind_keys(&set, &algorithms);
                        for why in skipped {
                            tracing::warn!(issuer = %i.issuer, "ignoring a JWKS entry: {why}");
                        }
                        if keys.is_empty() {
                            return Err(StartupError::Key(format!(
                                "jwt.trust.issuers {:?}: {file} holds no key usable with {:?}",
                                i.issuer, i.algorithms
                            )));
                        }
                        KeySource::Static(keys)
                    }
                    (None, Some(url)) => {
                        let remote = RemoteJwks::new(
                            url,
                            algorithms.clone(),
                            std::time::Duration::from_millis(i.timeout_ms),
                            std::time::Duration::from_secs(i.refresh_secs),
                        );
                        if let Err(e) = remote.initial_fetch() {
                            tracing::warn!(issuer = %i.issuer, "JWKS not fetched at start-up (will retry on demand): {e}");
                        }
                        KeySource::Remote(remote)
                    }
                    (None, None) => continue,
                };
                jwt_trust.add(TrustedIssuer {
                    issuer: i.issuer.clone(),
                    algorithms,
                    keys,
                });
            }
            jwt_policy = Some(JwtPolicy {
                audiences: t.audiences.clone(),
                types: t.types.clone(),
                skew: secs(c.gateway.clock_skew_secs),
                max_lifetime: secs(t.max_lifetime_secs),
                limits: JwtLimits {
                    max_bytes: c.limits.max_jwt_bytes,
                },
            });
        }

        let saml_signer = match &c.saml.signing {
            None => None,
            Some(s) => {
                let key = loaded.read_file(&s.key)?;
                let cert = loaded.read_file(&s.certificate)?;
                let identity = SigningIdentity::from_pem(&key, &cert).map_err(|e| {
                    StartupError::Key(format!(
                        "saml.signing {} / {}: {}",
                        s.key, s.certificate, e.message
                    ))
                })?;
                Some(SamlSigner {
                    identity,
                    audiences: s.audiences.clone(),
                    max_lifetime: secs(s.max_lifetime_secs),
                    authn_context_class: s.authn_context_class.clone(),
                })
            }
        };

        let metrics = Arc::new(Metrics::new().map_err(|e| StartupError::Audit(e.to_string()))?);
        let audit: Arc<dyn AuditSink> = match audit {
            Some(a) => a,
            None => crate::store::open_audit(&loaded, Some(metrics.clone()), clock.clone())
                .map_err(|e| StartupError::Audit(e.to_string()))?,
        };

        let saml_policy = SamlPolicy {
            audiences: c.saml.audiences.clone(),
            recipients: c.saml.recipients.clone(),
            confirmation_methods: c.saml.confirmation_methods.clone(),
            skew: secs(c.gateway.clock_skew_secs),
        };
        let xml_limits = XmlLimits {
            max_bytes: c.limits.max_body_bytes,
            max_depth: c.limits.max_xml_depth,
            max_elements: c.limits.max_xml_elements,
            max_attributes_per_element: c.limits.max_xml_attributes_per_element,
            max_saml_attributes: c.limits.max_saml_attributes,
            max_value_chars: c.limits.max_value_chars,
        };
        let (replay, replay_checks) =
            crate::store::open_replay(&loaded, clock.clone()).map_err(StartupError::Store)?;
        let readiness = Readiness::default();
        replay_checks
            .into_iter()
            .for_each(|check| readiness.register(check));
        {
            use crate::rules::{OnUnavailable, RegisterBackend};
            let f = &c.rules.fastlege;
            let strict_http =
                f.register == RegisterBackend::Http && f.on_unavailable == OnUnavailable::Reject;
            let stats = rules.stats_handle();
            readiness.register(Arc::new(crate::observability::readiness::FnCheck::new(
                "fastlege_register",
                move || {
                    // "Register reachable, or the policy allows going on without it": with `keep` (or a local
                    // file) an unreachable register changes no answer; with `reject` over HTTP, an instance
                    // whose every lookup so far failed should not take traffic.
                    let s = stats.snapshot();
                    if strict_http && s.lookups > 0 && s.unavailable == s.lookups {
                        Err(format!(
                            "all {} register lookups failed and the policy is reject",
                            s.lookups
                        ))
                    } else {
                        Ok(())
                    }
                },
            )));
        }
        Ok(Self {
            profiles,
            trust,
            saml_policy,
            xml_limits,
            jwt,
            jwt_trust,
            jwt_policy,
            saml_signer,
            clock,
            audit,
            rules,
            metrics,
            readiness,
            replay,
            loaded,
        })
    }

    /// Replaces the in-memory replay cache (e.g. with a store shared by several instances). Call before the
    /// gateway takes traffic: entries of the old cache are not carried over.
    pub fn set_replay_cache(&mut self, cache: Arc<dyn ReplayCache>) {
        self.replay = cache;
        self.metrics.replay_cache_size(self.replay.len());
    }

    pub fn replay_cache(&self) -> &Arc<dyn ReplayCache> {
        &self.replay
    }

    /// Records a verified token as exchanged, or refuses it as a replay. Runs only after the signature and
    /// the validity checks, so forged or expired tokens never take a slot.
    fn remember(
        &self,
        key: ReplayKey,
        until: OffsetDateTime,
        now: OffsetDateTime,
        reserved: &mut Option<ReplayKey>,
    ) -> Result<(), Rejection> {
        let result = self.replay.check_and_insert(&key, until, now);
        self.metrics.replay_cache_size(self.replay.len());
        result?;
        *reserved = Some(key);
        Ok(())
    }

    /// Gives back the slot of an exchange that issued nothing (a later stage refused it, or the access log
    /// could not be written): the token was not exchanged, so sending it again is not a replay.
    fn release(&self, reserved: Option<ReplayKey>, result: &Result<Issued, Rejection>) {
        if let (Some(key), Err(_)) = (reserved, result) {
            self.replay.release(&key);
            self.metrics.replay_cache_size(self.replay.len());
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where other modules (the fastlege register) add their `/readyz` checks.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// `/readyz`: keys loaded, audit store writable, then every registered dependency.
    pub fn readiness_checks(&self) -> Vec<(&'static str, Result<(), String>)> {
        let keys = if self.trust.is_empty() {
            Err("no trusted SAML issuer is configured".to_string())
        } else {
            Ok(())
        };
        let mut checks = vec![
            ("keys", keys),
            ("audit", self.audit.ready().map_err(|e| e.0)),
        ];
        checks.extend(self.readiness.run());
        checks
    }

    pub fn config(&self) -> &LoadedConfig {
        &self.loaded
    }

    pub fn jwt_issuer(&self) -> &JwtIssuer {
        &self.jwt
    }

    pub fn profiles(&self) -> &ProfileSet {
        &self.profiles
    }

    /// Validation, code tables, declared rules and the fastlege register (with its counters).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Counts the fastlege register's answers in the metrics (backend and outcome only, never a person).
    fn count_register_lookups(&self, outcome: &crate::rules::RulesOutcome) {
        use crate::observability::metrics::RegisterOutcome;
        use crate::rules::{RegisterAnswer, RegisterBackend};
        let backend = match self.loaded.config.rules.fastlege.register {
            RegisterBackend::File => "file",
            RegisterBackend::Http => "http",
            RegisterBackend::None => "none",
        };
        for d in &outcome.decisions {
            let counted = match &d.register_answer {
                RegisterAnswer::Hit => RegisterOutcome::Listed,
                RegisterAnswer::Miss => RegisterOutcome::NotListed,
                RegisterAnswer::Unavailable(why) if why.contains("time") => {
                    RegisterOutcome::Timeout
                }
                RegisterAnswer::Unavailable(_) => RegisterOutcome::Error,
                RegisterAnswer::NotAsked(_) => continue,
            };
            self.metrics.register_lookup(backend, counted);
        }
    }

    pub(crate) fn saml_trust(&self) -> (&TrustStore, &SamlPolicy, &XmlLimits) {
        (&self.trust, &self.saml_policy, &self.xml_limits)
    }

    pub(crate) fn jwt_trust(&self) -> (&JwtTrust, Option<&JwtPolicy>) {
        (&self.jwt_trust, self.jwt_policy.as_ref())
    }

    /// The JWT trust and policy, for benchmarks of the verification stage alone.
    #[doc(hidden)]
    pub fn jwt_trust_for_bench(&self) -> (&JwtTrust, &JwtPolicy) {
        static NONE: std::sync::OnceLock<JwtPolicy> = std::sync::OnceLock::new();
        let fallback = NONE.get_or_init(|| JwtPolicy {
            audiences: Vec::new(),
            types: Vec::new(),
            skew: Duration::ZERO,
            max_lifetime: Duration::ZERO,
            limits: JwtLimits::default(),
        });
        (
            &self.jwt_trust,
            self.jwt_policy.as_ref().unwrap_or(fallback),
        )
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The request's profile, else the one configured for the token's issuer, else the default.
    fn profile_for(&self, requested: Option<&str>, issuer: &str) -> Result<&Profile, Rejection> {
        if requested.is_some() {
            return self.profile(requested);
        }
        let c = &self.loaded.config;
        let configured = c
            .saml
            .trusted_issuers
            .iter()
            .find(|t| t.entity_id == issuer)
            .and_then(|t| t.profile.as_deref())
            .or_else(|| {
                c.jwt
                    .trust
                    .iter()
                    .flat_map(|t| t.issuers.iter())
                    .find(|i| i.issuer == issuer)
                    .and_then(|i| i.profile.as_deref())
            });
        self.profile(configured)
    }

    fn profile(&self, name: Option<&str>) -> Result<&Profile, Rejection> {
        match name {
            None => Ok(self.profiles.default_profile()),
            Some(n) => self.profiles.get(n).ok_or_else(|| {
                Rejection::request(format!("profile {} is not configured", verify::shown(n)))
            }),
        }
    }

    fn audience(&self, requested: Option<&str>) -> Result<String, Rejection> {
        let allowed = &self.loaded.config.jwt.audiences;
        match requested {
            None => allowed
                .first()
                .cloned()
                .ok_or_else(|| Rejection::internal("no JWT audience is configured")),
            Some(a) if allowed.iter().any(|x| x == a) => Ok(a.to_string()),
            Some(a) => Err(Rejection::target(format!(
                "audience {} is not one this gateway issues for",
                verify::shown(a)
            ))),
        }
    }

    /// The certificate the gateway signs assertions with (for /saml/metadata), when it issues any.
    pub fn saml_signing_certificate(&self) -> Option<&[u8]> {
        self.saml_signer.as_ref().map(|s| s.identity.cert_pem())
    }

    /// Audits a request refused before its pipeline ran (e.g. a `subject_token` that is not base64) and
    /// returns the rejection to answer with, so that every translation attempt, however malformed, leaves
    /// one record. It waits for the audit commit: call it on the blocking pool (`web::block`), like the
    /// pipeline.
    pub fn refuse(
        &self,
        direction: Direction,
        request: &ExchangeRequest,
        rejection: Rejection,
    ) -> Rejection {
        let _span = tracing::info_span!("exchange", request_id = %request.request_id).entered();
        let mut record = AuditRecord::begin(
            direction,
            rfc3339(self.clock.now()),
            &request.request_id,
            request.client_address.as_deref(),
        );
        record.profile = request.profile.clone();
        match self.finish(record, Err(rejection), StageTimer::start()) {
            Err(r) => r,
            Ok(_) => Rejection::internal("a refused request was issued a token"),
        }
    }

    /// SAML XUA assertion (or a Response holding one) → JWT.
    pub fn saml_to_jwt(&self, xml: &[u8], request: &ExchangeRequest) -> Result<Issued, Rejection> {
        // The pipeline runs on the blocking pool, outside the HTTP request's span: carry the id here.
        let _span = tracing::info_span!("exchange", request_id = %request.request_id).entered();
        let now = self.clock.now();
        let mut stages = StageTimer::start();
        let mut record = AuditRecord::begin(
            Direction::SamlToJwt,
            rfc3339(now),
            &request.request_id,
            request.client_address.as_deref(),
        );
        let mut reserved = None;
        let result =
            self.saml_to_jwt_inner(xml, request, now, &mut record, &mut stages, &mut reserved);
        let result = self.finish(record, result, stages);
        self.release(reserved, &result);
        result
    }

    /// JWT (HelseID-style access token) → signed SAML XUA assertion.
    pub fn jwt_to_saml(&self, token: &str, request: &ExchangeRequest) -> Result<Issued, Rejection> {
        let _span = tracing::info_span!("exchange", request_id = %request.request_id).entered();
        let now = self.clock.now();
        let mut stages = StageTimer::start();
        let mut record = AuditRecord::begin(
            Direction::JwtToSaml,
            rfc3339(now),
            &request.request_id,
            request.client_address.as_deref(),
        );
        let mut reserved = None;
        let result =
            self.jwt_to_saml_inner(token, request, now, &mut record, &mut stages, &mut reserved);
        let result = self.finish(record, result, stages);
        self.release(reserved, &result);
        result
    }

    fn saml_audience(
        &self,
        signer: &SamlSigner,
        requested: Option<&str>,
    ) -> Result<String, Rejection> {
        match requested {
            None => signer
                .audiences
                .first()
                .cloned()
                .ok_or_else(|| Rejection::internal("no SAML audience is configured")),
            Some(a) if signer.audiences.iter().any(|x| x == a) => Ok(a.to_string()),
            Some(a) => Err(Rejection::target(format!(
                "audience {} is not one this gateway issues assertions for",
                verify::shown(a)
            ))),
        }
    }

    fn jwt_to_saml_inner(
        &self,
        token: &str,
        request: &ExchangeRequest,
        now: OffsetDateTime,
        record: &mut AuditRecord,
        stages: &mut StageTimer,
        reserved: &mut Option<ReplayKey>,
    ) -> Result<Issued, Rejection> {
        let (Some(signer), Some(policy)) = (&self.saml_signer, &self.jwt_policy) else {
            return Err(Rejection::request(
                "this gateway is not configured to issue SAML assertions from JWTs ([saml.signing] and [jwt.trust])",
            ));
        };
        let audience = self.saml_audience(signer, request.audience.as_deref())?;
        record.output_audience = Some(audience.clone());

        // verify
        let verified = jwt::verify(token, &self.jwt_trust, policy, now)?;
        record.input_issuer = Some(verified.issuer.clone());
        record.input_token_id = verified.token_id.clone();
        if self.loaded.config.replay.jwt {
            let key = match &verified.token_id {
                Some(jti) => ReplayKey::jwt(&verified.issuer, jti),
                // RFC 9068 requires jti, but not every issuer sends one; the signed bytes name the token then.
                None => ReplayKey::jwt_without_id(
                    &verified.issuer,
                    token
                        .trim()
                        .rsplit_once('.')
                        .map(|(signing_input, _)| signing_input)
                        .unwrap_or(token)
                        .as_bytes(),
                ),
            };
            // As long as the JWT could be accepted: its exp plus the skew the time check allows.
            self.remember(key, verified.expires + policy.skew, now, reserved)?;
        }
        stages.lap(Stage::Verify);
        let profile = self.profile_for(request.profile.as_deref(), &verified.issuer)?;
        record.profile = Some(profile.name.clone());

        // decode
        let mut context = profile.decode_claims(verified.claims())?;
        let from_request = request.patient.as_deref().map(parse_patient).transpose()?;
        match (context.patients.first().and_then(|p| p.identifier.as_ref()), from_request) {
            (Some(in_token), Some(param)) => {
                if in_token.id != param.id {
                    return Err(Rejection::claim(
                        "the patient parameter names another patient than the token's patients[].identifier",
                    ));
                }
            }
            (Some(_), None) => {}
            (None, Some(param)) => match context.patients.first_mut() {
                Some(p) => p.identifier = Some(param),
                None => context.patients.push(Patient {
                    identifier: Some(param),
                    ..Patient::default()
                }),
            },
            (None, None) => {
                return Err(Rejection::claim(
                    "no patient: the token has no patients[].identifier and the request no patient parameter",
                ))
            }
        }
        // HelseID's request form carries codes without display texts; XUA readers show displayName.
        self.rules.codes().fill_display_texts(&mut context);
        record.context = Some(context.clone());
        stages.lap(Stage::Decode);

        // rules: validate, then what is declared for this direction (the fastlege override when encoding XUA)
        let outcome = self.rules.run(
            &profile.name,
            &[RuleDirection::DecodeJwt, RuleDirection::EncodeXua],
            &mut context,
        )?;
        self.count_register_lookups(&outcome);
        if !outcome.is_empty() {
            record.fastlege = override_of(&outcome);
            record.rules = serde_json::to_value(&outcome).ok();
            record.context = Some(context.clone());
        }
        stages.lap(Stage::Rules);

        // encode
        let out = profile.encode_xua_named(&context, self.rules.codes())?;
        let name_id = out.name_id.as_deref().ok_or_else(|| {
            Rejection::claim("the token names no practitioner identifier for the Subject NameID")
        })?;
        let expires = verified.expires.min(now + signer.max_lifetime);
        if expires <= now {
            return Err(Rejection::time(
                "the JWT expires now; nothing is left to issue",
            ));
        }
        stages.lap(Stage::Encode);
        let authn_instant = verified
            .claims()
            .get("auth_time")
            .and_then(serde_json::Value::as_i64)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .or(verified.issued_at)
            .unwrap_or(now)
            .min(now);
        let id = build::new_id();
        let unsigned = build::assertion(
            &AssertionSpec {
                id: &id,
                issuer: &self.loaded.config.gateway.entity_id,
                issue_instant: now,
                not_on_or_after: expires,
                audience: &audience,
                name_id,
                name_qualifier: out.name_qualifier.as_deref(),
                authn_instant,
                authn_context_class: &signer.authn_context_class,
            },
            &out.attributes,
        )?;

        // sign
        let signed = dsig::sign_assertion(&unsigned, &signer.identity)?;
        let token = String::from_utf8(signed)
            .map_err(|_| Rejection::internal("the signed assertion is not UTF-8"))?;
        record.output_token_id = Some(id.clone());
        record.output_expires = Some(rfc3339(expires));
        stages.lap(Stage::Sign);
        Ok(Issued {
            token,
            token_id: id,
            expires_in: (expires - now).whole_seconds(),
            audience,
            context,
        })
    }

    fn saml_to_jwt_inner(
        &self,
        xml: &[u8],
        request: &ExchangeRequest,
        now: OffsetDateTime,
        record: &mut AuditRecord,
        stages: &mut StageTimer,
        reserved: &mut Option<ReplayKey>,
    ) -> Result<Issued, Rejection> {
        let audience = self.audience(request.audience.as_deref())?;
        record.output_audience = Some(audience.clone());

        // verify
        let verified = verify::verify(
            xml,
            &self.trust,
            &self.saml_policy,
            &self.xml_limits,
            Some(&audience),
            now,
        )?;
        let view = verified.view();
        record.input_issuer = Some(view.issuer.clone());
        record.input_token_id = Some(view.id.clone());
        // OneTimeUse (SAML core §2.5.1.5) forbids a second use whatever `[replay] saml` says.
        if self.loaded.config.replay.saml || verified.checked().one_time_use {
            // Kept for as long as the assertion could be accepted at all: its Conditions NotOnOrAfter plus the
            // skew. (The chosen SubjectConfirmation may end earlier, but another one in it may not.)
            let valid_until = view
                .conditions
                .as_ref()
                .and_then(|c| c.not_on_or_after)
                .unwrap_or(verified.checked().expires);
            self.remember(
                ReplayKey::saml(&view.issuer, &view.id),
                valid_until + self.saml_policy.skew,
                now,
                reserved,
            )?;
        }
        stages.lap(Stage::Verify);
        let profile = self.profile_for(request.profile.as_deref(), &view.issuer)?;
        record.profile = Some(profile.name.clone());

        // decode
        let mut context = profile.decode_xua(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })?;
        record.context = Some(context.clone());
        stages.lap(Stage::Decode);

        // rules: validate the decoded values, then run what is declared for this direction (by default
        // nothing: the fastlege override applies when encoding XUA)
        let outcome = self.rules.run(
            &profile.name,
            &[RuleDirection::DecodeXua, RuleDirection::EncodeJwt],
            &mut context,
        )?;
        self.count_register_lookups(&outcome);
        if !outcome.is_empty() {
            record.fastlege = override_of(&outcome);
            record.rules = serde_json::to_value(&outcome).ok();
            record.context = Some(context.clone());
        }
        stages.lap(Stage::Rules);

        // encode
        let claims = profile.encode_claims(&context)?;
        let cap = now
            + Duration::seconds(
                i64::try_from(self.loaded.config.jwt.max_lifetime_secs).unwrap_or(300),
            );
        let expires = verified.checked().expires.min(cap);
        if expires <= now {
            return Err(Rejection::time(
                "the assertion expires now; nothing is left to issue",
            ));
        }
        stages.lap(Stage::Encode);

        // sign
        let token_id = uuid::Uuid::new_v4().to_string();
        let subject = view.name_id.clone().unwrap_or_default();
        let token = self.jwt.issue(
            claims,
            &RegisteredClaims {
                subject,
                audience: audience.clone(),
                issued_at: now,
                expires,
                token_id: token_id.clone(),
            },
        )?;
        record.output_token_id = Some(token_id.clone());
        record.output_expires = Some(rfc3339(expires));
        stages.lap(Stage::Sign);
        Ok(Issued {
            token,
            token_id,
            expires_in: (expires - now).whole_seconds(),
            audience,
            context,
        })
    }

    /// Writes the audit record; an accepted exchange whose record cannot be written issues nothing.
    /// Then counts the attempt in the metrics and logs its outcome (class and message only: no identifiers).
    fn finish(
        &self,
        mut record: AuditRecord,
        result: Result<Issued, Rejection>,
        mut stages: StageTimer,
    ) -> Result<Issued, Rejection> {
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
        let written = self.audit.write(&record);
        self.metrics.audit_write(started.elapsed(), written.is_ok());
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
        let class = result.as_ref().err().map(|e| e.class);
        let outcome = if result.is_ok() {
            Outcome::Issued
        } else {
            Outcome::Rejected
        };
        self.metrics
            .exchange(record.direction, outcome, class, &stages);
        match &result {
            Ok(_) => tracing::info!(direction = record.direction.as_str(), "token issued"),
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

/// The fastlege override in the access log's own columns: the rule, the value it replaced, the register's
/// answer (the full decision list stays in `rules`).
fn override_of(outcome: &crate::rules::RulesOutcome) -> Option<crate::audit::OverrideAudit> {
    outcome
        .decisions
        .iter()
        .find(|d| d.applied)
        .map(|d| crate::audit::OverrideAudit {
            rule: d.rule.clone(),
            original: d.original.clone(),
            register_answer: match &d.register_answer {
                crate::rules::RegisterAnswer::Hit => "listed".to_string(),
                crate::rules::RegisterAnswer::Miss => "not-listed".to_string(),
                crate::rules::RegisterAnswer::Unavailable(why) => format!("unavailable: {why}"),
                crate::rules::RegisterAnswer::NotAsked(why) => format!("not asked: {why}"),
            },
        })
}

/// The `patient` request parameter: a CX value, or a bare fødselsnummer/D-number (a D-number's first digit is
/// 4–7, the day plus 40).
fn parse_patient(value: &str) -> Result<Identifier, Rejection> {
    let value = value.trim();
    if value.contains('^') {
        return crate::mapping::hl7::cx_parse(value).map_err(|why| {
            Rejection::claim(format!(
                "the patient parameter is not a valid CX value: {why}"
            ))
        });
    }
    if value.len() != 11 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::claim(
            "the patient parameter must be an 11-digit fødselsnummer or D-number, or a CX value",
        ));
    }
    let d_number = matches!(value.as_bytes().first(), Some(b'4'..=b'7'));
    Ok(Identifier {
        id: value.to_string(),
        system: Some(
            if d_number {
                "urn:oid:2.16.578.1.12.4.1.4.2"
            } else {
                "urn:oid:2.16.578.1.12.4.1.4.1"
            }
            .to_string(),
        ),
        ..Identifier::default()
    })
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
