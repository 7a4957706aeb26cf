//! The WS-Trust 1.3 Issue endpoint: a RequestSecurityToken whose subject token (in OnBehalfOf, ActAs or the
//! `wsse:Security` header) is a XUA assertion or a JWT goes through the matching exchange; the answer is a
//! RequestSecurityTokenResponseCollection with the issued token, its Lifetime, TokenType and AppliesTo.
//! Refusals are WS-Trust faults (`soap::wstrust::fault_for`), each audited.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{fault_response, identify, packaging};
use crate::error::Rejection;
use crate::http::caller::Asking;
use crate::model::Direction;
use crate::pipeline::{ExchangeRequest, SoapOrigin};
use crate::soap::fault::Fault;
use crate::soap::uri;
use crate::soap::wstrust::{
    fault_for, not_understood, read_issue, response_envelope, IssueResponse, IssuedToken,
    ResponseShape, SubjectToken, TokenKind,
};
use crate::startup::Gateway;

pub async fn issue(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
    gates: web::Data<crate::http::shed::Gates>,
) -> HttpResponse {
    // The same admission as /token: the SOAP endpoints run exchanges on the same blocking pool.
    let Some(pass) = gates.exchanges.try_enter() else {
        return gates.busy();
    };
    let gw = gateway.into_inner();
    let Some(endpoint) = gw.soap().ws_trust.clone() else {
        return HttpResponse::NotFound().finish();
    };
    let request = ExchangeRequest {
        request_id: crate::http::request_id_of(&req),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
        soap: Some(SoapOrigin::default()),
        ..ExchangeRequest::default()
    };
    let asking = Asking::of(&req);
    let content_type = super::content_type(&req);
    let body = crate::http::read_body(payload, &super::body_settings(&gw)).await;
    let worker = gw.clone();
    let answered = web::block(move || {
        answer(
            &worker,
            &endpoint,
            &asking,
            content_type.as_deref(),
            body,
            request,
        )
    })
    .await;
    drop(pass);
    match answered {
        Ok(Ok(envelope)) => {
            let response = HttpResponse::Ok()
                .content_type("application/soap+xml; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body(envelope);
            super::super::caller::decorate(response, &gw, None, None)
        }
        Ok(Err((fault, relates_to))) => fault_response(&gw, &fault, relates_to.as_deref()),
        Err(_) => {
            let why = Rejection::internal("the translation worker failed");
            fault_response(&gw, &fault_for(&why), None)
        }
    }
}

type Refusal = (Fault, Option<String>);

fn answer(
    gw: &Gateway,
    endpoint: &crate::startup::WsTrustEndpoint,
    asking: &Asking,
    content_type: Option<&str>,
    body: Result<web::Bytes, Rejection>,
    mut request: ExchangeRequest,
) -> Result<String, Refusal> {
    // Until the subject token is read, a refusal is recorded as the direction most RSTs ask for.
    let refuse = |request: &ExchangeRequest, direction, rejection, relates_to: Option<String>| {
        let rejection = gw.pipeline().refuse(direction, request, rejection);
        (fault_for(&rejection), relates_to)
    };
    let unread = Direction::SamlToJwt;
    let body = match packaging(content_type, false).and(body) {
        Ok(b) => b,
        Err(e) => return Err(refuse(&request, unread, e, None)),
    };
    let env = match crate::soap::scan(&body, &gw.soap().limits) {
        Ok(env) => env,
        Err(e) => return Err(refuse(&request, unread, e, None)),
    };
    let relates_to = env.message_id.clone();
    if let Some(soap) = request.soap.as_mut() {
        soap.action = env.action.clone();
    }
    if let Some(block) = not_understood(&env) {
        let local = block.local.clone();
        let why = Rejection::request("a mustUnderstand header block is not understood");
        gw.pipeline().refuse(unread, &request, why);
        return Err((Fault::must_understand(&local), relates_to));
    }
    let rst = match read_issue(&env) {
        Ok(rst) => rst,
        Err(e) => return Err(refuse(&request, unread, e, relates_to)),
    };
    let direction = match &rst.subject {
        SubjectToken::Saml(_) => Direction::SamlToJwt,
        SubjectToken::Jwt(_) => Direction::JwtToSaml,
    };
    let wanted = rst.token_type.as_ref().map(|t| t.kind);
    let same_kind = matches!(
        (direction, wanted),
        (Direction::SamlToJwt, Some(TokenKind::Saml2))
            | (Direction::JwtToSaml, Some(TokenKind::Jwt))
    );
    if same_kind {
        let e = Rejection::request(
            "the requested TokenType is the subject token's own type: the gateway translates between SAML assertions and JWTs",
        );
        return Err(refuse(&request, direction, e, relates_to));
    }
    request.audience = rst.applies_to.clone();
    if let Err(e) = identify(
        gw,
        asking,
        endpoint.client.as_deref(),
        &endpoint.htu,
        None,
        &mut request,
    ) {
        return Err(refuse(&request, direction, e, relates_to));
    }
    let issued = match &rst.subject {
        SubjectToken::Saml(cut) => gw.pipeline().saml_to_jwt(&cut.standalone(), &request),
        SubjectToken::Jwt(jwt) => gw.pipeline().jwt_to_saml(jwt, &request),
    }
    .map_err(|e| (fault_for(&e), relates_to.clone()))?;
    let default_type = match direction {
        Direction::SamlToJwt => uri::VT_JWT,
        Direction::JwtToSaml => uri::TT_SAML2,
    };
    let token_type = rst
        .token_type
        .as_ref()
        .map_or(default_type, |t| t.uri.as_str());
    let token = match direction {
        Direction::SamlToJwt => IssuedToken::Jwt(&issued.token),
        Direction::JwtToSaml => IssuedToken::Saml {
            assertion: issued.token.as_bytes(),
            id: Some(&issued.token_id),
        },
    };
    response_envelope(
        &IssueResponse {
            token,
            token_type,
            applies_to: Some(&issued.audience),
            created: issued.valid_from,
            expires: issued.valid_until,
            context: rst.context.as_deref(),
        },
        ResponseShape::Collection,
        relates_to.as_deref(),
    )
    .map_err(|e| (fault_for(&e), relates_to))
}
