//! An XCA proxy route: a SOAP 1.2 ITI-38/39 (or XDS.b ITI-18/43) request with a JWT in `Authorization`
//! goes through the JWT → SAML exchange; its signed assertion replaces the request's security header, and
//! the request goes to the route's upstream, whose answer comes back unchanged and streamed. A request that
//! fails anywhere before the upstream is a Fault and is never forwarded; an upstream that cannot be reached,
//! does not answer in time or answers with a redirect is a Fault too.

use std::sync::Arc;

use actix_web::http::header::{HeaderName, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::{fault_response, identify, packaging, presented, upstream, Packaging, Scheme};
use crate::error::Rejection;
use crate::http::caller::Asking;
use crate::mapping::hl7::cx_format;
use crate::model::Direction;
use crate::pipeline::{ExchangeRequest, Finishing, Forwarding, Recording, SoapOrigin};
use crate::soap::fault::Fault;
use crate::soap::inject::{inject_security, Window};
use crate::soap::mtom::Multipart;
use crate::soap::xca::{self, XcaRequest};
use crate::startup::{Gateway, ProxyRoute};

/// The WS-Security Timestamp's window: the assertion's, at most this long.
const TIMESTAMP_LIFETIME: time::Duration = time::Duration::minutes(5);

/// A request ready to forward once its exchange's record is durable.
struct Ready {
    body: Vec<u8>,
    content_type: String,
    request: ExchangeRequest,
    token_id: String,
    message_id: Option<String>,
    issued: Finishing,
}

/// A request refused before the upstream, its records with the access-log store.
struct Refused {
    records: Refusal,
    message_id: Option<String>,
}

enum Refusal {
    /// The exchange refused (or never ran): its one record.
    Exchange(Finishing),
    /// The assertion was issued but could not be put into the message: the exchange's record, then the
    /// forwarding record that says it never left.
    NotSent {
        issued: Finishing,
        forwarding: Recording,
        why: Rejection,
    },
}

impl Refused {
    /// What to answer once the records are durable: the refusal, or UNAVAILABLE when a record failed.
    async fn settled(self) -> Rejection {
        match self.records {
            Refusal::Exchange(finishing) => match finishing.settled().await {
                Err(rejection) => rejection,
                Ok(_) => Rejection::internal("a refused request was issued a token"),
            },
            Refusal::NotSent {
                issued,
                forwarding,
                why,
            } => {
                let issued = issued.settled().await.err();
                let forwarded = forwarding.settled().await.err();
                issued.or(forwarded).unwrap_or(why)
            }
        }
    }
}

pub async fn forward(
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
    let Some(route) = gw.soap().route(req.path()).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    let request = ExchangeRequest {
        request_id: crate::http::request_id_of(&req),
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
        audience: route.audience.clone(),
        profile: route.profile.clone(),
        soap: Some(SoapOrigin {
            route: Some(route.path.clone()),
            access_token: true,
            ..SoapOrigin::default()
        }),
        ..ExchangeRequest::default()
    };
    let asking = Asking::of(&req);
    let content_type = super::content_type(&req);
    let token = presented(&req);
    let body = crate::http::read_body(payload, &super::body_settings(&gw)).await;

    let worker = gw.clone();
    let for_worker = route.clone();
    let prepared = web::block(move || {
        let input = Input {
            asking,
            content_type,
            token,
            body,
        };
        prepare(&worker, &for_worker, input, request)
    })
    .await;
    // The blocking thread is back in its pool: the records wait for their group commit on this event loop.
    let ready = match prepared {
        Ok(Ok(ready)) => ready,
        Ok(Err(refused)) => {
            let message_id = refused.message_id.clone();
            let rejection = refused.settled().await;
            return fault_response(
                &gw,
                &Fault::from_rejection(&rejection),
                message_id.as_deref(),
            );
        }
        Err(_) => {
            let why = Rejection::internal("the translation worker failed");
            return fault_response(&gw, &Fault::from_rejection(&why), None);
        }
    };
    let Ready {
        body,
        content_type,
        request,
        token_id,
        message_id,
        issued,
    } = ready;
    // Only a durable record lets the assertion out.
    if let Err(rejection) = issued.settled().await {
        return fault_response(
            &gw,
            &Fault::from_rejection(&rejection),
            message_id.as_deref(),
        );
    }

    drop(pass);
    let answer = upstream::send(&route, &content_type, body).await;
    let (status, failure) = match &answer {
        Ok(r) if r.status().is_redirection() => (
            Some(r.status().as_u16()),
            Some(Rejection::unavailable(format!(
                "the upstream answered with a redirect (HTTP {}), which the proxy does not follow",
                r.status().as_u16()
            ))),
        ),
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(why) => (None, Some(why.clone())),
    };
    // The record is built and queued on the blocking pool (a store may write there), and awaited here.
    let worker = gw.clone();
    let failed = failure.clone();
    let queued = web::block(move || {
        let what = match (&failed, status) {
            (None, Some(s)) => Forwarding::Answered(s),
            (Some(why), status) => Forwarding::Failed { status, why },
            (None, None) => {
                return Err(Rejection::internal("an answer without a status"));
            }
        };
        Ok(worker.pipeline().forwarded(&request, &token_id, what))
    })
    .await
    .unwrap_or_else(|_| Err(Rejection::internal("the audit worker failed")));
    let recorded = match queued {
        Ok(recording) => recording.settled().await,
        Err(e) => Err(e),
    };
    let failure = match (recorded, failure) {
        (Err(e), _) => Some(e),
        (Ok(()), f) => f,
    };
    match (failure, answer) {
        (Some(why), _) | (None, Err(why)) => {
            fault_response(&gw, &Fault::from_rejection(&why), message_id.as_deref())
        }
        (None, Ok(mut answer)) => relay(&route, &mut answer),
    }
}

/// The upstream's status, its Content-Type (and MIME-Version) and its body as it streams in.
fn relay(route: &Arc<ProxyRoute>, answer: &mut awc::ClientResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    if let Some(ct) = answer.headers().get(CONTENT_TYPE) {
        out.insert_header((CONTENT_TYPE, ct.clone()));
    }
    let mime = HeaderName::from_static("mime-version");
    if let Some(v) = answer.headers().get(&mime) {
        out.insert_header((mime, v.clone()));
    }
    out.insert_header(("Cache-Control", "no-store"));
    out.streaming(upstream::Relay::new(answer.take_payload(), route))
}

/// What the HTTP request brought, read on its own thread.
struct Input {
    asking: Asking,
    content_type: Option<String>,
    token: Result<(Scheme, String), Rejection>,
    body: Result<web::Bytes, Rejection>,
}

/// On the blocking pool: read the message, identify the caller, exchange the token, inject the assertion.
/// Every refusal is audited; the records are handed to the store, and the caller awaits them.
fn prepare(
    gw: &Gateway,
    route: &ProxyRoute,
    input: Input,
    mut request: ExchangeRequest,
) -> Result<Ready, Box<Refused>> {
    let refuse = |request: &ExchangeRequest, rejection: Rejection, message_id: Option<String>| {
        Box::new(Refused {
            records: Refusal::Exchange(gw.pipeline().refuse_queued(
                Direction::JwtToSaml,
                request,
                rejection,
            )),
            message_id,
        })
    };
    let limits = &gw.soap().limits;
    let content_type = input.content_type.unwrap_or_default();
    let package =
        match packaging(Some(&content_type), true).and_then(|p| input.body.map(|b| (p, b))) {
            Ok(p) => p,
            Err(e) => return Err(refuse(&request, e, None)),
        };
    let (packaging, body) = package;
    let multipart = match packaging {
        Packaging::Mtom => match Multipart::parse(&content_type, &body) {
            Ok(m) => Some(m),
            Err(e) => return Err(refuse(&request, e, None)),
        },
        Packaging::Plain => None,
    };
    let root = multipart.as_ref().map_or(&body[..], |m| m.root_bytes());
    let env = match crate::soap::scan(root, limits) {
        Ok(env) => env,
        Err(e) => return Err(refuse(&request, e, None)),
    };
    let message_id = env.message_id.clone();
    if let Some(soap) = request.soap.as_mut() {
        soap.action = env.action.clone();
    }
    let xca = match xca::read_request(&env) {
        Ok(x) => x,
        Err(e) => return Err(refuse(&request, e, message_id)),
    };
    // The query's patient goes in as the request's patient: the exchange refuses it when the token names
    // another, and takes it when the token names none.
    if let XcaRequest::Query(xca::Query {
        patient: Some(p), ..
    }) = &xca
    {
        match cx_format(p) {
            Ok(cx) => request.patient = Some(cx),
            Err(_) => {
                let e =
                    Rejection::claim("the query's patient id cannot be carried into the assertion");
                return Err(refuse(&request, e, message_id));
            }
        }
    }
    let (scheme, token) = match input.token {
        Ok(t) => t,
        Err(e) => return Err(refuse(&request, e, message_id)),
    };
    if let Some(soap) = request.soap.as_mut() {
        soap.presented_as_dpop = scheme == Scheme::Dpop;
    }
    if let Err(e) = identify(
        gw,
        &input.asking,
        route.client.as_deref(),
        &route.htu,
        Some((scheme, &token)),
        &mut request,
    ) {
        return Err(refuse(&request, e, message_id));
    }
    let issued = gw.pipeline().jwt_to_saml_queued(&token, &request);
    let assertion = match issued.to_answer() {
        Ok(assertion) => assertion,
        Err(_) => {
            return Err(Box::new(Refused {
                records: Refusal::Exchange(issued),
                message_id,
            }))
        }
    };
    let window = Window {
        created: assertion.valid_from,
        expires: assertion
            .valid_until
            .min(assertion.valid_from + TIMESTAMP_LIFETIME),
    };
    let injected =
        inject_security(&env, assertion.token.as_bytes(), &window).map(|root| match &multipart {
            Some(m) => m.with_root(&root),
            None => root,
        });
    let token_id = assertion.token_id.clone();
    match injected {
        Ok(body) => Ok(Ready {
            body,
            content_type,
            request,
            token_id,
            message_id,
            issued,
        }),
        Err(why) => {
            // The assertion was issued (and audited) but never leaves: say so in the log.
            let forwarding = gw.pipeline().forwarded(
                &request,
                &token_id,
                Forwarding::Failed {
                    status: None,
                    why: &why,
                },
            );
            Err(Box::new(Refused {
                records: Refusal::NotSent {
                    issued,
                    forwarding,
                    why,
                },
                message_id,
            }))
        }
    }
}
