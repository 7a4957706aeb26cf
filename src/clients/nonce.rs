//! Server-provided DPoP nonces (RFC 9449 §8): stateless, so any number of requests can be answered without
//! remembering what was handed out. A nonce is a time slot and a MAC over it with a key made at start-up; it
//! is good in its own slot and the next, so a client that just fetched one has at least one full lifetime.

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::OffsetDateTime;

/// Bytes of the MAC a nonce carries (128 bits: not guessable within a nonce's life).
const MAC_BYTES: usize = 16;

pub struct NonceSource {
    key: PKey<Private>,
    lifetime_secs: u64,
}

impl std::fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceSource")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl NonceSource {
    /// A source with a fresh random key. Nonces from another process (another instance, or before a
    /// restart) are answered with `use_dpop_nonce` and a new nonce, which a client retries with once.
    pub fn new(lifetime_secs: u64) -> Result<Self, String> {
        let mut secret = [0u8; 32];
        openssl::rand::rand_bytes(&mut secret).map_err(|e| e.to_string())?;
        let key = PKey::hmac(&secret).map_err(|e| e.to_string())?;
        Ok(Self {
            key,
            lifetime_secs: lifetime_secs.max(1),
        })
    }

    fn slot(&self, now: OffsetDateTime) -> u64 {
        u64::try_from(now.unix_timestamp()).unwrap_or(0) / self.lifetime_secs
    }

    fn mac(&self, slot: u64) -> Option<Vec<u8>> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).ok()?;
        signer.update(b"xua-gateway dpop nonce\0").ok()?;
        signer.update(&slot.to_be_bytes()).ok()?;
        let mut mac = signer.sign_to_vec().ok()?;
        mac.truncate(MAC_BYTES);
        Some(mac)
    }

    /// The nonce to hand out now.
    pub fn fresh(&self, now: OffsetDateTime) -> Option<String> {
        let slot = self.slot(now);
        let mut bytes = slot.to_be_bytes().to_vec();
        bytes.extend(self.mac(slot)?);
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Whether `nonce` was handed out by this source in the current slot or the one before.
    pub fn is_current(&self, nonce: &str, now: OffsetDateTime) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((slot, mac)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let slot = u64::from_be_bytes(*slot);
        let current = self.slot(now);
        if slot != current && slot.checked_add(1) != Some(current) {
            return false;
        }
        self.mac(slot).is_some_and(|expected| {
            // `memcmp::eq` compares in constant time and wants equal lengths.
            mac.len() == expected.len() && openssl::memcmp::eq(&expected, mac)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_for_its_slot_and_the_next_and_only_from_its_source() {
        let source = NonceSource::new(60).unwrap();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let nonce = source.fresh(t0).unwrap();
        assert!(source.is_current(&nonce, t0));
        assert!(source.is_current(&nonce, t0 + time::Duration::seconds(60)));
        assert!(!source.is_current(&nonce, t0 + time::Duration::seconds(180)));
        let other = NonceSource::new(60).unwrap();
        assert!(!other.is_current(&nonce, t0));
        assert!(!source.is_current("not-a-nonce", t0));
        assert!(!source.is_current("", t0));
    }
}
