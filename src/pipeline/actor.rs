//! Delegation (RFC 8693 §2.1, §4.1): an actor token, verified like a subject token, becomes the issued
//! JWT's `act` claim, with the actor token's own `act` nested inside it for a chain of delegations. XUA has
//! no place for an actor, so a SAML output refuses one rather than drop it.

use serde_json::{Map, Value};

use super::{policy, Exchange, Pipeline};
use crate::audit::ActorAudit;
use crate::error::Rejection;

/// An actor token as the request carried it (`actor_token_type` decides the kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorToken {
    Jwt(String),
    /// The assertion's XML (decoded from base64url).
    Saml(Vec<u8>),
}

fn prefixed(e: Rejection) -> Rejection {
    Rejection::new(e.class, format!("the actor token: {}", e.message))
}

impl Pipeline {
    /// The `act` claim for the issued JWT, from the request's actor token when it has one: the actor is
    /// verified with the trust of its own kind, may be bound to a key only as the subject token may
    /// (the request's proof), and must be allowed to act for subjects of `subject_issuer`.
    pub(super) fn actor_claim(
        &self,
        x: &mut Exchange<'_>,
        subject_issuer: &str,
        audience: &str,
    ) -> Result<Option<Value>, Rejection> {
        let Some(actor) = &x.request.actor else {
            return Ok(None);
        };
        if let Some(client) = &x.request.client {
            client.policy().check_actor(subject_issuer)?;
        }
        let (issuer, subject, nested) = match actor {
            ActorToken::Jwt(token) => {
                let v = self.verify_jwt(token, x.now).map_err(prefixed)?;
                policy::binding(x, v.claims()).map_err(prefixed)?;
                let nested = v.claims().get("act").cloned();
                (v.issuer.clone(), v.subject.clone(), nested)
            }
            ActorToken::Saml(xml) => {
                let v = self
                    .verify_assertion(xml, audience, x.now)
                    .map_err(prefixed)?;
                (v.view().issuer.clone(), v.view().name_id.clone(), None)
            }
        };
        x.record.actor = Some(ActorAudit {
            issuer: issuer.clone(),
            subject: subject.clone(),
        });
        let mut act = Map::new();
        if let Some(sub) = subject {
            act.insert("sub".into(), Value::String(sub));
        }
        act.insert("iss".into(), Value::String(issuer));
        match nested {
            Some(Value::Object(prior)) => {
                act.insert("act".into(), Value::Object(prior));
            }
            Some(_) => {
                return Err(Rejection::claim(
                    "the actor token's act claim must be an object",
                ))
            }
            None => {}
        }
        Ok(Some(Value::Object(act)))
    }
}
