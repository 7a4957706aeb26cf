//! `application/x-www-form-urlencoded` bodies, read strictly and in one pass.
//!
//! Strict: every parameter at most once (RFC 6749 §3.2), every `%` followed by two hex digits, and every
//! name and value UTF-8 once decoded. A lenient decoder lets a malformed escape (`%ZZ`, a lone `%`) through
//! as text and turns bytes that are not UTF-8 into U+FFFD; either would then be refused later for the wrong
//! reason (`grant_type` as unsupported, a token as unreadable). Such a body is malformed: `invalid_request`,
//! naming the parameter.
//!
//! One pass: a value with no `%` and no `+` (a base64url token, the bulk of a `/token` body) is checked as
//! UTF-8 and borrowed from the body, not copied; only values with escapes are decoded, by `percent-encoding`.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::error::{shown, Rejection};

/// The parameters of a form body, in order, borrowing from it where nothing needed decoding.
#[derive(Debug, Default)]
pub struct Form<'b> {
    params: Vec<(Cow<'b, str>, Cow<'b, str>)>,
}

impl<'b> Form<'b> {
    pub fn parse(body: &'b [u8]) -> Result<Self, Rejection> {
        let mut params = Vec::new();
        // Empty pairs (`a=1&&b=2`, a trailing `&`) carry nothing, as in the WHATWG form parser.
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let mut halves = pair.splitn(2, |b| *b == b'=');
            let name = halves.next().unwrap_or_default();
            let value = halves.next().unwrap_or_default();
            match (decode(name), decode(value)) {
                (Some(name), Some(value)) => params.push((name, value)),
                _ => return Err(malformed(name)),
            }
        }
        // A set, so that a body of many thousand short parameters costs one pass, not a square.
        let mut seen = HashSet::with_capacity(params.len());
        for (k, _) in &params {
            if !seen.insert(k.as_ref()) {
                return Err(Rejection::request(format!(
                    "parameter {} is given more than once",
                    shown(k)
                )));
            }
        }
        Ok(Self { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    pub fn required(&self, name: &str) -> Result<&str, Rejection> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Rejection::request(format!("parameter {name} is required")))
    }
}

/// One name or value decoded, or `None` when it is not sound percent-encoded UTF-8.
fn decode(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut rest = raw;
    while let Some(after) = rest.splitn(2, |b| *b == b'%').nth(1) {
        match after {
            [h, l, more @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => rest = more,
            _ => return None,
        }
    }
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(decoded).ok().map(Cow::Owned)
}

/// The refusal of a parameter that is not sound, named when its name can be shown as it came.
fn malformed(raw_name: &[u8]) -> Rejection {
    let label = std::str::from_utf8(raw_name)
        .ok()
        .filter(|n| !n.contains('%') && !n.is_empty())
        .map(|n| format!("parameter {}", shown(n)))
        .unwrap_or_else(|| "a parameter".to_string());
    Rejection::request(format!(
        "{label} is not valid percent-encoded UTF-8 (application/x-www-form-urlencoded)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> Vec<(String, String)> {
        Form::parse(body.as_bytes())
            .unwrap()
            .params
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn refusal(body: &[u8]) -> String {
        Form::parse(body).unwrap_err().message
    }

    #[test]
    fn names_and_values_decode_as_the_form_encoding_says() {
        assert_eq!(
            parsed("a=1&b=x+y%2Bz&c=%C3%A6%C3%B8%C3%A5&d=&e&&f=a%3Db=c"),
            [
                ("a", "1"),
                ("b", "x y+z"),
                ("c", "æøå"),
                ("d", ""),
                ("e", ""),
                ("f", "a=b=c"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            parsed("sp+ace=1"),
            [("sp ace".to_string(), "1".to_string())]
        );
        assert!(parsed("").is_empty());
    }

    #[test]
    fn a_plain_value_is_borrowed_from_the_body_and_an_escaped_one_decoded() {
        let body = b"subject_token=PHNhbWw-_x&scope=a+b";
        let form = Form::parse(body).unwrap();
        assert!(matches!(form.params[0].1, Cow::Borrowed(_)));
        assert!(matches!(form.params[1].1, Cow::Owned(_)));
        assert_eq!(form.get("scope"), Some("a b"));
        assert_eq!(form.get("subject_token"), Some("PHNhbWw-_x"));
        assert_eq!(form.get("audience"), None);
    }

    #[test]
    fn malformed_escapes_and_bytes_that_are_not_utf8_are_refused_naming_the_parameter() {
        for body in [
            &b"grant_type=%ZZ"[..],
            b"grant_type=abc%",
            b"grant_type=abc%4",
            b"grant_type=%C3",
            b"grant_type=%FF%FE",
            b"grant_type=\xff",
        ] {
            let message = refusal(body);
            assert!(
                message.starts_with("parameter grant_type is not valid percent-encoded UTF-8"),
                "{body:?}: {message}"
            );
        }
        assert!(refusal(b"%ZZ=1").starts_with("a parameter is not valid"));
        assert!(refusal(b"%C3=1").starts_with("a parameter is not valid"));
        assert!(refusal(b"=%").starts_with("a parameter is not valid"));
    }

    #[test]
    fn a_parameter_given_twice_is_refused_also_when_spelled_differently() {
        assert_eq!(
            refusal(b"a=1&b=2&a=3"),
            "parameter a is given more than once"
        );
        assert_eq!(refusal(b"a=1&%61=3"), "parameter a is given more than once");
    }

    #[test]
    fn many_short_parameters_cost_one_pass() {
        let body: String = (0..20_000).map(|i| format!("p{i}=v&")).collect();
        let form = Form::parse(body.as_bytes()).unwrap();
        assert_eq!(form.get("p19999"), Some("v"));
    }
}
