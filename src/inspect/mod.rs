//! The inspector: what the gateway sees in a token, item by item, for people at test events.
//!
//! Its verdict is the pipeline's own: it runs the exchange's `prepare` stages in [`Mode::Inspect`] (the same
//! functions in the same order; the replay store is asked, not written; nothing is signed or audited). Around
//! that verdict it lays out every check, attribute and claim on their own, which needs a reading of input
//! that did not verify: that reading lives in [`unverified`] and nowhere else.

pub mod catalog;
mod classify;
mod jwt;
mod registers;
mod render;
pub mod supplied;
pub mod unverified;
mod xml;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use catalog::{Cite, RuleId, RULES};
pub use registers::RegisterItem;
pub use render::render_text;

use crate::clock::rfc3339;
use crate::error::Rejection;
use crate::mapping::explain::ItemReport;
use crate::mapping::Profile;
use crate::model::{AccessContext, Direction};
use crate::pipeline::{Exchange, ExchangeRequest, Mode, Pipeline};
use crate::rules::{Finding, Severity};
use crate::saml::build::XuaValueOut;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    Warn,
    Info,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
    /// The rule checked: `rule_id`, `spec`, `spec_url`.
    #[serde(flatten)]
    pub cite: Cite,
}

/// An attribute or claim as the profile reads it, with the rule it is checked against.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    #[serde(flatten)]
    pub report: ItemReport,
    #[serde(flatten)]
    pub cite: Cite,
}

impl std::ops::Deref for Item {
    type Target = ItemReport;
    fn deref(&self) -> &ItemReport {
        &self.report
    }
}

impl From<ItemReport> for Item {
    fn from(report: ItemReport) -> Self {
        let cite = Cite(classify::item_rule(&report));
        Self { report, cite }
    }
}

/// A finding of the profile's value rules, with the rule of the table it is checked against.
#[derive(Debug, Clone, Serialize)]
pub struct ValueFinding {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(flatten)]
    pub cite: Cite,
}

impl std::ops::Deref for ValueFinding {
    type Target = Finding;
    fn deref(&self) -> &Finding {
        &self.finding
    }
}

impl From<Finding> for ValueFinding {
    fn from(finding: Finding) -> Self {
        let cite = Cite(classify::finding_rule(&finding));
        Self { finding, cite }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Translation {
    /// What would be issued: "jwt-claims" or "xua-attributes".
    pub kind: &'static str,
    /// The JOSE header the issued JWT would carry (for "jwt-claims").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Value>,
    /// Always true: the inspector never signs.
    pub unsigned_preview: bool,
    pub content: Value,
}

/// One token found in the input.
#[derive(Debug, Clone, Serialize)]
pub struct TokenReport {
    pub label: String,
    pub accepted: bool,
    pub checks: Vec<Check>,
    pub items: Vec<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<AccessContext>,
    pub findings: Vec<ValueFinding>,
    /// What each register the rules asked answered (empty when the exchange did not get that far).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registers: Vec<RegisterItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<Translation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub input: String,
    pub profile: String,
    pub profile_choice: String,
    pub checked_at: String,
    pub verdict: String,
    pub accepted: bool,
    pub tokens: Vec<TokenReport>,
}

#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    pub profile: Option<String>,
    /// Check validity windows as of this time instead of now (old samples).
    pub at: Option<OffsetDateTime>,
}

fn check(rule: &'static RuleId, name: &'static str, result: Result<String, Rejection>) -> Check {
    match result {
        Ok(message) => info(rule, name, Status::Ok, message),
        Err(e) => info(
            rule,
            name,
            Status::Fail,
            format!("{} ({})", e.message, e.class),
        ),
    }
}

fn info(
    rule: &'static RuleId,
    name: &'static str,
    status: Status,
    message: impl Into<String>,
) -> Check {
    Check {
        name,
        status,
        message: message.into(),
        cite: Cite(rule),
    }
}

impl TokenReport {
    fn new(label: String) -> Self {
        Self {
            label,
            accepted: false,
            checks: Vec::new(),
            items: Vec::new(),
            model: None,
            findings: Vec::new(),
            registers: Vec::new(),
            translation: None,
        }
    }

    fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.status == Status::Fail || c.status == Status::Skipped)
            || self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The pipeline's own verdict on the token. A refusal the item checks did not already show (the token
    /// was exchanged before, or a stage the items do not cover) becomes a failing check of its own.
    fn settle(&mut self, verdict: Result<(), Rejection>, replay: &'static RuleId) {
        if let Err(e) = verdict {
            if !self.failed() {
                let (rule, name) = if e.class == crate::error::ErrorClass::Replay {
                    (replay, "replay")
                } else {
                    (catalog::EXCHANGE, "exchange")
                };
                self.checks.push(check(rule, name, Err(e)));
            }
        }
        self.accepted = self.model.is_some() && !self.failed();
    }

    fn first_problem(&self) -> Option<String> {
        self.checks
            .iter()
            .find(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.name, c.message))
            .or_else(|| {
                self.findings
                    .iter()
                    .find(|f| f.severity == Severity::Error)
                    .map(|f| format!("{} fails rule {}: {}", f.field, f.rule, f.problem))
            })
    }
}

impl Pipeline {
    /// Inspects any SAML assertion, Response, XML holding assertions, compact JWT or JWT payload.
    pub fn inspect(&self, input: &[u8], options: &InspectOptions) -> Report {
        self.inspect_with_key(input, options, None)
    }

    /// [`Pipeline::inspect`], with the signature also checked with a key the participant supplies
    /// ([`supplied`]): a PEM certificate, a PEM public key or a JWKS. The verdict stays the dry run's.
    pub fn inspect_with_key(
        &self,
        input: &[u8],
        options: &InspectOptions,
        key: Option<&str>,
    ) -> Report {
        let key = key.map(supplied::parse);
        let key = key.as_ref();
        let now = options.at.unwrap_or_else(|| self.now());
        let mut report = Report {
            input: String::new(),
            profile: String::new(),
            profile_choice: String::new(),
            checked_at: rfc3339(now),
            verdict: String::new(),
            accepted: false,
            tokens: Vec::new(),
        };
        match unverified::classify(input) {
            unverified::Kind::Xml(text) => xml::inspect(self, text, options, key, now, &mut report),
            unverified::Kind::Jwt(token) => {
                jwt::inspect(self, token, None, options, key, now, &mut report)
            }
            unverified::Kind::Payload(claims) => {
                jwt::inspect(self, "", Some(claims), options, key, now, &mut report);
            }
            unverified::Kind::Unknown(why) => {
                report.input = "unknown".to_string();
                let mut t = TokenReport::new("input".to_string());
                t.checks
                    .push(info(catalog::INPUT_FORMAT, "format", Status::Fail, why));
                report.tokens.push(t);
            }
        }
        report.accepted = report.tokens.len() == 1 && report.tokens.iter().all(|t| t.accepted);
        report.verdict = match (
            report.accepted,
            report.tokens.iter().find_map(TokenReport::first_problem),
        ) {
            (true, _) => "would be accepted".to_string(),
            (false, Some(p)) => format!("would be rejected: {p}"),
            (false, None) if report.tokens.len() > 1 => {
                "would be rejected: the gateway takes one assertion at a time (send it on its own)"
                    .to_string()
            }
            (false, None) => "would be rejected".to_string(),
        };
        report
    }

    /// The exchange's verdict on a token, by its own stages in [`Mode::Inspect`], as of `now`; what the
    /// registers answered goes into `t`'s register items.
    fn dry_run(
        &self,
        direction: Direction,
        token: &[u8],
        options: &InspectOptions,
        now: OffsetDateTime,
        t: &mut TokenReport,
    ) -> Result<(), Rejection> {
        let request = ExchangeRequest {
            profile: options.profile.clone(),
            ..ExchangeRequest::default()
        };
        let mut x = Exchange::begin(self, direction, &request, Mode::Inspect);
        x.now = now;
        let verdict = match direction {
            Direction::SamlToJwt => self.prepare_jwt(&mut x, token).map(drop),
            Direction::JwtToSaml => match std::str::from_utf8(token) {
                Ok(token) => self.prepare_saml(&mut x, token).map(drop),
                Err(_) => Err(Rejection::parse("the JWT is not UTF-8")),
            },
        };
        t.registers = registers::items(&x.rules.decisions, &x.checks);
        verdict
    }

    /// Picks the requested profile, the issuer's configured one, or the one that reads the most items.
    fn choose_profile<'p>(
        &'p self,
        requested: Option<&str>,
        explain: &dyn Fn(&Profile) -> Vec<ItemReport>,
    ) -> (&'p Profile, String, Vec<ItemReport>) {
        if let Some(name) = requested {
            if let Some(p) = self.profiles().get(name) {
                return (p, "requested".to_string(), explain(p));
            }
        }
        let default = self.profiles().default_profile();
        let mut best = (default, explain(default));
        for name in self.profiles().names() {
            let Some(p) = self.profiles().get(name) else {
                continue;
            };
            let items = explain(p);
            if Profile::fit(&items) > Profile::fit(&best.1) {
                best = (p, items);
            }
        }
        let why = if std::ptr::eq(best.0, default) {
            format!("default ({} items read)", Profile::fit(&best.1))
        } else {
            format!(
                "reads the most items ({} of {}), more than the default {}",
                Profile::fit(&best.1),
                best.1.len(),
                default.name
            )
        };
        (best.0, why, best.1)
    }

    /// Validation findings and the unsigned preview of what would be issued.
    fn findings_and_preview(
        &self,
        profile: &Profile,
        model: &AccessContext,
        to_jwt: bool,
        t: &mut TokenReport,
    ) {
        match self.rules().validator(&profile.name) {
            Some(v) => {
                t.findings = v
                    .inspect(model)
                    .into_iter()
                    .map(ValueFinding::from)
                    .collect();
            }
            None => t.checks.push(info(
                catalog::PROFILE_MAPPING,
                "validation",
                Status::Info,
                "no rules file for this profile",
            )),
        }
        t.translation = if to_jwt {
            profile.encode_claims(model).ok().map(|claims| Translation {
                kind: "jwt-claims",
                header: self.jwt_out.keys.current().header_json(),
                unsigned_preview: true,
                content: Value::Object(claims),
            })
        } else {
            profile
                .encode_xua_named(model, self.rules().codes())
                .ok()
                .map(|out| Translation {
                    kind: "xua-attributes",
                    header: None,
                    unsigned_preview: true,
                    content: xua_preview(&out),
                })
        };
    }
}

fn xua_preview(out: &crate::mapping::XuaOutput) -> Value {
    let attributes: Vec<Value> = out
        .attributes
        .iter()
        .map(|a| {
            let values: Vec<String> = a
                .values
                .iter()
                .map(|v| match v {
                    XuaValueOut::Text { text, .. } => text.clone(),
                    XuaValueOut::Element(f) => f.to_xml(),
                })
                .collect();
            serde_json::json!({ "name": a.name, "values": values })
        })
        .collect();
    let mut m = Map::new();
    m.insert("name_id".into(), serde_json::json!(out.name_id));
    m.insert("attributes".into(), Value::Array(attributes));
    Value::Object(m)
}
