//! Key rotation: the states a signing key or certificate passes through, and a certificate's validity period.
//!
//! A key is `next` (published so relying parties learn it, never signs), `current` (signs; exactly one is), or
//! retired after an instant (still published until then, so that what it signed keeps verifying; never signs).
//! Promoting `next` to `current` is a configuration change followed by a reload; see README "Key rotation and
//! reload".

pub mod validity;

use time::OffsetDateTime;

pub use validity::{Standing, Validity};

/// Where one key is in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// The one key that signs.
    Current,
    /// No longer signing; published until this instant, then not at all.
    RetiredAfter(OffsetDateTime),
}

impl KeyState {
    /// Whether relying parties should still find this key (in the JWKS, in the SAML metadata) at `now`.
    pub fn is_published(self, now: OffsetDateTime) -> bool {
        match self {
            KeyState::Next | KeyState::Current => true,
            KeyState::RetiredAfter(until) => now < until,
        }
    }

    /// The state's name as the configuration writes it (also a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::RetiredAfter(_) => "retired",
        }
    }
}

/// Why a set of keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("no key has state = \"current\": exactly one must")]
    NoCurrent,
    #[error("{0} keys have state = \"current\": exactly one may")]
    SeveralCurrent(usize),
}

/// A set of keys with exactly one current: the one that signs, and the others that are published beside it.
#[derive(Debug)]
pub struct KeyRing<T> {
    current: T,
    /// Every other key with its state, in configuration order.
    others: Vec<(T, KeyState)>,
}

impl<T> KeyRing<T> {
    /// Refuses a set without a current key or with more than one.
    pub fn new(entries: Vec<(T, KeyState)>) -> Result<Self, KeyRingError> {
        let currents = entries
            .iter()
            .filter(|(_, s)| *s == KeyState::Current)
            .count();
        if currents > 1 {
            return Err(KeyRingError::SeveralCurrent(currents));
        }
        let mut current = None;
        let mut others = Vec::with_capacity(entries.len().saturating_sub(1));
        for (key, state) in entries {
            match state {
                KeyState::Current => current = Some(key),
                _ => others.push((key, state)),
            }
        }
        let current = current.ok_or(KeyRingError::NoCurrent)?;
        Ok(Self { current, others })
    }

    /// A ring of one current key (a configuration that does not rotate).
    pub fn single(current: T) -> Self {
        Self {
            current,
            others: Vec::new(),
        }
    }

    /// The key that signs.
    pub fn current(&self) -> &T {
        &self.current
    }

    /// Every key with its state, the current one first.
    pub fn entries(&self) -> impl Iterator<Item = (&T, KeyState)> {
        std::iter::once((&self.current, KeyState::Current))
            .chain(self.others.iter().map(|(k, s)| (k, *s)))
    }

    /// The keys published at `now`: the current one first, then the next and the not yet retired ones.
    pub fn published(&self, now: OffsetDateTime) -> impl Iterator<Item = &T> {
        self.entries()
            .filter(move |(_, s)| s.is_published(now))
            .map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn published(ring: &KeyRing<&'static str>, at: OffsetDateTime) -> Vec<&'static str> {
        ring.published(at).copied().collect()
    }

    #[test]
    fn exactly_one_key_is_current() {
        assert_eq!(
            KeyRing::new(vec![("a", KeyState::Next)]).unwrap_err(),
            KeyRingError::NoCurrent
        );
        assert_eq!(
            KeyRing::<&str>::new(vec![]).unwrap_err(),
            KeyRingError::NoCurrent
        );
        assert_eq!(
            KeyRing::new(vec![
                ("a", KeyState::Current),
                ("b", KeyState::Next),
                ("c", KeyState::Current)
            ])
            .unwrap_err(),
            KeyRingError::SeveralCurrent(2)
        );
        let ring = KeyRing::new(vec![("a", KeyState::Next), ("b", KeyState::Current)]).unwrap();
        assert_eq!(*ring.current(), "b");
    }

    #[test]
    fn the_current_key_is_published_first_and_next_keys_beside_it() {
        let ring = KeyRing::new(vec![
            ("next", KeyState::Next),
            ("current", KeyState::Current),
        ])
        .unwrap();
        assert_eq!(published(&ring, NOW), ["current", "next"]);
        let states: Vec<_> = ring.entries().map(|(k, s)| (*k, s.as_str())).collect();
        assert_eq!(states, [("current", "current"), ("next", "next")]);
    }

    #[test]
    fn a_retired_key_is_published_until_its_instant_and_never_after() {
        let until = NOW + time::Duration::hours(1);
        let ring = KeyRing::new(vec![
            ("old", KeyState::RetiredAfter(until)),
            ("new", KeyState::Current),
            (
                "older",
                KeyState::RetiredAfter(NOW - time::Duration::days(1)),
            ),
        ])
        .unwrap();
        // Retired after an instant still to come: still published, so tokens it signed verify.
        assert_eq!(published(&ring, NOW), ["new", "old"]);
        assert_eq!(
            published(&ring, until - time::Duration::seconds(1)),
            ["new", "old"]
        );
        // From that instant on it is gone; the one retired yesterday never showed.
        assert_eq!(published(&ring, until), ["new"]);
        assert_eq!(*ring.current(), "new");
    }

    #[test]
    fn a_retired_key_never_signs_even_while_published() {
        let err = KeyRing::new(vec![(
            "old",
            KeyState::RetiredAfter(NOW + time::Duration::days(30)),
        )])
        .unwrap_err();
        assert_eq!(err, KeyRingError::NoCurrent);
    }
}
