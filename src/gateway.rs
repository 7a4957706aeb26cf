//! The gateway as one object: configuration turned into ready-to-use keys, tables and trust, and the
//! translation pipeline for each direction.
//!
//! ```text
//! input ──► verify ──► decode ──► rules ──► encode ──► sign ──► audit ──► output
//! ```

use std::path::Path;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::audit::{AuditRecord, AuditSink, Direction, JsonLinesSink, MemorySink, Outcome};
use crate::clock::SharedClock;
use crate::config::LoadedConfig;
use crate::error::Rejection;
use crate::jwt::keys::{bind_keys, KeySource, RemoteJwks};
use crate::jwt::{
    self, JwtIssuer, JwtLimits, JwtPolicy, JwtTrust, RegisteredClaims, TrustedIssuer,
};
use crate::mapping::{Profile, ProfileSet, XuaInput};
use crate::model::{AccessContext, Identifier, Patient};
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
        let profiles = if c.gateway.mappings.is_empty() {
            ProfileSet::embedded(&c.gateway.profile)?
        } else {
            ProfileSet::load_dir(&loaded.resolve_dir(&c.gateway.mappings), &c.gateway.profile)?
        };
        let rules = Rules::build(&loaded, &profiles)?;

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
                    max_bytes: t.max_bytes,
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

        let audit: Arc<dyn AuditSink> = match audit {
            Some(a) => a,
            None if c.audit.path.is_empty() => Arc::new(MemorySink::default()),
            None => Arc::new(
                JsonLinesSink::open(Path::new(&c.audit.path))
                    .map_err(|e| StartupError::Audit(e.to_string()))?,
            ),
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
            ..XmlLimits::default()
        };
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
            loaded,
        })
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

    pub(crate) fn saml_trust(&self) -> (&TrustStore, &SamlPolicy, &XmlLimits) {
        (&self.trust, &self.saml_policy, &self.xml_limits)
    }

    pub(crate) fn jwt_trust(&self) -> (&JwtTrust, Option<&JwtPolicy>) {
        (&self.jwt_trust, self.jwt_policy.as_ref())
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

    /// The certificate the gateway signs assertions with (for /saml/metadata), when it issues any.
    pub fn saml_signing_certificate(&self) -> Option<&[u8]> {
        self.saml_signer.as_ref().map(|s| s.identity.cert_pem())
    }

    fn new_record(
        &self,
        direction: Direction,
        now: OffsetDateTime,
        request: &ExchangeRequest,
    ) -> AuditRecord {
        AuditRecord {
            time: rfc3339(now),
            request_id: request.request_id.clone(),
            direction,
            outcome: Outcome::Rejected,
            error_class: None,
            error: None,
            input_issuer: None,
            input_token_id: None,
            output_token_id: None,
            output_audience: None,
            profile: None,
            client_address: request.client_address.clone(),
            context: None,
            rules: None,
        }
    }

    /// SAML XUA assertion (or a Response holding one) → JWT.
    pub fn saml_to_jwt(&self, xml: &[u8], request: &ExchangeRequest) -> Result<Issued, Rejection> {
        let now = self.clock.now();
        let mut record = self.new_record(Direction::SamlToJwt, now, request);
        let result = self.saml_to_jwt_inner(xml, request, now, &mut record);
        self.finish(record, result)
    }

    /// JWT (HelseID-style access token) → signed SAML XUA assertion.
    pub fn jwt_to_saml(&self, token: &str, request: &ExchangeRequest) -> Result<Issued, Rejection> {
        let now = self.clock.now();
        let mut record = self.new_record(Direction::JwtToSaml, now, request);
        let result = self.jwt_to_saml_inner(token, request, now, &mut record);
        self.finish(record, result)
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
    ) -> Result<Issued, Rejection> {
        let profile = self.profile(request.profile.as_deref())?;
        record.profile = Some(profile.name.clone());
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

        // rules: validate, then what is declared for this direction (the fastlege override when encoding XUA)
        let outcome = self.rules.run(
            &profile.name,
            &[RuleDirection::DecodeJwt, RuleDirection::EncodeXua],
            &mut context,
        )?;
        if !outcome.is_empty() {
            record.rules = Some(outcome);
            record.context = Some(context.clone());
        }

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

        // decode
        let mut context = profile.decode_xua(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })?;
        record.context = Some(context.clone());

        // rules: validate the decoded values, then run what is declared for this direction (by default
        // nothing: the fastlege override applies when encoding XUA)
        let outcome = self.rules.run(
            &profile.name,
            &[RuleDirection::DecodeXua, RuleDirection::EncodeJwt],
            &mut context,
        )?;
        if !outcome.is_empty() {
            record.rules = Some(outcome);
        }

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
        Ok(Issued {
            token,
            token_id,
            expires_in: (expires - now).whole_seconds(),
            audience,
            context,
        })
    }

    /// Writes the audit record; an accepted exchange whose record cannot be written issues nothing.
    fn finish(
        &self,
        mut record: AuditRecord,
        result: Result<Issued, Rejection>,
    ) -> Result<Issued, Rejection> {
        match &result {
            Ok(_) => record.outcome = Outcome::Issued,
            Err(e) => {
                record.outcome = Outcome::Rejected;
                record.error_class = Some(e.class);
                record.error = Some(e.message.clone());
                record.output_token_id = None;
            }
        }
        match self.audit.write(&record) {
            Ok(()) => result,
            Err(e) => {
                tracing::error!(error = %e, request_id = %record.request_id, "audit write failed");
                match result {
                    Ok(_) => Err(Rejection::unavailable(
                        "the access log cannot be written, so no token is issued; try again later",
                    )),
                    Err(e) => Err(e),
                }
            }
        }
    }
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
