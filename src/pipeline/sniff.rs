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
