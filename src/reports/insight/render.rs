//! The insight report as JSON (for a patient portal, with the words it needs to lay it out), plain text,
//! and one self-contained HTML page.

use std::fmt::Write;

use super::{Access, Insight, Person, Refusal};
use crate::reports::html::{esc, page};
use crate::reports::tables::{Lang, Tables, Words};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Format::Json),
            "text" => Some(Format::Text),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Text => "text",
            Format::Html => "html",
        }
    }
}

/// The report in `format`.
pub fn render(report: &Insight, tables: &Tables, format: Format) -> String {
    let lang = Lang::parse(report.language).unwrap_or(Lang::Nb);
    let w = tables.words(lang);
    match format {
        Format::Json => json(report, w),
        Format::Text => text(report, w),
        Format::Html => html(report, w),
    }
}

fn json(report: &Insight, w: &Words) -> String {
    let mut v = serde_json::to_value(report).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("report".into(), "insight".into());
        o.insert(
            "words".into(),
            serde_json::to_value(w.section("insight")).unwrap_or_default(),
        );
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

fn who_line(w: &Words, p: &Person) -> String {
    let mut s = p.name.clone();
    for c in &p.category {
        s.push_str(", ");
        s.push_str(c);
    }
    if let Some(h) = &p.hpr {
        let _ = write!(s, ", {} {h}", w.get("insight.hpr"));
    }
    s
}

fn why_line(w: &Words, a: &Access) -> String {
    let mut parts: Vec<String> = a.why.purpose.clone();
    parts.extend(a.why.service.clone());
    parts.extend(a.why.details.clone());
    let mut s = parts.join("; ");
    if a.why.as_regular_gp {
        let _ = write!(s, " — {}", w.get("insight.as_regular_gp"));
    }
    s
}

/// The rows one access shows: (label, value).
fn access_rows(w: &Words, a: &Access) -> Vec<(String, String)> {
    let mut rows = vec![
        (w.get("insight.when").to_string(), a.when.clone()),
        (w.get("insight.who").to_string(), who_line(w, &a.who)),
    ];
    for (key, value) in [
        ("insight.organisation", &a.organisation),
        ("insight.point_of_care", &a.point_of_care),
        ("insight.department", &a.department),
    ] {
        if let Some(v) = value {
            rows.push((w.get(key).to_string(), v.clone()));
        }
    }
    rows.push((w.get("insight.why").to_string(), why_line(w, a)));
    rows.push((
        w.get("insight.received_by").to_string(),
        a.received_by.clone(),
    ));
    if let Some(v) = &a.valid_until {
        rows.push((w.get("insight.valid_until").to_string(), v.clone()));
    }
    rows
}

fn refusal_rows(w: &Words, r: &Refusal) -> Vec<(String, String)> {
    let mut rows = vec![(w.get("insight.when").to_string(), r.when.clone())];
    if let Some(p) = &r.who {
        rows.push((w.get("insight.who").to_string(), who_line(w, p)));
    }
    if let Some(o) = &r.organisation {
        rows.push((w.get("insight.organisation").to_string(), o.clone()));
    }
    rows.push((
        w.get("insight.refused_reason").to_string(),
        r.reason.clone(),
    ));
    rows
}

fn header(w: &Words, report: &Insight) -> Vec<(String, String)> {
    vec![
        (w.get("insight.patient").to_string(), report.patient.clone()),
        (
            w.get("insight.produced").to_string(),
            report.produced_words.clone(),
        ),
        (w.get("insight.source").to_string(), report.source.clone()),
    ]
}

fn text(report: &Insight, w: &Words) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", w.get("insight.title"));
    let _ = writeln!(out, "{}\n", w.get("insight.intro"));
    for (k, v) in header(w, report) {
        let _ = writeln!(out, "{k}: {v}");
    }
    let _ = writeln!(out, "\n== {} ==", w.get("insight.accesses"));
    if report.accesses.is_empty() {
        let _ = writeln!(out, "{}", w.get("insight.no_accesses"));
    } else {
        let _ = writeln!(
            out,
            "{}",
            w.fill(
                "insight.accesses_count",
                &[("count", &report.accesses.len().to_string())]
            )
        );
    }
    for a in &report.accesses {
        out.push('\n');
        for (k, v) in access_rows(w, a) {
            let _ = writeln!(out, "  {k}: {v}");
        }
        if a.why.as_regular_gp {
            let _ = writeln!(out, "  ({})", w.get("insight.as_regular_gp_note"));
        }
    }
    let _ = writeln!(out, "\n== {} ==", w.get("insight.refused"));
    if report.refused.is_empty() {
        let _ = writeln!(out, "{}", w.get("insight.no_refusals"));
    } else {
        let _ = writeln!(out, "{}", w.get("insight.refused_intro"));
    }
    for r in &report.refused {
        out.push('\n');
        for (k, v) in refusal_rows(w, r) {
            let _ = writeln!(out, "  {k}: {v}");
        }
    }
    let _ = writeln!(out, "\n== {} ==", w.get("insight.check"));
    for line in report.chain.words(w, "insight") {
        let _ = writeln!(out, "{line}");
    }
    out
}

fn dl(rows: &[(String, String)]) -> String {
    let mut s = String::from("<dl>\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    s.push_str("</dl>\n");
    s
}

fn html(report: &Insight, w: &Words) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(w.get("insight.title")));
    let _ = writeln!(b, "<p>{}</p>", esc(w.get("insight.intro")));
    let _ = write!(b, "<div class=\"meta\">{}</div>", dl(&header(w, report)));
    let _ = writeln!(
        b,
        "<section id=\"accesses\">\n<h2>{}</h2>",
        esc(w.get("insight.accesses"))
    );
    if report.accesses.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(w.get("insight.no_accesses")));
    } else {
        let _ = writeln!(
            b,
            "<p>{}</p>",
            esc(&w.fill(
                "insight.accesses_count",
                &[("count", &report.accesses.len().to_string())]
            ))
        );
    }
    for a in &report.accesses {
        let _ = write!(
            b,
            "<article class=\"access\" data-record=\"{}\">\n{}",
            a.record,
            dl(&access_rows(w, a))
        );
        if a.why.as_regular_gp {
            let _ = writeln!(
                b,
                "<p class=\"gp\">{}</p>",
                esc(w.get("insight.as_regular_gp_note"))
            );
        }
        b.push_str("</article>\n");
    }
    let _ = writeln!(
        b,
        "</section>\n<section id=\"refused\">\n<h2>{}</h2>",
        esc(w.get("insight.refused"))
    );
    let intro = if report.refused.is_empty() {
        "insight.no_refusals"
    } else {
        "insight.refused_intro"
    };
    let _ = writeln!(b, "<p>{}</p>", esc(w.get(intro)));
    for r in &report.refused {
        let _ = write!(
            b,
            "<article class=\"refused\" data-record=\"{}\">\n{}</article>\n",
            r.record,
            dl(&refusal_rows(w, r))
        );
    }
    let _ = writeln!(
        b,
        "</section>\n<section id=\"check\" class=\"check\">\n<h2>{}</h2>",
        esc(w.get("insight.check"))
    );
    for line in report.chain.words(w, "insight") {
        let _ = writeln!(b, "<p>{}</p>", esc(&line));
    }
    b.push_str("</section>\n");
    page(report.language, w.get("insight.title"), &b)
}
