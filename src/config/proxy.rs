//! `[proxy]` with its `[[proxy.routes]]` (the XCA proxy: a gateway path, the upstream it forwards to, what it
//! issues for, how it reaches the upstream) and `[ws_trust]` (the WS-Trust 1.3 Issue endpoint).

use serde::Deserialize;

use super::{ConfigError, LoadedConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The largest SOAP request (or MTOM package) a route reads; a larger one is refused (LIMIT) before
    /// anything is parsed.
    #[serde(default = "default_request_bytes")]
    pub max_request_bytes: usize,
    #[serde(default)]
    pub routes: Vec<ProxyRouteConfig>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: default_request_bytes(),
            routes: Vec::new(),
        }
    }
}

fn default_request_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRouteConfig {
    /// The gateway path clients POST their SOAP requests to (e.g. `/xca/pjd`).
    pub path: String,
    /// The responding gateway's URL: https, or plain http on a loopback host only.
    pub upstream: String,
    /// The mapping profile the assertion is issued with (default: the issuer's, else the gateway's).
    #[serde(default)]
    pub profile: Option<String>,
    /// The assertion's audience (default: the first of `[saml.signing] audiences`).
    #[serde(default)]
    pub audience: Option<String>,
    /// The registered client whose policy applies to this route's requests; it authenticates as it is
    /// registered (a mutual-TLS client by the connection's certificate). Default: the anonymous client.
    #[serde(default)]
    pub client: Option<String>,
    /// CA certificates (PEM) the upstream's certificate must chain to, instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The TLS client certificate (PEM chain, leaf first) and key the gateway presents to the upstream.
    #[serde(default)]
    pub client_certificate: Option<String>,
    #[serde(default)]
    pub client_key: Option<String>,
    /// TCP connect and TLS handshake, each.
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// From sending the request to the upstream's response head.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest pause between two pieces of the upstream's response body.
    #[serde(default = "default_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// The largest answer passed on; the stream is cut there (an ITI-39 answer carries whole documents, so
    /// the default is generous; nothing is held in memory either way).
    #[serde(default = "default_response_bytes")]
    pub max_response_bytes: u64,
}

fn default_response_bytes() -> u64 {
    1024 * 1024 * 1024
}

fn default_connect_ms() -> u64 {
    2000
}
fn default_timeout_ms() -> u64 {
    30_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsTrustConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_sts_path")]
    pub path: String,
    /// As for a proxy route: the registered client whose policy applies (default: the anonymous client).
    #[serde(default)]
    pub client: Option<String>,
}

impl Default for WsTrustConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            path: default_sts_path(),
            client: None,
        }
    }
}

fn default_sts_path() -> String {
    "/ws-trust/sts".to_string()
}

/// Paths the gateway serves itself, which no SOAP endpoint may take.
const RESERVED: &[&str] = &[
    "/",
    "/token",
    "/translate",
    "/inspect",
    "/saml/metadata",
    "/healthz",
    "/readyz",
    "/metrics",
];

fn reserved(path: &str) -> bool {
    RESERVED.contains(&path) || path.starts_with("/inspector") || path.starts_with("/.well-known")
}

/// A path a route can be registered at: absolute, no query, no pattern syntax, no dot segments.
fn plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 200
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
        && !path.split('/').any(|s| s == "." || s == "..")
}

fn loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl LoadedConfig {
    pub(super) fn check_proxy(&self) -> Result<(), ConfigError> {
        let p = &self.config.proxy;
        if p.max_request_bytes < 1024 || p.max_request_bytes > 16 * 1024 * 1024 {
            return Err(self.invalid("proxy.max_request_bytes must be between 1024 and 16777216"));
        }
        let w = &self.config.ws_trust;
        let mut paths: Vec<&str> = Vec::new();
        if w.enabled {
            if !plain_path(&w.path) || reserved(&w.path) {
                return Err(self.invalid(format!(
                    "ws_trust.path {:?} must be an absolute path of letters, digits, '-', '_', '.' and '/' that the gateway does not serve itself",
                    w.path
                )));
            }
            paths.push(&w.path);
        }
        for r in &p.routes {
            let label = format!("proxy.routes {:?}", r.path);
            if !plain_path(&r.path) || reserved(&r.path) {
                return Err(self.invalid(format!(
                    "{label}: path must be an absolute path of letters, digits, '-', '_', '.' and '/' that the gateway does not serve itself"
                )));
            }
            if paths.contains(&r.path.as_str()) {
                return Err(self.invalid(format!("{label}: the path is taken twice")));
            }
            paths.push(&r.path);
            let url = url::Url::parse(&r.upstream)
                .map_err(|_| self.invalid(format!("{label}: upstream is not a URL")))?;
            match url.scheme() {
                "https" => {}
                "http" if loopback_host(&url) => {}
                "http" => {
                    return Err(self.invalid(format!(
                    "{label}: a plain-http upstream is allowed on a loopback host only; use https"
                )))
                }
                _ => return Err(self.invalid(format!("{label}: upstream must be https"))),
            }
            if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
                return Err(self.invalid(format!(
                    "{label}: upstream must not carry credentials or a fragment"
                )));
            }
            if r.max_response_bytes == 0 {
                return Err(self.invalid(format!("{label}: max_response_bytes must not be 0")));
            }
            if r.client_certificate.is_some() != r.client_key.is_some() {
                return Err(self.invalid(format!(
                    "{label}: client_certificate and client_key go together"
                )));
            }
            let tls_settings = r.ca_file.is_some() || r.client_certificate.is_some();
            if tls_settings && url.scheme() != "https" {
                return Err(self.invalid(format!(
                    "{label}: ca_file and client_certificate need an https upstream"
                )));
            }
            for (name, ms) in [
                ("connect_timeout_ms", r.connect_timeout_ms),
                ("timeout_ms", r.timeout_ms),
                ("idle_timeout_ms", r.idle_timeout_ms),
            ] {
                if ms == 0 || ms > 600_000 {
                    return Err(
                        self.invalid(format!("{label}: {name} must be between 1 and 600000"))
                    );
                }
            }
        }
        Ok(())
    }

    /// Every key and certificate file the proxy routes name.
    pub(super) fn proxy_files(&self) -> Vec<&String> {
        self.config
            .proxy
            .routes
            .iter()
            .flat_map(|r| [&r.client_certificate, &r.client_key, &r.ca_file])
            .flatten()
            .collect()
    }
}
