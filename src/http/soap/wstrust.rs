//! The WS-Trust 1.3 Issue endpoint: a RequestSecurityToken whose subject token (in OnBehalfOf, ActAs or the
//! `wsse:Security` header) is a XUA assertion or a JWT goes through the matching exchange; the answer is a
//! RequestSecurityTokenResponseCollection with the issued token, its Lifetime, TokenType and AppliesTo.
//! Refusals are WS-Trust faults (`soap::wstrust::fault_for`), each audited.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{fault_response, identify, packaging};
use crate::error::{ErrorClass, Rejection};
use crate::http::caller::Asking;
use crate::model::Direction;
use crate::pipeline::{ExchangeRequest, Finishing, Issued, SoapOrigin};
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
    // The blocking thread is back in its pool: the record waits for its group commit on this event loop.
    let answered = match answered {
        Ok(answering) => answering.settled().await,
        Err(_) => Err((
            fault_for(&Rejection::internal("the translation worker failed")),
            None,
        )),
    };
    drop(pass);
    match answered {
        Ok(envelope) => {
            let response = HttpResponse::Ok()
                .content_type("application/soap+xml; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body(envelope);
            super::super::caller::decorate(response, &gw, None, None)
        }
        Err((fault, relates_to)) => fault_response(&gw, &fault, relates_to.as_deref()),
    }
}

type Refusal = (Fault, Option<String>);

/// An RST's exchange, its record with the access-log store, and how to answer once the record is durable.
struct Answering {
    finishing: Finishing,
    relates_to: Option<String>,
    then: Then,
}

enum Then {
    /// A refusal: its WS-Trust fault.
    Refuse,
    /// A mustUnderstand header block that is not understood (this local name): SOAP's own fault.
    MustUnderstand(String),
    /// An issued token, in a RequestSecurityTokenResponseCollection.
    Respond {
        direction: Direction,
        token_type: String,
        context: Option<String>,
    },
}

impl Answering {
    fn refuse(finishing: Finishing, relates_to: Option<String>) -> Self {
        Self {
            finishing,
            relates_to,
            then: Then::Refuse,
        }
    }

    /// The RSTRC, or the fault, once the record is durable. A record that cannot be written is an
    /// UNAVAILABLE fault whatever the request was.
    async fn settled(self) -> Result<String, Refusal> {
        let Answering {
            finishing,
            relates_to,
            then,
        } = self;
        let settled = finishing.settled().await;
        match (settled, then) {
            (Err(e), Then::MustUnderstand(local)) if e.class != ErrorClass::Unavailable => {
                Err((Fault::must_understand(&local), relates_to))
            }
            (Err(e), _) => Err((fault_for(&e), relates_to)),
            (
                Ok(issued),
                Then::Respond {
                    direction,
                    token_type,
                    context,
                },
            ) => respond(
                &issued,
                direction,
                &token_type,
                context.as_deref(),
                relates_to,
            ),
            (Ok(_), _) => Err((
                fault_for(&Rejection::internal("a refused request was issued a token")),
                relates_to,
            )),
        }
    }
}

fn respond(
    issued: &Issued,
    direction: Direction,
    token_type: &str,
    context: Option<&str>,
    relates_to: Option<String>,
) -> Result<String, Refusal> {
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
            context,
        },
        ResponseShape::Collection,
        relates_to.as_deref(),
    )
    .map_err(|e| (fault_for(&e), relates_to))
}

fn answer(
    gw: &Gateway,
    endpoint: &crate::startup::WsTrustEndpoint,
    asking: &Asking,
    content_type: Option<&str>,
    body: Result<web::Bytes, Rejection>,
    mut request: ExchangeRequest,
) -> Answering {
    // Until the subject token is read, a refusal is recorded as the direction most RSTs ask for.
    let refuse = |request: &ExchangeRequest, direction, rejection, relates_to: Option<String>| {
        Answering::refuse(
            gw.pipeline().refuse_queued(direction, request, rejection),
            relates_to,
        )
    };
    let unread = Direction::SamlToJwt;
    let body = match packaging(content_type, false).and(body) {
        Ok(b) => b,
        Err(e) => return refuse(&request, unread, e, None),
    };
    let env = match crate::soap::scan(&body, &gw.soap().limits) {
        Ok(env) => env,
        Err(e) => return refuse(&request, unread, e, None),
    };
    let relates_to = env.message_id.clone();
    if let Some(soap) = request.soap.as_mut() {
        soap.action = env.action.clone();
    }
    if let Some(block) = not_understood(&env) {
        let local = block.local.clone();
        let why = Rejection::request("a mustUnderstand header block is not understood");
        return Answering {
            finishing: gw.pipeline().refuse_queued(unread, &request, why),
            relates_to,
            then: Then::MustUnderstand(local),
        };
    }
    let rst = match read_issue(&env) {
        Ok(rst) => rst,
        Err(e) => return refuse(&request, unread, e, relates_to),
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
        return refuse(&request, direction, e, relates_to);
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
        return refuse(&request, direction, e, relates_to);
    }
    let finishing = match &rst.subject {
        SubjectToken::Saml(cut) => gw
            .pipeline()
            .saml_to_jwt_queued(&cut.standalone(), &request),
        SubjectToken::Jwt(jwt) => gw.pipeline().jwt_to_saml_queued(jwt, &request),
    };
    let default_type = match direction {
        Direction::SamlToJwt => uri::VT_JWT,
        Direction::JwtToSaml => uri::TT_SAML2,
    };
    let token_type = rst
        .token_type
        .as_ref()
        .map_or(default_type, |t| t.uri.as_str())
        .to_string();
    Answering {
        finishing,
        relates_to,
        then: Then::Respond {
            direction,
            token_type,
            context: rst.context.clone(),
        },
    }
}
