//! The report as text for a terminal.

use super::{Report, Status};
use crate::mapping::explain::ItemStatus;
use crate::rules::Severity;

/// The report as text, item by item.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "xua-gateway inspection of a {} — checked at {}\n",
        r.input, r.checked_at
    ));
    out.push_str(&format!("profile: {} ({})\n", r.profile, r.profile_choice));
    out.push_str(&format!("verdict: {}\n", r.verdict));
    for t in &r.tokens {
        out.push_str(&format!("\n{}\n", t.label));
        for c in &t.checks {
            let tag = match c.status {
                Status::Ok => " OK ",
                Status::Fail => "FAIL",
                Status::Warn => "WARN",
                Status::Info => "INFO",
                Status::Skipped => "SKIP",
            };
            out.push_str(&format!("  [{tag}] {:<11} {}\n", c.name, c.message));
            out.push_str(&format!("{:>20}{}\n", "", cite(c.cite)));
        }
        if !t.items.is_empty() {
            out.push_str("  items:\n");
            for i in &t.items {
                let status = match i.status {
                    ItemStatus::Mapped => "mapped",
                    ItemStatus::Ignored => "ignored",
                    ItemStatus::Unknown => "unknown",
                    ItemStatus::Invalid => "INVALID",
                    ItemStatus::Protocol => "protocol",
                };
                let field = i
                    .field
                    .as_deref()
                    .map(|f| format!(" → {f}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  [{status:>8}] {}{field}: {}\n",
                    i.source, i.detail
                ));
                out.push_str(&format!("             {}\n", cite(i.cite)));
                for v in &i.values {
                    out.push_str(&format!("             {v}\n"));
                }
            }
        }
        if !t.findings.is_empty() {
            out.push_str("  validation:\n");
            for f in &t.findings {
                let sev = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                out.push_str(&format!(
                    "  [{sev:>8}] {} fails rule {}: {}\n",
                    f.field, f.rule, f.problem
                ));
                out.push_str(&format!("             {}\n", cite(f.cite)));
            }
        }
        if !t.registers.is_empty() {
            out.push_str("  registers:\n");
            for i in &t.registers {
                out.push_str(&format!("  [{:>8}] {}: {}\n", i.answer, i.id, i.detail));
            }
        }
        if let Some(tr) = &t.translation {
            out.push_str(&format!("  would issue ({}, unsigned preview):\n", tr.kind));
            let pretty = serde_json::to_string_pretty(&tr.content).unwrap_or_default();
            for line in pretty.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    out
}

/// "rule saml.signature · OASIS SAML 2.0 Core §5.4 …".
fn cite(c: super::Cite) -> String {
    format!("rule {} · {}", c.0.id, c.0.citation())
}
