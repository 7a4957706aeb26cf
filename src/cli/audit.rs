//! `xua-gateway audit ...`: the data controller's and the patient's questions, answered from the database
//! `[audit] path` names (or PostgreSQL, with `[audit] store = "postgres"`). Read-only, except `import`,
//! which loads an `export` into an empty PostgreSQL log.

use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, Subcommand, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::CliError;
use xua_gateway::audit::sqlite::{self, Query, Stored};
use xua_gateway::audit::AuditRecord;
use xua_gateway::config::{AuditStore, LoadedConfig};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain from the first record (or the retention anchor) to the last; exits non-zero
    /// and names the first bad record when it is broken.
    Verify {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Records about one patient, one practitioner and/or a time range (filters combine).
    #[command(group(ArgGroup::new("filter").required(true).multiple(true).args(["patient", "practitioner", "since"])))]
    Query {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The patient's fødselsnummer or D-number: who accessed this patient's records.
        #[arg(long)]
        patient: Option<String>,
        /// The practitioner's fødselsnummer/D-number or HPR number: what this person accessed.
        #[arg(long)]
        practitioner: Option<String>,
        /// RFC 3339 time, inclusive.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339 time, exclusive.
        #[arg(long)]
        until: Option<String>,
        /// text (one line per record) or json (one JSON object per line).
        #[arg(long, value_enum, default_value_t = QueryFormat::Text)]
        format: QueryFormat,
        /// At most this many records, the oldest first (default: all).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Write a SQLite access log, every record with its hashes, to a new file of JSON lines (for `import`).
    Export {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The file to create (never overwritten; readable by its owner only).
        #[arg(long)]
        out: PathBuf,
    },
    /// Load an `export` into the empty PostgreSQL access log of `--config`, checking the chain line by line.
    Import {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The file `audit export` wrote.
        file: PathBuf,
    },
    /// A patient's insight report: every access to their information in plain words, newest first, and the
    /// refused attempts apart. Verifies the chain first; the request is recorded in the log.
    Insight {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The patient's fødselsnummer or D-number.
        #[arg(long)]
        patient: String,
        /// nb (bokmål) or en.
        #[arg(long, default_value = "nb")]
        lang: String,
        /// json (for a patient portal), text or html (one self-contained page).
        #[arg(long, default_value = "text")]
        format: String,
        /// Write to this new file (readable by its owner only) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The log control for a period: a reproducible random sample of granted accesses and the flags of
    /// mappings/review/flags.toml. Verifies the chain first; the run is recorded in the log.
    Review {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// 2026-Q4, 2026-11, 2026 or 2026-10-01..2026-12-31 (local days).
        #[arg(long)]
        period: String,
        /// The sample's seed (recorded in the report); a fresh one when not given.
        #[arg(long)]
        seed: Option<u64>,
        /// Accesses to sample (default: mappings/review/flags.toml [sample] size).
        #[arg(long)]
        sample: Option<u64>,
        /// Patients especially exposed to snooping, one identifier a line (default: [review] watch_list).
        #[arg(long)]
        watch_list: Option<PathBuf>,
        /// nb (bokmål) or en.
        #[arg(long, default_value = "nb")]
        lang: String,
        /// html (to tick off) or csv.
        #[arg(long, default_value = "html")]
        format: String,
        /// Write to this new file (readable by its owner only) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// One readable block per record.
    Text,
    /// One JSON object per line: `{"seq", "hash", "record"}`.
    Json,
}

fn load(config: Option<&PathBuf>) -> Result<LoadedConfig, CliError> {
    match config {
        Some(p) => LoadedConfig::from_file(p),
        None => LoadedConfig::embedded(),
    }
    .map_err(|e| CliError::Message(e.to_string()))
}

/// The log the configuration names: the SQLite file, or the PostgreSQL database.
enum Log {
    Sqlite(rusqlite::Connection),
    Postgres(xua_gateway::store::postgres::Database),
}

fn open_log(config: Option<&PathBuf>) -> Result<Log, CliError> {
    let loaded = load(config)?;
    if loaded.config.audit.store == AuditStore::Postgres {
        return xua_gateway::store::postgres::open_checked(&loaded, 1, "audit cli")
            .map(Log::Postgres)
            .map_err(|e| CliError::Message(e.0));
    }
    database(&loaded).map(Log::Sqlite)
}

fn database(loaded: &LoadedConfig) -> Result<rusqlite::Connection, CliError> {
    let audit = &loaded.config.audit;
    if audit.path.is_empty() {
        return Err(CliError::Message(format!(
            "{}: [audit] path is empty: there is no audit database to read",
            loaded.origin.label()
        )));
    }
    if audit.store != AuditStore::Sqlite {
        return Err(CliError::Message(
            "audit verify, query and export read the SQLite or PostgreSQL store; [audit] store is jsonl"
                .to_string(),
        ));
    }
    // Never create: a mistyped path must not look like an empty, perfectly valid log.
    sqlite::connect(&loaded.resolve_path(&audit.path), false).map_err(|e| CliError::Message(e.0))
}

fn millis(text: &str, what: &str) -> Result<i64, CliError> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        CliError::Message(format!(
            "--{what} must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z"
        ))
    })?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

fn io(e: std::io::Error) -> CliError {
    CliError::Output(e)
}

pub fn run(command: AuditCommand) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match command {
        AuditCommand::Verify { config } => {
            let report = match open_log(config.as_ref())? {
                Log::Sqlite(conn) => sqlite::verify(&conn),
                Log::Postgres(db) => xua_gateway::store::postgres::read::verify(&db),
            }
            .map_err(|e| CliError::Message(e.0))?;
            if let Some((seq, hash)) = &report.anchor {
                writeln!(
                    out,
                    "anchor: records up to {seq} were pruned; last pruned hash {hash}"
                )
                .map_err(io)?;
            }
            match &report.broken {
                None => {
                    match &report.head {
                        Some((seq, hash)) => writeln!(
                            out,
                            "ok: {} records verified; head is record {seq}, hash {hash}",
                            report.records
                        ),
                        None => writeln!(out, "ok: the log holds no records"),
                    }
                    .map_err(io)?;
                    Ok(())
                }
                Some(b) => {
                    writeln!(
                        out,
                        "BROKEN at record {}: {} ({} records before it verified)",
                        b.seq, b.reason, report.records
                    )
                    .map_err(io)?;
                    Err(CliError::Message(format!(
                        "the audit chain is broken at record {}",
                        b.seq
                    )))
                }
            }
        }
        AuditCommand::Query {
            config,
            patient,
            practitioner,
            since,
            until,
            format,
            limit,
        } => {
            let log = open_log(config.as_ref())?;
            let q = Query {
                patient,
                practitioner,
                since_ms: since.as_deref().map(|s| millis(s, "since")).transpose()?,
                until_ms: until.as_deref().map(|s| millis(s, "until")).transpose()?,
                limit,
            };
            let rows = match log {
                Log::Sqlite(conn) => sqlite::query(&conn, &q),
                Log::Postgres(db) => xua_gateway::store::postgres::read::query(&db, &q),
            }
            .map_err(|e| CliError::Message(e.0))?;
            for row in &rows {
                match format {
                    QueryFormat::Json => {
                        let v = serde_json::json!({
                            "seq": row.seq,
                            "hash": row.hash,
                            "record": row.record,
                        });
                        writeln!(out, "{v}").map_err(io)?;
                    }
                    QueryFormat::Text => write_text(&mut out, row).map_err(io)?,
                }
            }
            if format == QueryFormat::Text {
                writeln!(out, "{} record(s)", rows.len()).map_err(io)?;
            }
            Ok(())
        }
        AuditCommand::Export { config, out: file } => {
            let loaded = load(config.as_ref())?;
            database(&loaded)?;
            let path = loaded.resolve_path(&loaded.config.audit.path);
            let summary = xua_gateway::store::transfer::export(&path, &file)
                .map_err(|e| CliError::Message(e.0))?;
            write_summary(&mut out, "exported", &summary).map_err(io)
        }
        AuditCommand::Import { config, file } => {
            let Log::Postgres(db) = open_log(config.as_ref())? else {
                return Err(CliError::Message(
                    "audit import loads into PostgreSQL: [audit] store must be postgres"
                        .to_string(),
                ));
            };
            let now = xua_gateway::clock::rfc3339(xua_gateway::clock::system().now());
            let summary = xua_gateway::store::transfer::import(&db, &file, &now)
                .map_err(|e| CliError::Message(e.0))?;
            write_summary(&mut out, "imported", &summary).map_err(io)
        }
        AuditCommand::Insight {
            config,
            patient,
            lang,
            format,
            out: file,
        } => super::reports::insight(super::reports::InsightArgs {
            config,
            patient,
            lang,
            format,
            out: file,
        }),
        AuditCommand::Review {
            config,
            period,
            seed,
            sample,
            watch_list,
            lang,
            format,
            out: file,
        } => super::reports::review(super::reports::ReviewArgs {
            config,
            period,
            seed,
            sample,
            watch_list,
            lang,
            format,
            out: file,
        }),
    }
}

fn write_summary(
    out: &mut impl Write,
    what: &str,
    s: &xua_gateway::store::transfer::Summary,
) -> std::io::Result<()> {
    match &s.head {
        Some((seq, hash)) => writeln!(
            out,
            "{what} {} records; head is record {seq}, hash {hash}",
            s.records
        ),
        None => writeln!(out, "{what} 0 records"),
    }
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

/// A block a patient or a controller can read without knowing the schema (Normen: logs in a form the
/// patient can interpret): who, from which organisation, on what grounds, about whom, when.
fn write_text(out: &mut impl Write, row: &Stored) -> std::io::Result<()> {
    let r: &AuditRecord = &row.record;
    writeln!(
        out,
        "#{} {} {} {}{}",
        row.seq,
        xua_gateway::clock::rfc3339(r.time),
        r.outcome.as_str(),
        r.direction.as_str(),
        match (&r.error_class, &r.error) {
            (Some(c), Some(m)) => format!(" [{c}: {m}]"),
            (Some(c), None) => format!(" [{c}]"),
            _ => String::new(),
        }
    )?;
    if let Some(ctx) = &r.context {
        let p = &ctx.practitioner;
        let ident = p.identifier.as_ref();
        writeln!(
            out,
            "  who:       {} (id {}, HPR {}, authorisation {})",
            or_dash(ident.and_then(|i| i.name.as_deref())),
            or_dash(ident.map(|i| i.id.as_str())),
            or_dash(p.hpr_nr.as_ref().map(|h| h.id.as_str())),
            p.authorization
                .iter()
                .map(|c| c.text.as_deref().unwrap_or(&c.code))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        let org = |i: Option<&xua_gateway::model::Identifier>| match i {
            Some(i) => format!("{} ({})", i.name.as_deref().unwrap_or("-"), i.id),
            None => "-".to_string(),
        };
        writeln!(
            out,
            "  where:     {} / {} / {}",
            org(p.legal_entity.as_ref()),
            org(p.point_of_care.as_ref()),
            org(p.department.as_ref())
        )?;
        let care = &ctx.care_relationship;
        let coded = |c: &xua_gateway::model::Coded| match &c.text {
            Some(t) => format!("{} {t}", c.code),
            None => c.code.clone(),
        };
        writeln!(
            out,
            "  grounds:   purpose {}; service {}{}; details {}; decision {}",
            if care.purpose_of_use.is_empty() {
                "-".to_string()
            } else {
                care.purpose_of_use
                    .iter()
                    .map(coded)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            care.healthcare_service
                .as_ref()
                .map_or("-".to_string(), coded),
            match &r.fastlege {
                Some(f) => format!(
                    " (set by rule {}, register: {}; was {})",
                    f.rule,
                    f.register_answer,
                    f.original.as_ref().map_or("-".to_string(), coded)
                ),
                None => String::new(),
            },
            care.purpose_of_use_details
                .as_ref()
                .map_or("-".to_string(), coded),
            care.decision_ref.as_ref().map_or("-".to_string(), |d| {
                format!(
                    "{}{}",
                    d.id,
                    if d.user_selected == Some(true) {
                        " (selected by the user)"
                    } else {
                        ""
                    }
                )
            }),
        )?;
        writeln!(
            out,
            "  patient:   {}",
            or_dash(
                ctx.patients
                    .first()
                    .and_then(|p| p.identifier.as_ref())
                    .map(|i| i.id.as_str())
            )
        )?;
    }
    writeln!(
        out,
        "  token:     in {} from {}; out {} for {} valid until {}",
        or_dash(r.input_token_id.as_deref()),
        or_dash(r.input_issuer.as_deref()),
        or_dash(r.output_token_id.as_deref()),
        or_dash(r.output_audience.as_deref()),
        or_dash(r.output_expires.map(xua_gateway::clock::rfc3339).as_deref()),
    )?;
    writeln!(
        out,
        "  request:   {} from {}",
        r.request_id,
        or_dash(r.client_address.as_deref())
    )
}
