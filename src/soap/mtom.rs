//! MTOM/XOP requests (`multipart/related; type="application/xop+xml"`): find the root part (the `start`
//! parameter's Content-ID, or the first part), hand its bytes to the envelope scanner, and rebuild the
//! package with a rewritten root part and every other byte (preamble, delimiters, part headers, the other
//! parts, epilogue) as sent.
//!
//! Content-Type values are parsed with the `mime` crate and part headers with `httparse`; the delimiter
//! search is here because no crate keeps byte positions (multipart readers hand out decoded parts). Line
//! ends may be CRLF (RFC 2046) or bare LF, which real senders and captures use.

use std::ops::Range;

use crate::error::Rejection;

/// Parts in one package, at most.
pub const MAX_PARTS: usize = 64;
/// Headers in one part, at most.
const MAX_PART_HEADERS: usize = 16;

/// One body part: `headers` is the header block (with its blank line), `content` the bytes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub headers: Range<usize>,
    pub content: Range<usize>,
    pub content_id: Option<String>,
    pub content_type: Option<String>,
}

/// A parsed `multipart/related` package (positions into the body it was parsed from).
#[derive(Debug, Clone)]
pub struct Multipart<'a> {
    body: &'a [u8],
    pub boundary: String,
    pub start: Option<String>,
    pub parts: Vec<Part>,
    /// Index of the root part in `parts`.
    pub root: usize,
}

/// Whether an HTTP Content-Type announces an MTOM/XOP package.
pub fn is_mtom(content_type: &str) -> bool {
    parse_type(content_type).is_some_and(|m| {
        m.essence_str() == "multipart/related"
            && m.get_param("type")
                .is_some_and(|t| t.as_str().eq_ignore_ascii_case("application/xop+xml"))
    })
}

/// Some senders end a Content-Type with a stray `;`, which `mime` refuses.
fn parse_type(value: &str) -> Option<mime::Mime> {
    let value = value.trim().trim_end_matches(';').trim_end();
    value.parse::<mime::Mime>().ok()
}

/// Content-IDs compare without their angle brackets.
fn bare_id(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
}

impl<'a> Multipart<'a> {
    /// Parses an MTOM package: `content_type` is the HTTP header's value.
    pub fn parse(content_type: &str, body: &'a [u8]) -> Result<Self, Rejection> {
        let m = parse_type(content_type)
            .ok_or_else(|| Rejection::parse("the Content-Type of the MTOM request is malformed"))?;
        if m.essence_str() != "multipart/related" {
            return Err(Rejection::request("the request is not multipart/related"));
        }
        let xop = m
            .get_param("type")
            .is_some_and(|t| t.as_str().eq_ignore_ascii_case("application/xop+xml"));
        if !xop {
            return Err(Rejection::request(
                "the multipart request's type parameter is not application/xop+xml",
            ));
        }
        let boundary = m
            .get_param(mime::BOUNDARY)
            .map(|b| b.as_str().to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
            .ok_or_else(|| Rejection::parse("the multipart request has no valid boundary"))?;
        let start = m.get_param("start").map(|s| s.as_str().to_string());
        let parts = split(body, &boundary)?;
        let root = match &start {
            Some(id) => parts
                .iter()
                .position(|p| p.content_id.as_deref().map(bare_id) == Some(bare_id(id)))
                .ok_or_else(|| {
                    Rejection::structure("no part has the Content-ID the start parameter names")
                })?,
            None => 0,
        };
        let multipart = Self {
            body,
            boundary,
            start,
            parts,
            root,
        };
        multipart.check_root()?;
        Ok(multipart)
    }

    fn root_part(&self) -> Result<&Part, Rejection> {
        self.parts
            .get(self.root)
            .ok_or_else(|| Rejection::internal("the root part is missing"))
    }

    fn check_root(&self) -> Result<(), Rejection> {
        let root = self.root_part()?;
        let ct = root
            .content_type
            .as_deref()
            .and_then(parse_type)
            .ok_or_else(|| Rejection::parse("the MTOM root part has no valid Content-Type"))?;
        if ct.essence_str() != "application/xop+xml" {
            return Err(Rejection::request(
                "the MTOM root part is not application/xop+xml",
            ));
        }
        if !ct
            .get_param("type")
            .is_some_and(|t| t.as_str().eq_ignore_ascii_case("application/soap+xml"))
        {
            return Err(Rejection::request(
                "the MTOM root part does not hold a SOAP 1.2 envelope (type=application/soap+xml)",
            ));
        }
        if ct
            .get_param(mime::CHARSET)
            .is_some_and(|c| !c.as_str().eq_ignore_ascii_case("utf-8"))
        {
            return Err(Rejection::parse("the MTOM root part must be UTF-8"));
        }
        let headers = self.body.get(root.headers.clone()).unwrap_or_default();
        for (name, value) in part_headers(headers)? {
            if name.eq_ignore_ascii_case("content-transfer-encoding")
                && !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "binary" | "8bit" | "7bit"
                )
            {
                return Err(Rejection::request(
                    "the MTOM root part's transfer encoding is not binary, 8bit or 7bit",
                ));
            }
            if name.eq_ignore_ascii_case("content-length") {
                return Err(Rejection::request(
                    "the MTOM root part must not carry a Content-Length",
                ));
            }
        }
        Ok(())
    }

    /// The root part's bytes (the SOAP envelope).
    pub fn root_bytes(&self) -> &'a [u8] {
        self.parts
            .get(self.root)
            .and_then(|p| self.body.get(p.content.clone()))
            .unwrap_or_default()
    }

    /// The package with the root part's content replaced by `root`; every other byte as parsed.
    pub fn with_root(&self, root: &[u8]) -> Vec<u8> {
        let Some(part) = self.parts.get(self.root) else {
            return self.body.to_vec();
        };
        let range = part.content.clone();
        let mut out = Vec::with_capacity(self.body.len() + root.len());
        out.extend_from_slice(self.body.get(..range.start).unwrap_or_default());
        out.extend_from_slice(root);
        out.extend_from_slice(self.body.get(range.end..).unwrap_or_default());
        out
    }

    pub fn part_bytes(&self, part: &Part) -> &'a [u8] {
        self.body.get(part.content.clone()).unwrap_or_default()
    }
}

/// Finds the parts between `--boundary` delimiter lines (RFC 2046 §5.1.1).
fn split(body: &[u8], boundary: &str) -> Result<Vec<Part>, Rejection> {
    let delimiter = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    let mut parts = Vec::new();
    // Start of the current part (just after its delimiter line).
    let mut open: Option<usize> = None;
    let mut from = 0usize;
    let mut closed = false;
    while let Some(found) = finder.find(body.get(from..).unwrap_or_default()) {
        let at = from + found;
        from = at + delimiter.len();
        let line_start = at == 0 || body.get(at - 1) == Some(&b'\n');
        if !line_start {
            continue;
        }
        let rest = body.get(from..).unwrap_or_default();
        let is_close = rest.starts_with(b"--");
        let after_marker = if is_close { from + 2 } else { from };
        let line_end = line_end(body, after_marker, is_close)?;
        if let Some(start) = open.take() {
            // The line break before the delimiter belongs to the delimiter.
            let mut end = at.saturating_sub(1);
            if end > start && body.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
            parts.push(part(body, start..end.max(start))?);
            if parts.len() > MAX_PARTS {
                return Err(Rejection::limit(format!(
                    "the multipart request has more than {MAX_PARTS} parts"
                )));
            }
        }
        if is_close {
            closed = true;
            break;
        }
        open = Some(line_end);
        from = line_end;
    }
    if !closed {
        return Err(Rejection::parse(
            "the multipart request has no closing delimiter",
        ));
    }
    if parts.is_empty() {
        return Err(Rejection::parse("the multipart request has no parts"));
    }
    Ok(parts)
}

/// After a delimiter: optional transport padding (spaces, tabs), then a line break (or, for the close
/// delimiter, the end of the body). Returns the offset after the line break.
fn line_end(body: &[u8], mut at: usize, is_close: bool) -> Result<usize, Rejection> {
    while matches!(body.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    match body.get(at) {
        Some(b'\n') => Ok(at + 1),
        Some(b'\r') if body.get(at + 1) == Some(&b'\n') => Ok(at + 2),
        None if is_close => Ok(at),
        _ => Err(Rejection::parse(
            "a multipart delimiter line has trailing characters",
        )),
    }
}

fn part(body: &[u8], range: Range<usize>) -> Result<Part, Rejection> {
    let bytes = body.get(range.clone()).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let consumed = match httparse::parse_headers(bytes, &mut headers) {
        Ok(httparse::Status::Complete((consumed, _))) => consumed,
        Ok(httparse::Status::Partial) => {
            return Err(Rejection::parse(
                "a multipart part's headers are incomplete",
            ))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Rejection::limit(format!(
                "a multipart part has more than {MAX_PART_HEADERS} headers"
            )))
        }
        Err(_) => return Err(Rejection::parse("a multipart part's headers are malformed")),
    };
    let header_bytes = bytes.get(..consumed).unwrap_or_default();
    let mut content_id = None;
    let mut content_type = None;
    for (name, value) in part_headers(header_bytes)? {
        if name.eq_ignore_ascii_case("content-id") {
            if content_id.is_some() {
                return Err(Rejection::structure("a multipart part has two Content-IDs"));
            }
            content_id = Some(value);
        } else if name.eq_ignore_ascii_case("content-type") {
            if content_type.is_some() {
                return Err(Rejection::structure(
                    "a multipart part has two Content-Types",
                ));
            }
            content_type = Some(value);
        }
    }
    Ok(Part {
        headers: range.start..range.start + consumed,
        content: range.start + consumed..range.end,
        content_id,
        content_type,
    })
}

/// A part's headers as (name, value) text; values that are not UTF-8 are refused.
fn part_headers(bytes: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    match httparse::parse_headers(bytes, &mut headers) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed
            .iter()
            .map(|h| {
                std::str::from_utf8(h.value)
                    .map(|v| (h.name.to_string(), v.trim().to_string()))
                    .map_err(|_| Rejection::parse("a multipart part header is not UTF-8"))
            })
            .collect(),
        _ => Err(Rejection::parse("a multipart part's headers are malformed")),
    }
}

#[cfg(test)]
#[path = "mtom_tests.rs"]
mod tests;
