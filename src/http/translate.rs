//! `POST /translate`: raw assertion XML in, JWT out (for people and scripts).

use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::errors::error_response;
use super::RequestId;
use crate::error::Rejection;
use crate::gateway::{ExchangeRequest, Gateway};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateQuery {
    audience: Option<String>,
    profile: Option<String>,
}

pub async fn translate(
    req: HttpRequest,
    body: web::Bytes,
    query: Result<web::Query<TranslateQuery>, actix_web::Error>,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    let Ok(query) = query else {
        return error_response(&Rejection::request(
            "the query string takes audience and profile only",
        ));
    };
    let exchange = ExchangeRequest {
        audience: query.audience.clone(),
        profile: query.profile.clone(),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
    };
    let looks_like_xml = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
        || body.starts_with("\u{FEFF}".as_bytes());
    if !looks_like_xml {
        return error_response(&Rejection::request(
            "POST /translate takes an XML assertion as the body",
        ));
    }
    let gw = gateway.into_inner();
    match web::block(move || gw.saml_to_jwt(&body, &exchange)).await {
        Ok(Ok(issued)) => HttpResponse::Ok()
            .content_type("application/jwt")
            .insert_header(("Cache-Control", "no-store"))
            .body(issued.token),
        Ok(Err(rejection)) => error_response(&rejection),
        Err(_) => error_response(&Rejection::internal("the translation worker failed")),
    }
}
