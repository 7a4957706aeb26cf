//! Request ids that can never be mistaken for a person's identifier. The log writer blanks every stand-alone
//! run of 11 digits with valid fødselsnummer check digits; a UUID's hex can hold such a run (about 1 id in
//! 20,000), which then breaks matching a log line to its access-log record. These ids are a letter and
//! 128 random bits as hex in groups of 8, so no run of digits is ever longer than 8.

use std::fmt::Write;

/// The longest caller-supplied `X-Request-Id` that is kept.
pub const MAX_LEN: usize = 64;

/// A fresh id: `r` and four groups of 8 hex digits (`r1f0c9a2b-7d3e4c10-...`).
pub fn fresh() -> String {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    let mut id = String::with_capacity(36);
    id.push('r');
    for (i, chunk) in bytes.chunks(4).enumerate() {
        if i > 0 {
            id.push('-');
        }
        for b in chunk {
            let _ = write!(id, "{b:02x}");
        }
    }
    id
}

/// The caller's id when it is short and plain (letters, digits, `-`, `_`) and the log writer would leave it
/// as it is; otherwise a fresh one (a caller's id that would be blanked in the logs cannot serve to match
/// them, and may well be an identifier).
pub fn from_caller(header: Option<&str>) -> String {
    header
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && matches!(crate::redact::scrub_text(v), std::borrow::Cow::Borrowed(_))
        })
        .map(str::to_string)
        .unwrap_or_else(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn longest_digit_run(s: &str) -> usize {
        s.split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn fresh_ids_never_hold_a_long_digit_run_and_pass_the_scrubber_untouched() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200_000 {
            let id = fresh();
            assert_eq!(id.len(), 36, "{id}");
            assert!(id.starts_with('r'));
            assert!(longest_digit_run(&id) <= 8, "{id}");
            assert_eq!(crate::redact::scrub_text(&id), id);
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn a_caller_id_that_the_scrubber_would_blank_is_replaced() {
        assert_eq!(from_caller(Some("trace-42")), "trace-42");
        for blanked in ["21868534521", "req-21868534521-x", "a_21868534521"] {
            let id = from_caller(Some(blanked));
            assert_ne!(id, blanked);
            assert!(id.starts_with('r'));
        }
        // 11 digits without valid check digits are not an identifier: kept.
        assert_eq!(from_caller(Some("12345678901")), "12345678901");
        assert!(from_caller(Some("has space")).starts_with('r'));
        assert!(from_caller(Some(&"x".repeat(65))).starts_with('r'));
        assert!(from_caller(None).starts_with('r'));
    }
}
