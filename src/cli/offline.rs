//! `xua-gateway translate` and `xua-gateway inspect`: one token through the same pipeline, offline.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;

use xua_gateway::inspect::{render_text, InspectOptions};
use xua_gateway::pipeline::sniff::{sniff, TokenKind};
use xua_gateway::pipeline::ExchangeRequest;
use xua_gateway::startup::Gateway;

pub fn translate(
    config: Option<&PathBuf>,
    audience: Option<String>,
    profile: Option<String>,
    patient: Option<String>,
    file: Option<&PathBuf>,
) -> anyhow::Result<()> {
    let loaded = super::load_config(config)?;
    super::init_quiet_logging(&loaded)?;
    let input = super::read_input(file)?;
    let gateway = Gateway::build(loaded, xua_gateway::clock::system(), None)?;
    let request = ExchangeRequest {
        audience,
        profile,
        patient,
        request_id: xua_gateway::observability::request_id::fresh(),
        client_address: Some("cli".to_string()),
        // Run by whoever holds the configuration and its keys: no client policy applies, but a
        // sender-constrained token still needs its proof, which an offline run cannot give.
        ..ExchangeRequest::default()
    };
    let pipeline = gateway.pipeline();
    let result = match sniff(&input) {
        TokenKind::Saml => pipeline.saml_to_jwt(&input, &request),
        TokenKind::Jwt(token) => pipeline.jwt_to_saml(&token, &request),
        TokenKind::Unknown => bail!("translate takes an XML assertion or a compact JWT"),
    };
    match result {
        Ok(issued) => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", issued.token)?;
            Ok(())
        }
        Err(rejection) => bail!("{} ({})", rejection.message, rejection.class),
    }
}

pub fn inspect(
    config: Option<&PathBuf>,
    profile: Option<String>,
    format: &str,
    at: Option<&str>,
    file: Option<&PathBuf>,
) -> anyhow::Result<()> {
    let loaded = super::load_config(config)?;
    super::init_quiet_logging(&loaded)?;
    let input = super::read_input(file)?;
    let at = at
        .map(|s| xua_gateway::saml::extract::parse_datetime("--at", s))
        .transpose()?;
    // Inspection issues nothing, so its attempts are not access-log records, and it remembers no token: it
    // needs no database.
    let mut loaded = loaded;
    loaded.config.replay.store = xua_gateway::config::database::ReplayStore::Memory;
    let gateway = Gateway::build(
        loaded,
        xua_gateway::clock::system(),
        Some(Arc::new(xua_gateway::audit::MemorySink::default())),
    )?;
    let report = gateway
        .pipeline()
        .inspect(&input, &InspectOptions { profile, at });
    let mut out = std::io::stdout().lock();
    match format {
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        "text" => write!(out, "{}", render_text(&report))?,
        other => bail!("--format is text or json, not {other:?}"),
    }
    Ok(())
}
