//! The replay cache shared by every instance on one database.
//!
//! One statement decides each use: an `INSERT ... ON CONFLICT DO UPDATE ... WHERE` that inserts a new key,
//! replaces an expired entry, or (for a live one) changes nothing and returns no row. PostgreSQL's unique
//! index serialises two instances inserting the same key: the second waits for the first to commit and then
//! sees its row. There is no check-then-insert window.
//!
//! Expired rows are deleted by a background thread in bounded batches (`[database] purge_batch` rows per
//! statement, at most [`MAX_BATCHES_PER_ROUND`] statements per round), so a purge never holds locks on a
//! large part of the table. When the database cannot be reached a token is refused with UNAVAILABLE, never
//! accepted unchecked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::types::Type;
use time::OffsetDateTime;

use super::{Database, DbError};
use crate::clock::SharedClock;
use crate::error::Rejection;
use crate::replay::{ReplayCache, ReplayKey};

/// Statements per purge round; what is left waits for the next round.
pub const MAX_BATCHES_PER_ROUND: u32 = 100;

const INSERT: &str = "INSERT INTO replay (key, until) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until WHERE replay.until <= $3
     RETURNING (xmax = 0) AS inserted";
const LIVE: &str = "SELECT EXISTS (SELECT 1 FROM replay WHERE key = $1 AND until > $2)";
// SKIP LOCKED: two instances purging at once take different rows instead of queueing behind each other.
const PURGE: &str = "DELETE FROM replay WHERE ctid IN (
     SELECT ctid FROM replay WHERE until <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";

#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

pub struct PgReplayCache {
    db: Arc<Database>,
    /// The table's row count as of the last purge, plus this instance's inserts since (for the metric).
    entries: Arc<AtomicUsize>,
    purge_batch: u32,
    stop: Arc<Stop>,
    purger: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PgReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReplayCache")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn key_bytes(key: &ReplayKey) -> Vec<u8> {
    key.as_bytes().to_vec()
}

fn unavailable(e: &DbError) -> Rejection {
    tracing::error!(error = %e, "replay store unavailable");
    Rejection::unavailable(
        "the replay store cannot be reached, so the token cannot be checked; try again later",
    )
}

impl PgReplayCache {
    /// Uses `db` (whose schema the caller has checked) and starts the purger, every `purge_interval`.
    pub fn start(
        db: Database,
        clock: SharedClock,
        purge_interval: Duration,
        purge_batch: u32,
    ) -> Result<Self, DbError> {
        let db = Arc::new(db);
        let entries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(Stop::default());
        let cache = Self {
            db: db.clone(),
            entries: entries.clone(),
            purge_batch: purge_batch.max(1),
            stop: stop.clone(),
            purger: Mutex::new(None),
        };
        cache.refresh_count();
        let purger = Purger {
            db,
            entries,
            clock,
            interval: purge_interval,
            batch: cache.purge_batch,
            stop,
        };
        let handle = std::thread::Builder::new()
            .name("replay-purger".into())
            .spawn(move || purger.run())
            .map_err(|e| DbError(format!("cannot start the replay purger: {e}")))?;
        *cache.purger.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(cache)
    }

    /// One purge round as of `now`; returns how many expired entries were deleted.
    pub fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, DbError> {
        let n = purge(&self.db, now, self.purge_batch)?;
        self.refresh_count();
        Ok(n)
    }

    fn refresh_count(&self) {
        refresh_count(&self.db, &self.entries);
    }

    /// `/readyz`: the database reachable and writable.
    pub fn ready(&self) -> Result<(), String> {
        self.db.ready().map_err(|e| e.0)
    }
}

fn refresh_count(db: &Database, entries: &AtomicUsize) {
    let counted = db.get().and_then(|mut c| {
        c.query_one("SELECT count(*) FROM replay", &[])
            .map_err(|e| db.error("counting replay entries", &e))
    });
    match counted {
        Ok(row) => {
            let n: i64 = row.get(0);
            entries.store(usize::try_from(n).unwrap_or(0), Ordering::Relaxed);
        }
        Err(e) => tracing::warn!(error = %e, "cannot count replay entries"),
    }
}

/// Deletes expired entries, `batch` per statement, until fewer than `batch` were left or the round's
/// statements are used up.
fn purge(db: &Database, now: OffsetDateTime, batch: u32) -> Result<u64, DbError> {
    let mut conn = db.get()?;
    let limit = i64::from(batch);
    let mut total = 0u64;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let n = conn
            .execute_typed(PURGE, &[(&now, Type::TIMESTAMPTZ), (&limit, Type::INT8)])
            .map_err(|e| db.error("purging expired replay entries", &e))?;
        total += n;
        if n < u64::from(batch) {
            break;
        }
    }
    Ok(total)
}

struct Purger {
    db: Arc<Database>,
    entries: Arc<AtomicUsize>,
    clock: SharedClock,
    interval: Duration,
    batch: u32,
    stop: Arc<Stop>,
}

impl Purger {
    fn run(self) {
        loop {
            {
                let stopped = self.stop.stopped.lock().unwrap_or_else(|e| e.into_inner());
                let (stopped, _) = self
                    .stop
                    .cv
                    .wait_timeout_while(stopped, self.interval, |s| !*s)
                    .unwrap_or_else(|e| e.into_inner());
                if *stopped {
                    return;
                }
            }
            match purge(&self.db, self.clock.now(), self.batch) {
                Ok(0) => {}
                Ok(n) => tracing::debug!(entries = n, "purged expired replay entries"),
                Err(e) => tracing::warn!(error = %e, "replay purge failed; will retry"),
            }
            refresh_count(&self.db, &self.entries);
        }
    }
}

impl Drop for PgReplayCache {
    fn drop(&mut self) {
        *self.stop.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.cv.notify_all();
        if let Some(h) = self.purger.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl ReplayCache for PgReplayCache {
    fn check_and_insert(
        &self,
        key: &ReplayKey,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), Rejection> {
        if until <= now {
            // Nothing to remember (the token can no longer be accepted anyway); refuse it only if live.
            return if self.seen(key, now)? {
                Err(replayed())
            } else {
                Ok(())
            };
        }
        let bytes = key_bytes(key);
        let mut conn = self.db.get().map_err(|e| unavailable(&e))?;
        let rows = conn
            .query_typed(
                INSERT,
                &[
                    (&bytes, Type::BYTEA),
                    (&until, Type::TIMESTAMPTZ),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .map_err(|e| unavailable(&self.db.error("replay check", &e)))?;
        match rows.first() {
            None => Err(replayed()),
            Some(row) => {
                if row.get::<_, bool>(0) {
                    self.entries.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
        }
    }

    fn release(&self, key: &ReplayKey) {
        let bytes = key_bytes(key);
        let released = self.db.get().and_then(|mut c| {
            c.execute_typed(
                "DELETE FROM replay WHERE key = $1",
                &[(&bytes, Type::BYTEA)],
            )
            .map_err(|e| self.db.error("replay release", &e))
        });
        match released {
            Ok(n) => {
                if n > 0 {
                    let _ = self
                        .entries
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
                }
            }
            // The entry stays until it expires: a retry of this token is refused as a replay, which is the
            // safe side.
            Err(e) => tracing::warn!(error = %e, "cannot release a replay entry"),
        }
    }

    fn seen(&self, key: &ReplayKey, now: OffsetDateTime) -> Result<bool, Rejection> {
        let bytes = key_bytes(key);
        let mut conn = self.db.get().map_err(|e| unavailable(&e))?;
        Ok(conn
            .query_typed(LIVE, &[(&bytes, Type::BYTEA), (&now, Type::TIMESTAMPTZ)])
            .map_err(|e| unavailable(&self.db.error("replay check", &e)))?
            .first()
            .is_some_and(|r| r.get(0)))
    }

    fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }
}

fn replayed() -> Rejection {
    Rejection::replay(
        "this token was already exchanged; each assertion ID or jti is exchanged once while it is valid",
    )
}
