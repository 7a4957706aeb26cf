//! Metrics of key rotation and reloads: configuration reloads by outcome, and every watched certificate's
//! time to expiry. Registered once in the gateway's registry and kept across reloads, like the registry.
//!
//! Labels name a certificate by its role, the issuer it belongs to (an entity id from the configuration),
//! its rotation state and the start of its SHA-256 fingerprint: never its subject, which may name a person.

use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use super::metrics::{Metrics, MetricsError};

/// How a reload ended (label `outcome` of `xua_config_reloads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration serves.
    Ok,
    /// The new configuration was refused; the previous one keeps serving.
    Refused,
}

impl ReloadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Ok => "ok",
            ReloadOutcome::Refused => "refused",
        }
    }
}

/// One watched certificate as the gauges show it.
#[derive(Debug, Clone, Copy)]
pub struct CertificateSample<'a> {
    pub role: &'static str,
    pub issuer: &'a str,
    pub state: &'static str,
    pub sha256_prefix: &'a str,
    /// Seconds until notAfter; negative once it has passed.
    pub seconds_left: i64,
    /// `valid`, `expiring`, `expired` or `not_yet_valid`.
    pub standing: &'static str,
}

pub struct RotationMetrics {
    reloads: IntCounterVec,
    expiry_seconds: IntGaugeVec,
    standing: IntGaugeVec,
    warning_seconds: prometheus::IntGauge,
    /// Held while the certificate gauges are rewritten and the registry rendered, so that two scrapes at once
    /// never see a half-written set.
    exporting: Mutex<()>,
}

impl std::fmt::Debug for RotationMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationMetrics").finish_non_exhaustive()
    }
}

const STANDINGS: [&str; 4] = ["valid", "expiring", "expired", "not_yet_valid"];

impl RotationMetrics {
    /// Registers the rotation metrics in `metrics`' registry (once per process: they outlive reloads).
    pub fn register(metrics: &Metrics) -> Result<Self, MetricsError> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "xua_config_reloads_total",
                "Configuration reloads (SIGHUP) by outcome: ok, or refused with the previous configuration still serving",
            ),
            &["outcome"],
        )?;
        let expiry_seconds = IntGaugeVec::new(
            Opts::new(
                "xua_certificate_expiry_seconds",
                "Seconds until a configured certificate's notAfter (negative once expired)",
            ),
            &["role", "issuer", "state", "sha256"],
        )?;
        let standing = IntGaugeVec::new(
            Opts::new(
                "xua_certificates",
                "Configured certificates by role and standing (valid, expiring within the warning period, expired, not yet valid)",
            ),
            &["role", "standing"],
        )?;
        let warning_seconds = prometheus::IntGauge::new(
            "xua_certificate_expiry_warning_seconds",
            "How long before a certificate's expiry /readyz and xua_certificates start to warn ([gateway] expiry_warning_days)",
        )?;
        let r = metrics.registry();
        r.register(Box::new(reloads.clone()))?;
        r.register(Box::new(expiry_seconds.clone()))?;
        r.register(Box::new(standing.clone()))?;
        r.register(Box::new(warning_seconds.clone()))?;
        for outcome in [ReloadOutcome::Ok, ReloadOutcome::Refused] {
            reloads.with_label_values(&[outcome.as_str()]);
        }
        Ok(Self {
            reloads,
            expiry_seconds,
            standing,
            warning_seconds,
            exporting: Mutex::new(()),
        })
    }

    pub fn reload(&self, outcome: ReloadOutcome) {
        self.reloads.with_label_values(&[outcome.as_str()]).inc();
    }

    /// Rewrites the certificate gauges from `samples` (the running configuration's certificates, measured
    /// now) and renders the whole registry.
    pub fn render_with<'a>(
        &self,
        metrics: &Metrics,
        warning_seconds: i64,
        samples: impl IntoIterator<Item = CertificateSample<'a>>,
    ) -> Result<String, MetricsError> {
        let _one = match self.exporting.lock() {
            Ok(g) => g,
            Err(e) => e.into_inner(),
        };
        // A reload may have dropped certificates: the gauges hold only those configured now.
        self.expiry_seconds.reset();
        self.standing.reset();
        self.warning_seconds.set(warning_seconds);
        let roles = ["saml_trust_anchor", "saml_signing"];
        for role in roles {
            for standing in STANDINGS {
                self.standing.with_label_values(&[role, standing]).set(0);
            }
        }
        for s in samples {
            self.expiry_seconds
                .with_label_values(&[s.role, s.issuer, s.state, s.sha256_prefix])
                .set(s.seconds_left);
            self.standing.with_label_values(&[s.role, s.standing]).inc();
        }
        metrics.render()
    }
}
