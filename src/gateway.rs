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
use crate::jwt::{JwtIssuer, RegisteredClaims};
use crate::mapping::{Profile, ProfileSet, XuaInput};
use crate::model::AccessContext;
use crate::observability::metrics::{Metrics, Stage, StageTimer};
use crate::observability::readiness::Readiness;
use crate::saml::checks::SamlPolicy;
use crate::saml::dsig::{self, TrustAnchor};
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
}

/// What a caller asks for, beside the token itself.
#[derive(Debug, Clone, Default)]
pub struct ExchangeRequest {
    pub audience: Option<String>,
    pub profile: Option<String>,
    pub request_id: String,
    pub client_address: Option<String>,
}

/// An issued token.
#[derive(Debug, Clone)]
pub struct Issued {
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
    clock: SharedClock,
    audit: Arc<dyn AuditSink>,
    metrics: Arc<Metrics>,
    readiness: Readiness,
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
        let profiles = if c.gateway.mappings.is_empty() {
            ProfileSet::embedded(&c.gateway.profile)?
        } else {
            ProfileSet::load_dir(&loaded.resolve_dir(&c.gateway.mappings), &c.gateway.profile)?
        };

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

        let metrics = Arc::new(Metrics::new().map_err(|e| StartupError::Audit(e.to_string()))?);
        let audit: Arc<dyn AuditSink> = match audit {
            Some(a) => a,
            None => crate::audit::open_configured(&c.audit, Some(metrics.clone()), clock.clone())
                .map_err(|e| StartupError::Audit(e.to_string()))?,
        };

        let saml_policy = SamlPolicy {
            audiences: c.saml.audiences.clone(),
            recipients: c.saml.recipients.clone(),
            confirmation_methods: c.saml.confirmation_methods.clone(),
            skew: Duration::seconds(i64::try_from(c.gateway.clock_skew_secs).unwrap_or(60)),
        };
        let xml_limits = XmlLimits {
            max_bytes: c.limits.max_body_bytes,
            max_depth: c.limits.max_xml_depth,
            max_elements: c.limits.max_xml_elements,
            ..XmlLimits::default()
        };
        Ok(Self {
            profiles,
            trust,
            saml_policy,
            xml_limits,
            jwt,
            clock,
            audit,
            metrics,
            readiness: Readiness::default(),
            loaded,
        })
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

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
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
        let result = self.saml_to_jwt_inner(xml, request, now, &mut record, &mut stages);
        self.finish(record, result, stages)
    }

    fn saml_to_jwt_inner(
        &self,
        xml: &[u8],
        request: &ExchangeRequest,
        now: OffsetDateTime,
        record: &mut AuditRecord,
        stages: &mut StageTimer,
    ) -> Result<Issued, Rejection> {
        let profile = self.profile(request.profile.as_deref())?;
        record.profile = Some(profile.name.clone());
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
        stages.lap(Stage::Verify);

        // decode
        let context = profile.decode_xua(XuaInput {
            name_id: view.name_id.as_deref(),
            attributes: &view.attributes,
        })?;
        record.context = Some(context.clone());
        stages.lap(Stage::Decode);

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

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
