//! `POST /translate`: for people and scripts. An XML assertion in gives a JWT out (`application/jwt`); a
//! JWT in gives a signed assertion out (`application/samlassertion+xml`).

use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::errors::error_response;
use super::RequestId;
use crate::error::Rejection;
use crate::gateway::{ExchangeRequest, Gateway};
use crate::model::Direction;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateQuery {
    audience: Option<String>,
    profile: Option<String>,
    patient: Option<String>,
}

/// What kind of token a body holds.
pub enum Input {
    Saml,
    Jwt(String),
    Unknown,
}

/// Tells an XML assertion from a compact JWT; anything else is refused before any parsing.
pub fn classify(body: &[u8]) -> Input {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = &body[start..];
    if rest.starts_with(b"<") || rest.starts_with("\u{FEFF}".as_bytes()) {
        return Input::Saml;
    }
    match std::str::from_utf8(rest) {
        Ok(text) => {
            let text = text.trim();
            if text.starts_with("ey") && text.bytes().filter(|b| *b == b'.').count() >= 2 {
                Input::Jwt(text.to_string())
            } else {
                Input::Unknown
            }
        }
        Err(_) => Input::Unknown,
    }
}

pub async fn translate(
    req: HttpRequest,
    payload: web::Payload,
    query: Result<web::Query<TranslateQuery>, actix_web::Error>,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    let Ok(query) = query else {
        return error_response(&Rejection::request(
            "the query string takes audience, profile and patient only",
        ));
    };
    let exchange = ExchangeRequest {
        audience: query.audience.clone(),
        profile: query.profile.clone(),
        patient: query.patient.clone(),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
    };
    let gw = gateway.into_inner();
    let body = match super::read_body(payload, super::body_limit(&gw)).await {
        Ok(body) => body,
        Err(rejection) => return refused(gw, Direction::SamlToJwt, exchange, rejection).await,
    };
    let (result, content_type) = match classify(&body) {
        Input::Saml => (
            web::block(move || gw.saml_to_jwt(&body, &exchange)).await,
            "application/jwt",
        ),
        Input::Jwt(token) => (
            web::block(move || gw.jwt_to_saml(&token, &exchange)).await,
            "application/samlassertion+xml",
        ),
        Input::Unknown => {
            let rejection = Rejection::request(
                "POST /translate takes an XML assertion or a compact JWT as the body",
            );
            return refused(gw, Direction::SamlToJwt, exchange, rejection).await;
        }
    };
    match result {
        Ok(Ok(issued)) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Cache-Control", "no-store"))
            .body(issued.token),
        Ok(Err(rejection)) => error_response(&rejection),
        Err(_) => error_response(&Rejection::internal("the translation worker failed")),
    }
}

/// A refusal before any pipeline ran still leaves its audit record, as on `/token`.
async fn refused(
    gw: std::sync::Arc<Gateway>,
    direction: Direction,
    exchange: ExchangeRequest,
    rejection: Rejection,
) -> HttpResponse {
    match web::block(move || gw.refuse(direction, &exchange, rejection)).await {
        Ok(rejection) => error_response(&rejection),
        Err(_) => error_response(&Rejection::internal("the audit worker failed")),
    }
}
