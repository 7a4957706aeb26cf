//! A fastlege register asked over HTTP: `GET <url template with {patient}>`, the GP's HPR number read from the
//! JSON answer at a configured JSON pointer.
//!
//! Why `ureq`: the pipeline is synchronous (actix's blocking pool), and ureq is a plain blocking client, where
//! `reqwest::blocking` would start a hidden Tokio runtime per client; built with `native-tls` it reuses the
//! OpenSSL the XML-signature stack already links. Why `moka`: a maintained concurrent cache with TTL and size
//! bounds whose `try_get_with` also makes concurrent lookups of one patient share a single request.
//!
//! Every failure becomes a [`RegisterError`] that names no person and no URL (the URL holds the patient's
//! identifier); the rule engine then applies the configured policy.

use std::borrow::Cow;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{FastlegeRegister, RegisterError, RegisterStats};
use crate::rules::ident::HprNumber;

/// How to reach the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRegisterSettings {
    /// URL template; `{patient}` is replaced by the percent-encoded patient identifier. HTTPS, except for a
    /// loopback host (tests, a local sidecar).
    pub url: String,
    /// RFC 6901 JSON pointer to the GP's HPR number in the answer (`/gp/hprNumber`); a string or a number.
    pub hpr_pointer: String,
    /// Longest wait for the connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Longest wait for the whole exchange, connection included.
    pub timeout: Duration,
    /// How long an answer (including "no GP") is reused; zero turns the cache off.
    pub cache_ttl: Duration,
    /// Most patients kept in the cache.
    pub cache_capacity: u64,
    /// Most requests in flight at once.
    pub max_concurrent: usize,
    /// How long a lookup waits for a free slot before it counts as unavailable.
    pub queue_wait: Duration,
    /// Largest answer read.
    pub max_body_bytes: u64,
}

impl Default for HttpRegisterSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            hpr_pointer: String::new(),
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_millis(2000),
            cache_ttl: Duration::from_secs(300),
            cache_capacity: 10_000,
            max_concurrent: 8,
            queue_wait: Duration::from_millis(100),
            max_body_bytes: 64 * 1024,
        }
    }
}

const PLACEHOLDER: &str = "{patient}";

/// A counting semaphore: at most `max` permits out; a caller waits at most a given time for one.
#[derive(Debug)]
struct Gate {
    max: usize,
    busy: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(|e| e.into_inner());
        *busy = busy.saturating_sub(1);
        drop(busy);
        self.0.freed.notify_one();
    }
}

impl Gate {
    fn new(max: usize) -> Self {
        Self {
            max,
            busy: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    fn enter(&self, wait: Duration) -> Option<Permit<'_>> {
        let deadline = crate::clock::deadline(wait);
        // A poisoned lock only means a thread panicked while holding it; the count itself stays consistent.
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy >= self.max {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            busy = self
                .freed
                .wait_timeout(busy, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *busy += 1;
        Some(Permit(self))
    }
}

pub struct HttpRegister {
    settings: HttpRegisterSettings,
    agent: ureq::Agent,
    cache: Option<moka::sync::Cache<String, Option<HprNumber>>>,
    gate: Gate,
    stats: Arc<RegisterStats>,
}

impl std::fmt::Debug for HttpRegister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegister")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (a fødselsnummer is digits anyway).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn check_settings(s: &HttpRegisterSettings) -> Result<(), String> {
    if s.url.matches(PLACEHOLDER).count() != 1 {
        return Err(format!(
            "the register URL template must contain {PLACEHOLDER} exactly once"
        ));
    }
    let sample = s.url.replace(PLACEHOLDER, "00000000000");
    let uri: ureq::http::Uri = sample
        .parse()
        .map_err(|_| "the register URL template is not a valid URL".to_string())?;
    let host = uri.host().unwrap_or_default();
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if loopback => {}
        _ => {
            return Err(
                "the register URL must use https (plain http is allowed for a loopback host only)"
                    .to_string(),
            )
        }
    }
    if !(s.hpr_pointer.is_empty() || s.hpr_pointer.starts_with('/')) {
        return Err("hpr_pointer must be a JSON pointer: empty or starting with /".to_string());
    }
    if s.timeout.is_zero() || s.connect_timeout.is_zero() || s.connect_timeout > s.timeout {
        return Err(
            "the register timeouts must be positive, the connect timeout at most the total"
                .to_string(),
        );
    }
    if s.max_concurrent == 0 {
        return Err("max_concurrent must be at least 1".to_string());
    }
    if s.max_body_bytes == 0 {
        return Err("max_body_bytes must be at least 1".to_string());
    }
    Ok(())
}

impl HttpRegister {
    /// Checks the settings and prepares the client; `Err` says what is wrong with the configuration.
    pub fn new(settings: HttpRegisterSettings, stats: Arc<RegisterStats>) -> Result<Self, String> {
        check_settings(&settings)?;
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.timeout))
            // Statuses are answers to interpret here (404 is "no GP"), not transport errors.
            .http_status_as_error(false)
            // The URL carries a patient identifier: never follow it elsewhere, never through an ambient proxy.
            .max_redirects(0)
            .proxy(None)
            .user_agent("xua-gateway")
            .tls_config(tls)
            .build()
            .into();
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.cache_capacity)
                .time_to_live(settings.cache_ttl)
                .build()
        });
        Ok(Self {
            gate: Gate::new(settings.max_concurrent),
            settings,
            agent,
            cache,
            stats,
        })
    }

    pub fn stats(&self) -> &RegisterStats {
        &self.stats
    }

    fn fail(&self, error: RegisterError) -> RegisterError {
        let counter = match error {
            RegisterError::Timeout => &self.stats.timeouts,
            RegisterError::Saturated => &self.stats.saturated,
            _ => &self.stats.http_errors,
        };
        RegisterStats::bump(counter);
        error
    }

    fn transport(&self, e: ureq::Error) -> RegisterError {
        self.fail(match e {
            ureq::Error::Timeout(_) => RegisterError::Timeout,
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                RegisterError::Timeout
            }
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Io(_) => {
                RegisterError::Connect
            }
            ureq::Error::BodyExceedsLimit(_) => {
                RegisterError::Malformed(Cow::Borrowed("the answer is too large"))
            }
            ureq::Error::StatusCode(code) => RegisterError::Status(code),
            _ => RegisterError::Other(Cow::Borrowed("the HTTP exchange failed")),
        })
    }

    fn fetch(&self, patient: &str) -> Result<Option<HprNumber>, RegisterError> {
        let Some(_permit) = self.gate.enter(self.settings.queue_wait) else {
            return Err(self.fail(RegisterError::Saturated));
        };
        RegisterStats::bump(&self.stats.http_requests);
        let url = self
            .settings
            .url
            .replace(PLACEHOLDER, &encode_segment(patient));
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        match status {
            404 | 204 => return Ok(None),
            200..=299 => {}
            other => return Err(self.fail(RegisterError::Status(other))),
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(self.settings.max_body_bytes)
            .read_to_vec()
            .map_err(|e| self.transport(e))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let json: Value = serde_json::from_slice(&body).map_err(|_| {
            self.fail(RegisterError::Malformed(Cow::Borrowed(
                "the answer is not JSON",
            )))
        })?;
        let hpr = match json.pointer(&self.settings.hpr_pointer) {
            Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => {
                return Err(self.fail(RegisterError::Malformed(Cow::Borrowed(
                    "the value at the configured pointer is not an HPR number",
                ))))
            }
            // `{"gp": null}` for the pointer `/gp/hprNumber` is "no GP" too.
            None if null_on_the_way(&json, &self.settings.hpr_pointer) => return Ok(None),
            // A register that changed its answer's shape must not turn every GP into "no GP" silently.
            None => {
                return Err(self.fail(RegisterError::Malformed(Cow::Borrowed(
                    "the answer has nothing at the configured pointer",
                ))))
            }
        };
        HprNumber::parse(&hpr).map(Some).map_err(|_| {
            self.fail(RegisterError::Malformed(Cow::Borrowed(
                "the value at the configured pointer is not an HPR number",
            )))
        })
    }
}

/// Whether some prefix of `pointer` resolves to `null` in `json`.
fn null_on_the_way(json: &Value, pointer: &str) -> bool {
    pointer
        .match_indices('/')
        .skip(1)
        .any(|(i, _)| json.pointer(&pointer[..i]).is_some_and(Value::is_null))
}

impl FastlegeRegister for HttpRegister {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn gp_of(&self, patient: &str) -> Result<Option<HprNumber>, RegisterError> {
        let Some(cache) = &self.cache else {
            return self.fetch(patient);
        };
        let mut fetched = false;
        // Errors are not cached: the next request asks again.
        let answer = cache
            .try_get_with(patient.to_string(), || {
                fetched = true;
                self.fetch(patient)
            })
            .map_err(|e| (*e).clone());
        if !fetched {
            RegisterStats::bump(&self.stats.cache_hits);
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> HttpRegisterSettings {
        HttpRegisterSettings {
            url: url.to_string(),
            hpr_pointer: "/hpr".to_string(),
            ..HttpRegisterSettings::default()
        }
    }

    #[test]
    fn settings_are_checked() {
        let stats = Arc::new(RegisterStats::default());
        let new = |s: HttpRegisterSettings| HttpRegister::new(s, stats.clone()).map(|_| ());
        assert!(new(settings("https://flr.example/patients/{patient}/gp")).is_ok());
        assert!(new(settings("http://127.0.0.1:8099/gp/{patient}")).is_ok());
        assert!(new(settings("http://flr.example/patients/{patient}/gp"))
            .unwrap_err()
            .contains("https"));
        assert!(new(settings("https://flr.example/patients/gp"))
            .unwrap_err()
            .contains("{patient}"));
        let mut s = settings("https://flr.example/{patient}");
        s.hpr_pointer = "hpr".into();
        assert!(new(s).unwrap_err().contains("JSON pointer"));
        let mut s = settings("https://flr.example/{patient}");
        s.connect_timeout = Duration::from_secs(5);
        s.timeout = Duration::from_secs(1);
        assert!(new(s).is_err());
    }

    #[test]
    fn null_on_the_pointer_path() {
        let v: Value = serde_json::json!({"gp": null, "a": {"b": 1}});
        assert!(null_on_the_way(&v, "/gp/hprNumber"));
        assert!(!null_on_the_way(&v, "/a/c"));
        assert!(!null_on_the_way(&v, "/x/y"));
    }

    #[test]
    fn patient_is_percent_encoded() {
        assert_eq!(encode_segment("21868534521"), "21868534521");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn gate_bounds_concurrency_and_times_out() {
        let gate = Gate::new(1);
        let first = gate.enter(Duration::from_millis(10));
        assert!(first.is_some());
        assert!(gate.enter(Duration::from_millis(20)).is_none());
        drop(first);
        assert!(gate.enter(Duration::from_millis(10)).is_some());
    }
}
