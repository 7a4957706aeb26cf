//! Two guards against an access log that silently disappears.
//!
//! - [`FileIdentity`]: the database file the store opened, by device and inode. SQLite keeps writing to an
//!   open file after its path was deleted or replaced, so every "committed" record would go to a file nobody
//!   can read again. Before each commit and in readiness the path is checked to still name that file; if not,
//!   nothing is committed (the request gets 503) and the log says so loudly.
//! - The head file (`[audit] head_file`, by default the database path with `.head` appended): the chain's
//!   last sequence number and hash, rewritten (atomically, at most once a second, and at shutdown) after
//!   commits. At start-up a database whose chain does not reach that head (empty, shorter, or with another
//!   record there) is refused: a new chain never silently replaces an old one. To start a new chain on
//!   purpose, move the head file aside together with the old database (README.md, "The access log").

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use super::{anchor, chain, db_err, AuditError, Head};

/// The file a path named when the store opened it.
#[derive(Debug, Clone)]
pub(super) struct FileIdentity {
    path: PathBuf,
    #[cfg(unix)]
    id: (u64, u64),
}

impl FileIdentity {
    pub(super) fn of(path: &Path) -> Result<Self, AuditError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| AuditError(format!("cannot read {}: {e}", path.display())))?;
        #[cfg(not(unix))]
        let _ = meta;
        Ok(Self {
            path: path.to_path_buf(),
            #[cfg(unix)]
            id: {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino())
            },
        })
    }

    /// Whether the path still names the file that was opened.
    pub(super) fn check(&self) -> Result<(), AuditError> {
        let gone = |why: &str| {
            AuditError(format!(
                "the audit database {} {why} since it was opened; records written now would be lost, so \
                 nothing is committed until it is restored (or the service is restarted on a database whose \
                 chain reaches the head file)",
                self.path.display()
            ))
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata(&self.path) {
                Ok(meta) if (meta.dev(), meta.ino()) == self.id => Ok(()),
                Ok(_) => Err(gone("was replaced by another file")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone("was deleted")),
                Err(e) => Err(gone(&format!("cannot be looked at ({e})"))),
            }
        }
        #[cfg(not(unix))]
        {
            if self.path.exists() {
                Ok(())
            } else {
                Err(gone("was deleted"))
            }
        }
    }
}

/// The head file for a database (`<database>.head` unless configured).
pub fn default_head_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// Reads a head file: `seq hash` on one line. Absent is `None`; unreadable is an error.
fn read_head(path: &Path) -> Result<Option<Head>, AuditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError(format!("cannot read {}: {e}", path.display()))),
    };
    let malformed = || {
        AuditError(format!(
            "{} is not a chain head (\"<seq> <sha256 hex>\")",
            path.display()
        ))
    };
    let mut parts = text.split_whitespace();
    let seq = parts
        .next()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(malformed)?;
    let hash = parts
        .next()
        .and_then(chain::from_hex)
        .ok_or_else(malformed)?;
    Ok(Some(Head { seq, hash }))
}

/// Writes the head atomically (a temporary file beside it, synced, then renamed over it).
pub(super) fn write_head(path: &Path, head: &Head) -> Result<(), AuditError> {
    let fail = |e: std::io::Error| AuditError(format!("cannot write {}: {e}", path.display()));
    let tmp = {
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(fail)?;
    writeln!(file, "{} {}", head.seq, chain::to_hex(&head.hash)).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// At start-up: the database's chain must reach the head the head file recorded. The first start on a
/// database that has records (an older version, or a head file that was moved aside) writes it.
pub(super) fn check_head(conn: &Connection, db: &Path, head_file: &Path) -> Result<(), AuditError> {
    let ours = super::load_head(conn)?;
    let Some(recorded) = read_head(head_file)? else {
        if ours.seq > 0 {
            tracing::info!(
                head_file = %head_file.display(),
                seq = ours.seq,
                "no chain head file yet: writing it for the existing access log"
            );
            write_head(head_file, &ours)?;
        }
        return Ok(());
    };
    let refuse = |what: String| {
        AuditError(format!(
            "{what}: the access log at {} is not the one {} describes (deleted, truncated or replaced). \
             Restore the database; to start a new chain on purpose, move the head file aside with the old \
             database",
            db.display(),
            head_file.display()
        ))
    };
    if ours.seq == 0 {
        return Err(refuse(format!(
            "the database holds no records, but the chain had reached record {}",
            recorded.seq
        )));
    }
    if ours.seq < recorded.seq {
        return Err(refuse(format!(
            "the chain ends at record {}, but it had reached record {}",
            ours.seq, recorded.seq
        )));
    }
    let stored: Option<String> = conn
        .query_row(
            "SELECT hash FROM audit_record WHERE seq = ?1",
            [recorded.seq],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err("reading the recorded head"))?;
    let matches = match stored {
        Some(hash) => chain::from_hex(&hash) == Some(recorded.hash),
        // Pruned since: the anchor is that record, or lies past it (the chain went on from there).
        None => anchor(conn)?.is_some_and(|a| {
            (a.seq == recorded.seq && a.hash == recorded.hash) || a.seq > recorded.seq
        }),
    };
    if !matches {
        return Err(refuse(format!(
            "record {} is not the record the chain head names",
            recorded.seq
        )));
    }
    Ok(())
}
