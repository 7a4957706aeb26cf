//! `[server.tls]` read into ready keys and certificates, and the rules for listening beyond loopback.

use std::net::IpAddr;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::StartupError;
use crate::config::LoadedConfig;

/// The listener's TLS material, loaded and checked at start-up.
#[derive(Clone)]
pub struct TlsSettings {
    /// Leaf first.
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
    /// CAs that `tls_client_auth` certificates chain to.
    pub client_cas: Vec<X509>,
    /// Ask every client for a certificate (and go on without one): some client authenticates with one.
    pub request_client_certificate: bool,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("chain", &self.chain.len())
            .field("client_cas", &self.client_cas.len())
            .field(
                "request_client_certificate",
                &self.request_client_certificate,
            )
            .finish_non_exhaustive()
    }
}

pub(super) fn tls(loaded: &LoadedConfig) -> Result<Option<TlsSettings>, StartupError> {
    let Some(t) = &loaded.config.server.tls else {
        return Ok(None);
    };
    let bad = |what: String| StartupError::Key(format!("server.tls: {what}"));
    let chain = X509::stack_from_pem(&loaded.read_file(&t.certificate)?)
        .map_err(|_| bad(format!("{} is not a PEM certificate chain", t.certificate)))?;
    let Some(leaf) = chain.first() else {
        return Err(bad(format!("{} holds no certificate", t.certificate)));
    };
    let key = PKey::private_key_from_pem(&loaded.read_file(&t.key)?)
        .map_err(|_| bad(format!("{} is not a PEM private key", t.key)))?;
    let matches = leaf
        .public_key()
        .map(|public| public.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err(bad(format!(
            "the key {} does not belong to the certificate {}",
            t.key, t.certificate
        )));
    }
    let mut client_cas = Vec::new();
    for file in &t.client_ca {
        let certs = X509::stack_from_pem(&loaded.read_file(file)?)
            .map_err(|_| bad(format!("client_ca {file} is not PEM")))?;
        if certs.is_empty() {
            return Err(bad(format!("client_ca {file} holds no certificate")));
        }
        client_cas.extend(certs);
    }
    let self_signed = loaded
        .config
        .clients
        .iter()
        .any(|c| c.auth == crate::clients::AuthMethod::SelfSignedTlsClientAuth);
    Ok(Some(TlsSettings {
        chain,
        key,
        request_client_certificate: !client_cas.is_empty() || self_signed,
        client_cas,
    }))
}

/// What decides whether the gateway may listen beyond loopback.
#[derive(Debug, Clone, Copy)]
pub struct Exposure {
    pub tls: bool,
    pub behind_tls_proxy: bool,
    pub uses_test_keys: bool,
    pub clients_declared: bool,
}

impl Exposure {
    pub(super) fn of(loaded: &LoadedConfig) -> Self {
        let c = &loaded.config;
        Self {
            tls: c.server.tls.is_some(),
            behind_tls_proxy: c.server.behind_tls_proxy,
            uses_test_keys: loaded.uses_test_keys(),
            clients_declared: !c.clients.is_empty(),
        }
    }

    /// Whether the gateway may listen on `ip`: loopback always; any other address only without TEST-ONLY
    /// keys, with registered clients, and over TLS (its own, or a proxy's when the configuration says so).
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if ip.is_loopback() {
            return Ok(());
        }
        if self.uses_test_keys {
            return Err(format!(
                "refusing to listen on {ip}: the configuration trusts or signs with TEST-ONLY sample keys, which anyone can use; such a gateway listens on loopback only"
            ));
        }
        if !self.clients_declared {
            return Err(format!(
                "refusing to listen on {ip}: the configuration registers no [[clients]], so anyone who reaches it could exchange tokens; register the clients (an explicit auth = \"none\", anonymous = true client keeps it open)"
            ));
        }
        if !self.tls && !self.behind_tls_proxy {
            return Err(format!(
                "refusing to listen on {ip} over plain HTTP: configure [server.tls], or set [server] behind_tls_proxy = true when a TLS-terminating proxy is in front"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_always_other_addresses_only_when_safe() {
        let safe = Exposure {
            tls: true,
            behind_tls_proxy: false,
            uses_test_keys: false,
            clients_declared: true,
        };
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert!(safe.check(any).is_ok());
        assert!(Exposure { tls: false, ..safe }.check(any).is_err());
        assert!(Exposure {
            tls: false,
            behind_tls_proxy: true,
            ..safe
        }
        .check(any)
        .is_ok());
        assert!(Exposure {
            uses_test_keys: true,
            ..safe
        }
        .check(any)
        .is_err());
        assert!(Exposure {
            clients_declared: false,
            ..safe
        }
        .check(any)
        .is_err());
        let open = Exposure {
            tls: false,
            behind_tls_proxy: false,
            uses_test_keys: true,
            clients_declared: false,
        };
        assert!(open.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(open.check("::1".parse().unwrap()).is_ok());
    }
}
