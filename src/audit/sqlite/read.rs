//! Reading the log back: verifying the hash chain and answering who-looked-at-what queries.

use super::*;

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first record that does not verify (or the first missing sequence number).
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    /// The anchor the chain starts from after pruning (`seq`, hash), if any.
    pub anchor: Option<(i64, String)>,
    /// The last good record (`seq`, hash): record it elsewhere to detect truncation later.
    pub head: Option<(i64, String)>,
    pub broken: Option<Broken>,
}

fn cell_of(v: ValueRef<'_>) -> Option<Cell> {
    match v {
        ValueRef::Null => Some(Cell::Null),
        ValueRef::Integer(i) => Some(Cell::Int(i)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .map(|s| Cell::Text(s.to_string())),
        ValueRef::Real(_) | ValueRef::Blob(_) => None,
    }
}

/// Walks the whole chain from the anchor (or genesis) and stops at the first record that does not verify.
pub fn verify(conn: &Connection) -> Result<VerifyReport, AuditError> {
    let anchor = anchor(conn)?;
    let mut prev = anchor.unwrap_or(Head {
        seq: 0,
        hash: GENESIS,
    });
    let mut report = VerifyReport {
        records: 0,
        anchor: anchor.map(|a| (a.seq, chain::to_hex(&a.hash))),
        head: None,
        broken: None,
    };
    // A version 1 database that nothing has migrated yet lacks the format 2 columns: read what it has.
    let present = table_columns(conn)?;
    let columns: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .take_while(|c| present.iter().any(|p| p == c))
        .collect();
    let formats = formats(conn)?;
    let sql = format!(
        "SELECT seq, {}, prev_hash, hash FROM audit_record ORDER BY seq",
        columns.join(", ")
    );
    let mut stmt = conn.prepare(&sql).map_err(db_err("verify"))?;
    let mut rows = stmt.query([]).map_err(db_err("verify"))?;
    let n = columns.len();
    while let Some(row) = rows.next().map_err(db_err("verify"))? {
        let seq: i64 = row.get(0).map_err(db_err("verify"))?;
        let broken = |seq: i64, reason: String| Some(Broken { seq, reason });
        if seq != prev.seq + 1 {
            report.broken = broken(
                prev.seq + 1,
                format!(
                    "record {} is missing: the chain goes from {} to {seq}",
                    prev.seq + 1,
                    prev.seq
                ),
            );
            break;
        }
        let format = formats.of(seq);
        let hashed = columns::columns_of(format).len();
        if hashed > n {
            report.broken = broken(
                seq,
                "the record is of a chain format whose columns the table lacks".to_string(),
            );
            break;
        }
        let mut cells = Vec::with_capacity(n);
        for i in 1..=n {
            match row.get_ref(i).ok().and_then(cell_of) {
                Some(c) => cells.push(c),
                None => {
                    let column = columns.get(i - 1).copied().unwrap_or("?");
                    report.broken = broken(seq, format!("column {column} has a foreign type"));
                    break;
                }
            }
        }
        if report.broken.is_some() {
            break;
        }
        // A record written before a column existed has nothing in it: anything there was added later.
        let later = cells.split_off(hashed);
        if let Some(i) = later.iter().position(|c| *c != Cell::Null) {
            let column = columns.get(hashed + i).copied().unwrap_or("?");
            report.broken = broken(
                seq,
                format!("column {column} is set in a record written before the column existed"),
            );
            break;
        }
        let prev_hash: String = row.get(n + 1).map_err(db_err("verify"))?;
        let stored: String = row.get(n + 2).map_err(db_err("verify"))?;
        if chain::from_hex(&prev_hash) != Some(prev.hash) {
            report.broken = broken(
                seq,
                format!("prev_hash does not match the hash of record {}", prev.seq),
            );
            break;
        }
        let computed = chain::link_as(format, &prev.hash, seq, &cells);
        if chain::from_hex(&stored) != Some(computed) {
            report.broken = broken(
                seq,
                "the record's contents do not match its hash (changed after writing)".to_string(),
            );
            break;
        }
        report.records += 1;
        prev = Head {
            seq,
            hash: computed,
        };
        report.head = Some((seq, stored));
    }
    Ok(report)
}

/// What `audit query` asks for; filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub patient: Option<String>,
    /// Fødselsnummer/D-number or HPR number.
    pub practitioner: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: Option<u64>,
}

/// A stored record with its place in the chain.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: i64,
    pub hash: String,
    pub record: AuditRecord,
}

pub fn query(conn: &Connection, q: &Query) -> Result<Vec<Stored>, AuditError> {
    let mut sql = String::from("SELECT seq, hash, record_json FROM audit_record WHERE 1=1");
    let mut params: Vec<Value> = Vec::new();
    if let Some(p) = &q.patient {
        params.push(Value::Text(p.clone()));
        sql.push_str(&format!(" AND patient_id = ?{}", params.len()));
    }
    if let Some(p) = &q.practitioner {
        params.push(Value::Text(p.clone()));
        let i = params.len();
        sql.push_str(&format!(" AND (practitioner_id = ?{i} OR hpr_nr = ?{i})"));
    }
    if let Some(t) = q.since_ms {
        params.push(Value::Integer(t));
        sql.push_str(&format!(" AND time_ms >= ?{}", params.len()));
    }
    if let Some(t) = q.until_ms {
        params.push(Value::Integer(t));
        sql.push_str(&format!(" AND time_ms < ?{}", params.len()));
    }
    sql.push_str(" ORDER BY seq");
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    let mut stmt = conn.prepare(&sql).map_err(db_err("query"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db_err("query"))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, hash, json) = row.map_err(db_err("query"))?;
        let record = serde_json::from_str(&json)
            .map_err(|e| AuditError(format!("record {seq} is not readable: {e}")))?;
        out.push(Stored { seq, hash, record });
    }
    Ok(out)
}

/// The replay-cache entries of exchanges that issued a token at or after `since_ms` and whose input token
/// could still be accepted at `now`: what a restarted gateway must go on refusing.
pub fn replay_entries(
    conn: &Connection,
    since_ms: i64,
    now: time::OffsetDateTime,
) -> Result<Vec<(crate::replay::ReplayKey, time::OffsetDateTime)>, AuditError> {
    let mut stmt = conn
        .prepare(
            "SELECT json_extract(record_json, '$.replay.key'), json_extract(record_json, '$.replay.until')
             FROM audit_record
             WHERE time_ms >= ?1 AND outcome = 'issued'
               AND json_extract(record_json, '$.replay.key') IS NOT NULL
             ORDER BY seq",
        )
        .map_err(db_err("reading replay entries"))?;
    let rows = stmt
        .query_map([since_ms], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db_err("reading replay entries"))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, until) = row.map_err(db_err("reading replay entries"))?;
        let until =
            time::OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
                .ok();
        match (crate::replay::ReplayKey::from_hex(&key), until) {
            (Some(key), Some(until)) if until > now => out.push((key, until)),
            (Some(_), Some(_)) => {}
            _ => {
                return Err(AuditError(
                    "an issued record's replay entry is malformed".to_string(),
                ))
            }
        }
    }
    Ok(out)
}
