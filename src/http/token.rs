//! `POST /token`: RFC 8693 token exchange.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::json;

use super::caller::{self, Asking};
use super::errors::{error_json, error_response};
use super::form::Form;
use crate::error::{shown, Rejection};
use crate::model::Direction;
use crate::pipeline::sniff::{subject_token_kind, TokenKind};
use crate::pipeline::{ActorToken, ExchangeRequest};
use crate::startup::Gateway;

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TT_SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
pub const TT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// IHE IUA writes the RFC's `access_token` with a hyphen (docs/ihe-profiles.md, "IUA token types"); accepted
/// as a synonym.
pub const TT_ACCESS_TOKEN_IUA: &str = "urn:ietf:params:oauth:token-type:access-token";
/// The extension parameter that names the patient when the JWT does not (HelseID leaves the patient out of
/// the attestation and sends it as a request parameter: docs/norway-profile.md, "HelseID: how the attestation
/// travels").
pub const PATIENT_PARAMETER: &str = "patient";

/// base64url without padding as RFC 8693 and IUA require; padded and standard base64 are accepted too,
/// because Swiss `IHE-SAML` practice uses them (docs/ihe-profiles.md, "Switzerland: CH:XUA and CH:IUA").
pub fn decode_base64_token(token: &str) -> Result<Vec<u8>, Rejection> {
    let trimmed = token.trim_end_matches('=');
    let engine = if trimmed.contains(['+', '/']) {
        base64::engine::general_purpose::STANDARD_NO_PAD
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
    };
    engine
        .decode(trimmed)
        .map_err(|_| Rejection::parse("subject_token is not base64url"))
}

/// A request that passed the form checks and is ready for a pipeline.
struct Exchange {
    direction: Direction,
    subject_token_type: &'static str,
    subject_token: String,
    issued_type: &'static str,
    /// `actor_token` and whether `actor_token_type` says it is SAML.
    actor: Option<(String, bool)>,
}

/// A refusal before any pipeline ran, with the OAuth error code it is answered with.
struct Refusal {
    rejection: Rejection,
    code: &'static str,
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            code: "invalid_request",
        }
    }
}

/// The direction a request is about, for the audit record of a refusal.
fn direction_of(form: &Form) -> Direction {
    match (
        form.get("subject_token_type"),
        form.get("requested_token_type"),
    ) {
        (Some(TT_JWT | TT_ACCESS_TOKEN | TT_ACCESS_TOKEN_IUA), _) | (_, Some(TT_SAML2)) => {
            Direction::JwtToSaml
        }
        _ => Direction::SamlToJwt,
    }
}

fn parse(form: &Form) -> Result<Exchange, Refusal> {
    match form.get("grant_type") {
        Some(GRANT_TOKEN_EXCHANGE) => {}
        Some(_) => {
            return Err(Refusal {
                rejection: Rejection::request(
                    "grant_type must be urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                code: "unsupported_grant_type",
            })
        }
        None => return Err(Rejection::request("parameter grant_type is required").into()),
    }
    let actor = match (form.get("actor_token"), form.get("actor_token_type")) {
        (None, None) => None,
        (Some(token), Some(TT_SAML2)) if !token.is_empty() => Some((token.to_string(), true)),
        (Some(token), Some(TT_JWT | TT_ACCESS_TOKEN | TT_ACCESS_TOKEN_IUA))
            if !token.is_empty() =>
        {
            Some((token.to_string(), false))
        }
        (Some(_), Some(other)) => {
            return Err(Rejection::request(format!(
                "actor_token_type {} is not supported",
                shown(other)
            ))
            .into())
        }
        // RFC 8693 §2.1: the type is required with an actor token and forbidden without one.
        (Some(_), None) => {
            return Err(Rejection::request("actor_token_type is required with actor_token").into())
        }
        (None, Some(_)) => {
            return Err(Rejection::request("actor_token_type is given without actor_token").into())
        }
    };
    let subject_token_type = form.required("subject_token_type")?;
    let subject_token = form.required("subject_token")?.to_string();
    let requested = form.get("requested_token_type");
    match subject_token_type {
        TT_SAML2 => {
            let issued_type = match requested {
                None | Some(TT_JWT) => TT_JWT,
                Some(TT_ACCESS_TOKEN) | Some(TT_ACCESS_TOKEN_IUA) => TT_ACCESS_TOKEN,
                Some(other) => {
                    return Err(Rejection::request(format!(
                        "requested_token_type {} is not supported for a SAML 2.0 subject_token",
                        shown(other)
                    ))
                    .into())
                }
            };
            Ok(Exchange {
                direction: Direction::SamlToJwt,
                subject_token_type: TT_SAML2,
                subject_token,
                issued_type,
                actor,
            })
        }
        t @ (TT_JWT | TT_ACCESS_TOKEN | TT_ACCESS_TOKEN_IUA) => match requested {
            None | Some(TT_SAML2) => Ok(Exchange {
                direction: Direction::JwtToSaml,
                subject_token_type: match t {
                    TT_JWT => TT_JWT,
                    TT_ACCESS_TOKEN => TT_ACCESS_TOKEN,
                    _ => TT_ACCESS_TOKEN_IUA,
                },
                subject_token,
                issued_type: TT_SAML2,
                actor,
            }),
            Some(other) => Err(Rejection::request(format!(
                "requested_token_type {} is not supported for a JWT subject_token (only {TT_SAML2})",
                shown(other)
            ))
            .into()),
        },
        other => Err(Rejection::request(format!("subject_token_type {} is not supported", shown(other))).into()),
    }
}

/// A token of the other kind than `subject_token_type` says is named for what it is, instead of failing
/// later for a reason that misleads ("not base64url", "longer than 8192 bytes").
fn kind_agrees(exchange: &Exchange) -> Result<(), Rejection> {
    let found = subject_token_kind(&exchange.subject_token);
    match (exchange.direction, found) {
        (Direction::SamlToJwt, TokenKind::Jwt(_)) => Err(Rejection::request(format!(
            "subject_token looks like a JWT, but subject_token_type says {TT_SAML2}"
        ))),
        (Direction::JwtToSaml, TokenKind::Saml) => Err(Rejection::request(format!(
            "subject_token looks like a SAML assertion, but subject_token_type says {}",
            exchange.subject_token_type
        ))),
        _ => Ok(()),
    }
}

fn refused(code: &'static str, rejection: &Rejection) -> HttpResponse {
    if code == "invalid_request" {
        error_response(rejection)
    } else {
        error_json(
            StatusCode::BAD_REQUEST,
            code,
            rejection.class,
            &rejection.message,
        )
    }
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
    gates: web::Data<super::shed::Gates>,
) -> HttpResponse {
    // Shed before reading the body: past the bound, waiting longer helps nobody.
    let Some(_pass) = gates.exchanges.try_enter() else {
        return gates.busy();
    };
    let mut request = ExchangeRequest {
        request_id: super::request_id_of(&req),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
        ..ExchangeRequest::default()
    };
    let mut asking = Asking::of(&req);
    let gw = gateway.into_inner();
    let body = super::read_body(payload, gw.server()).await;

    // Every attempt leaves one audit record, including those refused before a pipeline ran.
    let (form, exchange) = {
        let form = if req.content_type() != "application/x-www-form-urlencoded" {
            Err(Refusal::from(Rejection::request(
                "the token endpoint takes application/x-www-form-urlencoded",
            )))
        } else {
            match &body {
                Ok(body) => Form::parse(body).map_err(Refusal::from),
                Err(e) => Err(Refusal::from(e.clone())),
            }
        };
        let direction = form
            .as_ref()
            .map(direction_of)
            .unwrap_or(Direction::SamlToJwt);
        if let Ok(f) = &form {
            request.claimed_client = f.get("client_id").map(shown);
        }
        match form.and_then(|f| parse(&f).map(|e| (f, e))) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                let code = refusal.code;
                let audited = web::block(move || {
                    gw.pipeline()
                        .refuse_queued(direction, &request, refusal.rejection)
                })
                .await;
                return match audited {
                    Ok(finishing) => match finishing.settled().await {
                        Err(rejection) => refused(code, &rejection),
                        Ok(_) => error_response(&Rejection::internal(
                            "a refused request was issued a token",
                        )),
                    },
                    Err(_) => error_response(&Rejection::internal("the audit worker failed")),
                };
            }
        }
    };
    request.audience = form.get("audience").map(str::to_string);
    request.resource = form.get("resource").map(str::to_string);
    request.scope = form.get("scope").map(str::to_string);
    request.profile = form.get("profile").map(str::to_string);
    request.patient = form.get(PATIENT_PARAMETER).map(str::to_string);
    asking.credentials.client_id = form.get("client_id").map(str::to_string);
    asking.credentials.assertion_type = form.get("client_assertion_type").map(str::to_string);
    asking.credentials.assertion = form.get("client_assertion").map(str::to_string);
    let authorization = asking.credentials.authorization_scheme.clone();

    let issued_type = exchange.issued_type;
    let direction = exchange.direction;
    let worker = gw.clone();
    let result = web::block(move || {
        let gw = worker;
        let mut request = request;
        let pipeline = gw.pipeline();
        if let Err(rejection) = caller::identify(&gw, &asking, &mut request) {
            return pipeline.refuse_queued(direction, &request, rejection);
        }
        if let Err(e) = kind_agrees(&exchange) {
            return pipeline.refuse_queued(direction, &request, e);
        }
        request.actor = match exchange.actor {
            None => None,
            Some((token, false)) => Some(ActorToken::Jwt(token)),
            Some((token, true)) => match decode_base64_token(&token) {
                Ok(xml) => Some(ActorToken::Saml(xml)),
                Err(_) => {
                    let e = Rejection::parse("actor_token is not base64url");
                    return pipeline.refuse_queued(direction, &request, e);
                }
            },
        };
        match direction {
            Direction::SamlToJwt => match decode_base64_token(&exchange.subject_token) {
                Ok(xml) => pipeline.saml_to_jwt_queued(&xml, &request),
                Err(e) => pipeline.refuse_queued(direction, &request, e),
            },
            Direction::JwtToSaml => pipeline.jwt_to_saml_queued(&exchange.subject_token, &request),
        }
    })
    .await;
    // The blocking thread is back in its pool: the record waits for its group commit on this event loop.
    let result = match result {
        Ok(finishing) => Ok(finishing.settled().await),
        Err(e) => Err(e),
    };
    let (response, class) = match result {
        Ok(Ok(issued)) => {
            let (access_token, token_type) = match direction {
                // RFC 9449 §5: a DPoP-bound access token is of type DPoP.
                Direction::SamlToJwt if issued.dpop_bound => (issued.token, "DPoP"),
                Direction::SamlToJwt => (issued.token, "Bearer"),
                // A XUA assertion travels in a WS-Security header, not as an OAuth access token.
                Direction::JwtToSaml => (
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(issued.token.as_bytes()),
                    "N_A",
                ),
            };
            let ok = HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .insert_header(("Pragma", "no-cache"))
                .json(json!({
                    "access_token": access_token,
                    "issued_token_type": issued_type,
                    "token_type": token_type,
                    "expires_in": issued.expires_in,
                }));
            (ok, None)
        }
        Ok(Err(rejection)) => (error_response(&rejection), Some(rejection.class)),
        Err(_) => (
            error_response(&Rejection::internal("the translation worker failed")),
            None,
        ),
    };
    caller::decorate(response, &gw, authorization.as_deref(), class)
}
