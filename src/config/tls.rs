//! `[server.tls]`: the gateway terminates TLS itself, optionally asking for client certificates.

use serde::Deserialize;

use super::{ConfigError, LoadedConfig};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server certificate chain (PEM, leaf first).
    pub certificate: String,
    /// Its private key (PEM).
    pub key: String,
    /// CA certificates (PEM files) that client certificates for `tls_client_auth` chain to. With these, or
    /// with a `self_signed_tls_client_auth` client, the listener asks every client for a certificate (and
    /// continues without one).
    #[serde(default)]
    pub client_ca: Vec<String>,
}

impl LoadedConfig {
    pub(super) fn check_tls(&self) -> Result<(), ConfigError> {
        let s = &self.config.server;
        if let Some(t) = &s.tls {
            if t.certificate.trim().is_empty() || t.key.trim().is_empty() {
                return Err(self.invalid("server.tls needs certificate and key"));
            }
            if s.behind_tls_proxy {
                return Err(self.invalid(
                    "server.behind_tls_proxy and server.tls exclude each other: either the gateway terminates TLS or a proxy does",
                ));
            }
        }
        Ok(())
    }

    /// Every file under `[server.tls]`.
    pub(super) fn tls_files(&self) -> Vec<&String> {
        self.config
            .server
            .tls
            .iter()
            .flat_map(|t| [&t.certificate, &t.key].into_iter().chain(&t.client_ca))
            .collect()
    }
}
