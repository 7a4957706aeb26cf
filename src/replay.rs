//! Replay protection: a token (a SAML assertion ID, a JWT `jti`) is exchanged at most once while it is valid.
//!
//! A stolen bearer assertion is only as dangerous as the number of times it can be turned into fresh tokens;
//! remembering every exchanged token id until the token could no longer be accepted anyway closes that door.
//! The cache sits behind [`ReplayCache`] so that several gateway instances can later share one store (a
//! database or Redis with `SET NX PX`); [`MemoryReplayCache`] is the single-instance default.
//!
//! Keys are SHA-256 digests of (direction, issuer, id): every entry has the same small size whatever the
//! token says, and the cache holds no token content.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::error::Rejection;

/// What the cache remembers about one token: a digest of where it came from and what it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayKey([u8; 32]);

impl ReplayKey {
    /// Length-prefixed parts, so `("ab", "c")` and `("a", "bc")` never collide.
    fn digest(parts: &[&[u8]]) -> Self {
        let mut hasher = openssl::sha::Sha256::new();
        for part in parts {
            hasher.update(&(part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Self(hasher.finish())
    }

    /// A SAML assertion: its Issuer and ID (SAML core §1.3.4: IDs are unique per issuer).
    pub fn saml(issuer: &str, assertion_id: &str) -> Self {
        Self::digest(&[b"saml", issuer.as_bytes(), assertion_id.as_bytes()])
    }

    /// A JWT with a `jti`: its issuer and `jti` (RFC 7519 §4.1.7: unique per issuer).
    pub fn jwt(issuer: &str, token_id: &str) -> Self {
        Self::digest(&[b"jwt", issuer.as_bytes(), token_id.as_bytes()])
    }

    /// A JWT without a `jti`: its issuer and signing input (`header.payload`). The signature is left out on
    /// purpose: an ECDSA signature can be re-encoded as another valid one (s → n−s) without the key, the
    /// signed bytes cannot be changed.
    pub fn jwt_without_id(issuer: &str, signing_input: &[u8]) -> Self {
        Self::digest(&[b"jwt-signing-input", issuer.as_bytes(), signing_input])
    }

    /// A client assertion (RFC 7523 §3): the client it authenticates and its `jti`, accepted once.
    pub fn client_assertion(client_id: &str, token_id: &str) -> Self {
        Self::digest(&[
            b"client-assertion",
            client_id.as_bytes(),
            token_id.as_bytes(),
        ])
    }

    /// A DPoP proof (RFC 9449 §11.1): the thumbprint of its key and its `jti`, accepted once.
    pub fn dpop_proof(thumbprint: &str, token_id: &str) -> Self {
        Self::digest(&[b"dpop-proof", thumbprint.as_bytes(), token_id.as_bytes()])
    }

    /// The digest as hex (for a shared store's key, and the access log).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The digest itself (a shared store's key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key read back from [`ReplayKey::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        bytes.try_into().ok().map(Self)
    }
}

/// A store of exchanged token ids. Implementations must make [`ReplayCache::check_and_insert`] atomic: two
/// requests carrying the same token at the same moment must not both succeed.
pub trait ReplayCache: Send + Sync {
    /// Remembers `key` until `until`, or refuses it with REPLAY when it is already remembered and `until` of
    /// that entry has not passed. When the store cannot remember another entry it refuses with UNAVAILABLE
    /// rather than forget an entry that is still live.
    fn check_and_insert(
        &self,
        key: &ReplayKey,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), Rejection>;

    /// Forgets `key`, which the caller inserted itself and then could not issue for (a later stage refused,
    /// or the access log could not be written): the token was not exchanged, so a retry must not be a
    /// replay. Never called for a key another request inserted.
    fn release(&self, key: &ReplayKey);

    /// Whether `key` is remembered and still live at `now`, without remembering it (the inspector's
    /// "was this token exchanged already?").
    fn seen(&self, key: &ReplayKey, now: OffsetDateTime) -> Result<bool, Rejection>;

    /// Entries currently held (expired ones may still be counted until the next insert sweeps them).
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const REPLAYED: &str =
    "this token was already exchanged; each assertion ID or jti is exchanged once while it is valid";

/// A token's slot in a replay store, held while its exchange runs. Kept with [`Reservation::keep`] once the
/// token is issued; dropped otherwise (a later stage refused, or the access log could not be written), it
/// gives the slot back: the token was not exchanged, so sending it again is not a replay.
#[must_use = "a reservation that is dropped gives its slot back"]
pub struct Reservation {
    cache: std::sync::Arc<dyn ReplayCache>,
    key: ReplayKey,
    kept: bool,
}

impl Reservation {
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            self.cache.release(&self.key);
        }
    }
}

/// Remembers `key` until `until` and hands back the slot, or refuses a replay.
pub fn reserve(
    cache: &std::sync::Arc<dyn ReplayCache>,
    key: ReplayKey,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Reservation, Rejection> {
    cache.check_and_insert(&key, until, now)?;
    Ok(Reservation {
        cache: cache.clone(),
        key,
        kept: false,
    })
}

/// Refuses a token the store has seen, as an exchange would, without reserving it.
pub fn refuse_if_seen(
    cache: &dyn ReplayCache,
    key: &ReplayKey,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    if cache.seen(key, now)? {
        return Err(Rejection::replay(REPLAYED));
    }
    Ok(())
}

/// The in-process store: bounded, swept of expired entries on every insert.
///
/// When it is full of live entries it refuses new tokens (UNAVAILABLE, 503) instead of evicting one: an
/// evicted live entry is a token that can be exchanged again, silently. A full cache is loud (the metric
/// `xua_replay_cache_entries`, the error class in metrics and the audit log) and is fixed by raising
/// `[replay] capacity`: about 100 bytes per entry, so 100 000 entries are about 10 MB. Filling it takes that
/// many distinct, validly signed, unexpired tokens from trusted issuers.
#[derive(Debug)]
pub struct MemoryReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Key → until (Unix nanoseconds).
    entries: HashMap<ReplayKey, i128>,
    /// The same entries ordered by expiry, for the sweep.
    by_expiry: BTreeSet<(i128, ReplayKey)>,
}

impl Inner {
    fn remove(&mut self, key: &ReplayKey) {
        if let Some(until) = self.entries.remove(key) {
            self.by_expiry.remove(&(until, *key));
        }
    }

    /// Drops every entry whose `until` has passed.
    fn sweep(&mut self, now: i128) {
        while let Some(&(until, key)) = self.by_expiry.first() {
            if until > now {
                break;
            }
            self.by_expiry.remove(&(until, key));
            self.entries.remove(&key);
        }
    }
}

impl MemoryReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that admits a replay
        // (each step removes from or inserts into both), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_insert(
        &self,
        key: &ReplayKey,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), Rejection> {
        let now = now.unix_timestamp_nanos();
        let until = until.unix_timestamp_nanos();
        let mut inner = self.lock();
        inner.sweep(now);
        if inner.entries.contains_key(key) {
            return Err(Rejection::replay(REPLAYED));
        }
        if until <= now {
            // Nothing to remember: the token can no longer be accepted anyway.
            return Ok(());
        }
        if inner.entries.len() >= self.capacity {
            return Err(Rejection::unavailable(
                "the replay cache is full of unexpired tokens; try again later",
            ));
        }
        inner.entries.insert(*key, until);
        inner.by_expiry.insert((until, *key));
        Ok(())
    }

    fn release(&self, key: &ReplayKey) {
        self.lock().remove(key);
    }

    fn seen(&self, key: &ReplayKey, now: OffsetDateTime) -> Result<bool, Rejection> {
        let now = now.unix_timestamp_nanos();
        Ok(self
            .lock()
            .entries
            .get(key)
            .is_some_and(|until| *until > now))
    }

    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use time::Duration;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn a_key_is_refused_until_its_expiry_then_accepted_again() {
        let cache = MemoryReplayCache::new(10);
        let key = ReplayKey::saml("idp", "_a");
        let until = t0() + Duration::minutes(5);
        assert_eq!(cache.check_and_insert(&key, until, t0()), Ok(()));
        let again = cache.check_and_insert(&key, until, t0() + Duration::minutes(4));
        assert_eq!(again.map_err(|e| e.class), Err(ErrorClass::Replay));
        // At `until` the token itself is no longer acceptable, so the entry may go.
        assert_eq!(cache.check_and_insert(&key, until, until), Ok(()));
    }

    #[test]
    fn keys_are_separated_by_issuer_direction_and_length_prefix() {
        let keys = [
            ReplayKey::saml("idp", "_a"),
            ReplayKey::saml("idp2", "_a"),
            ReplayKey::jwt("idp", "_a"),
            ReplayKey::saml("ab", "c"),
            ReplayKey::saml("a", "bc"),
            ReplayKey::jwt_without_id("idp", b"_a"),
            ReplayKey::client_assertion("idp", "_a"),
            ReplayKey::dpop_proof("idp", "_a"),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_first_and_then_refuses() {
        let cache = MemoryReplayCache::new(2);
        let short = t0() + Duration::seconds(10);
        let long = t0() + Duration::hours(1);
        cache
            .check_and_insert(&ReplayKey::saml("i", "1"), short, t0())
            .unwrap_or_else(|e| panic!("{e}"));
        cache
            .check_and_insert(&ReplayKey::saml("i", "2"), long, t0())
            .unwrap_or_else(|e| panic!("{e}"));
        let full = cache.check_and_insert(&ReplayKey::saml("i", "3"), long, t0());
        assert_eq!(full.map_err(|e| e.class), Err(ErrorClass::Unavailable));
        // The live entries are all still there: nothing was forgotten to make room.
        let replayed = cache.check_and_insert(&ReplayKey::saml("i", "1"), short, t0());
        assert_eq!(replayed.map_err(|e| e.class), Err(ErrorClass::Replay));
        // Once the short one has expired, its slot is reused.
        let later = t0() + Duration::seconds(11);
        assert_eq!(
            cache.check_and_insert(&ReplayKey::saml("i", "3"), long, later),
            Ok(())
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn release_forgets_only_the_released_key() {
        let cache = MemoryReplayCache::new(4);
        let until = t0() + Duration::minutes(1);
        let a = ReplayKey::jwt("i", "a");
        let b = ReplayKey::jwt("i", "b");
        assert!(cache.check_and_insert(&a, until, t0()).is_ok());
        assert!(cache.check_and_insert(&b, until, t0()).is_ok());
        cache.release(&a);
        assert_eq!(cache.len(), 1);
        assert!(cache.check_and_insert(&a, until, t0()).is_ok());
        assert!(cache.check_and_insert(&b, until, t0()).is_err());
    }

    #[test]
    fn an_already_expired_token_takes_no_slot() {
        let cache = MemoryReplayCache::new(1);
        assert!(cache
            .check_and_insert(&ReplayKey::saml("i", "x"), t0(), t0())
            .is_ok());
        assert!(cache.is_empty());
    }

    #[test]
    fn concurrent_inserts_of_one_key_admit_exactly_one() {
        let cache = std::sync::Arc::new(MemoryReplayCache::new(100));
        let key = ReplayKey::saml("idp", "_same");
        let until = t0() + Duration::minutes(5);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || cache.check_and_insert(&key, until, t0()).is_ok())
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 1);
    }
}
