//! Reload without downtime: the configuration, keys, certificates, mapping and rules tables are read again
//! and built into a new [`Gateway`], which replaces the running one in one atomic swap. Every request loads
//! the gateway once when it starts ([`LiveGateway::load`]) and finishes on that one, so requests in flight
//! finish on the previous configuration; the previous gateway is dropped with its last request.
//!
//! What a reload never replaces: the stores (the access log with its writer thread and hash chain, the
//! replay store, their connection pools), the metrics registry and the clock. The new gateway is handed the
//! running ones. A configuration that changes the stores themselves (`[audit]`, `[replay] store` and
//! `capacity`, `[database]`) is refused with "restart needed". The HTTP server's own settings (`[server]`)
//! and the log subscriber (`[logging]`) were set up when the process started: a change there is logged as
//! not applied, and the rest of the new configuration serves.
//!
//! A new configuration that does not build is refused, logged and counted
//! (`xua_config_reloads_total{outcome="refused"}`); the running gateway keeps serving untouched.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{Gateway, Parts, StartupError};
use crate::config::{ConfigError, LoadedConfig, Origin};
use crate::observability::rotation::ReloadOutcome;

/// Why a reload was refused. The previous configuration keeps serving in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Build(#[from] StartupError),
    #[error("{0} changed: a reload keeps the running stores, so this needs a restart")]
    RestartNeeded(String),
}

/// A reload that took effect.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// From reading the configuration to the swap.
    pub took: Duration,
    /// Changed settings that only a restart applies (`[server]`, `[logging]`).
    pub not_applied: Vec<&'static str>,
}

impl Gateway {
    /// A new gateway from the configuration at this one's origin, read again, on this one's stores.
    pub fn rebuild(&self) -> Result<(Gateway, Vec<&'static str>), ReloadError> {
        let loaded = match &self.loaded.origin {
            Origin::File(path) => LoadedConfig::from_file(path)?,
            Origin::Embedded => LoadedConfig::embedded()?,
        };
        self.rebuild_from(loaded)
    }

    /// A new gateway from `loaded` on this one's stores, and the changed settings it cannot apply.
    pub fn rebuild_from(
        &self,
        loaded: LoadedConfig,
    ) -> Result<(Gateway, Vec<&'static str>), ReloadError> {
        let (old, new) = (&self.loaded.config, &loaded.config);
        let mut stores = Vec::new();
        if old.audit != new.audit {
            stores.push("[audit]");
        }
        if old.replay.store != new.replay.store || old.replay.capacity != new.replay.capacity {
            stores.push("[replay] store or capacity");
        }
        if old.database != new.database {
            stores.push("[database]");
        }
        if !stores.is_empty() {
            return Err(ReloadError::RestartNeeded(stores.join(", ")));
        }
        let mut not_applied = Vec::new();
        if old.server != new.server {
            not_applied.push("[server]");
        }
        if old.logging != new.logging {
            not_applied.push("[logging]");
        }
        let parts = Parts::load(&loaded)?;
        if parts.soap.paths() != self.soap.paths() {
            // Paths are mounted once: a moved or new endpoint answers 404 until a restart mounts it.
            not_applied.push("[proxy] route paths / [ws_trust] path");
        }
        let mut gateway = Gateway::assemble(loaded, parts, self.stores.clone());
        // The server runs as it started ([server]: its listener, TLS, threads, gates and timeouts): what it
        // reports and what the handlers read must say so. `[limits]` and `[inspector]` apply at once.
        let (body_limit, inspector) = (gateway.server.body_limit, gateway.server.inspector);
        gateway.server = self.server.clone();
        gateway.server.body_limit = body_limit;
        gateway.server.inspector = inspector;
        Ok((gateway, not_applied))
    }
}

/// The running gateway, replaced whole by [`reload`](Self::reload).
pub struct LiveGateway {
    current: ArcSwap<Gateway>,
    /// One reload at a time: a second signal waits for the first to finish, then reads the files again.
    reloading: Mutex<()>,
}

impl std::fmt::Debug for LiveGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGateway")
            .field("current", &*self.current.load())
            .finish_non_exhaustive()
    }
}

impl LiveGateway {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            current: ArcSwap::new(gateway),
            reloading: Mutex::new(()),
        }
    }

    /// The gateway a request runs on, from its start to its end.
    pub fn load(&self) -> Arc<Gateway> {
        self.current.load_full()
    }

    /// Reads the configuration again and swaps in the gateway built from it, or refuses it and leaves the
    /// running one serving. Either way it is logged (without secrets: messages name files and settings) and
    /// counted. Blocking: it reads files and parses keys, so call it off the async workers.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let _one = match self.reloading.lock() {
            Ok(g) => g,
            Err(e) => e.into_inner(),
        };
        let started = Instant::now();
        let running = self.load();
        let rotation = running.stores.rotation.clone();
        match running.rebuild() {
            Ok((gateway, not_applied)) => {
                let jwt_kid = gateway.pipeline.jwt_issuer().kid().to_string();
                let saml_certificate = gateway
                    .pipeline
                    .saml_out
                    .as_ref()
                    .map(|s| s.identities.current().sha256_fingerprint())
                    .unwrap_or_default();
                let uses_test_keys = gateway.uses_test_keys;
                self.current.store(Arc::new(gateway));
                let took = started.elapsed();
                rotation.reload(ReloadOutcome::Ok);
                tracing::info!(
                    micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                    jwt_kid = %jwt_kid,
                    saml_certificate_sha256 = %saml_certificate,
                    "configuration reloaded: new requests use the new keys, certificates and tables; requests in flight finish on the previous ones"
                );
                for setting in &not_applied {
                    tracing::warn!(
                        "{setting} changed, but it is not reloadable: restart the service to apply it"
                    );
                }
                if uses_test_keys {
                    tracing::warn!(
                        "running with TEST-ONLY sample keys from samples/keys: never do this with real data"
                    );
                }
                Ok(Reloaded { took, not_applied })
            }
            Err(e) => {
                rotation.reload(ReloadOutcome::Refused);
                tracing::error!(
                    error = %e,
                    "configuration reload refused; the previous configuration keeps serving"
                );
                Err(e)
            }
        }
    }
}
