//! `xua-gateway db ...`: the PostgreSQL schema of the cluster stores.

use std::path::PathBuf;

use clap::Subcommand;

use super::postgres::{migrations, Database, Settings};
use crate::config::LoadedConfig;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations this build carries to the database of `[database]` (safe to run from
    /// several hosts at once, and again: applied ones are skipped).
    Migrate {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the database's schema version and the one this build needs.
    Status {
        /// The configuration file (TOML); without it, the embedded sample configuration (samples/config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbCliError(pub String);

fn open(config: Option<&PathBuf>) -> Result<Database, DbCliError> {
    let loaded = match config {
        Some(p) => LoadedConfig::from_file(p),
        None => LoadedConfig::embedded(),
    }
    .map_err(|e| DbCliError(e.to_string()))?;
    let settings = Settings::from_config(&loaded)
        .map_err(|e| DbCliError(e.0))?
        .with_pool_size(1);
    Database::open(&settings, "db").map_err(|e| DbCliError(e.0))
}

pub fn run(command: DbCommand) -> Result<(), DbCliError> {
    match command {
        DbCommand::Migrate { config } => {
            let db = open(config.as_ref())?;
            let applied = migrations::migrate(&db).map_err(|e| DbCliError(e.0))?;
            if applied.is_empty() {
                println!(
                    "{}: schema is current (version {})",
                    db.label(),
                    migrations::current()
                );
            } else {
                for v in &applied {
                    let what = migrations::MIGRATIONS
                        .iter()
                        .find(|m| m.version == *v)
                        .map_or("", |m| m.description);
                    println!("{}: applied migration {v}: {what}", db.label());
                }
            }
            Ok(())
        }
        DbCommand::Status { config } => {
            let db = open(config.as_ref())?;
            let found = migrations::version(&db).map_err(|e| DbCliError(e.0))?;
            println!(
                "{}: schema version {found}; this build needs {}",
                db.label(),
                migrations::current()
            );
            migrations::check(&db).map_err(|e| DbCliError(e.0))
        }
    }
}
