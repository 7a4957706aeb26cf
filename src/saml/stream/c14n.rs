//! Exclusive XML canonicalisation (without comments) of one element of a tape, minus one excluded subtree
//! (the enveloped Signature), exactly as libxml2 2.9's `xmlC14NExecute` renders the node set libxmlsec1
//! hands it: the same namespace-rendering decisions (visibly utilised prefixes, the InclusiveNamespaces
//! list, the default namespace and `xmlns=""`), attributes sorted by namespace URI then local name,
//! namespace declarations by prefix, text and attribute values escaped by the c14n rules, empty elements as
//! start and end tag. Namespace URIs are written the way libxml2 writes them (unescaped, quoted with `'`
//! when they hold a `"`), because the digest is over libxml2's bytes.
//!
//! Every element, attribute and text written is also handed to a [`Sink`], so that the claims are read from
//! exactly what was digested.

use std::cmp::Ordering;

use super::tape::{Attr, Item, NsRef, Tape};

/// A namespace declaration as written: prefix (`None` for the default namespace) and URI.
pub(super) type Written<'w> = (Option<&'w str>, &'w str);

/// One element as written.
pub(super) struct Opened<'w> {
    /// The prefix written before the local name (`None`: none written; the local name may hold colons).
    pub(super) prefix: Option<&'w str>,
    pub(super) local: &'w str,
    /// The namespace declarations written on it, in output order.
    pub(super) decls: &'w [Written<'w>],
    /// The attributes written on it, in output order, with the prefix written for each.
    pub(super) attrs: &'w [(Option<&'w str>, &'w Attr<'w>)],
    /// Byte offsets of the start tag in the output.
    pub(super) span: (usize, usize),
}

/// Receives what is written, in order.
pub(super) trait Sink {
    fn start(&mut self, element: &Opened<'_>);
    fn text(&mut self, text: &str);
    fn end(&mut self, end_offset: usize);
}

/// A sink that keeps nothing (SignedInfo, a signed Response).
pub(super) struct Discard;

impl Sink for Discard {
    fn start(&mut self, _: &Opened<'_>) {}
    fn text(&mut self, _: &str) {}
    fn end(&mut self, _: usize) {}
}

/// One InclusiveNamespaces PrefixList entry: `None` is the default namespace (`#default`, or an empty entry).
pub(super) type Inclusive<'p> = Option<&'p str>;

/// Splits a PrefixList as libxmlsec1 does: at each single space (so a doubled or leading space yields an
/// empty entry, which libxml2 reads as the default namespace); a trailing space adds nothing.
pub(super) fn prefix_list(list: &str) -> Vec<Inclusive<'_>> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (token, tail) = match rest.split_once(' ') {
            Some((token, tail)) => (token, tail),
            None => (rest, ""),
        };
        out.push(match token {
            "" | "#default" => None,
            other => Some(other),
        });
        rest = tail;
    }
    out
}

/// libxml2's visible-namespace stack: what output ancestors (and the current element, so far) rendered.
struct Rendered<'t> {
    stack: Vec<Written<'t>>,
    /// Start of the entries the nearest output ancestor added (libxml2's `nsPrevStart`).
    prev_start: usize,
    /// End of them (`nsPrevEnd`).
    prev_end: usize,
}

impl<'t> Rendered<'t> {
    /// `xmlExcC14NVisibleNsStackFind`: rendered by any output ancestor with the same value.
    fn exclusive_find(&self, ns: Written<'_>) -> bool {
        match self.stack.iter().rev().find(|(p, _)| *p == ns.0) {
            Some((_, uri)) => *uri == ns.1,
            None => ns.0.is_none() && ns.1.is_empty(),
        }
    }

    /// `xmlC14NVisibleNsStackFind`: the same, but only among the nearest output ancestor's entries (unless it
    /// is the empty default namespace).
    fn inclusive_find(&self, ns: Written<'_>) -> bool {
        let empty = ns.0.is_none() && ns.1.is_empty();
        let start = if empty { 0 } else { self.prev_start };
        match self
            .stack
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .rev()
            .find(|(p, _)| *p == ns.0)
        {
            Some((_, uri)) => *uri == ns.1,
            None => empty,
        }
    }
}

struct Saved {
    len: usize,
    prev_start: usize,
    prev_end: usize,
}

/// Canonicalises `apex` without the subtree `exclude`, writing into `out` and telling `sink`.
pub(super) fn render<'t>(
    tape: &'t Tape<'t>,
    apex: usize,
    exclude: Option<usize>,
    inclusive: &[Inclusive<'_>],
    out: &mut Vec<u8>,
    sink: &mut dyn Sink,
) {
    let Some(apex_element) = tape.element(apex) else {
        return;
    };
    let mut rendered = Rendered {
        stack: Vec::new(),
        prev_start: 0,
        prev_end: 0,
    };
    let mut open: Vec<(usize, Saved)> = Vec::new();
    let mut i = apex_element.start;
    while i <= apex_element.end {
        match tape.items.get(i) {
            Some(Item::Start(id)) if Some(*id) == exclude => {
                i = tape.element(*id).map_or(i, |e| e.end);
            }
            Some(Item::Start(id)) => {
                let saved = Saved {
                    len: rendered.stack.len(),
                    prev_start: rendered.prev_start,
                    prev_end: rendered.prev_end,
                };
                start_tag(tape, *id, inclusive, &mut rendered, out, sink);
                open.push((*id, saved));
            }
            Some(Item::End) => {
                if let Some((id, saved)) = open.pop() {
                    out.extend_from_slice(b"</");
                    write_qname(tape, id, out);
                    out.push(b'>');
                    sink.end(out.len());
                    rendered.stack.truncate(saved.len);
                    rendered.prev_start = saved.prev_start;
                    rendered.prev_end = saved.prev_end;
                }
            }
            Some(Item::Text(text)) => {
                escape_text(text, out);
                sink.text(text);
            }
            None => break,
        }
        i += 1;
    }
}

/// The element's name as libxml2 writes it: its namespace's prefix, if any, and its local name (an
/// undeclared prefix is part of libxml2's name for the element, so it is written too).
fn written_name<'t>(tape: &'t Tape<'t>, id: usize) -> (Option<&'t str>, &'t str) {
    match tape.element(id) {
        Some(e) if e.ns == NsRef::None => (e.prefix, e.local),
        Some(e) => (tape.prefix_of(e.ns), e.local),
        None => (None, ""),
    }
}

fn write_qname(tape: &Tape<'_>, id: usize, out: &mut Vec<u8>) {
    let (prefix, local) = written_name(tape, id);
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(local.as_bytes());
}

fn start_tag<'t>(
    tape: &'t Tape<'t>,
    id: usize,
    inclusive: &[Inclusive<'_>],
    rendered: &mut Rendered<'t>,
    out: &mut Vec<u8>,
    sink: &mut dyn Sink,
) {
    let Some(element) = tape.element(id) else {
        return;
    };
    let tag_start = out.len();
    out.push(b'<');
    write_qname(tape, id, out);

    // The namespace axis (libxml2's xmlExcC14NProcessNamespacesAxis, for a visible element).
    let mut list: Vec<Written<'t>> = Vec::new();
    let mut has_empty_ns = false;
    let mut utilises_empty_default = false;
    let mut empty_in_inclusive = false;
    let written = |ns: NsRef| -> Option<Written<'t>> {
        match ns {
            NsRef::Decl(i) => tape.decls.get(i).map(|d| (d.prefix, d.uri.as_ref())),
            NsRef::None | NsRef::Xml => None,
        }
    };
    for prefix in inclusive {
        if prefix.is_none() {
            empty_in_inclusive = true;
        }
        if let Some(ns) = written(tape.search_ns(id, *prefix)) {
            let already = rendered.inclusive_find(ns);
            rendered.stack.push(ns);
            if !already {
                list.push(ns);
            }
            if ns.0.is_none() {
                has_empty_ns = true;
            }
        }
    }
    let element_ns = match element.ns {
        NsRef::None => {
            utilises_empty_default = true;
            tape.search_ns(id, None)
        }
        ns => ns,
    };
    if let Some(ns) = written(element_ns) {
        if !rendered.exclusive_find(ns) {
            list.push(ns);
        }
        rendered.stack.push(ns);
        if ns.0.is_none() {
            has_empty_ns = true;
        }
    }
    let attrs = tape.attrs_of(id);
    for attr in attrs {
        if let Some(ns) = written(attr.ns) {
            let already = rendered.exclusive_find(ns);
            rendered.stack.push(ns);
            if !already {
                list.push(ns);
            }
            if ns.0.is_none() {
                has_empty_ns = true;
            }
        }
    }
    let mut decls: Vec<Written<'t>> = Vec::with_capacity(list.len() + 1);
    let empty_default: Written<'t> = (None, "");
    if utilises_empty_default && !has_empty_ns && !empty_in_inclusive {
        if !rendered.exclusive_find(empty_default) {
            decls.push(empty_default);
        }
    } else if !has_empty_ns && empty_in_inclusive && !rendered.inclusive_find(empty_default) {
        decls.push(empty_default);
    }
    list.sort_by(|a, b| a.0.cmp(&b.0));
    decls.extend(list);
    for (prefix, uri) in &decls {
        match prefix {
            Some(p) => {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.push(b'=');
            }
            None => out.extend_from_slice(b" xmlns="),
        }
        write_quoted_uri(uri, out);
    }
    rendered.prev_start = rendered.prev_end;
    rendered.prev_end = rendered.stack.len();

    // The attribute axis: every attribute, sorted (libxml2's xmlC14NAttrsCompare; on a tie the later one
    // first, as its sorted list inserts).
    let mut sorted: Vec<(usize, &'t Attr<'t>)> = attrs.iter().enumerate().collect();
    sorted.sort_by(|(ia, a), (ib, b)| compare_attrs(tape, a, b).then(ib.cmp(ia)));
    let mut written_attrs: Vec<(Option<&'t str>, &'t Attr<'t>)> = Vec::with_capacity(sorted.len());
    for (_, attr) in sorted {
        let prefix = match attr.ns {
            NsRef::None => attr.prefix,
            ns => tape.prefix_of(ns),
        };
        out.push(b' ');
        if let Some(p) = prefix {
            out.extend_from_slice(p.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(attr.local.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attribute(&attr.value, out);
        out.push(b'"');
        written_attrs.push((prefix, attr));
    }
    out.push(b'>');
    let (prefix, local) = written_name(tape, id);
    sink.start(&Opened {
        prefix,
        local,
        decls: &decls,
        attrs: &written_attrs,
        span: (tag_start, out.len()),
    });
}

/// libxml2's attribute name: `prefix:local` for an undeclared prefix, else the local name.
fn attr_name<'s>(attr: &'s Attr<'_>) -> impl Iterator<Item = u8> + 's {
    let prefix = attr.prefix.filter(|_| attr.undeclared()).unwrap_or("");
    let colon: &[u8] = if prefix.is_empty() { b"" } else { b":" };
    prefix
        .bytes()
        .chain(colon.iter().copied())
        .chain(attr.local.bytes())
}

fn compare_attrs(tape: &Tape<'_>, a: &Attr<'_>, b: &Attr<'_>) -> Ordering {
    if a.ns == b.ns {
        return attr_name(a).cmp(attr_name(b));
    }
    match (a.ns, b.ns) {
        (NsRef::None, _) => Ordering::Less,
        (_, NsRef::None) => Ordering::Greater,
        _ => tape
            .uri(a.ns)
            .cmp(&tape.uri(b.ns))
            .then_with(|| attr_name(a).cmp(attr_name(b))),
    }
}

/// libxml2's `xmlBufWriteQuotedString`: double quotes, or single quotes around a value holding `"`, or
/// `&quot;` when it holds both.
fn write_quoted_uri(uri: &str, out: &mut Vec<u8>) {
    if !uri.contains('"') {
        out.push(b'"');
        out.extend_from_slice(uri.as_bytes());
        out.push(b'"');
    } else if !uri.contains('\'') {
        out.push(b'\'');
        out.extend_from_slice(uri.as_bytes());
        out.push(b'\'');
    } else {
        out.push(b'"');
        out.extend_from_slice(uri.replace('"', "&quot;").as_bytes());
        out.push(b'"');
    }
}

/// How a namespace URI reads back from the canonical bytes (what an XML reader takes as the raw value).
pub(super) fn uri_as_read(uri: &str) -> std::borrow::Cow<'_, str> {
    if uri.contains('"') && uri.contains('\'') {
        std::borrow::Cow::Owned(uri.replace('"', "&quot;"))
    } else {
        std::borrow::Cow::Borrowed(uri)
    }
}

pub(super) fn escape_text(text: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let escaped: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(text.as_bytes().get(last..i).unwrap_or(b""));
        out.extend_from_slice(escaped);
        last = i + 1;
    }
    out.extend_from_slice(text.as_bytes().get(last..).unwrap_or(b""));
}

pub(super) fn escape_attribute(value: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in value.bytes().enumerate() {
        let escaped: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'"' => b"&quot;",
            b'\t' => b"&#x9;",
            b'\n' => b"&#xA;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(value.as_bytes().get(last..i).unwrap_or(b""));
        out.extend_from_slice(escaped);
        last = i + 1;
    }
    out.extend_from_slice(value.as_bytes().get(last..).unwrap_or(b""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lists_split_like_libxmlsec1() {
        assert_eq!(prefix_list("xs"), vec![Some("xs")]);
        assert_eq!(prefix_list("xs saml"), vec![Some("xs"), Some("saml")]);
        assert_eq!(
            prefix_list("xs  saml"),
            vec![Some("xs"), None, Some("saml")]
        );
        assert_eq!(prefix_list(" xs"), vec![None, Some("xs")]);
        assert_eq!(prefix_list("xs "), vec![Some("xs")]);
        assert_eq!(prefix_list("#default xs"), vec![None, Some("xs")]);
        assert_eq!(prefix_list(""), Vec::<Inclusive<'_>>::new());
    }

    #[test]
    fn escaping_follows_the_c14n_rules() {
        let mut out = Vec::new();
        escape_text("a&b<c>d\re\"f'g\th\n", &mut out);
        assert_eq!(out, b"a&amp;b&lt;c&gt;d&#xD;e\"f'g\th\n");
        out.clear();
        escape_attribute("a&b<c>d\re\"f'g\th\n", &mut out);
        assert_eq!(out, b"a&amp;b&lt;c>d&#xD;e&quot;f'g&#x9;h&#xA;");
    }
}
