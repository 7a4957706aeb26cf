//! A fastlege register asked over HTTP: `GET <url template with {patient}>`, the GP's HPR number read from the
//! JSON answer at a configured JSON pointer. The transport (timeouts, cache, bounded concurrency, error
//! mapping) is the one every register shares (`client.rs`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::client::{
    check_pointer, find, malformed, text_of, Found, HttpClientSettings, Parsed, RegisterClient,
};
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
    /// How long "no GP" is reused, when it should be shorter than `cache_ttl` (`None`: the same).
    pub negative_ttl: Option<Duration>,
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
        let c = HttpClientSettings::default();
        Self {
            url: String::new(),
            hpr_pointer: String::new(),
            connect_timeout: c.connect_timeout,
            timeout: c.timeout,
            cache_ttl: c.cache_ttl,
            negative_ttl: None,
            cache_capacity: c.cache_capacity,
            max_concurrent: c.max_concurrent,
            queue_wait: c.queue_wait,
            max_body_bytes: c.max_body_bytes,
        }
    }
}

impl HttpRegisterSettings {
    fn client(&self) -> HttpClientSettings {
        HttpClientSettings {
            url: self.url.clone(),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            cache_ttl: self.cache_ttl,
            negative_ttl: self.negative_ttl.unwrap_or(self.cache_ttl),
            cache_capacity: self.cache_capacity,
            max_concurrent: self.max_concurrent,
            queue_wait: self.queue_wait,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

const PLACEHOLDER: &str = "{patient}";

pub struct HttpRegister {
    hpr_pointer: String,
    client: RegisterClient<Option<HprNumber>>,
}

impl std::fmt::Debug for HttpRegister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegister")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl HttpRegister {
    /// Checks the settings and prepares the client; `Err` says what is wrong with the configuration.
    pub fn new(settings: HttpRegisterSettings, stats: Arc<RegisterStats>) -> Result<Self, String> {
        check_pointer("hpr_pointer", &settings.hpr_pointer)?;
        Ok(Self {
            client: RegisterClient::new(PLACEHOLDER, settings.client(), stats)?,
            hpr_pointer: settings.hpr_pointer,
        })
    }

    pub fn stats(&self) -> &RegisterStats {
        self.client.stats()
    }

    /// The GP in one answer: 404, an empty body or a `null` on the pointer's path are "no GP" (negative).
    fn parse(&self, json: Option<&Value>) -> Result<Parsed<Option<HprNumber>>, RegisterError> {
        let none = Parsed {
            value: None,
            negative: true,
        };
        let Some(json) = json else { return Ok(none) };
        let not_hpr = || malformed("the value at the configured pointer is not an HPR number");
        let hpr = match find(json, &self.hpr_pointer) {
            Found::Null => return Ok(none),
            Found::Value(v) => text_of(v).ok_or_else(not_hpr)?,
            // A register that changed its answer's shape must not turn every GP into "no GP" silently.
            Found::Missing => {
                return Err(malformed(
                    "the answer has nothing at the configured pointer",
                ))
            }
        };
        let hpr = HprNumber::parse(&hpr).map_err(|_| not_hpr())?;
        Ok(Parsed {
            value: Some(hpr),
            negative: false,
        })
    }
}

impl FastlegeRegister for HttpRegister {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn gp_of(&self, patient: &str) -> Result<Option<HprNumber>, RegisterError> {
        self.client
            .lookup(patient, |json| self.parse(json))
            .map(|l| l.answer)
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
}
