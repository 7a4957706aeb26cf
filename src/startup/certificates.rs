//! Every certificate the running configuration holds, watched for expiry: the trusted issuers' (trust anchors)
//! and the gateway's own XUA signing certificates. What `/readyz` and `/metrics` say about them, and what
//! start-up and a reload log.
//!
//! An expiring certificate is a warning in `/readyz` (200): every instance of a cluster holds the same
//! configuration, so a 503 would take them all out of the load balancer at once, days before anything
//! stops working. Readiness fails only when a direction the configuration enables cannot work any more:
//! no trusted issuer has a valid certificate, or the current signing certificate is outside its validity
//! (a `next` certificate does not sign until it is promoted). An issuer whose own certificates all expired
//! is a warning: the others' assertions still verify.

use time::{Duration, OffsetDateTime};

use crate::clock::rfc3339;
use crate::observability::rotation::CertificateSample;
use crate::pipeline::{SamlInput, SamlOutput};
use crate::rotation::{Standing, Validity};

const TRUST_ANCHOR: &str = "saml_trust_anchor";
const SIGNING: &str = "saml_signing";

#[derive(Debug, Clone)]
struct Watched {
    role: &'static str,
    /// The trusted issuer's entity id, or the gateway's own for its signing certificates.
    issuer: String,
    /// `trusted` for anchors; `current`, `next` or `retired` for signing certificates.
    state: &'static str,
    sha256_prefix: String,
    validity: Validity,
}

impl Watched {
    fn describe(&self) -> String {
        if self.role == TRUST_ANCHOR {
            format!(
                "the certificate of trusted issuer {} (sha256 {}…)",
                self.issuer, self.sha256_prefix
            )
        } else {
            format!(
                "the {} XUA signing certificate (sha256 {}…)",
                self.state, self.sha256_prefix
            )
        }
    }
}

/// What `/readyz` shows for the certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateReport {
    /// Set when a direction can no longer work: readiness fails.
    pub error: Option<String>,
    /// Certificates that expire within the warning period, or that expired while others remain.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) struct CertificateWatch {
    items: Vec<Watched>,
    warning: Duration,
}

fn prefix(fingerprint: &str) -> String {
    fingerprint.chars().take(16).collect()
}

impl CertificateWatch {
    pub(super) fn new(
        saml_in: &SamlInput,
        saml_out: Option<&SamlOutput>,
        warning_days: u32,
    ) -> Self {
        let mut items = Vec::new();
        let mut issuers: Vec<&str> = saml_in.trust.issuers().collect();
        issuers.sort_unstable();
        for issuer in issuers {
            for anchor in saml_in.trust.anchors(issuer) {
                items.push(Watched {
                    role: TRUST_ANCHOR,
                    issuer: issuer.to_string(),
                    state: "trusted",
                    sha256_prefix: prefix(&anchor.sha256_fingerprint()),
                    validity: anchor.validity(),
                });
            }
        }
        if let Some(out) = saml_out {
            for (identity, state) in out.identities.entries() {
                items.push(Watched {
                    role: SIGNING,
                    issuer: out.issuer.clone(),
                    state: state.as_str(),
                    sha256_prefix: prefix(&identity.sha256_fingerprint()),
                    validity: identity.validity(),
                });
            }
        }
        Self {
            items,
            warning: Duration::days(i64::from(warning_days)),
        }
    }

    pub(super) fn warning_seconds(&self) -> i64 {
        self.warning.whole_seconds()
    }

    pub(super) fn report(&self, now: OffsetDateTime) -> CertificateReport {
        let mut report = CertificateReport::default();
        let anchors: Vec<&Watched> = self
            .items
            .iter()
            .filter(|w| w.role == TRUST_ANCHOR)
            .collect();
        let mut errors = Vec::new();
        if !anchors.is_empty() && !anchors.iter().any(|w| w.validity.contains(now)) {
            errors.push(
                "no trusted issuer has a certificate valid now: every assertion is refused"
                    .to_string(),
            );
        }
        for w in &self.items {
            let standing = w.validity.standing(now, self.warning);
            let what = w.describe();
            match standing {
                Standing::Valid => {}
                Standing::ExpiringSoon => {
                    let days = w.validity.remaining(now).whole_days();
                    report.warnings.push(format!(
                        "{what} expires at {} (in {days} days)",
                        rfc3339(w.validity.not_after)
                    ));
                }
                Standing::Expired | Standing::NotYetValid => {
                    let why = w.validity.why_not(now).unwrap_or_default();
                    if w.role == SIGNING && w.state == "current" {
                        errors.push(format!("{what} {why}: no assertion is issued"));
                    } else {
                        report.warnings.push(format!("{what} {why}"));
                    }
                }
            }
        }
        if !errors.is_empty() {
            report.error = Some(errors.join("; "));
        }
        report
    }

    /// Logs what is wrong or about to be, once (start-up and each reload).
    pub(super) fn log(&self, now: OffsetDateTime) {
        let report = self.report(now);
        if let Some(e) = &report.error {
            tracing::error!("{e}");
        }
        for w in &report.warnings {
            tracing::warn!("{w}");
        }
    }

    pub(super) fn samples(
        &self,
        now: OffsetDateTime,
    ) -> impl Iterator<Item = CertificateSample<'_>> {
        self.items.iter().map(move |w| CertificateSample {
            role: w.role,
            issuer: &w.issuer,
            state: w.state,
            sha256_prefix: &w.sha256_prefix,
            seconds_left: w.validity.remaining(now).whole_seconds(),
            standing: w.validity.standing(now, self.warning).as_str(),
        })
    }
}
