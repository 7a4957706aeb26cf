//! The page both reports are written into: one self-contained HTML file (inline CSS, no script, no image,
//! no link, no font: nothing is fetched when it is opened, and its own Content-Security-Policy says so), so
//! it can be downloaded, archived and opened anywhere. Every value is escaped.

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The policy the page carries: nothing but its own inline style may load.
pub const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'";

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
  line-height: 1.5; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #bbb; }
.meta, .note { color: #444; }
article { border: 1px solid #ccc; border-radius: .4rem; padding: .5rem 1rem; margin: .75rem 0; }
article.refused { border-color: #a33; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .25rem 0; }
dt { font-weight: 600; }
dd { margin: 0; }
.gp { font-weight: 600; color: #1d5e20; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.tick { text-align: center; }
.check { background: #eef6ee; border: 1px solid #9c9; padding: .5rem 1rem; border-radius: .4rem; }
code { font-size: .85rem; word-break: break-all; }
dd, p { overflow-wrap: anywhere; }
@media (max-width: 40rem) {
  body { margin: 1rem auto; }
  dl { grid-template-columns: 1fr; gap: 0; }
  dd { margin-bottom: .35rem; }
  table { display: block; overflow-x: auto; }
}
@media print { input[type=checkbox] { transform: scale(1.3); } }
";

/// A whole page around `body` (already escaped HTML).
pub fn page(lang: &str, title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        esc(lang),
        esc(PAGE_POLICY),
        esc(title),
    );
    out
}
