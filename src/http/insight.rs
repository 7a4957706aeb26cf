//! `POST /audit/insight` (form: `patient`, `lang` nb|en, `format` json|text|html, and the client's
//! authentication as at `/token`: `client_assertion_type` + `client_assertion`, or mutual TLS): a patient's
//! insight report for a client whose `[[clients]]` entry has `insight_reports = true` (a patient portal).
//! A form, not a query string, so the patient's identifier never stands in a URL (proxy and server logs).
//! Off unless `[insight] enabled`; every request, answered or refused, is recorded in the access log. The
//! work is `reports::service::InsightService::answer`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::caller::Asking;
use super::errors::{error_json, error_response};
use crate::error::{ErrorClass, Rejection};
use crate::reports::service::{Asker, InsightQuery};
use crate::startup::Gateway;

/// The form; an unknown or repeated parameter is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    #[serde(default)]
    patient: String,
    lang: Option<String>,
    format: Option<String>,
    client_id: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

fn parse(body: &[u8]) -> Result<Form, Rejection> {
    serde_urlencoded::from_bytes(body).map_err(|_| {
        Rejection::request(
            "the request body must be a form (application/x-www-form-urlencoded) with patient, lang, \
             format and the client's authentication, each parameter at most once",
        )
    })
}

pub async fn insight(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    body: web::Bytes,
) -> HttpResponse {
    if gateway.insight().is_none() {
        return error_json(
            StatusCode::NOT_FOUND,
            "not_found",
            ErrorClass::Request,
            "insight reports over HTTP are switched off in this deployment ([insight] enabled = false)",
        );
    }
    let form = match parse(&body) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let request_id = super::request_id_of(&req);
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let mut asking = Asking::of(&req);
    asking.credentials.client_id = form.client_id;
    asking.credentials.assertion_type = form.client_assertion_type;
    asking.credentials.assertion = form.client_assertion;
    let query = InsightQuery {
        patient: form.patient,
        lang: form.lang,
        format: form.format,
    };
    let gw = gateway.into_inner();
    // Client assertions are verified (and their `jti` stored) and the log is read: the blocking pool's work.
    let answer = web::block(move || {
        let Some(service) = gw.insight() else {
            return Err(Rejection::internal("the insight report is switched off"));
        };
        let pipeline = gw.pipeline();
        let now = pipeline.now();
        let registry = &gw.callers().registry;
        let authenticated = registry
            .authenticate(&asking.credentials, pipeline.replay_cache().as_ref(), now)
            .and_then(|c| {
                c.ok_or_else(|| {
                    Rejection::client(
                        "this gateway registers no clients, so none can be given an insight report",
                    )
                })
            });
        let claimed = registry.claimed(&asking.credentials);
        let thumbprint = asking
            .credentials
            .certificate
            .as_ref()
            .map(|c| c.thumbprint.clone());
        let asker = Asker {
            client: authenticated.as_ref().map_err(Clone::clone),
            claimed: claimed.as_deref(),
            certificate: thumbprint.as_deref(),
            peer: peer.as_deref(),
        };
        service.answer(&query, &asker, &request_id, now)
    })
    .await;
    match answer {
        Ok(Ok(a)) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header(("Cache-Control", "no-store"))
            .body(a.body),
        Ok(Err(r)) if r.class == ErrorClass::Forbidden => {
            error_json(StatusCode::FORBIDDEN, "access_denied", r.class, &r.message)
        }
        Ok(Err(r)) => error_response(&r),
        Err(_) => error_response(&Rejection::internal("the insight report could not be made")),
    }
}
