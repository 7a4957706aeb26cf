//! JWT (a HelseID-style access token) → signed SAML XUA assertion.

use time::OffsetDateTime;

use super::targets::grant_scope;
use super::{
    patient, policy, Exchange, ExchangeRequest, Finishing, Issued, Mode, Pipeline, Target,
};
use crate::error::Rejection;
use crate::jwt::{self, VerifiedJwt};
use crate::model::{Direction, FieldId};
use crate::observability::metrics::Stage;
use crate::replay::ReplayKey;
use crate::rules::RuleDirection;
use crate::saml::build::{self, XuaAttributeOut};
use crate::saml::dsig;
use crate::saml::verify::VerifierEngine;

/// Everything an assertion needs except its signature: what `prepare` makes of a JWT.
#[derive(Debug, Clone)]
pub struct SamlDraft {
    pub id: String,
    pub audience: String,
    pub expires: OffsetDateTime,
    pub authn_instant: OffsetDateTime,
    pub name_id: String,
    pub name_qualifier: Option<String>,
    pub attributes: Vec<XuaAttributeOut>,
    /// The JWT was sender-constrained and its proof checked: the assertion is `OneTimeUse`.
    pub one_time_use: bool,
}

impl Pipeline {
    /// The exchange: verify, decode, rules, encode, sign, audit (waiting on this thread for the record).
    pub fn jwt_to_saml(&self, token: &str, request: &ExchangeRequest) -> Result<Issued, Rejection> {
        self.jwt_to_saml_queued(token, request).wait()
    }

    /// The exchange up to its access-log record handed to the store: the answer once it is durable.
    pub fn jwt_to_saml_queued(&self, token: &str, request: &ExchangeRequest) -> Finishing {
        let _span = tracing::info_span!("exchange", request_id = %request.request_id).entered();
        Exchange::begin(self, Direction::JwtToSaml, request, Mode::Issue).run(|x| {
            self.prepare_saml(x, token)
                .and_then(|draft| self.issue_saml(x, draft))
        })
    }

    /// The verification stage alone: the JWT as the exchange would accept it.
    pub fn verify_jwt(&self, token: &str, now: OffsetDateTime) -> Result<VerifiedJwt, Rejection> {
        let input = self.jwt_input()?;
        jwt::verify(token, &input.trust, &input.policy, now)
    }

    fn jwt_input(&self) -> Result<&super::JwtInput, Rejection> {
        self.jwt_in.as_ref().ok_or_else(|| {
            Rejection::request(
                "this gateway is not configured to issue SAML assertions from JWTs ([saml.signing] and [jwt.trust])",
            )
        })
    }

    /// Verify, decode, rules, encode: everything but the signature.
    pub(crate) fn prepare_saml(
        &self,
        x: &mut Exchange<'_>,
        token: &str,
    ) -> Result<SamlDraft, Rejection> {
        let input = self.jwt_input()?;
        let Some(out) = &self.saml_out else {
            return Err(self.jwt_input().err().unwrap_or_else(|| {
                Rejection::request("this gateway is not configured to issue SAML assertions")
            }));
        };
        policy::before_verify(x, Direction::JwtToSaml)?;
        if x.request.actor.is_some() {
            return Err(Rejection::request(
                "an actor token cannot be carried into a XUA assertion: the profile has no place for an actor",
            ));
        }
        let Target { audience, .. } = out.targets.resolve(x.request, "assertion")?;
        let audience = policy::audience(x, audience, &out.targets.audiences)?;
        let scope = out
            .targets
            .scope_for(&audience, x.request.scope.as_deref())?;
        x.record.output_audience = Some(audience.clone());

        // verify
        let verified = jwt::verify(token, &input.trust, &input.policy, x.now)?;
        x.record.input_issuer = Some(verified.issuer.clone());
        x.record.input_token_id = verified.token_id.clone();
        policy::subject_issuer(x, &verified.issuer)?;
        // A sender-constrained token goes no further without its proof (nothing is reserved for it).
        let binding = policy::binding(x, verified.claims())?;
        let reused = x.request.soap.as_ref().is_some_and(|s| s.access_token);
        if self.replay.jwt && !reused {
            let key = match &verified.token_id {
                Some(jti) => ReplayKey::jwt(&verified.issuer, jti),
                // RFC 9068 requires jti, but not every issuer sends one; the signed bytes name the token then.
                None => {
                    ReplayKey::jwt_without_id(&verified.issuer, verified.signing_input().as_bytes())
                }
            };
            // As long as the JWT could be accepted: its exp plus the skew the time check allows.
            x.remember(key, verified.expires.saturating_add(input.policy.skew))?;
        }
        x.lap(Stage::Verify);
        let profile = self.profile_for(
            x.request.profile.as_deref(),
            input.profile_by_issuer.get(&verified.issuer).copied(),
        )?;
        x.record.profile = Some(profile.name.clone());

        // decode
        let readings = profile.decode_jwt_each(&verified)?;
        let mut context = patient::settle(
            readings,
            self.patient_parameter(profile, x.request.patient.as_deref())?,
            patient::Missing::FromParameter,
        )?;
        policy::after_decode(x, &profile.name, &context)?;
        grant_scope(
            &mut context,
            scope,
            profile.writes_xua(FieldId::Scope),
            "assertions",
        )?;
        // HelseID's request form carries codes without display texts; XUA readers show displayName.
        self.rules.codes().fill_display_texts(&mut context);
        x.lap(Stage::Decode);

        // rules: validate, then what is declared for this direction (the fastlege override when encoding XUA)
        let context = self.run_rules(
            x,
            profile,
            context,
            &[RuleDirection::DecodeJwt, RuleDirection::EncodeXua],
        )?;

        // encode
        let encoded = profile.encode_xua_named(context, self.rules.codes())?;
        let name_id = encoded.name_id.ok_or_else(|| {
            Rejection::claim("the token names no practitioner identifier for the Subject NameID")
        })?;
        // XUA (ITI-40) confirmations are bearer; an assertion made from a sender-constrained JWT cannot carry
        // the binding to a SOAP recipient, so it is short-lived and OneTimeUse instead.
        let one_time_use = binding == policy::Binding::Proven;
        let mut expires = policy::cap(
            x,
            verified.expires.min(x.now.saturating_add(out.max_lifetime)),
        );
        if one_time_use {
            expires = expires.min(x.now.saturating_add(out.bound_max_lifetime));
        }
        if expires <= x.now {
            return Err(Rejection::time(
                "the JWT expires now; nothing is left to issue",
            ));
        }
        let authn_instant = profile
            .jwt_authn_time(&verified)
            .or(verified.issued_at)
            .unwrap_or(x.now)
            .min(x.now);
        x.lap(Stage::Encode);
        Ok(SamlDraft {
            id: build::new_id(),
            audience,
            expires,
            authn_instant,
            name_id,
            name_qualifier: encoded.name_qualifier,
            attributes: encoded.attributes,
            one_time_use,
        })
    }

    /// The sign stage.
    fn issue_saml(&self, x: &mut Exchange<'_>, draft: SamlDraft) -> Result<Issued, Rejection> {
        let Some(out) = &self.saml_out else {
            return Err(Rejection::internal("no SAML signing identity"));
        };
        let identity = out.identities.current();
        // An expired signing certificate stops issuing: relying parties would refuse what it signs.
        if let Some(why) = identity.validity().why_not(x.now) {
            return Err(Rejection::unavailable(format!(
                "the gateway's XUA signing certificate {why}: no assertion is issued until a valid one is current ([saml.signing])"
            )));
        }
        let spec = build::AssertionSpec {
            id: &draft.id,
            issuer: &out.issuer,
            issue_instant: x.now,
            not_on_or_after: draft.expires,
            audience: &draft.audience,
            name_id: &draft.name_id,
            name_qualifier: draft.name_qualifier.as_deref(),
            authn_instant: draft.authn_instant,
            authn_context_class: &out.authn_context_class,
        };
        let extra = build::Extra {
            one_time_use: draft.one_time_use,
        };
        let signed = match out.signer {
            // The bytes are written in canonical form and signed as they stand: no second parse.
            VerifierEngine::Streaming => {
                build::signed_assertion_with(&spec, &draft.attributes, &extra, identity)?
            }
            VerifierEngine::Libxmlsec => {
                let unsigned = build::assertion_with(&spec, &draft.attributes, &extra)?;
                dsig::sign_assertion(&unsigned, identity)?
            }
        };
        let token = String::from_utf8(signed)
            .map_err(|_| Rejection::internal("the signed assertion is not UTF-8"))?;
        x.record.output_token_id = Some(draft.id.clone());
        x.record.output_expires = Some(draft.expires);
        x.lap(Stage::Sign);
        Ok(Issued {
            token,
            token_id: draft.id,
            expires_in: (draft.expires - x.now).whole_seconds(),
            valid_from: x.now,
            valid_until: draft.expires,
            audience: draft.audience,
            dpop_bound: false,
        })
    }
}
