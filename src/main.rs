//! The `xua-gateway` command.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine;
use clap::{Parser, Subcommand};

use xua_gateway::config::LoadedConfig;
use xua_gateway::gateway::{ExchangeRequest, Gateway};
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
        /// The token; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Read the access log: verify its hash chain, or ask who accessed what.
    Audit {
        #[command(subcommand)]
        command: xua_gateway::audit::cli::AuditCommand,
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
            if loaded.config.audit.path.is_empty() {
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
            file,
        } => {
            let loaded = load_config(config.as_ref())?;
            init_logging(&loaded);
            let input = read_input(file.as_ref())?;
            let gateway = Gateway::build(loaded, xua_gateway::clock::system(), None)?;
            let request = ExchangeRequest {
                audience,
                profile,
                request_id: uuid::Uuid::new_v4().to_string(),
                client_address: Some("cli".to_string()),
            };
            let trimmed = input
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .map(|i| &input[i..])
                .unwrap_or(&[]);
            if !(trimmed.starts_with(b"<") || trimmed.starts_with("\u{FEFF}".as_bytes())) {
                bail!("translate takes an XML assertion");
            }
            match gateway.saml_to_jwt(&input, &request) {
                Ok(issued) => {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{}", issued.token)?;
                    Ok(())
                }
                Err(rejection) => bail!("{} ({})", rejection.message, rejection.class),
            }
        }
        Command::Audit { command } => Ok(xua_gateway::audit::cli::run(command)?),
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
        },
    }
}
