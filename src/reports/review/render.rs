//! The review as one self-contained HTML page a privacy officer reads and ticks off (a checkbox per finding
//! and per sampled access; the ticks live in the page only), and as CSV (one row per listed record, after a
//! first row that says which period, seed and chain head the review covers).

use std::fmt::Write;

use super::{Finding, Item, Review};
use crate::reports::html::{esc, page};
use crate::reports::tables::{Lang, Tables, Words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "html" => Some(Format::Html),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Csv => "csv",
        }
    }
}

pub fn render(review: &Review, tables: &Tables, format: Format) -> Result<String, String> {
    let lang = Lang::parse(review.language).unwrap_or(Lang::Nb);
    let w = tables.words(lang);
    match format {
        Format::Html => Ok(html(review, w)),
        Format::Csv => csv(review),
    }
}

fn outcome_words<'a>(w: &'a Words, item: &Item) -> &'a str {
    if item.outcome == "issued" {
        w.get("review.issued")
    } else {
        w.get("review.rejected")
    }
}

const COLUMNS: [&str; 8] = [
    "review.record",
    "review.when",
    "review.practitioner",
    "review.patient",
    "review.organisation",
    "review.grounds",
    "review.outcome",
    "review.note",
];

fn item_cells(w: &Words, item: &Item) -> String {
    let mut s = String::new();
    for v in [
        item.record.to_string(),
        item.when.clone(),
        item.practitioner.clone(),
        item.patient.clone().unwrap_or_default(),
        item.organisation.clone().unwrap_or_default(),
        item.grounds.clone(),
        outcome_words(w, item).to_string(),
    ] {
        let _ = write!(s, "<td>{}</td>", esc(&v));
    }
    s.push_str("<td></td>");
    s
}

fn head(w: &Words, first: &[&str]) -> String {
    let mut s = String::from("<thead><tr>");
    for k in first.iter().chain(COLUMNS.iter()) {
        let _ = write!(s, "<th scope=\"col\">{}</th>", esc(w.get(k)));
    }
    s.push_str("</tr></thead>\n");
    s
}

fn finding_rows(w: &Words, n: usize, f: &Finding) -> String {
    let mut s = format!(
        "<tbody class=\"finding\" data-flag=\"{}\" data-records=\"{}\">\n",
        f.flag.id(),
        f.records()
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let span = f.items.len().max(1);
    let mut title = esc(&f.title);
    if let Some(d) = &f.detail {
        let _ = write!(title, "<br><span class=\"note\">{}</span>", esc(d));
    }
    let tick = format!(
        "<td class=\"tick\" rowspan=\"{span}\"><input type=\"checkbox\" id=\"finding-{n}\" aria-label=\"{} {n}\"></td><td rowspan=\"{span}\">{title}</td>",
        esc(w.get("review.reviewed"))
    );
    for (i, item) in f.items.iter().enumerate() {
        let lead = if i == 0 { tick.as_str() } else { "" };
        let _ = writeln!(s, "<tr>{lead}{}</tr>", item_cells(w, item));
    }
    s.push_str("</tbody>\n");
    s
}

fn html(review: &Review, w: &Words) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>{} {}</h1>",
        esc(w.get("review.title")),
        esc(&review.period)
    );
    let _ = writeln!(b, "<p>{}</p>", esc(w.get("review.intro")));
    b.push_str("<dl class=\"meta\">\n");
    for (k, v) in [
        (
            "review.period",
            format!("{} ({})", review.period_words, review.period),
        ),
        ("review.produced", review.produced_words.clone()),
        ("review.source", review.source.clone()),
        ("review.records", review.counts.records.to_string()),
        ("review.accesses", review.counts.accesses.to_string()),
        ("review.refusals", review.counts.refusals.to_string()),
    ] {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", esc(w.get(k)), esc(&v));
    }
    b.push_str("</dl>\n");
    if review.watch_list_size > 0 {
        let _ = writeln!(
            b,
            "<p class=\"note\">{}</p>",
            esc(&w.fill(
                "review.watch_list_size",
                &[("count", &review.watch_list_size.to_string())]
            ))
        );
    }
    let _ = writeln!(
        b,
        "<section id=\"check\" class=\"check\">\n<h2>{}</h2>",
        esc(w.get("review.check"))
    );
    for line in review.chain.words(w, "review") {
        let _ = writeln!(b, "<p>{}</p>", esc(&line));
    }
    let _ = writeln!(
        b,
        "</section>\n<section id=\"findings\">\n<h2>{} ({})</h2>",
        esc(w.get("review.flags")),
        review.findings.len()
    );
    if review.findings.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(w.get("review.no_flags")));
    } else {
        b.push_str("<table class=\"findings\">\n");
        b.push_str(&head(w, &["review.reviewed", "review.finding"]));
        for (n, f) in review.findings.iter().enumerate() {
            b.push_str(&finding_rows(w, n + 1, f));
        }
        b.push_str("</table>\n");
    }
    let _ = writeln!(
        b,
        "</section>\n<section id=\"sample\">\n<h2>{} ({})</h2>",
        esc(w.get("review.sample")),
        review.sample.len()
    );
    if review.sample.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(w.get("review.no_sample")));
    } else {
        let _ = writeln!(
            b,
            "<p>{}</p>",
            esc(&w.fill(
                "review.sample_intro",
                &[
                    ("size", &review.sample.len().to_string()),
                    ("population", &review.population.to_string()),
                    ("seed", &review.seed.to_string()),
                ]
            ))
        );
        b.push_str("<table class=\"sample\">\n");
        b.push_str(&head(w, &["review.reviewed"]));
        b.push_str("<tbody>\n");
        for (n, item) in review.sample.iter().enumerate() {
            let _ = writeln!(
                b,
                "<tr data-record=\"{}\"><td class=\"tick\"><input type=\"checkbox\" id=\"sample-{}\" aria-label=\"{} {}\"></td>{}</tr>",
                item.record,
                n + 1,
                esc(w.get("review.reviewed")),
                n + 1,
                item_cells(w, item)
            );
        }
        b.push_str("</tbody>\n</table>\n");
    }
    b.push_str("</section>\n");
    let title = format!("{} {}", w.get("review.title"), review.period);
    page(review.language, &title, &b)
}

/// The CSV's columns (stable, in English, for spreadsheets and scripts).
pub const CSV_COLUMNS: [&str; 12] = [
    "section",
    "finding",
    "flag",
    "detail",
    "record",
    "time",
    "practitioner",
    "patient",
    "organisation",
    "grounds",
    "outcome",
    "reviewed",
];

fn csv(review: &Review) -> Result<String, String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let e = |e: csv::Error| e.to_string();
    out.write_record(CSV_COLUMNS).map_err(e)?;
    let head = match (&review.chain.head, &review.chain.head_hash) {
        (Some(seq), Some(hash)) => format!("chain head {seq} {hash}"),
        _ => "chain empty".to_string(),
    };
    let about = format!(
        "period {}; seed {}; sample {} of {}; {} records verified; {head}",
        review.period,
        review.seed,
        review.sample.len(),
        review.population,
        review.chain.records
    );
    out.write_record(["report", "", "", &about, "", "", "", "", "", "", "", ""])
        .map_err(e)?;
    let row = |section: &str, n: String, flag: &str, detail: &str, i: &Item| {
        vec![
            section.to_string(),
            n,
            flag.to_string(),
            detail.to_string(),
            i.record.to_string(),
            crate::clock::rfc3339(i.time),
            i.practitioner.clone(),
            i.patient.clone().unwrap_or_default(),
            i.organisation.clone().unwrap_or_default(),
            i.grounds.clone(),
            i.outcome.to_string(),
            String::new(),
        ]
    };
    for (n, f) in review.findings.iter().enumerate() {
        let detail = f.detail.clone().unwrap_or_default();
        for i in &f.items {
            out.write_record(row("finding", (n + 1).to_string(), f.flag.id(), &detail, i))
                .map_err(e)?;
        }
    }
    for i in &review.sample {
        out.write_record(row("sample", String::new(), "", "", i))
            .map_err(e)?;
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}
