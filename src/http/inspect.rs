//! `POST /inspect`: an itemised report of any token, as JSON or (with `?format=text` or `Accept: text/plain`)
//! as text. Nothing is issued.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::errors::error_response;
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

pub async fn inspect(
    req: HttpRequest,
    payload: web::Payload,
    query: Result<web::Query<InspectQuery>, actix_web::Error>,
    gateway: web::Data<Gateway>,
    gates: web::Data<super::shed::Gates>,
) -> HttpResponse {
    // A bound of its own: inspections never hold more than a few blocking threads.
    let Some(_pass) = gates.inspections.try_enter() else {
        return gates.busy();
    };
    let Ok(query) = query else {
        return error_response(&Rejection::request(
            "the query string takes profile, format and at only",
        ));
    };
    let at = match query
        .at
        .as_deref()
        .map(|s| crate::saml::extract::parse_datetime("at", s))
        .transpose()
    {
        Ok(at) => at,
        Err(e) => return error_response(&e),
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
    let options = InspectOptions {
        profile: query.profile.clone(),
        at,
    };
    if let Some(p) = &options.profile {
        if gateway.pipeline().profiles().get(p).is_none() {
            return error_response(&Rejection::request(format!(
                "profile {} is not configured",
                crate::error::shown(p)
            )));
        }
    }
    let gw = gateway.into_inner();
    let body = match super::read_body(payload, gw.server()).await {
        Ok(body) => body,
        Err(rejection) => return error_response(&rejection),
    };
    match web::block(move || gw.pipeline().inspect(&body, &options)).await {
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
