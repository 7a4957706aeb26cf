//! `GET /audit/insight?patient=…&lang=nb|en&format=json|text|html`: a patient's insight report for a client
//! whose policy grants it (a patient portal). Off unless `[insight] enabled`; every request, answered or
//! refused, is recorded in the access log. The work is `reports::service::InsightService::answer`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::errors::{error_json, error_response};
use crate::error::ErrorClass;
use crate::reports::service::{ClientCredentials, InsightQuery, InsightRefusal};
use crate::startup::Gateway;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    patient: String,
    lang: Option<String>,
    format: Option<String>,
}

pub async fn insight(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    params: web::Query<Params>,
) -> HttpResponse {
    if gateway.insight().is_none() {
        return error_json(
            StatusCode::NOT_FOUND,
            "not_found",
            ErrorClass::Request,
            "insight reports over HTTP are switched off in this deployment ([insight] enabled = false)",
        );
    }
    let request_id = super::request_id_of(&req);
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let Params {
        patient,
        lang,
        format,
    } = params.into_inner();
    let query = InsightQuery {
        patient,
        lang,
        format,
    };
    let gw = gateway.into_inner();
    let answer = web::block(move || {
        let Some(service) = gw.insight() else {
            return Err(InsightRefusal::Denied("switched off".into()));
        };
        service.answer(
            &query,
            &ClientCredentials {
                authorization: authorization.as_deref(),
                peer: peer.as_deref(),
            },
            &request_id,
        )
    })
    .await;
    match answer {
        Ok(Ok(a)) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header(("Cache-Control", "no-store"))
            .body(a.body),
        Ok(Err(InsightRefusal::Denied(why))) => {
            error_json(StatusCode::FORBIDDEN, "access_denied", ErrorClass::Forbidden, &why)
        }
        Ok(Err(InsightRefusal::Rejected(r))) => error_response(&r),
        Err(_) => error_response(&crate::error::Rejection::internal(
            "the insight report could not be made",
        )),
    }
}
