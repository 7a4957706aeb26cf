//! Where an issued token goes and what it may do there: RFC 8693's `audience` and `resource` (two ways to
//! name the target) and `scope`, checked against the targets start-up resolved from configuration. A
//! per-client policy can narrow what [`Targets::resolve`] allows by handing it a smaller [`Targets`].

use std::collections::HashMap;

use super::ExchangeRequest;
use crate::error::{shown, Rejection};
use crate::model::AccessContext;

/// The audiences one direction issues for (the first is the default) and the scopes each of them allows.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub audiences: Vec<String>,
    /// Scopes a caller may ask for, per audience; an audience without an entry allows none.
    pub scopes: HashMap<String, Vec<String>>,
}

/// What an exchange issues for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub audience: String,
    /// The scope granted, when the request asked for one: it replaces the subject token's in the model
    /// and so in the issued token. `None` keeps the subject token's scope as the profile carries it.
    pub scope: Option<Vec<String>>,
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, separated by single spaces.
fn scope_tokens(scope: &str) -> Result<Vec<String>, Rejection> {
    let nqchar = |c: char| matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
    let mut tokens: Vec<String> = Vec::new();
    for token in scope.split(' ') {
        if token.is_empty() || !token.chars().all(nqchar) {
            return Err(Rejection::scope(
                "scope is not a list of scope tokens separated by single spaces (RFC 6749 §3.3)",
            ));
        }
        if !tokens.iter().any(|t| t == token) {
            tokens.push(token.to_string());
        }
    }
    Ok(tokens)
}

impl Targets {
    /// The target a request names (by `audience`, by `resource`, or by both when they agree), else the
    /// default; and the scope it asks for, each token of which the target must allow. `what` names the
    /// kind of token in messages.
    pub fn resolve(&self, request: &ExchangeRequest, what: &str) -> Result<Target, Rejection> {
        let named = match (request.audience.as_deref(), request.resource.as_deref()) {
            (Some(a), Some(r)) if a != r => return Err(Rejection::target(
                "audience and resource name different targets; this gateway issues a token for one",
            )),
            (Some(a), _) => Some(("audience", a)),
            (None, Some(r)) => Some(("resource", r)),
            (None, None) => None,
        };
        let audience =
            match named {
                None => self.audiences.first().cloned().ok_or_else(|| {
                    Rejection::internal(format!("no {what} audience is configured"))
                })?,
                Some((_, a)) if self.audiences.iter().any(|x| x == a) => a.to_string(),
                Some((parameter, a)) => {
                    return Err(Rejection::target(format!(
                        "{parameter} {} is not one this gateway issues {what}s for",
                        shown(a)
                    )))
                }
            };
        let scope = self.scope_for(&audience, request.scope.as_deref())?;
        Ok(Target { audience, scope })
    }

    /// The scope a request asks for, each token of which `audience` must allow (`None` when it asks for
    /// none).
    pub fn scope_for(
        &self,
        audience: &str,
        requested: Option<&str>,
    ) -> Result<Option<Vec<String>>, Rejection> {
        let Some(requested) = requested else {
            return Ok(None);
        };
        let tokens = scope_tokens(requested)?;
        let allowed = self.scopes.get(audience).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(refused) = tokens.iter().find(|t| !allowed.contains(t)) {
            return Err(Rejection::scope(format!(
                "scope {} is not one this gateway grants for audience {}",
                shown(refused),
                shown(audience)
            )));
        }
        Ok(Some(tokens))
    }
}

/// Puts a granted scope into the model (`session.scope`), from where the profile writes it into the issued
/// token; refused when the profile carries no scope in that kind of token (`what`), since a grant that
/// cannot be carried would be silently lost.
pub(super) fn grant_scope(
    context: &mut AccessContext,
    granted: Option<Vec<String>>,
    profile_writes_scope: bool,
    what: &str,
) -> Result<(), Rejection> {
    let Some(scope) = granted else {
        return Ok(());
    };
    if !profile_writes_scope {
        return Err(Rejection::scope(format!(
            "the profile carries no scope in {what}, so none can be granted"
        )));
    }
    context.session.scope = scope;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    fn targets() -> Targets {
        Targets {
            audiences: vec!["https://api/a".into(), "https://api/b".into()],
            scopes: HashMap::from([("https://api/a".into(), vec!["read".into(), "write".into()])]),
        }
    }

    fn ask(
        audience: Option<&str>,
        resource: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Target, ErrorClass> {
        let request = ExchangeRequest {
            audience: audience.map(str::to_string),
            resource: resource.map(str::to_string),
            scope: scope.map(str::to_string),
            ..ExchangeRequest::default()
        };
        targets().resolve(&request, "JWT").map_err(|e| e.class)
    }

    #[test]
    fn resource_names_the_target_like_audience() {
        assert_eq!(ask(None, None, None).unwrap().audience, "https://api/a");
        assert_eq!(
            ask(None, Some("https://api/b"), None).unwrap().audience,
            "https://api/b"
        );
        assert_eq!(
            ask(Some("https://api/b"), Some("https://api/b"), None)
                .unwrap()
                .audience,
            "https://api/b"
        );
        assert_eq!(
            ask(None, Some("https://other"), None),
            Err(ErrorClass::Target)
        );
        assert_eq!(
            ask(Some("https://api/a"), Some("https://api/b"), None),
            Err(ErrorClass::Target)
        );
    }

    #[test]
    fn scope_must_be_allowed_for_the_target() {
        assert_eq!(ask(None, None, None).unwrap().scope, None);
        assert_eq!(
            ask(None, None, Some("write read write")).unwrap().scope,
            Some(vec!["write".to_string(), "read".to_string()])
        );
        assert_eq!(ask(None, None, Some("read admin")), Err(ErrorClass::Scope));
        // An audience without scopes configured grants none.
        assert_eq!(
            ask(Some("https://api/b"), None, Some("read")),
            Err(ErrorClass::Scope)
        );
        for malformed in ["", " read", "read  write", "re\"ad", "read\twrite", "lés"] {
            assert_eq!(
                ask(None, None, Some(malformed)),
                Err(ErrorClass::Scope),
                "{malformed:?}"
            );
        }
    }
}
