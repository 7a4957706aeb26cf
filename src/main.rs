//! The `xua-gateway` command.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine;
use clap::{Parser, Subcommand};

use xua_gateway::config::LoadedConfig;
use xua_gateway::gateway::{ExchangeRequest, Gateway};
use xua_gateway::http::translate::{classify, Input};
use xua_gateway::http::Application;
use xua_gateway::samples::{self, MintOptions};

#[derive(Parser)]
#[command(
    name = "xua-gateway",
    version,
    about = "Translates SAML 2.0 XUA assertions and JWTs through one model of the care relationship"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (on the embedded sample configuration when no --config is given).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// HOST:PORT to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Translate one token offline through the same pipeline (file or stdin to stdout).
    Translate {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Audience of the issued token (one of jwt.audiences).
        #[arg(long)]
        audience: Option<String>,
        /// Mapping profile (default: gateway.profile).
        #[arg(long)]
        profile: Option<String>,
        /// The patient (fødselsnummer, D-number or CX) when a JWT input does not name one.
        #[arg(long)]
        patient: Option<String>,
        /// The token (an XML assertion or a compact JWT); `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Report item by item what the gateway sees in a token (SAML assertion, Response, XML holding
    /// assertions, compact JWT or JWT payload). Issues nothing.
    Inspect {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Mapping profile (default: the one that reads the most items).
        #[arg(long)]
        profile: Option<String>,
        /// text or json
        #[arg(long, default_value = "text")]
        format: String,
        /// Check validity windows as of this RFC 3339 time instead of now.
        #[arg(long)]
        at: Option<String>,
        /// The token; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Read the access log: verify its hash chain, or ask who accessed what.
    Audit {
        #[command(subcommand)]
        command: xua_gateway::audit::cli::AuditCommand,
    },
    /// The PostgreSQL schema of the cluster stores (`[replay]` / `[audit]` store = "postgres").
    Db {
        #[command(subcommand)]
        command: xua_gateway::store::cli::DbCommand,
    },
    /// Mint TEST-ONLY inputs signed with the sample keys in samples/keys.
    Sample {
        #[command(subcommand)]
        kind: SampleKind,
    },
}

#[derive(Subcommand)]
enum SampleKind {
    /// A fresh signed XUA assertion from a claims file (default: samples/claims/fastlege.json).
    Saml {
        #[arg(long)]
        claims: Option<PathBuf>,
        #[arg(long, default_value = samples::SAMPLE_AUDIENCE)]
        audience: String,
        #[arg(long, default_value = samples::SAMPLE_IDP)]
        issuer: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 3600)]
        lifetime: i64,
        /// Print base64url (no padding), ready for RFC 8693 `subject_token`, instead of XML.
        #[arg(long)]
        base64url: bool,
    },
    /// A fresh HelseID-style JWT (ES256, at+jwt) from a claims file, signed with the TEST-ONLY sample issuer key.
    Jwt {
        #[arg(long)]
        claims: Option<PathBuf>,
        #[arg(long, default_value = samples::SAMPLE_AUDIENCE)]
        audience: String,
        #[arg(long, default_value = samples::SAMPLE_JWT_ISSUER)]
        issuer: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 300)]
        lifetime: i64,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<LoadedConfig> {
    Ok(match path {
        Some(p) => LoadedConfig::from_file(p)?,
        None => LoadedConfig::embedded()?,
    })
}

fn init_logging(loaded: &LoadedConfig) {
    xua_gateway::observability::logging::init(&loaded.config.logging);
}

/// One-shot commands print their result on stdout and their error as one line on stderr; their logs stay at
/// warnings unless RUST_LOG asks for more.
fn init_quiet_logging(loaded: &LoadedConfig) {
    let mut logging = loaded.config.logging.clone();
    logging.level = "warn".to_string();
    xua_gateway::observability::logging::init(&logging);
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match file {
        Some(p) if p.as_os_str() != "-" => {
            buf = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read standard input")?;
        }
    }
    Ok(buf)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Errors are written as one line without a backtrace: they are messages for an operator.
            eprintln!("xua-gateway: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, listen } => {
            let loaded = load_config(config.as_ref())?;
            init_logging(&loaded);
            let postgres = loaded.config.audit.store == xua_gateway::config::AuditStore::Postgres;
            if loaded.config.audit.path.is_empty() && !postgres {
                bail!("[audit] path is empty: the service keeps the access log the law requires, so it needs a database path");
            }
            let listen = listen.unwrap_or_else(|| loaded.config.server.listen.clone());
            let workers = loaded.config.server.workers;
            if loaded.uses_test_keys() {
                tracing::warn!("running with TEST-ONLY sample keys from samples/keys: never do this with real data");
            }
            let origin = loaded.origin.label();
            let gateway = Arc::new(Gateway::build(loaded, xua_gateway::clock::system(), None)?);
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let app = Application::build(gateway.clone(), &listen, workers)
                    .with_context(|| format!("cannot listen on {listen}"))?;
                tracing::info!(
                    config = %origin,
                    profile = %gateway.profiles().default_profile().name,
                    "xua-gateway listening on http://{}:{}",
                    listen.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1"),
                    app.port()
                );
                app.run_until_stopped()
                    .await
                    .context("the server stopped with an error")
            })
        }
        Command::Translate {
            config,
            audience,
            profile,
            patient,
            file,
        } => {
            let loaded = load_config(config.as_ref())?;
            init_quiet_logging(&loaded);
            let input = read_input(file.as_ref())?;
            let gateway = Gateway::build(loaded, xua_gateway::clock::system(), None)?;
            let request = ExchangeRequest {
                audience,
                profile,
                patient,
                request_id: uuid::Uuid::new_v4().to_string(),
                client_address: Some("cli".to_string()),
            };
            let result = match classify(&input) {
                Input::Saml => gateway.saml_to_jwt(&input, &request),
                Input::Jwt(token) => gateway.jwt_to_saml(&token, &request),
                Input::Unknown => bail!("translate takes an XML assertion or a compact JWT"),
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
        Command::Inspect {
            config,
            profile,
            format,
            at,
            file,
        } => {
            let loaded = load_config(config.as_ref())?;
            init_quiet_logging(&loaded);
            let input = read_input(file.as_ref())?;
            let at = at
                .as_deref()
                .map(|s| xua_gateway::saml::extract::parse_datetime("--at", s))
                .transpose()?;
            // Inspection issues nothing, so its attempts are not access-log records, and it remembers no
            // token: it needs no database.
            let mut loaded = loaded;
            loaded.config.replay.store = xua_gateway::store::config::ReplayStore::Memory;
            let gateway = Gateway::build(
                loaded,
                xua_gateway::clock::system(),
                Some(Arc::new(xua_gateway::audit::MemorySink::default())),
            )?;
            let report = gateway.inspect(
                &input,
                &xua_gateway::inspect::InspectOptions { profile, at },
            );
            let mut out = std::io::stdout().lock();
            match format.as_str() {
                "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
                "text" => write!(out, "{}", xua_gateway::inspect::render_text(&report))?,
                other => bail!("--format is text or json, not {other:?}"),
            }
            Ok(())
        }
        Command::Audit { command } => Ok(xua_gateway::audit::cli::run(command)?),
        Command::Db { command } => Ok(xua_gateway::store::cli::run(command)?),
        Command::Sample { kind } => match kind {
            SampleKind::Saml {
                claims,
                audience,
                issuer,
                lifetime,
                base64url,
            } => {
                let text = match &claims {
                    Some(p) => std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                    None => samples::FASTLEGE_CLAIMS.to_string(),
                };
                let claims = samples::parse_claims(&text)?;
                xua_gateway::saml::dsig::init()?;
                let profiles = xua_gateway::mapping::ProfileSet::embedded("no-pjd")?;
                let identity = samples::sample_idp()?;
                let options = MintOptions {
                    issuer,
                    audience,
                    lifetime: time::Duration::seconds(lifetime),
                };
                let xml = samples::mint_assertion(
                    profiles.default_profile(),
                    &claims,
                    &options,
                    &identity,
                    time::OffsetDateTime::now_utc(),
                )?;
                let mut out = std::io::stdout().lock();
                if base64url {
                    writeln!(
                        out,
                        "{}",
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&xml)
                    )?;
                } else {
                    out.write_all(&xml)?;
                    writeln!(out)?;
                }
                Ok(())
            }
            SampleKind::Jwt {
                claims,
                audience,
                issuer,
                lifetime,
            } => {
                let text = match &claims {
                    Some(p) => std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                    None => samples::FASTLEGE_CLAIMS.to_string(),
                };
                let claims = samples::parse_claims(&text)?;
                let options = samples::JwtMintOptions {
                    issuer,
                    audience,
                    lifetime: time::Duration::seconds(lifetime),
                };
                let jwt = samples::mint_jwt(&claims, &options, time::OffsetDateTime::now_utc())?;
                writeln!(std::io::stdout().lock(), "{jwt}")?;
                Ok(())
            }
        },
    }
}
