//! What kind of token a body holds, told apart before anything parses it: the one classifier `/translate`,
//! `/token` and the CLI share.

/// A token's kind, as its first bytes show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// XML (an assertion or a Response).
    Saml,
    /// A compact JWT (trimmed).
    Jwt(String),
    Unknown,
}

/// Tells an XML assertion from a compact JWT; anything else is unknown.
pub fn sniff(body: &[u8]) -> TokenKind {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = body.get(start..).unwrap_or_default();
    if rest.starts_with(b"<") || rest.starts_with("\u{FEFF}".as_bytes()) {
        return TokenKind::Saml;
    }
    match std::str::from_utf8(rest) {
        Ok(text) => {
            let text = text.trim();
            if text.starts_with("ey") && text.bytes().filter(|b| *b == b'.').count() >= 2 {
                TokenKind::Jwt(text.to_string())
            } else {
                TokenKind::Unknown
            }
        }
        Err(_) => TokenKind::Unknown,
    }
}

/// What a form's `subject_token` holds, so that a token sent with the wrong `subject_token_type` is named
/// for what it is rather than failing later as "not base64url" or "too long": a compact JWT, or an
/// assertion (raw XML, or base64/base64url whose first bytes decode to XML).
pub fn subject_token_kind(token: &str) -> TokenKind {
    match sniff(token.as_bytes()) {
        TokenKind::Unknown => {}
        known => return known,
    }
    use base64::Engine;
    // The first 16 characters are 12 bytes: enough to see `<` or a byte-order mark after some whitespace.
    let head: String = token
        .trim()
        .chars()
        .take(16)
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head.trim_end_matches('=')) {
        Ok(bytes) if sniff(&bytes) == TokenKind::Saml => TokenKind::Saml,
        _ => TokenKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn a_subject_token_is_recognised_in_each_of_its_forms() {
        let xml = "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"/>";
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
        let std = base64::engine::general_purpose::STANDARD.encode(format!("  \n{xml}"));
        for form in [xml.to_string(), url, std] {
            assert_eq!(subject_token_kind(&form), TokenKind::Saml, "{form}");
        }
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        assert!(matches!(subject_token_kind(jwt), TokenKind::Jwt(_)));
        assert_eq!(subject_token_kind("not a token"), TokenKind::Unknown);
        assert_eq!(subject_token_kind(""), TokenKind::Unknown);
    }
}
