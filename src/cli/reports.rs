//! `xua-gateway audit insight` and `audit review`: the access log's two reports, from the store `[audit]`
//! names. Each run is recorded in that log before its report is handed over.

use std::io::Write;
use std::path::{Path, PathBuf};

use xua_gateway::audit::{Event, LogUse};
use xua_gateway::config::LoadedConfig;
use xua_gateway::reports::period::Period;
use xua_gateway::reports::tables::Lang;
use xua_gateway::reports::usage::{self, Use};
use xua_gateway::reports::{insight, review};
use xua_gateway::startup::reports as parts;

use super::error::CliError;

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

/// Who asked, as the log records it.
fn requested_by() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() && u.len() <= 64 => format!("command line (user {u})"),
        _ => "command line".to_string(),
    }
}

fn check_patient(patient: &str) -> Result<(), CliError> {
    if xua_gateway::reports::service::valid_patient(patient) {
        Ok(())
    } else {
        Err(CliError::Message(
            "--patient must be the patient's identifier (a fødselsnummer or D-number)".into(),
        ))
    }
}

/// Where the report goes: standard output, or a new file readable by its owner only (it names patients),
/// created before the log is read so that a run recorded as answered is never one whose report had nowhere
/// to go.
enum Destination {
    Stdout,
    File(std::fs::File, PathBuf),
}

impl Destination {
    fn open(out: Option<&Path>) -> Result<Self, CliError> {
        let Some(path) = out else {
            return Ok(Self::Stdout);
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let f = options
            .open(path)
            .map_err(|e| CliError::Message(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self::File(f, path.to_path_buf()))
    }

    /// Writes the report; `Err` as the report: the file is removed, so no empty report is left behind.
    fn deliver(self, report: Result<String, CliError>) -> Result<(), CliError> {
        match (self, report) {
            (Self::Stdout, Ok(text)) => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
            (Self::File(mut f, _), Ok(text)) => f.write_all(text.as_bytes()).map_err(err),
            (Self::Stdout, Err(e)) => Err(e),
            (Self::File(f, path), Err(e)) => {
                drop(f);
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }
}

fn lang(s: &str) -> Result<Lang, CliError> {
    Lang::parse(s).ok_or_else(|| CliError::Message("--lang must be nb or en".into()))
}

pub struct InsightArgs {
    pub config: Option<PathBuf>,
    pub patient: String,
    pub lang: String,
    pub format: String,
    pub out: Option<PathBuf>,
}

fn load(config: Option<&PathBuf>) -> Result<LoadedConfig, CliError> {
    match config {
        Some(p) => LoadedConfig::from_file(p),
        None => LoadedConfig::embedded(),
    }
    .map_err(err)
}

pub fn insight(a: InsightArgs) -> Result<(), CliError> {
    check_patient(&a.patient)?;
    let lang = lang(&a.lang)?;
    let format = insight::Format::parse(&a.format)
        .ok_or_else(|| CliError::Message("--format must be json, text or html".into()))?;
    let loaded = load(a.config.as_ref())?;
    let (tables, codes) = parts::tables(&loaded).map_err(err)?;
    let log = parts::open_log(&loaded).map_err(err)?;
    let sink = parts::open_writer(&loaded, xua_gateway::clock::system()).map_err(err)?;
    let dest = Destination::open(a.out.as_deref())?;
    let now = xua_gateway::clock::system().now();
    let result = insight::build(log.as_ref(), &tables, &codes, &a.patient, lang, now);
    let details = LogUse {
        requested_by: requested_by(),
        format: format.as_str().into(),
        language: Some(lang.code().into()),
        covers: result.as_ref().ok().and_then(|r| r.chain.covered()),
        listed: result.as_ref().map_or(0, |r| {
            u64::try_from(r.accesses.len() + r.refused.len()).unwrap_or(u64::MAX)
        }),
        ..LogUse::default()
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let recorded = usage::record(
        sink.as_ref(),
        now,
        Use {
            event: Event::InsightReport,
            patient: Some(&a.patient),
            request_id: &request_id,
            client_address: None,
            client_id: None,
            client_auth: None,
            client_cert_thumbprint: None,
            details,
        },
        result.as_ref().map(|_| ()).map_err(usage::Refused::of),
    )
    .map_err(|e| {
        CliError::Message(format!(
            "the request could not be recorded, so no report is given: {e}"
        ))
    });
    dest.deliver(recorded.and_then(|()| {
        let report = result.map_err(err)?;
        Ok(insight::render(&report, &tables, format))
    }))
}

pub struct ReviewArgs {
    pub config: Option<PathBuf>,
    pub period: String,
    pub seed: Option<u64>,
    pub sample: Option<u64>,
    pub watch_list: Option<PathBuf>,
    pub lang: String,
    pub format: String,
    pub out: Option<PathBuf>,
}

/// A seed from the operating system's random source, for a run that names none (it is recorded).
fn fresh_seed() -> Result<u64, CliError> {
    let mut bytes = [0u8; 8];
    openssl::rand::rand_bytes(&mut bytes).map_err(err)?;
    // Small enough to type back in: 15 decimal digits.
    Ok(u64::from_be_bytes(bytes) % 1_000_000_000_000_000)
}

pub fn review(a: ReviewArgs) -> Result<(), CliError> {
    let lang = lang(&a.lang)?;
    let format = review::Format::parse(&a.format)
        .ok_or_else(|| CliError::Message("--format must be html or csv".into()))?;
    let loaded = load(a.config.as_ref())?;
    let (tables, codes) = parts::tables(&loaded).map_err(err)?;
    let period = Period::parse(&a.period, &tables.zone).ok_or_else(|| {
        CliError::Message(
            "--period must be a quarter (2026-Q4), a month (2026-11), a year (2026) or days \
             (2026-10-01..2026-12-31)"
                .into(),
        )
    })?;
    let watch_list = parts::watch_list(&loaded, a.watch_list.as_deref()).map_err(err)?;
    let seed = match a.seed {
        Some(s) => s,
        None => fresh_seed()?,
    };
    let request = review::ReviewRequest {
        period,
        seed,
        sample: a.sample.unwrap_or(tables.flags.sample_size),
        watch_list,
        lang,
    };
    let log = parts::open_log(&loaded).map_err(err)?;
    let sink = parts::open_writer(&loaded, xua_gateway::clock::system()).map_err(err)?;
    let dest = Destination::open(a.out.as_deref())?;
    let now = xua_gateway::clock::system().now();
    let result = review::build(log.as_ref(), &tables, &codes, &request, now);
    let details = LogUse {
        requested_by: requested_by(),
        format: format.as_str().into(),
        language: Some(lang.code().into()),
        period: Some(request.period.label.clone()),
        seed: Some(seed),
        sample: Some(request.sample),
        covers: result.as_ref().ok().and_then(|r| r.chain.covered()),
        listed: result.as_ref().map_or(0, review::Review::items),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let recorded = usage::record(
        sink.as_ref(),
        now,
        Use {
            event: Event::LogReview,
            patient: None,
            request_id: &request_id,
            client_address: None,
            client_id: None,
            client_auth: None,
            client_cert_thumbprint: None,
            details,
        },
        result.as_ref().map(|_| ()).map_err(usage::Refused::of),
    )
    .map_err(|e| {
        CliError::Message(format!(
            "the run could not be recorded, so no report is given: {e}"
        ))
    });
    dest.deliver(recorded.and_then(|()| {
        let report = result.map_err(err)?;
        review::render(&report, &tables, format).map_err(CliError::Message)
    }))?;
    if a.seed.is_none() {
        eprintln!("seed {seed} (give --seed {seed} to draw the same sample again)");
    }
    Ok(())
}
