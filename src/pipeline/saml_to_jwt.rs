//! SAML XUA assertion (or a Response holding one) → JWT.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::targets::grant_scope;
use super::{
    patient, policy, Exchange, ExchangeRequest, Finishing, Issued, Mode, Pipeline, Target,
};
use crate::error::Rejection;
use crate::jwt::RegisteredClaims;
use crate::mapping::Profile;
use crate::model::{Direction, FieldId};
use crate::observability::metrics::Stage;
use crate::replay::ReplayKey;
use crate::rules::RuleDirection;
use crate::saml::verify::{self, Verified};

/// Everything a JWT needs except its signature: what `prepare` makes of an assertion.
#[derive(Debug, Clone)]
pub struct JwtDraft {
    pub claims: Map<String, Value>,
    pub registered: RegisteredClaims,
    /// The claims carry `cnf.jkt` of the request's DPoP proof.
    pub dpop_bound: bool,
}

impl Pipeline {
    /// The exchange: verify, decode, rules, encode, sign, audit (waiting on this thread for the record).
    pub fn saml_to_jwt(&self, xml: &[u8], request: &ExchangeRequest) -> Result<Issued, Rejection> {
        self.saml_to_jwt_queued(xml, request).wait()
    }

    /// The exchange up to its access-log record handed to the store: the answer once it is durable.
    pub fn saml_to_jwt_queued(&self, xml: &[u8], request: &ExchangeRequest) -> Finishing {
        // The pipeline runs on the blocking pool, outside the HTTP request's span: carry the id here.
        let _span = tracing::info_span!("exchange", request_id = %request.request_id).entered();
        Exchange::begin(self, Direction::SamlToJwt, request, Mode::Issue).run(|x| {
            self.prepare_jwt(x, xml)
                .and_then(|draft| self.issue_jwt(x, draft))
        })
    }

    /// The verification stage alone: the assertion as the exchange would accept it, for the audience it
    /// would issue to.
    pub fn verify_assertion(
        &self,
        xml: &[u8],
        audience: &str,
        now: OffsetDateTime,
    ) -> Result<Verified, Rejection> {
        let s = &self.saml_in;
        verify::verify_with(
            s.verifier,
            xml,
            &s.trust,
            &s.policy,
            &s.limits,
            Some(audience),
            now,
        )
    }

    /// Verify, decode, rules, encode: everything but the signature.
    pub(crate) fn prepare_jwt(
        &self,
        x: &mut Exchange<'_>,
        xml: &[u8],
    ) -> Result<JwtDraft, Rejection> {
        policy::before_verify(x, Direction::SamlToJwt)?;
        let Target { audience, .. } = self.jwt_out.targets.resolve(x.request, "JWT")?;
        let audience = policy::audience(x, audience, &self.jwt_out.targets.audiences)?;
        let scope = self
            .jwt_out
            .targets
            .scope_for(&audience, x.request.scope.as_deref())?;
        x.record.output_audience = Some(audience.clone());

        // verify
        let verified = self.verify_assertion(xml, &audience, x.now)?;
        let view = verified.view();
        x.record.input_issuer = Some(view.issuer.clone());
        x.record.input_token_id = Some(view.id.clone());
        // A SAML subject token is a bearer token here: holder-of-key confirmation is refused by the checks.
        policy::subject_issuer(x, &view.issuer)?;
        // OneTimeUse (SAML core §2.5.1.5) forbids a second use whatever `[replay] saml` says.
        if self.replay.saml || verified.checked().one_time_use {
            // Kept for as long as the assertion could be accepted at all: its Conditions NotOnOrAfter plus the
            // skew. (The chosen SubjectConfirmation may end earlier, but another one in it may not.)
            let valid_until = view
                .conditions
                .as_ref()
                .and_then(|c| c.not_on_or_after)
                .unwrap_or(verified.checked().expires);
            x.remember(
                ReplayKey::saml(&view.issuer, &view.id),
                valid_until.saturating_add(self.saml_in.policy.skew),
            )?;
        }
        x.lap(Stage::Verify);
        let profile = self.profile_for(
            x.request.profile.as_deref(),
            self.saml_in.profile_by_issuer.get(&view.issuer).copied(),
        )?;
        x.record.profile = Some(profile.name.clone());

        // decode
        let mut context = patient::settle(
            vec![profile.decode_assertion(&verified)?],
            self.patient_parameter(profile, x.request.patient.as_deref())?,
            patient::Missing::Refuse,
        )?;
        policy::after_decode(x, &profile.name, &context)?;
        grant_scope(
            &mut context,
            scope,
            profile.writes_jwt(FieldId::Scope),
            "JWTs",
        )?;
        let act = self.actor_claim(x, &view.issuer, &audience)?;
        x.lap(Stage::Decode);

        // rules: validate the decoded values, then run what is declared for this direction (the fastlege
        // override applies when encoding XUA, so nothing here), then the checks for encoding a JWT
        // (HPR, access blocks, when the deployment turns them on)
        let context = self.run_rules(
            x,
            profile,
            context,
            &[RuleDirection::DecodeXua, RuleDirection::EncodeJwt],
        )?;

        // encode
        let mut claims = profile.encode_claims(context)?;
        let subject = profile.jwt_subject(context).unwrap_or_default();
        // The gateway alone says who acts (RFC 8693 §4.1) and what the token is bound to (RFC 7800).
        if claims.contains_key("act") || claims.contains_key("cnf") {
            return Err(Rejection::internal(
                "the profile produced the act or cnf claim, which the gateway sets",
            ));
        }
        let cnf = policy::issued_cnf(x);
        let dpop_bound = x.request.proof.is_some();
        claims.extend(act.map(|a| ("act".to_string(), a)));
        claims.extend(cnf.map(|c| ("cnf".to_string(), c)));
        let expires = policy::cap(
            x,
            verified
                .checked()
                .expires
                .min(x.now.saturating_add(self.jwt_out.max_lifetime)),
        );
        if expires <= x.now {
            return Err(Rejection::time(
                "the assertion expires now; nothing is left to issue",
            ));
        }
        x.lap(Stage::Encode);
        Ok(JwtDraft {
            claims,
            registered: RegisteredClaims {
                subject,
                audience,
                issued_at: x.now,
                expires,
                token_id: uuid::Uuid::new_v4().to_string(),
            },
            dpop_bound,
        })
    }

    /// The sign stage.
    fn issue_jwt(&self, x: &mut Exchange<'_>, draft: JwtDraft) -> Result<Issued, Rejection> {
        let JwtDraft {
            claims,
            registered: r,
            dpop_bound,
        } = draft;
        let token = self.jwt_out.keys.current().issue(claims, &r)?;
        x.record.output_token_id = Some(r.token_id.clone());
        x.record.output_expires = Some(r.expires);
        x.lap(Stage::Sign);
        Ok(Issued {
            token,
            token_id: r.token_id,
            expires_in: (r.expires - x.now).whole_seconds(),
            valid_from: x.now,
            valid_until: r.expires,
            audience: r.audience,
            dpop_bound,
        })
    }

    /// The rules stage of either direction: validation, the declared rules, then the checks against
    /// registers (as of the exchange's time), with the register lookups counted. The model after the rules
    /// is the one the exchange carries (and the audit record keeps, with every check's decision).
    pub(crate) fn run_rules<'x>(
        &self,
        x: &'x mut Exchange<'_>,
        profile: &Profile,
        mut context: crate::model::AccessContext,
        directions: &[RuleDirection],
    ) -> Result<&'x crate::model::AccessContext, Rejection> {
        match self.rules.run(&profile.name, directions, &mut context) {
            Err(e) => {
                // The decoded model goes into the record even when a value is refused: the log shows what
                // was asked.
                x.context = Some(context);
                Err(e)
            }
            Ok(outcome) => {
                self.count_register_lookups(&outcome);
                x.rules = outcome;
                let checked = self.rules.check(&profile.name, directions, &context, x.now);
                self.count_check_lookups(&checked.decisions);
                x.checks = checked.decisions;
                if let Err(e) = checked.verdict {
                    x.context = Some(context);
                    return Err(e);
                }
                x.lap(Stage::Rules);
                Ok(x.context.insert(context))
            }
        }
    }
}
