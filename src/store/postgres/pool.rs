//! Connections to PostgreSQL: a small r2d2 pool of synchronous `postgres` clients, with TLS through the
//! openssl crate the gateway already links.
//!
//! Every use of a connection happens off the async executor: on actix's blocking pool (the pipeline, which
//! `web::block` runs, and `/readyz`) or on a thread of the store's own (the audit writer, the replay purger).
//! What bounds how long a thread waits is configuration: `connect_timeout_ms` for a connection and
//! `statement_timeout_ms` (set as a session parameter) for every statement.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use postgres_openssl::MakeTlsConnector;
use r2d2_postgres::PostgresConnectionManager;

use super::DbError;
use crate::config::database::DatabaseConfig;
use crate::config::LoadedConfig;

type Manager = PostgresConnectionManager<MakeTlsConnector>;
pub type Conn = r2d2::PooledConnection<Manager>;

/// What the pool needs, resolved from the configuration (the connection string included).
#[derive(Clone)]
pub struct Settings {
    url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("Settings")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn new(url: &str, d: &DatabaseConfig) -> Self {
        Self {
            url: url.to_string(),
            pool_size: d.pool_size,
            connect_timeout: Duration::from_millis(d.connect_timeout_ms),
            statement_timeout: Duration::from_millis(d.statement_timeout_ms),
            ca_pem: None,
        }
    }

    /// From the loaded configuration: the connection string from the environment or `url_file`, the CA
    /// file read relative to the configuration.
    pub fn from_config(loaded: &LoadedConfig) -> Result<Self, DbError> {
        let d = &loaded.config.database;
        let url = crate::config::database::connection_string(loaded).map_err(DbError)?;
        let mut s = Self::new(&url, d);
        if let Some(ca) = &d.ca_file {
            s.ca_pem = Some(loaded.read_file(ca).map_err(|e| DbError(e.to_string()))?);
        }
        Ok(s)
    }

    pub fn with_pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }
}

/// Where the pool connects, for messages: host(s), port(s) and database, never the user or password.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "PostgreSQL {}:{}/{}",
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("-")
    )
}

fn tls(settings: &Settings) -> Result<MakeTlsConnector, DbError> {
    let tls_err =
        |e: openssl::error::ErrorStack| DbError(format!("TLS set-up for PostgreSQL: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(tls_err)?;
    if let Some(pem) = &settings.ca_pem {
        for cert in X509::stack_from_pem(pem).map_err(tls_err)? {
            builder.cert_store_mut().add_cert(cert).map_err(tls_err)?;
        }
    }
    Ok(MakeTlsConnector::new(builder.build()))
}

/// Logs the pool's connection failures through `tracing` (r2d2 would use the `log` crate, which nothing
/// here collects). A PostgreSQL error message names no value; the connection string is never in it.
/// The last failure is kept, since r2d2's own timeout error says only that it timed out.
#[derive(Debug)]
struct LogErrors {
    label: Arc<str>,
    last: Arc<Mutex<Option<String>>>,
}

impl r2d2::HandleError<postgres::Error> for LogErrors {
    fn handle_error(&self, error: postgres::Error) {
        let text = super::describe_error(&error);
        tracing::warn!(database = %self.label, error = %text, "cannot connect to the database");
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    }
}

fn why(last: &Mutex<Option<String>>) -> String {
    last.lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| "every connection is busy".to_string())
}

/// A pool of connections plus what it takes to tell a stale connection from a good one.
pub struct Database {
    pool: r2d2::Pool<Manager>,
    label: Arc<str>,
    connect_timeout: Duration,
    started: Instant,
    /// Milliseconds since `started` of the last failure seen on any connection (0: none yet). Connections
    /// checked out after a failure are tested first: when the server restarted, every idle connection is
    /// dead, and one test per connection is cheaper than one failed request per connection.
    last_failure_ms: AtomicU64,
    /// Why the last connection attempt failed.
    last_error: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Per-connection state kept in the pool's extensions: when it was last known good.
struct CheckedAt(u64);

impl Database {
    /// Opens the pool and one connection (so that a wrong address or password stops start-up).
    pub fn open(settings: &Settings, purpose: &str) -> Result<Self, DbError> {
        let mut config = postgres::Config::from_str(&settings.url).map_err(|e| {
            DbError(format!(
                "the PostgreSQL connection string is not valid: {}",
                super::describe_error(&e)
            ))
        })?;
        let label: Arc<str> = Arc::from(describe(&config));
        let statement_ms = settings.statement_timeout.as_millis();
        // The session's own limits: no statement runs longer than statement_timeout (the chain lock's wait
        // included), and a transaction left open by an instance that vanished mid-commit is ended after
        // twice that, so the chain lock never stays taken.
        let mut options = config.get_options().unwrap_or("").to_string();
        options.push_str(&format!(
            " -c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={}",
            statement_ms.saturating_mul(2)
        ));
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name(&format!("xua-gateway {purpose}"));
        }
        config.connect_timeout(settings.connect_timeout);
        config.keepalives_idle(Duration::from_secs(30));
        let manager = PostgresConnectionManager::new(config, tls(settings)?);
        let last_error = Arc::new(Mutex::new(None));
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size.max(1))
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(settings.connect_timeout)
            .error_handler(Box::new(LogErrors {
                label: label.clone(),
                last: last_error.clone(),
            }))
            .build(manager)
            .map_err(|_| DbError(format!("cannot connect to {label}: {}", why(&last_error))))?;
        Ok(Self {
            pool,
            label,
            connect_timeout: settings.connect_timeout,
            started: Instant::now(),
            last_failure_ms: AtomicU64::new(0),
            last_error,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Notes that a statement failed on some connection: the others may be stale too.
    pub fn failed(&self) {
        self.last_failure_ms.store(self.now_ms(), Ordering::SeqCst);
    }

    /// A connection, waiting at most the connect timeout for one to be free or opened.
    pub fn get(&self) -> Result<Conn, DbError> {
        self.get_within(self.connect_timeout)
    }

    pub fn get_within(&self, timeout: Duration) -> Result<Conn, DbError> {
        let deadline = crate::clock::deadline(timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut conn = self
                .pool
                .get_timeout(left.max(Duration::from_millis(1)))
                .map_err(|_| {
                    self.failed();
                    DbError(format!(
                        "no connection to {} within {} ms: {}",
                        self.label,
                        timeout.as_millis(),
                        why(&self.last_error)
                    ))
                })?;
            let failure = self.last_failure_ms.load(Ordering::SeqCst);
            let checked = r2d2::PooledConnection::extensions(&conn)
                .get::<CheckedAt>()
                .map_or(0, |c| c.0);
            if failure == 0 || checked > failure {
                return Ok(conn);
            }
            // Checked out after a failure elsewhere: test it (a dead one closes, and the pool drops it).
            let now = self.now_ms();
            match conn.is_valid(left.max(Duration::from_millis(100))) {
                Ok(()) => {
                    r2d2::PooledConnection::extensions_mut(&mut conn).insert(CheckedAt(now));
                    *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    return Ok(conn);
                }
                Err(_) if Instant::now() < deadline => continue,
                Err(e) => {
                    return Err(DbError(format!(
                        "cannot reach {}: {}",
                        self.label,
                        super::describe_error(&e)
                    )))
                }
            }
        }
    }

    /// `/readyz`: a connection within the connect timeout, to a primary (a standby cannot take writes).
    pub fn ready(&self) -> Result<(), DbError> {
        let mut conn = self.get()?;
        let row = conn
            .query_one("SELECT pg_is_in_recovery()", &[])
            .map_err(|e| self.error("readiness check", &e))?;
        let standby: bool = row.get(0);
        if standby {
            return Err(DbError(format!("{} is a read-only standby", self.label)));
        }
        Ok(())
    }

    /// A statement's failure as a message (and a note that connections may be stale).
    pub fn error(&self, what: &str, e: &postgres::Error) -> DbError {
        self.failed();
        DbError(format!(
            "{what} on {}: {}",
            self.label,
            super::describe_error(e)
        ))
    }
}
