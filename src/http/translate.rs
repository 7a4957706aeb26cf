//! `POST /translate`: for people and scripts. An XML assertion in gives a JWT out (`application/jwt`); a
//! JWT in gives a signed assertion out (`application/samlassertion+xml`). The client is the one its TLS
//! certificate or `?client_id=` names (or the anonymous client); client assertions and DPoP proofs belong
//! to `/token`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::caller::{self, Asking};
use super::errors::error_response;
use crate::error::Rejection;
use crate::model::Direction;
use crate::pipeline::sniff::{sniff, TokenKind};
use crate::pipeline::ExchangeRequest;
use crate::startup::Gateway;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateQuery {
    audience: Option<String>,
    profile: Option<String>,
    patient: Option<String>,
    client_id: Option<String>,
}

pub async fn translate(
    req: HttpRequest,
    payload: web::Payload,
    query: Result<web::Query<TranslateQuery>, actix_web::Error>,
    gateway: web::Data<Gateway>,
    gates: web::Data<super::shed::Gates>,
) -> HttpResponse {
    let Some(_pass) = gates.exchanges.try_enter() else {
        return gates.busy();
    };
    let mut exchange = ExchangeRequest {
        request_id: super::request_id_of(&req),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
        ..ExchangeRequest::default()
    };
    let mut asking = Asking::of(&req);
    let gw = gateway.into_inner();
    // Every attempt leaves one audit record, a malformed query string too.
    let Ok(query) = query else {
        let rejection = Rejection::request(
            "the query string takes audience, profile, patient and client_id only",
        );
        return refused(gw, Direction::SamlToJwt, exchange, rejection).await;
    };
    asking.credentials.client_id = query.client_id.clone();
    exchange.audience = query.audience.clone();
    exchange.profile = query.profile.clone();
    exchange.patient = query.patient.clone();
    let body = match super::read_body(payload, gw.server()).await {
        Ok(body) => body,
        Err(rejection) => return refused(gw, Direction::SamlToJwt, exchange, rejection).await,
    };
    if asking.proof.is_some() {
        let rejection = Rejection::proof(
            "POST /translate takes no DPoP proof: exchange a DPoP-bound token at /token",
        );
        return refused(gw, Direction::SamlToJwt, exchange, rejection).await;
    }
    let (result, content_type) = match sniff(&body) {
        TokenKind::Saml => (
            web::block(
                move || match caller::identify(&gw, &asking, &mut exchange) {
                    Ok(()) => gw.pipeline().saml_to_jwt_queued(&body, &exchange),
                    Err(r) => gw
                        .pipeline()
                        .refuse_queued(Direction::SamlToJwt, &exchange, r),
                },
            )
            .await,
            "application/jwt",
        ),
        TokenKind::Jwt(token) => (
            web::block(
                move || match caller::identify(&gw, &asking, &mut exchange) {
                    Ok(()) => gw.pipeline().jwt_to_saml_queued(&token, &exchange),
                    Err(r) => gw
                        .pipeline()
                        .refuse_queued(Direction::JwtToSaml, &exchange, r),
                },
            )
            .await,
            "application/samlassertion+xml",
        ),
        TokenKind::Unknown => {
            let rejection = Rejection::request(
                "POST /translate takes an XML assertion or a compact JWT as the body",
            );
            return refused(gw, Direction::SamlToJwt, exchange, rejection).await;
        }
    };
    // The blocking thread is back in its pool: the record waits for its group commit on this event loop.
    let result = match result {
        Ok(finishing) => Ok(finishing.settled().await),
        Err(e) => Err(e),
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
    match web::block(move || gw.pipeline().refuse_queued(direction, &exchange, rejection)).await {
        Ok(finishing) => match finishing.settled().await {
            Err(rejection) => error_response(&rejection),
            Ok(_) => error_response(&Rejection::internal("a refused request was issued a token")),
        },
        Err(_) => error_response(&Rejection::internal("the audit worker failed")),
    }
}
