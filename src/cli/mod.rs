//! The `xua-gateway` command line: the service, one-shot translation and inspection, the access log's
//! questions, and TEST-ONLY samples.

mod audit;
mod error;
mod offline;
mod reports;
mod sample;
mod serve;

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use xua_gateway::config::LoadedConfig;
use xua_gateway::samples;

#[derive(Parser)]
#[command(
    name = "xua-gateway",
    version,
    about = "Translates SAML 2.0 XUA assertions and JWTs through one model of the care relationship"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP service (on the embedded sample configuration when no --config is given).
    Serve {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// HOST:PORT to listen on (overrides [server] listen; the embedded configuration listens on
        /// 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Translate one token offline through the same pipeline (file or stdin to stdout).
    Translate {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Audience of the issued token: one of jwt.audiences for a JWT (assertion in), one of
        /// saml.signing.audiences for an assertion (JWT in). Default: the first of them.
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
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
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
        command: audit::AuditCommand,
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
pub enum SampleKind {
    /// A fresh signed XUA assertion from a claims file (default: samples/claims/fastlege.json).
    Saml {
        /// A claims file (JSON, as in samples/claims/); default: samples/claims/fastlege.json.
        #[arg(long)]
        claims: Option<PathBuf>,
        /// The assertion's Audience (the recipient that will accept it).
        #[arg(long, default_value = samples::SAMPLE_AUDIENCE)]
        audience: String,
        /// The assertion's Issuer (the default is the sample IdP the embedded configuration trusts).
        #[arg(long, default_value = samples::SAMPLE_IDP)]
        issuer: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 3600)]
        lifetime: i64,
        /// Print base64url (no padding), ready for RFC 8693 `subject_token`, instead of XML.
        #[arg(long)]
        base64url: bool,
    },
    /// A synthetic access log (TEST-ONLY, made-up people) with known patterns in its last month, for
    /// trying `audit insight` and `audit review`; written through the SQLite store to a new file.
    AccessLog {
        /// The SQLite file to create.
        #[arg(long)]
        out: PathBuf,
        /// About this many records over 2026 instead of the small four-month log.
        #[arg(long)]
        records: Option<u64>,
        /// Writers in parallel (1 keeps the records in time order).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// A fresh HelseID-style JWT (ES256, at+jwt) from a claims file, signed with the TEST-ONLY sample issuer key.
    Jwt {
        /// A claims file (JSON, as in samples/claims/); default: samples/claims/fastlege.json.
        #[arg(long)]
        claims: Option<PathBuf>,
        /// The JWT's aud (the recipient that will accept it).
        #[arg(long, default_value = samples::SAMPLE_AUDIENCE)]
        audience: String,
        /// The JWT's iss (the default is the sample issuer the embedded configuration trusts).
        #[arg(long, default_value = samples::SAMPLE_JWT_ISSUER)]
        issuer: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 300)]
        lifetime: i64,
        /// Bind the JWT to the TEST-ONLY sample DPoP key (`cnf.jkt`), as HelseID does for DPoP clients:
        /// exchanging it then needs `sample dpop`'s proof.
        #[arg(long)]
        dpop_bound: bool,
    },
    /// A fresh private_key_jwt client assertion (RFC 7523) for the TEST-ONLY sample client, for the form's
    /// `client_assertion` (with `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`).
    ClientAssertion {
        /// The client_id of the registered client the assertion authenticates.
        #[arg(long, default_value = samples::SAMPLE_CLIENT_ID)]
        client_id: String,
        /// The gateway's issuer (`[gateway] entity_id`) or its token endpoint URL.
        #[arg(long, default_value = samples::SAMPLE_AUDIENCE)]
        audience: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 60)]
        lifetime: i64,
    },
    /// A fresh DPoP proof (RFC 9449) signed with the TEST-ONLY sample DPoP key, for the `DPoP` header.
    Dpop {
        /// The token endpoint URL, as the gateway's `[gateway] public_url` names it plus `/token`.
        #[arg(long)]
        htu: String,
        /// The HTTP method of the request the proof goes with.
        #[arg(long, default_value = "POST")]
        htm: String,
        /// The server's nonce (from a `DPoP-Nonce` header), when it asks for one.
        #[arg(long)]
        nonce: Option<String>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<LoadedConfig> {
    Ok(match path {
        Some(p) => LoadedConfig::from_file(p)?,
        None => LoadedConfig::embedded()?,
    })
}

/// One-shot commands print their result on stdout and their error as one line on stderr; their logs stay at
/// warnings unless RUST_LOG asks for more.
fn init_quiet_logging(loaded: &LoadedConfig) -> anyhow::Result<()> {
    let mut logging = loaded.config.logging.clone();
    logging.level = "warn".to_string();
    xua_gateway::observability::logging::init(&logging).map_err(anyhow::Error::msg)
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

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, listen } => serve::run(config.as_ref(), listen),
        Command::Translate {
            config,
            audience,
            profile,
            patient,
            file,
        } => offline::translate(config.as_ref(), audience, profile, patient, file.as_ref()),
        Command::Inspect {
            config,
            profile,
            format,
            at,
            file,
        } => offline::inspect(
            config.as_ref(),
            profile,
            &format,
            at.as_deref(),
            file.as_ref(),
        ),
        // A failed write keeps its io::Error at the root, so that `main` can tell a closed pipe.
        Command::Audit { command } => audit::run(command).map_err(|e| match e {
            error::CliError::Output(io) => anyhow::Error::from(io),
            other => anyhow::Error::from(other),
        }),
        Command::Db { command } => Ok(xua_gateway::store::cli::run(command)?),
        Command::Sample { kind } => sample::run(kind),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn undocumented(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" && id != "version" && arg.get_help().is_none() {
                out.push(format!("{path} --{id}"));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_about().is_none() {
                out.push(format!("{path} {}", sub.get_name()));
            }
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_and_flag_says_what_it_is() {
        let mut missing = Vec::new();
        undocumented(&super::Cli::command(), "xua-gateway", &mut missing);
        assert!(missing.is_empty(), "no --help text: {missing:?}");
    }

    #[test]
    fn serve_help_names_the_default_address() {
        let mut cli = super::Cli::command();
        let serve = cli.find_subcommand_mut("serve").unwrap();
        let help = serve.render_long_help().to_string();
        assert!(help.contains("127.0.0.1:8080"), "{help}");
    }

    #[test]
    fn translate_audience_names_both_settings() {
        let mut cli = super::Cli::command();
        let help = cli
            .find_subcommand_mut("translate")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("jwt.audiences") && help.contains("saml.signing.audiences"),
            "{help}"
        );
    }
}
