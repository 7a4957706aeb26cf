//! `GET /readyz`: 200 when this instance can issue tokens now, 503 with the failing checks otherwise. A check
//! that passes with a warning (a certificate expiring soon) shows `{"warning": ...}` and stays 200.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::startup::Gateway;

pub async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let gw = gateway.into_inner();
    // The audit probe touches the database file: keep it off the async workers.
    let (checks, warnings) =
        match web::block(move || (gw.readiness_checks(), gw.readiness_warnings())).await {
            Ok(c) => c,
            Err(_) => (
                vec![("worker", Err("the readiness worker failed".to_string()))],
                Vec::new(),
            ),
        };
    let ready = checks.iter().all(|(_, r)| r.is_ok());
    let mut detail = Map::new();
    for (name, result) in checks {
        let warning = warnings.iter().find(|(n, _)| *n == name).map(|(_, w)| w);
        let v = match (result, warning) {
            (Ok(()), Some(w)) => json!({ "warning": w }),
            (Ok(()), None) => json!("ok"),
            (Err(reason), _) => json!({ "error": reason }),
        };
        detail.insert(name.to_string(), v);
    }
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": Value::Object(detail),
    });
    let mut res = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(("Cache-Control", "no-store")).json(body)
}
