//! `POST /inspect`: an itemised report of any token, as JSON or (with `?format=text` or `Accept: text/plain`)
//! as text. Nothing is issued, stored or logged but the method and path.
//!
//! The body is the token itself, or (with `Content-Type: application/json` and a string member `token`) a
//! request object `{"token", "key", "profile", "at"}`, which is how the page sends a participant's own key.
//! A bare JWT payload is still inspected as such when it has no `token` member.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::errors::error_response;
use super::inspector::switched_off;
use crate::error::Rejection;
use crate::inspect::{render_text, InspectOptions};
use crate::startup::Gateway;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectQuery {
    profile: Option<String>,
    format: Option<String>,
    /// RFC 3339 time to check validity windows against (old samples).
    at: Option<String>,
}

/// The JSON request object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InspectRequest {
    token: String,
    /// A certificate (PEM), public key (PEM) or JWKS to check the signature with, for this inspection only.
    key: Option<String>,
    profile: Option<String>,
    at: Option<String>,
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON body that is a request object rather than a JWT payload: it has a string member `token`.
fn request_object(body: &[u8]) -> Option<Result<InspectRequest, Rejection>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if !value.get("token").is_some_and(Value::is_string) {
        return None;
    }
    // serde's message may quote a value; the answer names the members only.
    Some(serde_json::from_value(value).map_err(|_| {
        Rejection::request("the request object takes the strings token, key, profile and at only")
    }))
}

fn one_of(a: Option<String>, b: Option<String>, name: &str) -> Result<Option<String>, Rejection> {
    match (a, b) {
        (Some(_), Some(_)) => Err(Rejection::request(format!(
            "{name} is given both in the query and in the request object"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

pub async fn inspect(
    req: HttpRequest,
    payload: web::Payload,
    query: Result<web::Query<InspectQuery>, actix_web::Error>,
    gateway: web::Data<Gateway>,
    gates: web::Data<super::shed::Gates>,
) -> HttpResponse {
    if !gateway.server().inspector {
        return switched_off();
    }
    // A bound of its own: inspections never hold more than a few blocking threads.
    let Some(_pass) = gates.inspections.try_enter() else {
        return gates.busy();
    };
    let Ok(web::Query(query)) = query else {
        return error_response(&Rejection::request(
            "the query string takes profile, format and at only",
        ));
    };
    let text = match query.format.as_deref() {
        Some("text") => true,
        Some("json") => false,
        Some(_) => return error_response(&Rejection::request("format is text or json")),
        None => req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.starts_with("text/plain")),
    };
    let gw = gateway.into_inner();
    let body = match super::read_body(payload, gw.server()).await {
        Ok(body) => body,
        Err(rejection) => return error_response(&rejection),
    };
    let (input, key, profile, at) = match is_json(&req).then(|| request_object(&body)).flatten() {
        None => (body.to_vec(), None, query.profile, query.at),
        Some(Err(e)) => return error_response(&e),
        Some(Ok(r)) => {
            let profile = match one_of(query.profile, r.profile, "profile") {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let at = match one_of(query.at, r.at, "at") {
                Ok(a) => a,
                Err(e) => return error_response(&e),
            };
            (r.token.into_bytes(), r.key, profile, at)
        }
    };
    let at = match at
        .as_deref()
        .map(|s| crate::saml::extract::parse_datetime("at", s))
        .transpose()
    {
        Ok(at) => at,
        Err(e) => return error_response(&e),
    };
    if let Some(p) = &profile {
        if gw.pipeline().profiles().get(p).is_none() {
            return error_response(&Rejection::request(format!(
                "profile {} is not configured",
                crate::error::shown(p)
            )));
        }
    }
    let options = InspectOptions { profile, at };
    let inspected = web::block(move || {
        gw.pipeline()
            .inspect_with_key(&input, &options, key.as_deref())
    })
    .await;
    match inspected {
        Ok(report) if text => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(render_text(&report)),
        Ok(report) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(report),
        Err(_) => error_response(&Rejection::internal("the inspection worker failed")),
    }
}
