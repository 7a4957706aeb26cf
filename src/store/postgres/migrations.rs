//! The schema, as numbered migrations compiled into the binary. `xua-gateway db migrate` applies the missing
//! ones in one transaction under an advisory lock (two instances migrating at once take turns), and records
//! each in `schema_version`. Opening a store checks that the database is at exactly the version this build
//! knows: older means "run `db migrate`", newer means this build is older than the schema.
//!
//! A table of SQL strings rather than a migration framework: there are few migrations, they are reviewed as
//! SQL, and the check at start-up is one query on a table whose shape this module owns.

use super::{Database, DbError};

pub struct Migration {
    pub version: i32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// In order; never edit one that has been released, add the next.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "replay entries, the access log and its chain head",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// The version this build reads and writes.
pub fn current() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Key of the advisory lock `db migrate` holds (any fixed number; "xuamigr" in ASCII).
const MIGRATE_LOCK: i64 = 0x0078_7561_6d69_6772;

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

fn newer(found: i32) -> DbError {
    DbError(format!(
        "the database schema is at version {found}, newer than this build of xua-gateway knows ({}): \
         run a build at least as new as the one that migrated it",
        current()
    ))
}

/// Applies the missing migrations; returns the versions applied (empty when the schema was current).
pub fn migrate(db: &Database) -> Result<Vec<i32>, DbError> {
    let mut conn = db.get()?;
    let mut tx = conn.transaction().map_err(|e| db.error("migrate", &e))?;
    // A migration of a large table may take longer than any request should: the operator runs this on
    // purpose, so the session's statement_timeout does not apply.
    tx.batch_execute("SET LOCAL statement_timeout = 0")
        .map_err(|e| db.error("migrate", &e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(|e| db.error("migrate", &e))?;
    tx.batch_execute(VERSION_TABLE)
        .map_err(|e| db.error("migrate", &e))?;
    let found: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .map_err(|e| db.error("migrate", &e))?
        .get(0);
    if found > current() {
        return Err(newer(found));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(m.sql)
            .map_err(|e| db.error(&format!("migration {} ({})", m.version, m.description), &e))?;
        tx.execute(
            "INSERT INTO schema_version (version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )
        .map_err(|e| db.error("migrate", &e))?;
        applied.push(m.version);
    }
    tx.commit().map_err(|e| db.error("migrate", &e))?;
    Ok(applied)
}

/// The schema version the database is at (0: no xua-gateway schema at all).
pub fn version(db: &Database) -> Result<i32, DbError> {
    let mut conn = db.get()?;
    let exists: bool = conn
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .map_err(|e| db.error("reading the schema version", &e))?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(conn
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .map_err(|e| db.error("reading the schema version", &e))?
        .get(0))
}

/// Refuses a database whose schema this build does not know.
pub fn check(db: &Database) -> Result<(), DbError> {
    let found = version(db)?;
    match found.cmp(&current()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(newer(found)),
        std::cmp::Ordering::Less if found == 0 => Err(DbError(format!(
            "{} has no xua-gateway schema: run `xua-gateway db migrate --config ...` first",
            db.label()
        ))),
        std::cmp::Ordering::Less => Err(DbError(format!(
            "the schema of {} is at version {found}, this build needs {}: run `xua-gateway db migrate --config ...`",
            db.label(),
            current()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i32::try_from(i).unwrap_or(0) + 1);
        }
    }

    /// The access log's columns in the first migration are exactly the ones the chain hashes, in order.
    #[test]
    fn the_audit_table_has_every_hashed_column_in_order() {
        let sql = MIGRATIONS[0].sql;
        let start = sql.find("CREATE TABLE audit_record (").unwrap_or(0);
        let body = &sql[start..];
        let end = body.find(");").unwrap_or(body.len());
        let names: Vec<&str> = body[..end]
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| !n.starts_with("--"))
            .map(|n| n.trim_matches('"'))
            .collect();
        let mut expected = vec!["seq"];
        expected.extend_from_slice(crate::audit::columns::COLUMNS);
        expected.extend_from_slice(&["prev_hash", "hash", "chain_format"]);
        assert_eq!(names, expected);
    }
}
