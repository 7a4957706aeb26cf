//! Structure-aware edits of a signed document for the differential harness. Most keep the XML infoset (and so
//! the canonical form and the signature) unchanged while changing the bytes a verifier reads: references for
//! characters, CDATA, quotes, white space in tags, line ends, namespace declarations moved or repeated, a
//! Response around the Assertion, the Signature moved. Others change what is signed. Both verifiers must
//! give the same verdict either way.

use crate::input::Cursor;

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const XS: &str = "http://www.w3.org/2001/XMLSchema";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Byte ranges of character data (outside tags, comments, CDATA, PIs).
fn text_runs(doc: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    let mut depth_markup = false;
    for (i, c) in doc.char_indices() {
        match c {
            '<' => {
                if let Some(s) = start.take() {
                    if i > s {
                        runs.push((s, i));
                    }
                }
                depth_markup = true;
            }
            '>' if depth_markup => {
                depth_markup = false;
                start = Some(i + 1);
            }
            _ => {}
        }
    }
    runs
}

/// Byte ranges of attribute values (inside the quotes) of start tags.
fn attr_values(doc: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let bytes = doc.as_bytes();
    let mut i = 0;
    let mut in_tag = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'<' => in_tag = !matches!(bytes.get(i + 1), Some(b'!' | b'?' | b'/')),
            b'>' => in_tag = false,
            b'=' if in_tag => {
                let mut j = i + 1;
                while matches!(bytes.get(j), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    j += 1;
                }
                if let Some(&q) = bytes.get(j).filter(|&&q| q == b'"' || q == b'\'') {
                    if let Some(len) = bytes
                        .get(j + 1..)
                        .and_then(|r| r.iter().position(|&c| c == q))
                    {
                        out.push((j + 1, j + 1 + len));
                        i = j + 1 + len;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Start positions of start tags (`<name`), with the index of their closing `>`.
fn start_tags(doc: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let bytes = doc.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'<'
            && bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        {
            let mut j = i + 1;
            let mut quote = None;
            while let Some(&c) = bytes.get(j) {
                match (quote, c) {
                    (None, b'"' | b'\'') => quote = Some(c),
                    (Some(q), _) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if j < bytes.len() {
                out.push((i, j));
            }
            i = j;
        }
        i += 1;
    }
    out
}

fn pick<T: Copy>(items: &[T], input: &mut Cursor<'_>) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let n = (usize::from(input.byte()) << 8 | usize::from(input.byte())) % items.len();
    items.get(n).copied()
}

fn splice(doc: &str, at: usize, remove: usize, insert: &str) -> Option<String> {
    let head = doc.get(..at)?;
    let tail = doc.get(at + remove..)?;
    Some(format!("{head}{insert}{tail}"))
}

/// A character of a run, by index: its byte position and the character.
fn char_in(doc: &str, run: (usize, usize), input: &mut Cursor<'_>) -> Option<(usize, char)> {
    let chars: Vec<(usize, char)> = doc.get(run.0..run.1)?.char_indices().collect();
    let (offset, c) = pick(&chars, input)?;
    Some((run.0 + offset, c))
}

fn char_reference(c: char, hex: bool) -> String {
    if hex {
        format!("&#x{:X};", u32::from(c))
    } else {
        format!("&#{};", u32::from(c))
    }
}

fn response_around(doc: &str, variant: u8) -> String {
    let extra = match variant % 6 {
        0 => String::new(),
        1 => format!(r#" xmlns:saml="{SAML}""#),
        2 => format!(r#" xmlns:saml="{SAML}" xmlns:xs="{XS}" xmlns:xsi="{XSI}""#),
        3 => r#" xmlns="urn:example:default""#.to_string(),
        4 => r#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xml:lang="no""#.to_string(),
        _ => format!(r#" xmlns:saml="{SAML}" xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#""#),
    };
    let issuer = doc
        .split_once("Issuer>")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map_or("https://idp.test.xua-gateway.example", |(issuer, _)| issuer);
    format!(
        r#"<samlp:Response xmlns:samlp="{SAMLP}"{extra} ID="_response" IssueInstant="2026-11-23T12:30:00Z" Version="2.0"><saml:Issuer xmlns:saml="{SAML}">{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{doc}</samlp:Response>"#
    )
}

const TOKENS: &[&str] = &[
    "&amp;",
    "<!---->",
    "<![CDATA[x]]>",
    "]]>",
    "\r",
    "\t",
    "\r\n",
    " xmlns=\"\"",
    " xml:lang=\"no\"",
    "&#0;",
    "\u{FFFE}",
    "&#x85;",
    "\u{85}",
    "\u{a0}",
    " a:b=\"1\"",
    " xmlns:a=\"urn:a\"",
    " xmlns:a=\"rel\"",
    " xmlns:a=\"\"",
    "<?pi x?>",
    "&#13;",
    "&#x20;",
    " ID=\"_x\"",
    " xml:id=\"_x\"",
    "&lt;",
    "\"",
    "'",
    "<a:b:c/>",
    " p:q=\"1\"",
    "<x xmlns=\"\"/>",
    " xmlns=\"urn:x\"",
    "\u{0}",
    "<saml:Assertion>",
];

/// Applies one edit chosen by the input; `None` when the chosen edit does not apply.
pub fn apply(doc: &str, input: &mut Cursor<'_>) -> Option<String> {
    match input.byte() % 20 {
        0 => {
            let (at, c) = char_in(doc, pick(&text_runs(doc), input)?, input)?;
            if c == '&' || c == '<' {
                return None;
            }
            splice(
                doc,
                at,
                c.len_utf8(),
                &char_reference(c, input.byte().is_multiple_of(2)),
            )
        }
        1 => {
            let (start, end) = pick(&text_runs(doc), input)?;
            let run = doc.get(start..end)?;
            if run.contains('&') || run.contains("]]>") {
                return None;
            }
            splice(doc, start, end - start, &format!("<![CDATA[{run}]]>"))
        }
        2 => {
            let (start, end) = pick(&attr_values(doc), input)?;
            let quote = doc.as_bytes().get(start - 1).copied()?;
            let value = doc.get(start..end)?;
            let other = if quote == b'"' { '\'' } else { '"' };
            if value.contains(other) {
                return None;
            }
            let head = doc.get(..start - 1)?;
            let tail = doc.get(end + 1..)?;
            Some(format!("{head}{other}{value}{other}{tail}"))
        }
        3 => {
            let (_, close) = pick(&start_tags(doc), input)?;
            let at = if doc.as_bytes().get(close - 1) == Some(&b'/') {
                close - 1
            } else {
                close
            };
            let space = [" ", "\n\t", "\r\n ", "  "][usize::from(input.byte() % 4)];
            splice(doc, at, 0, space)
        }
        4 => {
            let (open, close) = pick(&start_tags(doc), input)?;
            let tag = doc.get(open + 1..close)?;
            let name = tag.split([' ', '\t', '\n', '\r', '/']).next()?;
            if tag.ends_with('/') {
                let head = doc.get(..close - 1)?;
                let tail = doc.get(close + 1..)?;
                Some(format!("{head}></{name}>{tail}"))
            } else {
                let end_tag = format!("</{name}>");
                let rest = doc.get(close + 1..)?;
                rest.starts_with(&end_tag).then_some(())?;
                let head = doc.get(..close)?;
                let tail = rest.get(end_tag.len()..)?;
                Some(format!("{head}/>{tail}"))
            }
        }
        5 => {
            let newlines: Vec<usize> = doc.match_indices('\n').map(|(i, _)| i).collect();
            let at = pick(&newlines, input)?;
            splice(
                doc,
                at,
                1,
                if input.byte().is_multiple_of(2) {
                    "\r\n"
                } else {
                    "\r"
                },
            )
        }
        6 => {
            let (start, end) = pick(&attr_values(doc), input)?;
            let (at, c) = char_in(doc, (start, end), input)?;
            let replacement = match (c, input.byte() % 3) {
                (' ', 0) => "\t".to_string(),
                (' ', 1) => "\r\n".to_string(),
                ('&', _) | ('<', _) => return None,
                (c, _) => char_reference(c, true),
            };
            splice(doc, at, c.len_utf8(), &replacement)
        }
        7 => doc
            .starts_with("<saml:Assertion")
            .then(|| response_around(doc, input.byte())),
        8 => {
            if !doc.starts_with("<samlp:Response") {
                return None;
            }
            let declaration = [
                format!(r#" xmlns:saml="{SAML}""#),
                format!(r#" xmlns:xs="{XS}""#),
                format!(r#" xmlns:xsi="{XSI}""#),
            ];
            let d = declaration.get(usize::from(input.byte() % 3))?;
            let (response_tag, rest) = doc.split_once('>')?;
            if !response_tag.contains(d.as_str()) {
                return None;
            }
            let at = rest.find("<saml:Assertion")?;
            let tag_end = at + rest.get(at..)?.find('>')?;
            let in_tag = rest.get(at..tag_end)?.find(d.as_str())? + at;
            Some(format!(
                "{response_tag}>{}",
                splice(rest, in_tag, d.len(), "")?
            ))
        }
        9 => {
            let (open, _) = pick(&start_tags(doc), input)?;
            let name_end = open + doc.get(open..)?.find([' ', '>', '/'])?;
            let declaration = match input.byte() % 4 {
                0 => format!(r#" xmlns:saml="{SAML}""#),
                1 => r#" xmlns:unused="urn:example:unused""#.to_string(),
                2 => format!(r#" xmlns:xs="{XS}""#),
                _ => format!(r#" xmlns:xsi="{XSI}""#),
            };
            splice(doc, name_end, 0, &declaration)
        }
        10 => Some(
            doc.replace("saml:", "s2:")
                .replace("xmlns:saml=", "xmlns:s2="),
        ),
        11 => {
            let (open, _) = pick(&start_tags(doc), input)?;
            let name_end = open + doc.get(open..)?.find([' ', '>', '/'])?;
            let value = if input.byte().is_multiple_of(2) {
                ""
            } else {
                "urn:example:default"
            };
            splice(doc, name_end, 0, &format!(r#" xmlns="{value}""#))
        }
        12 => Some(match input.byte() % 6 {
            0 => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{doc}"),
            1 => format!("\u{FEFF}{doc}"),
            2 => format!("\n{doc}\n"),
            3 => format!("<!-- before -->{doc}<!-- after -->"),
            4 => format!("{doc}<?pi after?>"),
            _ => format!("<?xml version='1.0' standalone='yes'?>\r\n{doc}"),
        }),
        13 => {
            let (at, c) = char_in(doc, pick(&text_runs(doc), input)?, input)?;
            let replacement = match c {
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&apos;",
                _ => return None,
            };
            splice(doc, at, 1, replacement)
        }
        14 => {
            let at = usize::from(input.byte()) << 8 | usize::from(input.byte());
            let at = at % doc.len().max(1);
            let mut bytes = doc.as_bytes().to_vec();
            let b = bytes.get_mut(at)?;
            *b ^= 1 << (input.byte() % 7);
            String::from_utf8(bytes).ok()
        }
        15 => {
            let boundaries: Vec<usize> = doc.char_indices().map(|(i, _)| i).collect();
            let at = pick(&boundaries, input)?;
            splice(doc, at, 0, pick(TOKENS, input)?)
        }
        16 => {
            // Move the Assertion's Signature to the end of the Assertion (still a direct child).
            let start = doc.find("<ds:Signature")?;
            let end = doc.find("</ds:Signature>")? + "</ds:Signature>".len();
            let signature = doc.get(start..end)?;
            let without = splice(doc, start, end - start, "")?;
            let close = without.rfind("</saml:Assertion>")?;
            splice(&without, close, 0, signature)
        }
        17 => {
            let at = doc.find("<ds:Signature")?;
            splice(
                doc,
                at,
                0,
                ["\n  ", " ", "\r\n"][usize::from(input.byte() % 3)],
            )
        }
        18 => {
            // A namespace-qualified attribute on some element (outside the Assertion when wrapped).
            let (open, _) = pick(&start_tags(doc), input)?;
            let name_end = open + doc.get(open..)?.find([' ', '>', '/'])?;
            let attribute = match input.byte() % 3 {
                0 => r#" xml:lang="no""#,
                1 => r#" xmlns:p="urn:p" p:a="1""#,
                _ => r#" xml:space="preserve""#,
            };
            splice(doc, name_end, 0, attribute)
        }
        _ => {
            // Another ID somewhere (a clash, an xml:id, one that is not an NCName).
            let (open, _) = pick(&start_tags(doc), input)?;
            let name_end = open + doc.get(open..)?.find([' ', '>', '/'])?;
            let attribute = match input.byte() % 3 {
                0 => r#" xml:id="_other""#,
                1 => r#" ID="_other""#,
                _ => r#" ID="1bad""#,
            };
            splice(doc, name_end, 0, attribute)
        }
    }
}
