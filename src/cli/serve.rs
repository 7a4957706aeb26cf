//! `xua-gateway serve`: the HTTP service, reloaded on SIGHUP.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

use xua_gateway::http::Application;
use xua_gateway::startup::{Gateway, LiveGateway};

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
    let profile = gateway.pipeline().profiles().default_profile().name.clone();
    let live = Arc::new(LiveGateway::new(gateway));
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        // Before the server starts: SIGHUP's default action would end the process.
        let hangups =
            actix_web::rt::signal::unix::signal(actix_web::rt::signal::unix::SignalKind::hangup())
                .context("cannot listen for SIGHUP")?;
        let app = Application::build_live(live.clone(), &listen, workers)
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(
            config = %origin,
            profile = %profile,
            "xua-gateway listening on {scheme}://{}:{}",
            listen.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1"),
            app.port()
        );
        actix_web::rt::spawn(reload_on_hangup(hangups, live));
        app.run_until_stopped()
            .await
            .context("the server stopped with an error")
    })
}

/// Each SIGHUP reloads the configuration (one at a time, on a blocking thread: it reads files and keys).
/// The outcome is logged and counted by the reload itself.
async fn reload_on_hangup(
    mut hangups: actix_web::rt::signal::unix::Signal,
    live: Arc<LiveGateway>,
) {
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        let live = live.clone();
        if actix_web::rt::task::spawn_blocking(move || live.reload())
            .await
            .is_err()
        {
            tracing::error!("the configuration reload stopped unexpectedly; the previous configuration keeps serving");
        }
    }
}
