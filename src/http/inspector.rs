//! The inspector's page at `/inspector` (and `/`, which leads there): plain HTML, CSS and JavaScript compiled
//! into the binary, served by the gateway itself so no request of the page leaves it. The page only calls
//! `POST /inspect` and `GET /inspector/meta.json`. With `[inspector] enabled = false` every one of these
//! answers 404.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::errors::error_json;
use crate::error::ErrorClass;
use crate::inspect::catalog::{PENDING, RULES};
use crate::startup::Gateway;

const INDEX: &str = include_str!("inspector/index.html");
const SCRIPT: &str = include_str!("inspector/inspector.js");
const STYLE: &str = include_str!("inspector/inspector.css");
const ICON: &str = include_str!("inspector/icon.svg");

/// What every inspector route answers when the inspector is switched off.
pub fn switched_off() -> HttpResponse {
    error_json(
        StatusCode::NOT_FOUND,
        "not_found",
        ErrorClass::Request,
        "the inspector is switched off in this deployment ([inspector] enabled = false)",
    )
}

fn asset(gateway: &Gateway, content_type: &str, body: &'static str) -> HttpResponse {
    if !gateway.server().inspector {
        return switched_off();
    }
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

pub async fn root(gateway: web::Data<Gateway>) -> HttpResponse {
    if !gateway.server().inspector {
        return switched_off();
    }
    HttpResponse::SeeOther()
        .insert_header(("Location", "/inspector"))
        .finish()
}

pub async fn page(gateway: web::Data<Gateway>) -> HttpResponse {
    asset(&gateway, "text/html; charset=utf-8", INDEX)
}

pub async fn script(gateway: web::Data<Gateway>) -> HttpResponse {
    asset(&gateway, "text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style(gateway: web::Data<Gateway>) -> HttpResponse {
    asset(&gateway, "text/css; charset=utf-8", STYLE)
}

pub async fn icon(gateway: web::Data<Gateway>) -> HttpResponse {
    asset(&gateway, "image/svg+xml", ICON)
}

/// The profiles a participant may choose and the rule table the page lists.
pub async fn meta(gateway: web::Data<Gateway>) -> HttpResponse {
    if !gateway.server().inspector {
        return switched_off();
    }
    let profiles = gateway.pipeline().profiles();
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(json!({
            "profiles": profiles.names().collect::<Vec<_>>(),
            "default_profile": profiles.default_profile().name,
            "rules": RULES,
            "pending": PENDING,
        }))
}
