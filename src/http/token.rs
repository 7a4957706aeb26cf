//! `POST /token`: RFC 8693 token exchange.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::json;

use super::errors::{error_json, error_response};
use super::RequestId;
use crate::error::{ErrorClass, Rejection};
use crate::gateway::{ExchangeRequest, Gateway};

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TT_SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
pub const TT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// IHE IUA writes the RFC's `access_token` with a hyphen (research/ihe.md F15); accepted as a synonym.
pub const TT_ACCESS_TOKEN_IUA: &str = "urn:ietf:params:oauth:token-type:access-token";
/// The extension parameter that names the patient when the JWT does not (HelseID leaves the patient out of
/// the attestation and sends it as a request parameter: research/norway.md §1.1).
pub const PATIENT_PARAMETER: &str = "patient";

/// The form, parsed strictly: every parameter at most once (RFC 6749 §3.2).
#[derive(Debug, Default)]
struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    fn parse(body: &[u8]) -> Result<Self, Rejection> {
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            Rejection::request(
                "the request body is not a valid form (application/x-www-form-urlencoded)",
            )
        })?;
        for (i, (k, _)) in params.iter().enumerate() {
            if params[..i].iter().any(|(other, _)| other == k) {
                return Err(Rejection::request(format!(
                    "parameter {} is given more than once",
                    shown(k)
                )));
            }
        }
        Ok(Self { params })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Rejection> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Rejection::request(format!("parameter {name} is required")))
    }
}

fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(60).collect()
}

/// base64url without padding as RFC 8693 and IUA require; padded and standard base64 are accepted too,
/// because Swiss `IHE-SAML` practice uses them (research/ihe.md §7.6).
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

pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    if req.content_type() != "application/x-www-form-urlencoded" {
        return error_json(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            ErrorClass::Request,
            "the token endpoint takes application/x-www-form-urlencoded",
        );
    }
    let form = match Form::parse(&body) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    match form.get("grant_type") {
        Some(GRANT_TOKEN_EXCHANGE) => {}
        Some(_) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                ErrorClass::Request,
                "grant_type must be urn:ietf:params:oauth:grant-type:token-exchange",
            )
        }
        None => return error_response(&Rejection::request("parameter grant_type is required")),
    }
    if form.get("actor_token").is_some() || form.get("actor_token_type").is_some() {
        return error_response(&Rejection::request(
            "actor tokens (delegation) are not supported",
        ));
    }
    let subject_token_type = match form.required("subject_token_type") {
        Ok(t) => t.to_string(),
        Err(e) => return error_response(&e),
    };
    let subject_token = match form.required("subject_token") {
        Ok(t) => t.to_string(),
        Err(e) => return error_response(&e),
    };
    let exchange = ExchangeRequest {
        audience: form.get("audience").map(str::to_string),
        profile: form.get("profile").map(str::to_string),
        patient: form.get(PATIENT_PARAMETER).map(str::to_string),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
    };

    match subject_token_type.as_str() {
        TT_SAML2 => {
            let issued_type = match form.get("requested_token_type") {
                None | Some(TT_JWT) => TT_JWT,
                Some(TT_ACCESS_TOKEN) | Some(TT_ACCESS_TOKEN_IUA) => TT_ACCESS_TOKEN,
                Some(other) => {
                    return error_response(&Rejection::request(format!(
                        "requested_token_type {} is not supported for a SAML 2.0 subject_token",
                        shown(other)
                    )))
                }
            };
            let xml = match decode_base64_token(&subject_token) {
                Ok(x) => x,
                Err(e) => return error_response(&e),
            };
            let gw = gateway.into_inner();
            let result = web::block(move || gw.saml_to_jwt(&xml, &exchange)).await;
            match result {
                Ok(Ok(issued)) => HttpResponse::Ok()
                    .insert_header(("Cache-Control", "no-store"))
                    .insert_header(("Pragma", "no-cache"))
                    .json(json!({
                        "access_token": issued.token,
                        "issued_token_type": issued_type,
                        "token_type": "Bearer",
                        "expires_in": issued.expires_in,
                    })),
                Ok(Err(rejection)) => error_response(&rejection),
                Err(_) => error_response(&Rejection::internal("the translation worker failed")),
            }
        }
        TT_JWT | TT_ACCESS_TOKEN | TT_ACCESS_TOKEN_IUA => {
            match form.get("requested_token_type") {
                None | Some(TT_SAML2) => {}
                Some(other) => {
                    return error_response(&Rejection::request(format!(
                        "requested_token_type {} is not supported for a JWT subject_token (only {TT_SAML2})",
                        shown(other)
                    )))
                }
            }
            let gw = gateway.into_inner();
            match web::block(move || gw.jwt_to_saml(&subject_token, &exchange)).await {
                Ok(Ok(issued)) => HttpResponse::Ok()
                    .insert_header(("Cache-Control", "no-store"))
                    .insert_header(("Pragma", "no-cache"))
                    .json(json!({
                        "access_token": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(issued.token.as_bytes()),
                        "issued_token_type": TT_SAML2,
                        // A XUA assertion travels in a WS-Security header, not as an OAuth access token.
                        "token_type": "N_A",
                        "expires_in": issued.expires_in,
                    })),
                Ok(Err(rejection)) => error_response(&rejection),
                Err(_) => error_response(&Rejection::internal("the translation worker failed")),
            }
        }
        other => error_response(&Rejection::request(format!(
            "subject_token_type {} is not supported",
            shown(other)
        ))),
    }
}
