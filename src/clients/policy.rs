//! A client's exchange policy, declared in `[[clients]]` and deny by default: a list left out allows
//! nothing, `"*"` allows whatever the gateway itself allows. Each check names the rule that refused and
//! never the refused value.

use time::{Duration, OffsetDateTime};

use crate::error::Rejection;
use crate::model::Direction;

/// A list of allowed values: nothing when empty, anything with `"*"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed {
    any: bool,
    items: Vec<String>,
}

impl Allowed {
    pub fn new(items: &[String]) -> Self {
        Self {
            any: items.iter().any(|i| i == "*"),
            items: items.iter().filter(|i| *i != "*").cloned().collect(),
        }
    }

    pub fn allows(&self, value: &str) -> bool {
        self.any || self.items.iter().any(|i| i == value)
    }

    pub fn is_nothing(&self) -> bool {
        !self.any && self.items.is_empty()
    }
}

/// What one client may exchange.
#[derive(Debug, Clone, Default)]
pub struct ExchangePolicy {
    pub subject_issuers: Allowed,
    pub directions: Vec<Direction>,
    pub profiles: Allowed,
    pub audiences: Allowed,
    pub scopes: Allowed,
    pub required_scopes: Vec<String>,
    pub min_security_level: Option<u8>,
    pub max_lifetime: Option<Duration>,
    pub require_dpop: bool,
    pub actor_for_issuers: Allowed,
}

fn rule(name: &str, what: &str) -> String {
    format!("the client's policy (rule {name}) does not allow {what}")
}

impl ExchangePolicy {
    pub fn check_direction(&self, direction: Direction) -> Result<(), Rejection> {
        if self.directions.contains(&direction) {
            return Ok(());
        }
        Err(Rejection::policy(rule(
            "directions",
            &format!("{} exchanges", direction.as_str()),
        )))
    }

    pub fn check_profile(&self, profile: &str) -> Result<(), Rejection> {
        if self.profiles.allows(profile) {
            return Ok(());
        }
        Err(Rejection::policy(rule("profiles", "this mapping profile")))
    }

    pub fn check_subject_issuer(&self, issuer: &str) -> Result<(), Rejection> {
        if self.subject_issuers.allows(issuer) {
            return Ok(());
        }
        Err(Rejection::policy(rule(
            "subject_issuers",
            "subject tokens from this issuer",
        )))
    }

    /// The audience to issue for, narrowed by the policy: `chosen` is what the gateway's own list gave
    /// (the requested audience, or the gateway's default when none was requested). With no audience
    /// requested, the first of the gateway's audiences the client may have is used instead of a default it
    /// may not.
    pub fn narrow_audience(
        &self,
        chosen: String,
        requested: bool,
        gateway: &[String],
    ) -> Result<String, Rejection> {
        if self.audiences.allows(&chosen) {
            return Ok(chosen);
        }
        if !requested {
            if let Some(a) = gateway.iter().find(|a| self.audiences.allows(a)) {
                return Ok(a.clone());
            }
        }
        Err(Rejection::target(rule("audiences", "this audience")))
    }

    /// The `scope` parameter: every requested scope must be one the client may request.
    pub fn check_requested_scopes(&self, requested: Option<&str>) -> Result<(), Rejection> {
        let Some(requested) = requested else {
            return Ok(());
        };
        if requested
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| self.scopes.allows(s))
        {
            return Ok(());
        }
        Err(Rejection::scope(rule("scopes", "a requested scope")))
    }

    /// The scopes the subject token carries must include every required one.
    pub fn check_required_scopes(&self, carried: &[String]) -> Result<(), Rejection> {
        if self
            .required_scopes
            .iter()
            .all(|r| carried.iter().any(|c| c == r))
        {
            return Ok(());
        }
        Err(Rejection::scope(
            "the subject token lacks a scope the client's policy requires (rule required_scopes)",
        ))
    }

    /// The subject token's security level (`session.security_level`) must reach the policy's minimum.
    pub fn check_security_level(&self, level: Option<&str>) -> Result<(), Rejection> {
        let Some(min) = self.min_security_level else {
            return Ok(());
        };
        match level.and_then(|l| l.trim().parse::<u8>().ok()) {
            Some(l) if l >= min => Ok(()),
            Some(_) => Err(Rejection::policy(format!(
                "the subject token's security level is below the {min} the client's policy requires (rule min_security_level)"
            ))),
            None => Err(Rejection::policy(
                "the subject token states no security level, and the client's policy requires one (rule min_security_level)",
            )),
        }
    }

    /// Whether the client may present an actor token for subject tokens from `issuer`.
    pub fn check_actor(&self, issuer: &str) -> Result<(), Rejection> {
        if self.actor_for_issuers.allows(issuer) {
            return Ok(());
        }
        Err(Rejection::policy(rule(
            "actor_for_issuers",
            "acting for subjects of this issuer",
        )))
    }

    /// No token issued to the client lives past its policy's cap.
    pub fn cap(&self, expires: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
        match self.max_lifetime {
            Some(m) => expires.min(now.saturating_add(m)),
            None => expires,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_allow_nothing_by_default_and_everything_with_a_star() {
        assert!(!Allowed::new(&[]).allows("x"));
        assert!(Allowed::new(&list(&["*"])).allows("x"));
        assert!(Allowed::new(&list(&["a"])).allows("a"));
        assert!(!Allowed::new(&list(&["a"])).allows("b"));
    }

    #[test]
    fn audiences_narrow_the_gateways_choice() {
        let p = ExchangePolicy {
            audiences: Allowed::new(&list(&["b"])),
            ..ExchangePolicy::default()
        };
        let gateway = list(&["a", "b"]);
        assert_eq!(
            p.narrow_audience("a".into(), false, &gateway).ok(),
            Some("b".into())
        );
        assert!(p.narrow_audience("a".into(), true, &gateway).is_err());
        assert_eq!(
            p.narrow_audience("b".into(), true, &gateway).ok(),
            Some("b".into())
        );
    }

    #[test]
    fn security_levels_and_scopes() {
        let p = ExchangePolicy {
            min_security_level: Some(4),
            scopes: Allowed::new(&list(&["read"])),
            required_scopes: list(&["exchange"]),
            ..ExchangePolicy::default()
        };
        assert!(p.check_security_level(Some("4")).is_ok());
        assert!(p.check_security_level(Some("3")).is_err());
        assert!(p.check_security_level(None).is_err());
        assert!(p.check_requested_scopes(Some("read")).is_ok());
        assert!(p.check_requested_scopes(Some("read write")).is_err());
        assert!(p.check_required_scopes(&list(&["exchange", "x"])).is_ok());
        assert!(p.check_required_scopes(&list(&["x"])).is_err());
    }
}
