//! Protocol checks on a verified assertion: validity window, audience, conditions, subject confirmation.
//!
//! Each check is a function of its own so the inspector can run them all and report each; the pipeline runs
//! them in order through [`check`] and stops at the first failure.

use time::{Duration, OffsetDateTime};

use super::view::AssertionView;
use crate::error::Rejection;
use crate::saml::uri;

/// What an incoming assertion must satisfy.
#[derive(Debug, Clone)]
pub struct SamlPolicy {
    /// Audiences the assertion must be addressed to (one per AudienceRestriction is enough).
    pub audiences: Vec<String>,
    /// Accepted SubjectConfirmationData Recipient values, besides the audiences.
    pub recipients: Vec<String>,
    pub confirmation_methods: Vec<String>,
    pub skew: Duration,
    /// Longest accepted validity (IssueInstant to NotOnOrAfter), like `[jwt.trust] max_lifetime_secs` for
    /// JWTs: a "never expires" assertion is refused rather than trusted (and remembered) for ever.
    pub max_lifetime: Duration,
}

fn at(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The facts the checks establish, for the rest of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// When the assertion (and its subject confirmation) stops being valid: no output may outlive it.
    pub expires: OffsetDateTime,
    pub not_before: Option<OffsetDateTime>,
    pub one_time_use: bool,
}

/// The checks by name, in the order the pipeline runs them.
pub const CHECKS: [&str; 4] = ["validity", "audience", "conditions", "subject"];

/// The validity window: IssueInstant, NotBefore, NotOnOrAfter with bounded skew. Returns the expiry.
pub fn check_validity(
    view: &AssertionView,
    policy: &SamlPolicy,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Rejection> {
    let skew = policy.skew;
    // Saturating: a clock or an `at` near the end of the representable range must not overflow.
    if view.issue_instant > now.saturating_add(skew) {
        return Err(Rejection::time(format!(
            "assertion was issued in the future ({})",
            at(view.issue_instant)
        )));
    }
    let Some(conditions) = &view.conditions else {
        return Err(Rejection::time(
            "assertion has no Conditions (no validity window)",
        ));
    };
    let Some(expires) = conditions.not_on_or_after else {
        return Err(Rejection::time(
            "assertion has no NotOnOrAfter; the gateway issues nothing without an expiry",
        ));
    };
    if let Some(nb) = conditions.not_before {
        if nb >= expires {
            return Err(Rejection::time(
                "assertion's NotBefore is not before its NotOnOrAfter",
            ));
        }
        if now.saturating_add(skew) < nb {
            return Err(Rejection::time(format!(
                "assertion is not valid before {}",
                at(nb)
            )));
        }
    }
    if now.saturating_sub(skew) >= expires {
        return Err(Rejection::time(format!(
            "assertion expired at {}",
            at(expires)
        )));
    }
    let lifetime = expires - view.issue_instant;
    if lifetime > policy.max_lifetime {
        return Err(Rejection::time(format!(
            "assertion is valid for {} s (IssueInstant to NotOnOrAfter), longer than the {} s this gateway \
             accepts ([saml] max_lifetime_secs)",
            lifetime.whole_seconds(),
            policy.max_lifetime.whole_seconds()
        )));
    }
    Ok(expires)
}

/// Every AudienceRestriction must name one of the gateway's audiences.
pub fn check_audience(view: &AssertionView, policy: &SamlPolicy) -> Result<(), Rejection> {
    let restrictions = view
        .conditions
        .as_ref()
        .map(|c| c.audience_restrictions.as_slice())
        .unwrap_or(&[]);
    if restrictions.is_empty() {
        return Err(Rejection::aud("assertion has no AudienceRestriction"));
    }
    for restriction in restrictions {
        if !restriction.iter().any(|a| policy.audiences.contains(a)) {
            return Err(Rejection::aud(
                "assertion is addressed to another audience than this gateway",
            ));
        }
    }
    Ok(())
}

/// Conditions the gateway must understand and honour: unknown ones, ProxyRestriction.
pub fn check_conditions(
    view: &AssertionView,
    requested_audience: Option<&str>,
) -> Result<(), Rejection> {
    let Some(conditions) = &view.conditions else {
        return Ok(());
    };
    if let Some(unknown) = conditions.unknown.first() {
        return Err(Rejection::claim(format!(
            "assertion has a condition the gateway does not understand: {}",
            crate::error::shown(unknown)
        )));
    }
    if let Some(proxy) = &conditions.proxy_restriction {
        if proxy.count == Some(0) {
            return Err(Rejection::claim(
                "ProxyRestriction Count=\"0\" forbids issuing a token from this assertion",
            ));
        }
        if !proxy.audiences.is_empty() {
            let allowed =
                requested_audience.is_some_and(|a| proxy.audiences.iter().any(|p| p == a));
            if !allowed {
                return Err(Rejection::claim(
                    "ProxyRestriction does not allow the requested audience",
                ));
            }
        }
    }
    Ok(())
}

/// A Subject NameID and one SubjectConfirmation of an accepted method that is valid now. Returns the
/// confirmation's NotOnOrAfter, when it has one.
pub fn check_subject(
    view: &AssertionView,
    policy: &SamlPolicy,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, Rejection> {
    let skew = policy.skew;
    if view.name_id.as_deref().is_none_or(str::is_empty) {
        return Err(Rejection::subj("assertion has no Subject NameID"));
    }
    let mut reason = "assertion has no SubjectConfirmation with an accepted method".to_string();
    for c in &view.confirmations {
        if !policy.confirmation_methods.contains(&c.method) {
            if c.method == uri::CM_HOLDER_OF_KEY {
                reason = "holder-of-key confirmation cannot be proven to this gateway".to_string();
            }
            continue;
        }
        if let Some(noa) = c.not_on_or_after {
            if now.saturating_sub(skew) >= noa {
                reason = format!("subject confirmation expired at {}", at(noa));
                continue;
            }
        }
        if let Some(nb) = c.not_before {
            if now.saturating_add(skew) < nb {
                reason = format!("subject confirmation is not valid before {}", at(nb));
                continue;
            }
        }
        if let Some(recipient) = &c.recipient {
            if !policy.recipients.contains(recipient) && !policy.audiences.contains(recipient) {
                reason = "subject confirmation names another Recipient".to_string();
                continue;
            }
        }
        if c.in_response_to.is_some() {
            reason =
                "subject confirmation answers a request this gateway never sent (InResponseTo)"
                    .to_string();
            continue;
        }
        return Ok(c.not_on_or_after);
    }
    Err(Rejection::subj(reason))
}

/// All checks, in order, stopping at the first failure.
pub fn check(
    view: &AssertionView,
    policy: &SamlPolicy,
    requested_audience: Option<&str>,
    now: OffsetDateTime,
) -> Result<Checked, Rejection> {
    let mut expires = check_validity(view, policy, now)?;
    check_audience(view, policy)?;
    check_conditions(view, requested_audience)?;
    if let Some(noa) = check_subject(view, policy, now)? {
        expires = expires.min(noa);
    }
    let conditions = view.conditions.as_ref();
    Ok(Checked {
        expires,
        not_before: conditions.and_then(|c| c.not_before),
        one_time_use: conditions.is_some_and(|c| c.one_time_use),
    })
}
