//! Character, name and URI rules, exactly as libxml2 2.9 applies them when it builds the tree libxmlsec1
//! verifies. The streaming verifier must accept and refuse the same documents, so these follow libxml2's
//! behaviour (including its leniencies), not only the letter of the specifications.

use super::classes;

/// XML 1.0 `Char`: what may appear in a document at all, literally or through a character reference.
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// True if `text` holds a character that is not an XML `Char`. Scans bytes: in UTF-8 only the C0 controls
/// and U+FFFE/U+FFFF (EF BF BE, EF BF BF) are not `Char`s (surrogates cannot be encoded).
pub(super) fn has_invalid_char(text: &str) -> bool {
    text.bytes()
        .any(|b| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r')
        || text.contains(['\u{FFFE}', '\u{FFFF}'])
}

/// XML white space (`S`).
pub(super) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `NameStartChar` of XML 1.0 fifth edition, which libxml2 2.9 uses for the names it parses.
fn is_name_start(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// `NameChar` of XML 1.0 fifth edition.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Longest names libxml2 accepts without its "huge" option.
const MAX_NAME_BYTES: usize = 50_000;

/// Byte length of the NCName at the start of `s` (0 if there is none).
fn ncname_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) && c != ':' => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !is_name_char(c) || c == ':')
        .map_or(s.len(), |(i, _)| i)
}

/// Byte length of the Name (colons allowed) at the start of `s`.
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !is_name_char(c))
        .map_or(s.len(), |(i, _)| i)
}

/// True if `s` is an XML Name (colons allowed), as libxml2 requires of a processing instruction's target.
pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_BYTES && name_len(s) == s.len()
}

/// Byte length of the Nmtoken at the start of `s`.
fn nmtoken_len(s: &str) -> usize {
    s.char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(s.len(), |(i, _)| i)
}

/// A tag or attribute name as libxml2's namespace-aware parser splits it: `(prefix, local name)`. libxml2
/// tolerates malformed QNames with only a namespace warning (`a:b:c` becomes prefix `a`, local `b:c`; `a:`,
/// `:a` and `a:1` keep the whole name as the local name and no prefix), so this does too. `None`: not a name
/// libxml2 accepts at all (a fatal error).
pub(super) fn split_qname(name: &str) -> Option<(Option<&str>, &str)> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return None;
    }
    let first = ncname_len(name);
    let (prefix, local, consumed) = if first == 0 {
        if !name.starts_with(':') {
            return None;
        }
        let n = name_len(name);
        (None, name.get(..n)?, n)
    } else {
        let rest = name.get(first..)?;
        match rest.strip_prefix(':') {
            None => (None, name.get(..first)?, first),
            Some(after) => {
                let second = ncname_len(after);
                if second == 0 {
                    let token = nmtoken_len(after);
                    let end = first + 1 + token;
                    (None, name.get(..end)?, end)
                } else {
                    let after_second = after.get(second..)?;
                    let local_len = match after_second.strip_prefix(':') {
                        Some(third) => second + 1 + name_len(third),
                        None => second,
                    };
                    (
                        Some(name.get(..first)?),
                        after.get(..local_len)?,
                        first + 1 + local_len,
                    )
                }
            }
        }
    };
    (consumed == name.len()).then_some((prefix, local))
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let code = u32::from(c);
    ranges
        .binary_search_by(|&(low, high)| {
            if high < code {
                std::cmp::Ordering::Less
            } else if low > code {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

fn is_letter_1998(c: char) -> bool {
    match u32::from(c) {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0xFF => true,
        0..=0xFF => false,
        _ => in_ranges(c, classes::BASE_CHAR) || in_ranges(c, classes::IDEOGRAPHIC),
    }
}

fn is_ncname_char_1998(c: char) -> bool {
    if u32::from(c) <= 0xFF {
        return is_letter_1998(c) || matches!(c, '0'..='9' | '.' | '-' | '_' | '\u{B7}');
    }
    is_letter_1998(c)
        || in_ranges(c, classes::DIGIT)
        || in_ranges(c, classes::COMBINING)
        || in_ranges(c, classes::EXTENDER)
}

/// libxml2's `xmlValidateNCName(value, 0)`, the check an `ID` value must pass: the pre-fifth-edition letter
/// classes, no surrounding white space.
pub(super) fn is_id_ncname(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some(c) if is_letter_1998(c) || c == '_' => chars.all(is_ncname_char_1998),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------------
// URIs: canonicalisation in libxml2 fails on an element that declares a namespace whose URI does not parse
// as an absolute RFC 3986 URI. This is libxml2's `xmlParse3986URI`, answering only "does it parse".
// ---------------------------------------------------------------------------------------------------------

fn byte_at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b'\''
    )
}

fn is_pct_encoded(s: &[u8], i: usize) -> bool {
    byte_at(s, i) == b'%'
        && byte_at(s, i + 1).is_ascii_hexdigit()
        && byte_at(s, i + 2).is_ascii_hexdigit()
}

fn is_pchar(s: &[u8], i: usize) -> bool {
    let b = byte_at(s, i);
    is_unreserved(b) || is_pct_encoded(s, i) || is_sub_delim(b) || b == b':' || b == b'@'
}

/// libxml2's `NEXT`: a percent sign always advances by three.
fn next(s: &[u8], i: usize) -> usize {
    if byte_at(s, i) == b'%' {
        i + 3
    } else {
        i + 1
    }
}

/// `xmlParse3986Segment` with no forbidden character.
fn segment(s: &[u8], mut i: usize, empty: bool) -> Option<usize> {
    if !is_pchar(s, i) {
        return empty.then_some(i);
    }
    while is_pchar(s, i) {
        i = next(s, i);
    }
    Some(i)
}

fn path_ab_empty(s: &[u8], mut i: usize) -> Option<usize> {
    while byte_at(s, i) == b'/' {
        i = segment(s, i + 1, true)?;
    }
    Some(i)
}

fn authority(s: &[u8], start: usize) -> Option<usize> {
    // userinfo "@" is optional
    let mut i = start;
    while is_unreserved(byte_at(s, i))
        || is_pct_encoded(s, i)
        || is_sub_delim(byte_at(s, i))
        || byte_at(s, i) == b':'
    {
        i = next(s, i);
    }
    i = if byte_at(s, i) == b'@' { i + 1 } else { start };
    // host: "[...]" or a reg-name (libxml2's IPv4 branch never succeeds and falls back to reg-name)
    if byte_at(s, i) == b'[' {
        i += 1;
        while byte_at(s, i) != b']' && byte_at(s, i) != 0 {
            i += 1;
        }
        if byte_at(s, i) != b']' {
            return None;
        }
        i += 1;
    } else {
        while is_unreserved(byte_at(s, i)) || is_pct_encoded(s, i) || is_sub_delim(byte_at(s, i)) {
            i = next(s, i);
        }
    }
    if byte_at(s, i) == b':' {
        i += 1;
        if !byte_at(s, i).is_ascii_digit() {
            return None;
        }
        let mut port: i64 = 0;
        while byte_at(s, i).is_ascii_digit() {
            port = port * 10 + i64::from(byte_at(s, i) - b'0');
            if port > i64::from(i32::MAX) {
                return None;
            }
            i += 1;
        }
    }
    Some(i)
}

fn query_or_fragment(s: &[u8], mut i: usize, fragment: bool) -> usize {
    loop {
        let b = byte_at(s, i);
        if is_pchar(s, i) || b == b'/' || b == b'?' || (fragment && (b == b'[' || b == b']')) {
            i = next(s, i);
        } else {
            return i;
        }
    }
}

/// True if libxml2 parses `href` as an absolute URI (one with a scheme).
pub(super) fn is_absolute_uri(href: &str) -> bool {
    let s = href.as_bytes();
    if !byte_at(s, 0).is_ascii_alphabetic() {
        return false;
    }
    let mut i = 1;
    while byte_at(s, i).is_ascii_alphanumeric() || matches!(byte_at(s, i), b'+' | b'-' | b'.') {
        i += 1;
    }
    if byte_at(s, i) != b':' {
        return false;
    }
    i += 1;
    let hier = if byte_at(s, i) == b'/' && byte_at(s, i + 1) == b'/' {
        authority(s, i + 2).and_then(|j| path_ab_empty(s, j))
    } else if byte_at(s, i) == b'/' {
        match segment(s, i + 1, false) {
            Some(j) => path_ab_empty(s, j),
            None => Some(i + 1),
        }
    } else if is_pchar(s, i) {
        segment(s, i, false).and_then(|j| path_ab_empty(s, j))
    } else {
        Some(i)
    };
    let Some(mut i) = hier else {
        return false;
    };
    if byte_at(s, i) == b'?' {
        i = query_or_fragment(s, i + 1, false);
    }
    if byte_at(s, i) == b'#' {
        i = query_or_fragment(s, i + 1, true);
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_outside_xml_are_found() {
        assert!(!has_invalid_char("a\t\n\r \u{FFFD}\u{10000}Æ"));
        for bad in ["\u{0}", "a\u{1}", "\u{1F}", "x\u{FFFE}", "\u{FFFF}y"] {
            assert!(has_invalid_char(bad), "{bad:?}");
        }
    }

    #[test]
    fn qnames_split_as_libxml2_does() {
        assert_eq!(split_qname("a"), Some((None, "a")));
        assert_eq!(
            split_qname("saml:Assertion"),
            Some((Some("saml"), "Assertion"))
        );
        assert_eq!(split_qname("a:b:c"), Some((Some("a"), "b:c")));
        assert_eq!(split_qname("a:b:c:d"), Some((Some("a"), "b:c:d")));
        assert_eq!(split_qname("a:b:"), Some((Some("a"), "b:")));
        assert_eq!(split_qname("a:"), Some((None, "a:")));
        assert_eq!(split_qname("a:1b"), Some((None, "a:1b")));
        assert_eq!(split_qname(":a"), Some((None, ":a")));
        assert_eq!(split_qname("1a"), None);
        assert_eq!(split_qname("a/"), None);
        assert_eq!(split_qname("a\"b"), None);
        assert_eq!(split_qname(""), None);
    }

    #[test]
    fn id_values_use_the_old_letter_classes() {
        assert!(is_id_ncname("_d1f8e6c2-4c1b.x"));
        assert!(is_id_ncname("Ærlig"));
        assert!(is_id_ncname("\u{100}x"));
        assert!(!is_id_ncname("\u{2C00}x"), "a fifth-edition letter only");
        assert!(!is_id_ncname("1a"));
        assert!(!is_id_ncname(""));
        assert!(!is_id_ncname(" a"));
        assert!(!is_id_ncname("a:b"));
    }

    #[test]
    fn absolute_uris_as_libxml2_parses_them() {
        for ok in [
            "urn:oasis:names:tc:SAML:2.0:assertion",
            "http://www.w3.org/2000/09/xmldsig#",
            "http://a.b:8080/c?d=e#f",
            "urn:a%20b",
            "x:",
            "x:/",
            "http://[::1]/",
        ] {
            assert!(is_absolute_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "relative",
            "1urn:x",
            "urn:a b",
            "urn:\u{e6}",
            "http://a:/x",
            "urn:a%2",
            "urn:a\"b",
            "http://[::1/",
        ] {
            assert!(!is_absolute_uri(bad), "{bad}");
        }
    }
}
