//! `xua-gateway serve`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

use xua_gateway::http::Application;
use xua_gateway::startup::Gateway;

pub fn run(config: Option<&PathBuf>, listen: Option<String>) -> anyhow::Result<()> {
    let loaded = super::load_config(config)?;
    xua_gateway::observability::logging::init(&loaded.config.logging)
        .map_err(anyhow::Error::msg)?;
    let postgres = loaded.config.audit.store == xua_gateway::config::AuditStore::Postgres;
    if loaded.config.audit.path.is_empty() && !postgres {
        bail!("[audit] path is empty: the service keeps the access log the law requires, so it needs a database path");
    }
    let origin = loaded.origin.label();
    let gateway = Arc::new(Gateway::build(loaded, xua_gateway::clock::system(), None)?);
    if gateway.uses_test_keys() {
        tracing::warn!(
            "running with TEST-ONLY sample keys from samples/keys: never do this with real data"
        );
    }
    let listen = listen.unwrap_or_else(|| gateway.server().listen.clone());
    let workers = gateway.server().workers;
    let scheme = if gateway.server().tls.is_some() {
        "https"
    } else {
        "http"
    };
    let wanted = u64::try_from(
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(workers)
            .saturating_mul(gateway.server().max_connections),
    )
    .unwrap_or(u64::MAX);
    match xua_gateway::startup::open_files::raise_open_file_limit() {
        Ok(limit) if limit < wanted.saturating_add(64) => tracing::warn!(
            limit,
            wanted,
            "the open-file limit is lower than [server] max_connections over all workers; raise it (ulimit -n) or lower max_connections"
        ),
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!("{e}"),
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let app = Application::build(gateway.clone(), &listen, workers)
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(
            config = %origin,
            profile = %gateway.pipeline().profiles().default_profile().name,
            "xua-gateway listening on {scheme}://{}:{}",
            listen.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1"),
            app.port()
        );
        app.run_until_stopped()
            .await
            .context("the server stopped with an error")
    })
}
