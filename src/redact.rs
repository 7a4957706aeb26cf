//! Keeping identifiers of persons out of ordinary logs.
//!
//! - [`Pseudonym`]: when a log line must correlate events about the same person, record `%pseudonym(id)`:
//!   a keyed hash whose key is random per process and never leaves it, so the log cannot be joined back to a
//!   fødselsnummer (the space of 11-digit numbers is small enough to brute-force an unkeyed hash).
//! - [`scrub`]: applied by the log writer to every formatted line; replaces any 11-digit run that passes the
//!   fødselsnummer/D-number check digits with `[fnr]`. A safety net for a field someone records by mistake,
//!   not a licence to log identifiers. HPR numbers have no check digit and cannot be told from other
//!   numbers, so they depend on never being recorded.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use openssl::sha::Sha256;

fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        if openssl::rand::rand_bytes(&mut k).is_err() {
            // Without randomness, fall back to the process id and start time: still never written anywhere.
            let seed = format!("{}:{:?}", std::process::id(), std::time::SystemTime::now());
            let mut h = Sha256::new();
            h.update(seed.as_bytes());
            k = h.finish();
        }
        k
    })
}

/// Displays as `p:` and 12 hex digits of a keyed hash of the value.
#[derive(Clone, Copy)]
pub struct Pseudonym<'a>(&'a str);

pub fn pseudonym(value: &str) -> Pseudonym<'_> {
    Pseudonym(value)
}

impl fmt::Display for Pseudonym<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut h = Sha256::new();
        h.update(key());
        h.update(self.0.as_bytes());
        let d = h.finish();
        write!(f, "p:{}", hex::encode(&d[..6]))
    }
}

impl fmt::Debug for Pseudonym<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether 11 digits carry valid fødselsnummer check digits (D-, H- and synthetic numbers use the same).
pub fn fnr_check_digits_ok(d: &[u8; 11]) -> bool {
    const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
    const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let n: [u32; 11] = d.map(|b| u32::from(b.wrapping_sub(b'0')));
    // The weights stop before the digit they check: W1 covers digits 0..9, W2 digits 0..10.
    let check = |weights: &[u32]| -> Option<u32> {
        let sum: u32 = weights.iter().zip(&n).map(|(w, x)| w * x).sum();
        match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            k => Some(k),
        }
    };
    let [.., k1, k2] = n;
    check(&W1) == Some(k1) && check(&W2) == Some(k2)
}

/// Replaces every stand-alone run of 11 digits with valid check digits by `[fnr]`.
pub fn scrub(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut runs = input.iter().enumerate().peekable();
    while let Some((start, b)) = runs.next() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut end = start + 1;
        while runs.next_if(|(_, b)| b.is_ascii_digit()).is_some() {
            end += 1;
        }
        let Some(run) = input.get(start..end) else {
            continue;
        };
        if let Ok(digits) = <[u8; 11]>::try_from(run) {
            if fnr_check_digits_ok(&digits) {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len()));
                buf.extend_from_slice(input.get(copied..start).unwrap_or_default());
                buf.extend_from_slice(b"[fnr]");
                copied = end;
            }
        }
    }
    match out {
        None => Cow::Borrowed(input),
        Some(mut buf) => {
            buf.extend_from_slice(input.get(copied..).unwrap_or_default());
            Cow::Owned(buf)
        }
    }
}

/// [`scrub`] for text (what messages and request ids are made of).
pub fn scrub_text(input: &str) -> Cow<'_, str> {
    match scrub(input.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(input),
        // Only ASCII digits were replaced by ASCII, so the bytes are still UTF-8.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_valid_fnr_only() {
        // 21868534521 is the sample patient (synthetic, valid check digits).
        let line = b"a=21868534521 b=12345678901 c=218685345210 t=1700000000000";
        let out = scrub(line);
        let s = String::from_utf8(out.into_owned()).unwrap();
        assert!(s.contains("a=[fnr]"), "{s}");
        assert!(s.contains("b=12345678901"), "{s}");
        assert!(s.contains("c=218685345210"), "{s}");
        assert!(s.contains("t=1700000000000"), "{s}");
        assert!(matches!(scrub(b"nothing here 123"), Cow::Borrowed(_)));
    }

    #[test]
    fn pseudonyms_are_stable_within_the_process_and_hide_the_value() {
        let a = pseudonym("21868534521").to_string();
        assert_eq!(a, pseudonym("21868534521").to_string());
        assert_ne!(a, pseudonym("12837034688").to_string());
        assert!(!a.contains("2186853"));
        assert_eq!(a.len(), 2 + 12);
    }
}
