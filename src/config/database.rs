//! `[database]` (the PostgreSQL connection shared by the replay and audit stores) and `[replay] store`.
//!
//! The connection string is never read from the configuration file: it names a password more often than
//! not, and configuration files end up in repositories and tickets. It comes from an environment variable
//! (`url_env`, default `XUA_DATABASE_URL`) or from a file of its own (`url_file`, readable by the service
//! only). A configuration that tries to put it (or a password) here is refused.

use serde::Deserialize;

use crate::config::{AuditStore, Config, LoadedConfig};

/// Where replay protection keeps the token ids it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReplayStore {
    /// In this process only (bounded by `[replay] capacity`): right for one instance.
    #[default]
    Memory,
    /// In the `replay` table of `[database]`: every instance sharing the database refuses a token any of
    /// them has exchanged.
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The environment variable holding the connection string (`postgres://user:password@host/db?sslmode=require`
    /// or `host=... user=... dbname=...`).
    #[serde(default = "default_url_env")]
    pub url_env: String,
    /// A file holding the connection string instead (relative to the configuration file); wins over `url_env`.
    #[serde(default)]
    pub url_file: Option<String>,
    /// Connections the replay store may hold open (each request checking a token uses one for one statement).
    /// The access log uses two of its own (the writer and the readiness probe).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How long opening a connection, or waiting for a free one, may take before the request is refused
    /// with 503.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Longest any statement may run (PostgreSQL `statement_timeout`), the wait for the access log's chain
    /// lock included; a transaction left idle this long by a vanished instance is ended too.
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// Extra PEM certificate(s) to trust for the server's TLS certificate (with `sslmode=require` or
    /// `prefer` in the connection string), besides the system's roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// How often each instance deletes expired replay entries.
    #[serde(default = "default_purge_interval_secs")]
    pub purge_interval_secs: u64,
    /// Most rows one purge statement deletes (a purge round repeats it until fewer are left).
    #[serde(default = "default_purge_batch")]
    pub purge_batch: u32,
    /// Never read: present only to refuse it with a clear message.
    #[serde(default)]
    pub url: Option<toml::Value>,
    /// Never read: present only to refuse it with a clear message.
    #[serde(default)]
    pub password: Option<toml::Value>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url_env: default_url_env(),
            url_file: None,
            pool_size: default_pool_size(),
            connect_timeout_ms: default_connect_timeout_ms(),
            statement_timeout_ms: default_statement_timeout_ms(),
            ca_file: None,
            purge_interval_secs: default_purge_interval_secs(),
            purge_batch: default_purge_batch(),
            url: None,
            password: None,
        }
    }
}

pub const DEFAULT_URL_ENV: &str = "XUA_DATABASE_URL";

fn default_url_env() -> String {
    DEFAULT_URL_ENV.to_string()
}
fn default_pool_size() -> u32 {
    8
}
fn default_connect_timeout_ms() -> u64 {
    2000
}
fn default_statement_timeout_ms() -> u64 {
    5000
}
fn default_purge_interval_secs() -> u64 {
    60
}
fn default_purge_batch() -> u32 {
    1000
}

/// Whether the configuration uses PostgreSQL at all.
pub fn uses_postgres(c: &Config) -> bool {
    c.replay.store == ReplayStore::Postgres || c.audit.store == AuditStore::Postgres
}

/// Checks `[database]` and how the stores refer to it; the message names the key.
pub fn check(c: &Config) -> Result<(), String> {
    let d = &c.database;
    if d.url.is_some() || d.password.is_some() {
        return Err(format!(
            "database.{} is not read from the configuration file: put the connection string in the environment \
             variable named by database.url_env ({}) or in the file named by database.url_file",
            if d.url.is_some() { "url" } else { "password" },
            d.url_env
        ));
    }
    let valid_name = d
        .url_env
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && d.url_env
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if !valid_name {
        // Said without the value: a connection string pasted here would otherwise be echoed.
        return Err(
            "database.url_env must be the name of an environment variable (letters, digits, _), not a connection string"
                .to_string(),
        );
    }
    if d.pool_size == 0 || d.pool_size > 256 {
        return Err("database.pool_size must be between 1 and 256".to_string());
    }
    if d.connect_timeout_ms == 0 || d.statement_timeout_ms < 100 {
        return Err(
            "database.connect_timeout_ms must be at least 1 and database.statement_timeout_ms at least 100"
                .to_string(),
        );
    }
    if d.purge_interval_secs == 0 || d.purge_batch == 0 {
        return Err(
            "database.purge_interval_secs and database.purge_batch must be at least 1".to_string(),
        );
    }
    if c.audit.store == AuditStore::Postgres && !c.audit.path.is_empty() {
        return Err(
            "audit.path names a file, but audit.store is postgres (the access log is in [database]): remove audit.path"
                .to_string(),
        );
    }
    Ok(())
}

/// The connection string, from `url_file` or the environment. Errors name where it was looked for, never
/// what was found.
pub fn connection_string(loaded: &LoadedConfig) -> Result<String, String> {
    let d = &loaded.config.database;
    if let Some(file) = &d.url_file {
        let bytes = loaded.read_file(file).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("database.url_file {file}: the file is not UTF-8"))?;
        let url = text.trim();
        if url.is_empty() {
            return Err(format!("database.url_file {file}: the file is empty"));
        }
        return Ok(url.to_string());
    }
    match std::env::var(&d.url_env) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_string()),
        Ok(_) => Err(format!("the environment variable {} (database.url_env) is empty", d.url_env)),
        Err(_) => Err(format!(
            "the environment variable {} (database.url_env) is not set: it holds the PostgreSQL connection string",
            d.url_env
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    fn sample(extra: &str) -> Result<LoadedConfig, crate::config::ConfigError> {
        let text = include_str!("../../samples/config.toml").to_string() + extra;
        LoadedConfig::parse(&text, Origin::Embedded)
    }

    #[test]
    fn the_defaults_use_no_database() {
        let loaded = sample("").unwrap_or_else(|e| panic!("{e}"));
        assert!(!uses_postgres(&loaded.config));
        assert_eq!(loaded.config.database.url_env, DEFAULT_URL_ENV);
    }

    #[test]
    fn a_password_or_url_in_the_file_is_refused_without_echoing_it() {
        for extra in [
            "\n[database]\nurl = \"postgres://gw:s3cret@db/xua\"\n",
            "\n[database]\npassword = \"s3cret\"\n",
            "\n[database]\nurl_env = \"postgres://gw:s3cret@db/xua\"\n",
        ] {
            let err = sample(extra).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("database."), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn postgres_stores_parse_and_a_leftover_audit_path_is_refused() {
        let text = include_str!("../../samples/config.toml")
            .replace("store = \"sqlite\"", "store = \"postgres\"")
            .replace("[replay]\n", "[replay]\nstore = \"postgres\"\n");
        let err = LoadedConfig::parse(&text, Origin::Embedded)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("remove audit.path"), "{err}");
        let text = text.replace("path = \"xua-gateway-audit.sqlite\"", "");
        let loaded = LoadedConfig::parse(&text, Origin::Embedded).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.config.replay.store, ReplayStore::Postgres);
        assert!(uses_postgres(&loaded.config));
    }

    #[test]
    fn bounds_are_checked() {
        for extra in [
            "\n[database]\npool_size = 0\n",
            "\n[database]\nstatement_timeout_ms = 10\n",
            "\n[database]\npurge_batch = 0\n",
        ] {
            assert!(sample(extra).is_err(), "{extra}");
        }
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let loaded = sample("\n[database]\nurl_env = \"XUA_TEST_SURELY_UNSET_VARIABLE\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = connection_string(&loaded).unwrap_err();
        assert!(err.contains("XUA_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    }
}
