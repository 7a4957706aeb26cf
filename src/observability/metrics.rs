//! Prometheus metrics (`GET /metrics`, text exposition format).
//!
//! Built on the `prometheus` crate with an explicit [`Registry`] per gateway rather than a process-global
//! recorder: tests run many gateways in one process and each must see only its own counts, and the registry
//! travels with the gateway like every other piece of state. Every label takes values from a fixed set
//! (directions, outcomes, error classes, stages, route patterns): never an identifier or a token id.

use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::error::ErrorClass;
use crate::model::{Direction, Outcome};

/// The pipeline's stages, in order (docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Verify,
    Decode,
    Rules,
    Encode,
    Sign,
    Audit,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Verify,
        Stage::Decode,
        Stage::Rules,
        Stage::Encode,
        Stage::Sign,
        Stage::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Verify => "verify",
            Stage::Decode => "decode",
            Stage::Rules => "rules",
            Stage::Encode => "encode",
            Stage::Sign => "sign",
            Stage::Audit => "audit",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Per-stage durations of one exchange: a few `Instant`s on the stack. Each [`lap`](Self::lap) charges the
/// time since the previous lap to the named stage; stages a request never reached are not observed.
#[derive(Debug, Clone, Copy)]
pub struct StageTimer {
    last: Instant,
    laps: [Option<Duration>; 6],
}

impl Default for StageTimer {
    fn default() -> Self {
        Self::start()
    }
}

impl StageTimer {
    pub fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: [None; 6],
        }
    }

    pub fn lap(&mut self, stage: Stage) {
        let now = Instant::now();
        let d = now.saturating_duration_since(self.last);
        if let Some(slot) = self.laps.get_mut(stage.index()) {
            *slot = Some(slot.unwrap_or_default() + d);
        }
        self.last = now;
    }

    /// Starts the next lap now without charging the time since the last one to any stage (a rejection
    /// leaves the failed stage's time unattributed rather than charged to the next stage measured).
    pub fn restart(&mut self) {
        self.last = Instant::now();
    }

    pub fn get(&self, stage: Stage) -> Option<Duration> {
        self.laps.get(stage.index()).copied().flatten()
    }
}

/// The outcome of one register lookup (label `outcome` of `xua_register_lookups_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// Fastlege: the practitioner is the patient's regular GP.
    Listed,
    /// Fastlege: the register answered: not the patient's GP.
    NotListed,
    /// HPR: the authorization is confirmed.
    Confirmed,
    /// HPR: the register does not confirm the authorization.
    NotAuthorized,
    /// Blocks: a block applies.
    Blocked,
    /// Blocks: no block applies.
    NotBlocked,
    /// Served from the lookup cache (counted beside the answer it gave).
    CacheHit,
    Timeout,
    Error,
}

impl RegisterOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterOutcome::Listed => "listed",
            RegisterOutcome::NotListed => "not-listed",
            RegisterOutcome::Confirmed => "confirmed",
            RegisterOutcome::NotAuthorized => "not-authorized",
            RegisterOutcome::Blocked => "blocked",
            RegisterOutcome::NotBlocked => "not-blocked",
            RegisterOutcome::CacheHit => "cache-hit",
            RegisterOutcome::Timeout => "timeout",
            RegisterOutcome::Error => "error",
        }
    }

    fn is_error(self) -> bool {
        matches!(self, RegisterOutcome::Timeout | RegisterOutcome::Error)
    }
}

/// Latency buckets from 50 µs to 10 s: the pipeline stages are sub-millisecond to a few milliseconds, an
/// fsync is milliseconds, a stalled disk or register is seconds.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 10.0,
    ]
}

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

pub struct Metrics {
    registry: Registry,
    exchanges: IntCounterVec,
    stage_seconds: HistogramVec,
    audit_write_seconds: HistogramVec,
    audit_commit_seconds: HistogramVec,
    audit_batch_records: Histogram,
    audit_queue_depth: IntGauge,
    register_lookups: IntCounterVec,
    register_errors: IntCounterVec,
    replay_cache_entries: IntGauge,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let exchanges = IntCounterVec::new(
            Opts::new(
                "xua_exchanges_total",
                "Translation attempts by direction, outcome and error class (none when issued)",
            ),
            &["direction", "outcome", "error_class"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "xua_stage_duration_seconds",
                "Time spent in each pipeline stage",
            )
            .buckets(latency_buckets()),
            &["direction", "stage"],
        )?;
        let audit_write_seconds = HistogramVec::new(
            HistogramOpts::new(
                "xua_audit_write_duration_seconds",
                "Time a request waits for its audit record to be durable",
            )
            .buckets(latency_buckets()),
            &["result"],
        )?;
        let audit_commit_seconds = HistogramVec::new(
            HistogramOpts::new(
                "xua_audit_commit_duration_seconds",
                "Time the audit writer spends on one group commit (insert + fsync)",
            )
            .buckets(latency_buckets()),
            &["result"],
        )?;
        let audit_batch_records = Histogram::with_opts(
            HistogramOpts::new(
                "xua_audit_batch_records",
                "Records committed per audit transaction",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0,
            ]),
        )?;
        let audit_queue_depth = IntGauge::new(
            "xua_audit_queue_depth",
            "Audit records waiting for the writer",
        )?;
        let register_lookups = IntCounterVec::new(
            Opts::new(
                "xua_register_lookups_total",
                "Register lookups (fastlege, hpr, blocks) by backend and outcome",
            ),
            &["register", "backend", "outcome"],
        )?;
        let register_errors = IntCounterVec::new(
            Opts::new(
                "xua_register_errors_total",
                "Register lookups that failed (timeout or error)",
            ),
            &["register", "backend"],
        )?;
        let replay_cache_entries = IntGauge::new(
            "xua_replay_cache_entries",
            "Token ids held by the replay cache",
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "xua_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let http_seconds = HistogramVec::new(
            HistogramOpts::new("xua_http_request_duration_seconds", "HTTP request latency")
                .buckets(latency_buckets()),
            &["route"],
        )?;
        registry.register(Box::new(exchanges.clone()))?;
        registry.register(Box::new(stage_seconds.clone()))?;
        registry.register(Box::new(audit_write_seconds.clone()))?;
        registry.register(Box::new(audit_commit_seconds.clone()))?;
        registry.register(Box::new(audit_batch_records.clone()))?;
        registry.register(Box::new(audit_queue_depth.clone()))?;
        registry.register(Box::new(register_lookups.clone()))?;
        registry.register(Box::new(register_errors.clone()))?;
        registry.register(Box::new(replay_cache_entries.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_seconds.clone()))?;
        Ok(Self {
            registry,
            exchanges,
            stage_seconds,
            audit_write_seconds,
            audit_commit_seconds,
            audit_batch_records,
            audit_queue_depth,
            register_lookups,
            register_errors,
            replay_cache_entries,
            http_requests,
            http_seconds,
        })
    }

    /// One finished exchange: its outcome and the time of every stage it reached.
    pub fn exchange(
        &self,
        direction: Direction,
        outcome: Outcome,
        class: Option<ErrorClass>,
        stages: &StageTimer,
    ) {
        self.exchanges
            .with_label_values(&[
                direction.as_str(),
                outcome.as_str(),
                class.map_or("none", |c| c.as_str()),
            ])
            .inc();
        for stage in Stage::ALL {
            if let Some(d) = stages.get(stage) {
                self.stage_seconds
                    .with_label_values(&[direction.as_str(), stage.as_str()])
                    .observe(d.as_secs_f64());
            }
        }
    }

    /// How long a request waited for its audit record.
    pub fn audit_write(&self, waited: Duration, ok: bool) {
        self.audit_write_seconds
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .observe(waited.as_secs_f64());
    }

    /// One group commit by the audit writer.
    pub fn audit_commit(&self, records: usize, took: Duration, ok: bool) {
        self.audit_commit_seconds
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .observe(took.as_secs_f64());
        if ok {
            self.audit_batch_records.observe(records as f64);
        }
    }

    pub fn audit_queue_depth(&self, depth: usize) {
        self.audit_queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// For the registers the rules ask. `register` is the register's fixed name (`fastlege`, `hpr`,
    /// `blocks`), `backend` the backend's (`file`, `http`, `none`).
    pub fn register_lookup(
        &self,
        register: &'static str,
        backend: &'static str,
        outcome: RegisterOutcome,
    ) {
        self.register_lookups
            .with_label_values(&[register, backend, outcome.as_str()])
            .inc();
        if outcome.is_error() {
            self.register_errors
                .with_label_values(&[register, backend])
                .inc();
        }
    }

    /// For the replay cache: its current number of entries.
    pub fn replay_cache_size(&self, entries: usize) {
        self.replay_cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// One HTTP request; `route` is the matched route pattern or `unmatched`.
    pub fn http_request(&self, route: &str, status: u16, took: Duration) {
        let route = Self::bounded_route(route);
        self.http_requests
            .with_label_values(&[route, status_label(status)])
            .inc();
        self.http_seconds
            .with_label_values(&[route])
            .observe(took.as_secs_f64());
    }

    /// Route labels come from the fixed route table; anything else is folded into one value.
    fn bounded_route(route: &str) -> &'static str {
        const KNOWN: [&str; 8] = [
            "/token",
            "/translate",
            "/inspect",
            "/.well-known/jwks.json",
            "/saml/metadata",
            "/healthz",
            "/readyz",
            "/metrics",
        ];
        KNOWN
            .iter()
            .find(|k| **k == route)
            .copied()
            .unwrap_or("other")
    }

    /// The registry, for metrics kept beside these (`observability::rotation`).
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// HTTP status as a label without allocating: the codes this service answers with, or the class.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        413 => "413",
        415 => "415",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_bounded_labels() {
        let m = Metrics::new().unwrap();
        let mut t = StageTimer::start();
        t.lap(Stage::Verify);
        t.lap(Stage::Decode);
        m.exchange(
            Direction::SamlToJwt,
            Outcome::Rejected,
            Some(ErrorClass::Sig),
            &t,
        );
        m.register_lookup("fastlege", "file", RegisterOutcome::Timeout);
        m.replay_cache_size(3);
        m.http_request("/some/21868534521", 404, Duration::from_millis(1));
        let text = m.render().unwrap();
        assert!(text.contains(
            r#"xua_exchanges_total{direction="saml-to-jwt",error_class="SIG",outcome="rejected"} 1"#
        ));
        assert!(text.contains(r#"stage="decode""#));
        assert!(!text.contains(r#"stage="sign""#));
        assert!(text.contains(r#"xua_register_errors_total{backend="file",register="fastlege"} 1"#));
        assert!(text.contains("xua_replay_cache_entries 3"));
        assert!(text.contains(r#"route="other""#));
        assert!(!text.contains("21868534521"));
    }
}
