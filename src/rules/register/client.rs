//! The HTTP transport every register shares (fastlege, HPR, access blocks): `GET <url template>` with one
//! placeholder for the identifier asked about, JSON answers read by a parser the register supplies, timeouts,
//! bounded concurrency and a TTL cache with its own, shorter TTL for negative answers ("not known", "none
//! listed").
//!
//! Why `ureq`: the pipeline is synchronous (actix's blocking pool), and ureq is a plain blocking client, where
//! `reqwest::blocking` would start a hidden Tokio runtime per client; built with `native-tls` it reuses the
//! OpenSSL the XML-signature stack already links. Why `moka`: a maintained concurrent cache with TTL and size
//! bounds, per-entry expiry (the negative TTL), and a `try_get_with` that makes concurrent lookups of one
//! key share a single request.
//!
//! Every failure becomes a [`RegisterError`] that names no person and no URL (the URL holds the identifier);
//! the rule that asked then applies its configured policy.

use std::borrow::Cow;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{RegisterError, RegisterStats};

/// How to reach a register over HTTP, whatever it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientSettings {
    /// URL template; the register's placeholder (`{patient}`, `{hpr}`) is replaced by the percent-encoded
    /// identifier. HTTPS, except for a loopback host (tests, a local sidecar).
    pub url: String,
    /// Longest wait for the connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Longest wait for the whole exchange, connection included.
    pub timeout: Duration,
    /// How long an answer is reused; zero turns the cache off.
    pub cache_ttl: Duration,
    /// How long a negative answer ("not known", "none listed") is reused; at most `cache_ttl`.
    pub negative_ttl: Duration,
    /// Most identifiers kept in the cache.
    pub cache_capacity: u64,
    /// Most requests in flight at once.
    pub max_concurrent: usize,
    /// How long a lookup waits for a free slot before it counts as unavailable.
    pub queue_wait: Duration,
    /// Largest answer read.
    pub max_body_bytes: u64,
}

impl Default for HttpClientSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_millis(2000),
            cache_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            cache_capacity: 10_000,
            max_concurrent: 8,
            queue_wait: Duration::from_millis(100),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// What a register's parser makes of an answer: the value, and whether it is negative (cached for the
/// shorter TTL).
pub(crate) struct Parsed<A> {
    pub value: A,
    pub negative: bool,
}

/// An answer and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked<A> {
    pub answer: A,
    /// Served from the lookup cache, without asking the register.
    pub cached: bool,
}

/// A counting semaphore: at most `max` permits out; a caller waits at most a given time for one.
#[derive(Debug)]
pub(crate) struct Gate {
    max: usize,
    busy: Mutex<usize>,
    freed: Condvar,
}

pub(crate) struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(|e| e.into_inner());
        *busy = busy.saturating_sub(1);
        drop(busy);
        self.0.freed.notify_one();
    }
}

impl Gate {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            busy: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    pub(crate) fn enter(&self, wait: Duration) -> Option<Permit<'_>> {
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

#[derive(Clone)]
struct Cached<A> {
    value: A,
    negative: bool,
}

/// Positive answers live `cache_ttl`, negative ones `negative_ttl`.
struct Ttl {
    positive: Duration,
    negative: Duration,
}

impl<A> moka::Expiry<String, Cached<A>> for Ttl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Cached<A>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.negative {
            self.negative
        } else {
            self.positive
        })
    }
}

/// One register's HTTP client: agent, gate, cache and counters. `A` is the register's parsed answer.
pub(crate) struct RegisterClient<A> {
    placeholder: &'static str,
    settings: HttpClientSettings,
    agent: ureq::Agent,
    cache: Option<moka::sync::Cache<String, Cached<A>>>,
    gate: Gate,
    stats: Arc<RegisterStats>,
}

impl<A> std::fmt::Debug for RegisterClient<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (the identifiers are digits anyway).
pub(crate) fn encode_segment(s: &str) -> String {
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

/// A pointer setting: empty (the whole answer) or starting with `/` (RFC 6901).
pub(crate) fn check_pointer(name: &str, pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "{name} must be a JSON pointer: empty or starting with /"
        ))
    }
}

fn check_settings(placeholder: &str, s: &HttpClientSettings) -> Result<(), String> {
    if s.url.matches(placeholder).count() != 1 {
        return Err(format!(
            "the register URL template must contain {placeholder} exactly once"
        ));
    }
    let sample = s.url.replace(placeholder, "00000000000");
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
    if s.timeout.is_zero() || s.connect_timeout.is_zero() || s.connect_timeout > s.timeout {
        return Err(
            "the register timeouts must be positive, the connect timeout at most the total"
                .to_string(),
        );
    }
    if s.negative_ttl > s.cache_ttl {
        return Err(
            "the negative answers' cache TTL must not be longer than the cache TTL".to_string(),
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

impl<A: Clone + Send + Sync + 'static> RegisterClient<A> {
    /// Checks the settings and prepares the client; `Err` says what is wrong with the configuration.
    pub(crate) fn new(
        placeholder: &'static str,
        settings: HttpClientSettings,
        stats: Arc<RegisterStats>,
    ) -> Result<Self, String> {
        check_settings(placeholder, &settings)?;
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.timeout))
            // Statuses are answers to interpret here (404 is "not known"), not transport errors.
            .http_status_as_error(false)
            // The URL carries a person's identifier: never follow it elsewhere, never through an ambient proxy.
            .max_redirects(0)
            .proxy(None)
            .user_agent("xua-gateway")
            .tls_config(tls)
            .build()
            .into();
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.cache_capacity)
                .expire_after(Ttl {
                    positive: settings.cache_ttl,
                    negative: settings.negative_ttl,
                })
                .build()
        });
        Ok(Self {
            placeholder,
            gate: Gate::new(settings.max_concurrent),
            settings,
            agent,
            cache,
            stats,
        })
    }

    pub(crate) fn stats(&self) -> &RegisterStats {
        &self.stats
    }

    /// Counts a failure under its kind and hands it on.
    pub(crate) fn fail(&self, error: RegisterError) -> RegisterError {
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

    /// Asks the register about `key`. `parse` gets `None` for "nothing here" (404, 204 or an empty body) and
    /// the JSON answer otherwise; its errors are counted like transport errors. Errors are never cached.
    pub(crate) fn lookup(
        &self,
        key: &str,
        parse: impl Fn(Option<&Value>) -> Result<Parsed<A>, RegisterError>,
    ) -> Result<Looked<A>, RegisterError> {
        let Some(cache) = &self.cache else {
            return self.fetch(key, &parse).map(|p| Looked {
                answer: p.value,
                cached: false,
            });
        };
        let mut fetched = false;
        let answer = cache
            .try_get_with(key.to_string(), || {
                fetched = true;
                self.fetch(key, &parse).map(|p| Cached {
                    value: p.value,
                    negative: p.negative,
                })
            })
            .map_err(|e| (*e).clone())?;
        if !fetched {
            RegisterStats::bump(&self.stats.cache_hits);
        }
        Ok(Looked {
            answer: answer.value,
            cached: !fetched,
        })
    }

    fn fetch(
        &self,
        key: &str,
        parse: &impl Fn(Option<&Value>) -> Result<Parsed<A>, RegisterError>,
    ) -> Result<Parsed<A>, RegisterError> {
        let Some(_permit) = self.gate.enter(self.settings.queue_wait) else {
            return Err(self.fail(RegisterError::Saturated));
        };
        RegisterStats::bump(&self.stats.http_requests);
        let url = self
            .settings
            .url
            .replace(self.placeholder, &encode_segment(key));
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        match status {
            404 | 204 => return parse(None).map_err(|e| self.fail(e)),
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
            return parse(None).map_err(|e| self.fail(e));
        }
        let json: Value = serde_json::from_slice(&body).map_err(|_| {
            self.fail(RegisterError::Malformed(Cow::Borrowed(
                "the answer is not JSON",
            )))
        })?;
        parse(Some(&json)).map_err(|e| self.fail(e))
    }
}

/// What a JSON pointer finds: a value, an explicit `null` (on the way or at the end), or nothing at all.
pub(crate) enum Found<'a> {
    Value(&'a Value),
    Null,
    Missing,
}

/// Resolves `pointer` in `json`; `{"gp": null}` for the pointer `/gp/hprNumber` is [`Found::Null`].
pub(crate) fn find<'a>(json: &'a Value, pointer: &str) -> Found<'a> {
    match json.pointer(pointer) {
        Some(Value::Null) => Found::Null,
        Some(v) => Found::Value(v),
        None if null_on_the_way(json, pointer) => Found::Null,
        None => Found::Missing,
    }
}

/// Whether some prefix of `pointer` resolves to `null` in `json`.
pub(crate) fn null_on_the_way(json: &Value, pointer: &str) -> bool {
    pointer.match_indices('/').skip(1).any(|(i, _)| {
        pointer
            .get(..i)
            .and_then(|prefix| json.pointer(prefix))
            .is_some_and(Value::is_null)
    })
}

/// A string or a non-negative integer at a pointer, as text (identifiers and codes come as either).
pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn malformed(why: &'static str) -> RegisterError {
    RegisterError::Malformed(Cow::Borrowed(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> HttpClientSettings {
        HttpClientSettings {
            url: url.to_string(),
            ..HttpClientSettings::default()
        }
    }

    #[test]
    fn settings_are_checked() {
        let stats = Arc::new(RegisterStats::default());
        let new = |s: HttpClientSettings| {
            RegisterClient::<()>::new("{hpr}", s, stats.clone()).map(|_| ())
        };
        assert!(new(settings("https://hpr.example/{hpr}")).is_ok());
        assert!(new(settings("https://hpr.example/{patient}"))
            .unwrap_err()
            .contains("{hpr}"));
        let mut s = settings("https://hpr.example/{hpr}");
        s.negative_ttl = s.cache_ttl + Duration::from_secs(1);
        assert!(new(s).unwrap_err().contains("negative"));
        assert!(check_pointer("p", "x").is_err());
        assert!(check_pointer("p", "").is_ok());
    }

    #[test]
    fn null_on_the_pointer_path() {
        let v: Value = serde_json::json!({"gp": null, "a": {"b": 1}});
        assert!(null_on_the_way(&v, "/gp/hprNumber"));
        assert!(!null_on_the_way(&v, "/a/c"));
        assert!(!null_on_the_way(&v, "/x/y"));
        assert!(matches!(find(&v, "/gp/hprNumber"), Found::Null));
        assert!(matches!(find(&v, "/a/b"), Found::Value(_)));
        assert!(matches!(find(&v, "/a/c"), Found::Missing));
    }

    #[test]
    fn identifiers_are_percent_encoded() {
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
