//! `GET /.well-known/oauth-authorization-server` (RFC 8414): the token endpoint, its keys, how clients
//! authenticate there, DPoP, certificate-bound tokens and the token types it exchanges.

use std::collections::BTreeSet;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::token::{GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_ACCESS_TOKEN_IUA, TT_JWT, TT_SAML2};
use crate::jwt::alg::ACCEPTED;
use crate::startup::Gateway;

fn alg_names(algs: &[jsonwebtoken::Algorithm]) -> Vec<&'static str> {
    ACCEPTED
        .iter()
        .filter(|(_, a)| algs.contains(a))
        .map(|(n, _)| *n)
        .collect()
}

pub async fn authorization_server(gateway: web::Data<Gateway>) -> HttpResponse {
    let callers = gateway.callers();
    let meta = gateway.metadata();
    let base = meta.public_url.trim_end_matches('/');
    let methods: BTreeSet<&str> = callers
        .registry
        .clients()
        .map(|c| c.method.as_str())
        .collect();
    let signing: BTreeSet<&str> = callers
        .registry
        .clients()
        .flat_map(|c| alg_names(&c.assertion_algorithms))
        .collect();
    let mut subject_types = vec![TT_SAML2];
    let mut issued_types = vec![TT_JWT, TT_ACCESS_TOKEN];
    if gateway.pipeline().saml_signing_certificate().is_some() {
        subject_types.extend([TT_JWT, TT_ACCESS_TOKEN, TT_ACCESS_TOKEN_IUA]);
        issued_types.push(TT_SAML2);
    }
    let mtls = gateway
        .server()
        .tls
        .as_ref()
        .is_some_and(|t| t.request_client_certificate);
    let body = json!({
        "issuer": meta.entity_id,
        "token_endpoint": callers.token_endpoint,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": [GRANT_TOKEN_EXCHANGE],
        // No authorization endpoint: RFC 8414 requires the member, and no response type is supported.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": signing,
        "dpop_signing_alg_values_supported": alg_names(&callers.dpop.algorithms),
        "tls_client_certificate_bound_access_tokens": mtls,
        "subject_token_types_supported": subject_types,
        "issued_token_types_supported": issued_types,
        "actor_token_types_supported": [TT_SAML2, TT_JWT, TT_ACCESS_TOKEN],
    });
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(body)
}
