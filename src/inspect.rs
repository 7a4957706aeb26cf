//! The inspector: what the gateway sees in a token, item by item, for people at test events.
//!
//! It runs the same stages as the pipeline (the same parsers, signature module, checks, tables and
//! validation) but does not stop at the first problem, and it never signs anything: the translation it
//! shows is an unsigned preview.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::rfc3339;
use crate::error::Rejection;
use crate::gateway::Gateway;
use crate::mapping::explain::{ItemReport, ItemStatus};
use crate::mapping::{Profile, XuaInput};
use crate::saml::build::XuaValueOut;
use crate::model::AccessContext;
use crate::ns;
use crate::rules::{Finding, Severity};
use crate::saml::dsig::{self, TrustAnchor};
use crate::saml::tree::{self, Mode, Node};
use crate::saml::{checks, extract, prescan};

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
}

#[derive(Debug, Clone, Serialize)]
pub struct Translation {
    /// What would be issued: "jwt-claims" or "xua-attributes".
    pub kind: &'static str,
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
    pub items: Vec<ItemReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<AccessContext>,
    pub findings: Vec<Finding>,
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

fn check(name: &'static str, result: Result<String, Rejection>) -> Check {
    match result {
        Ok(message) => Check {
            name,
            status: Status::Ok,
            message,
        },
        Err(e) => Check {
            name,
            status: Status::Fail,
            message: format!("{} ({})", e.message, e.class),
        },
    }
}

fn info(name: &'static str, status: Status, message: impl Into<String>) -> Check {
    Check {
        name,
        status,
        message: message.into(),
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
            translation: None,
        }
    }

    fn finish(&mut self) {
        self.accepted = self.model.is_some()
            && self
                .checks
                .iter()
                .all(|c| c.status != Status::Fail && c.status != Status::Skipped)
            && !self.findings.iter().any(|f| f.severity == Severity::Error);
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

/// What kind of input a body holds.
enum Kind<'a> {
    Xml(&'a str),
    Jwt(&'a str),
    Payload(Map<String, Value>),
    Unknown(&'static str),
}

fn classify(input: &[u8]) -> Kind<'_> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Kind::Unknown("the input is not UTF-8 text");
    };
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let trimmed = text.trim();
    if trimmed.starts_with('<') {
        return Kind::Xml(text);
    }
    if trimmed.starts_with('{') {
        return match crate::jwt::json::parse_object(trimmed.as_bytes()) {
            Ok(map) => Kind::Payload(map),
            Err(_) => Kind::Unknown("the input looks like JSON but is not a valid JSON object"),
        };
    }
    let jws_alphabet = trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b'=');
    if jws_alphabet && trimmed.bytes().filter(|b| *b == b'.').count() >= 2 {
        return Kind::Jwt(trimmed);
    }
    Kind::Unknown("the input is neither XML, a compact JWT nor a JSON payload")
}

impl Gateway {
    /// Inspects any SAML assertion, Response, XML holding assertions, compact JWT or JWT payload.
    pub fn inspect(&self, input: &[u8], options: &InspectOptions) -> Report {
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
        match classify(input) {
            Kind::Xml(text) => self.inspect_xml(text, options, now, &mut report),
            Kind::Jwt(token) => self.inspect_jwt(token, None, options, now, &mut report),
            Kind::Payload(claims) => {
                self.inspect_jwt("", Some(claims), options, now, &mut report);
            }
            Kind::Unknown(why) => {
                report.input = "unknown".to_string();
                let mut t = TokenReport::new("input".to_string());
                t.checks.push(info("format", Status::Fail, why));
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
        for name in self.profiles().names().collect::<Vec<_>>() {
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

    fn inspect_xml(
        &self,
        text: &str,
        options: &InspectOptions,
        now: OffsetDateTime,
        report: &mut Report,
    ) {
        let (trust, policy, limits) = self.saml_trust();
        let parsed = tree::parse_with(text.as_bytes(), Mode::Lenient);
        let (root, skipped) = match parsed {
            Ok(r) => r,
            Err(e) => {
                report.input = "XML".to_string();
                let mut t = TokenReport::new("document".to_string());
                t.checks.push(check("parse", Err(e)));
                report.tokens.push(t);
                return;
            }
        };
        let mut found = Vec::new();
        find_assertions(&root, &mut Vec::new(), &mut found);
        report.input = match (
            root.is(ns::SAML, "Assertion"),
            root.is(ns::SAMLP, "Response"),
        ) {
            (true, _) => "SAML assertion".to_string(),
            (_, true) => "SAML Response".to_string(),
            _ => format!("XML ({}) holding {} assertion(s)", root.local, found.len()),
        };
        if found.is_empty() {
            let mut t = TokenReport::new("document".to_string());
            t.checks.push(info(
                "structure",
                Status::Fail,
                "no SAML 2.0 Assertion found",
            ));
            report.tokens.push(t);
            return;
        }
        // What the gateway itself would say about the document as a whole.
        let whole = prescan::scan(text.as_bytes(), limits);
        let standalone = whole.is_ok() && found.len() == 1;
        for (node, path, ancestors) in found {
            let mut t = TokenReport::new(format!(
                "Assertion {} at /{}",
                node.attr("ID").unwrap_or("(no ID)"),
                path.join("/")
            ));
            match &whole {
                Ok(_) if standalone => t.checks.push(info(
                    "structure",
                    Status::Ok,
                    "a single assertion, as the gateway takes it",
                )),
                Ok(_) => {}
                Err(e) => t.checks.push(check("structure", Err(e.clone()))),
            }
            if !standalone && whole.is_ok() {
                t.checks.push(info(
                    "structure",
                    Status::Skipped,
                    "the gateway takes one assertion at a time",
                ));
            }
            if skipped > 0 {
                t.checks.push(info(
                    "comments",
                    Status::Warn,
                    format!("{skipped} comment(s) or processing instruction(s) skipped for inspection; the gateway refuses them inside the assertion"),
                ));
            }
            // Signature first: with the configured certificate for the issuer, or, for information only, with
            // the certificate the assertion carries.
            let issuer = node
                .children
                .iter()
                .find(|c| c.is(ns::SAML, "Issuer"))
                .map(|i| i.text.trim().to_string())
                .unwrap_or_default();
            let signed_bytes = if standalone {
                text.as_bytes().to_vec()
            } else {
                extracted(text, node, &ancestors)
            };
            let sig = match trust.get(&issuer) {
                Some(a) => check(
                    "signature",
                    dsig::verify_assertion(&signed_bytes, a)
                        .map(|_| format!("verifies with the certificate configured for {issuer}")),
                ),
                None if !node.children.iter().any(|c| c.is(ns::DSIG, "Signature")) => info(
                    "signature",
                    Status::Fail,
                    format!(
                        "the assertion is not signed (and issuer {} is not trusted either)",
                        crate::error::shown(&issuer)
                    ),
                ),
                None => {
                    let carried =
                        keyinfo_certificate(node).and_then(|pem| TrustAnchor::from_cert_pem(&pem));
                    let msg = match carried {
                        Ok(a) => match dsig::verify_assertion(&signed_bytes, &a) {
                            Ok(_) => "valid for the certificate the assertion carries, but that certificate is not configured as trusted".to_string(),
                            Err(e) => format!("{} (checked with the certificate the assertion carries, which is not trusted)", e.message),
                        },
                        Err(e) => format!("no trusted certificate and none usable in KeyInfo: {}", e.message),
                    };
                    info(
                        "signature",
                        Status::Fail,
                        format!("not verifiable with the configured keys: issuer {} is not trusted; {msg}", crate::error::shown(&issuer)),
                    )
                }
            };
            t.checks.push(sig);
            let view = match extract::view_of(node) {
                Ok(v) => v,
                Err(e) => {
                    t.checks.push(check("assertion", Err(e)));
                    report.tokens.push(t);
                    continue;
                }
            };
            t.checks.push(check(
                "validity",
                checks::check_validity(&view, policy, now)
                    .map(|e| format!("valid until {}", rfc3339(e))),
            ));
            t.checks.push(check(
                "audience",
                checks::check_audience(&view, policy)
                    .map(|_| "addressed to this gateway".to_string()),
            ));
            t.checks.push(check(
                "conditions",
                checks::check_conditions(&view, None)
                    .map(|_| "none the gateway cannot honour".to_string()),
            ));
            t.checks.push(check(
                "subject",
                checks::check_subject(&view, policy, now)
                    .map(|_| "bearer confirmation accepted".to_string()),
            ));

            let input = XuaInput {
                name_id: view.name_id.as_deref(),
                name_qualifier: view.name_id_qualifier.as_deref(),
                attributes: &view.attributes,
            };
            let (profile, why, items) = self
                .choose_profile(options.profile.as_deref(), &|p: &Profile| {
                    p.explain_xua(input)
                });
            report.profile = profile.name.clone();
            report.profile_choice = why;
            t.items = items;
            match profile.decode_xua(input) {
                Ok(model) => {
                    self.findings_and_preview(profile, &model, true, &mut t);
                    t.model = Some(model);
                }
                Err(e) => t.checks.push(check("mapping", Err(e))),
            }
            t.finish();
            report.tokens.push(t);
        }
    }

    fn inspect_jwt(
        &self,
        token: &str,
        payload: Option<Map<String, Value>>,
        options: &InspectOptions,
        now: OffsetDateTime,
        report: &mut Report,
    ) {
        let (trust, policy) = self.jwt_trust();
        let fallback = crate::jwt::JwtPolicy {
            audiences: vec![self.config().config.gateway.entity_id.clone()],
            types: Vec::new(),
            skew: time::Duration::seconds(60),
            max_lifetime: time::Duration::hours(1),
            limits: crate::jwt::JwtLimits {
                max_bytes: self.config().config.limits.max_jwt_bytes,
            },
        };
        let policy = policy.unwrap_or(&fallback);
        let mut t = TokenReport::new("JWT".to_string());
        let claims = match payload {
            Some(claims) => {
                report.input = "JWT payload (JSON, no signature)".to_string();
                t.checks.push(info(
                    "signature",
                    Status::Fail,
                    "none: this is a payload without its JWS; nothing can be verified",
                ));
                claims
            }
            None => {
                report.input = "JWT".to_string();
                let parts = match crate::jwt::split(token, &policy.limits) {
                    Ok(p) => p,
                    Err(e) => {
                        t.checks.push(check("format", Err(e)));
                        t.finish();
                        report.tokens.push(t);
                        return;
                    }
                };
                t.checks.push(info(
                    "format",
                    Status::Ok,
                    "compact JWS, canonical base64url, strict JSON",
                ));
                t.checks.push(check(
                    "header",
                    crate::jwt::check_header(&parts.header, policy)
                        .map(|h| format!("alg {:?}", h.algorithm)),
                ));
                // The signature is checked even when only the token type is wrong, so a test event learns both.
                let untyped = crate::jwt::JwtPolicy {
                    types: Vec::new(),
                    ..policy.clone()
                };
                match crate::jwt::check_header(&parts.header, &untyped) {
                    Ok(h) => t.checks.push(check(
                        "signature",
                        crate::jwt::verify_signature(&parts, &h, trust)
                            .map(|iss| format!("verifies with the key configured for {iss}")),
                    )),
                    Err(_) => t.checks.push(info(
                        "signature",
                        Status::Skipped,
                        "not checked: the header is refused",
                    )),
                }
                parts.claims
            }
        };
        t.checks.push(check(
            "validity",
            crate::jwt::check_times(&claims, policy, now)
                .map(|c| format!("valid until {}", rfc3339(c.expires))),
        ));
        t.checks.push(check(
            "audience",
            crate::jwt::check_audience(&claims, policy)
                .map(|_| "addressed to this gateway".to_string()),
        ));
        let (profile, why, items) = self
            .choose_profile(options.profile.as_deref(), &|p: &Profile| {
                p.explain_claims(&claims)
            });
        report.profile = profile.name.clone();
        report.profile_choice = why;
        t.items = items;
        match profile.decode_claims(&claims) {
            Ok(model) => {
                if model.patients.is_empty() {
                    t.checks.push(info(
                        "patient",
                        Status::Warn,
                        "the token names no patient; a SAML exchange needs the `patient` request parameter",
                    ));
                }
                self.findings_and_preview(profile, &model, false, &mut t);
                t.model = Some(model);
            }
            Err(e) => t.checks.push(check("mapping", Err(e))),
        }
        t.finish();
        report.tokens.push(t);
    }

    fn findings_and_preview(
        &self,
        profile: &Profile,
        model: &AccessContext,
        to_jwt: bool,
        t: &mut TokenReport,
    ) {
        match self.rules().validator(&profile.name) {
            Some(v) => t.findings = v.inspect(model),
            None => t.checks.push(info(
                "validation",
                Status::Info,
                "no rules file for this profile",
            )),
        }
        t.translation =
            if to_jwt {
                profile.encode_claims(model).ok().map(|claims| Translation {
                    kind: "jwt-claims",
                    unsigned_preview: true,
                    content: Value::Object(claims),
                })
            } else {
                profile.encode_xua_named(model, self.rules().codes()).ok().map(|out| Translation {
                kind: "xua-attributes",
                unsigned_preview: true,
                content: serde_json::json!({
                    "name_id": out.name_id,
                    "attributes": out.attributes.iter().map(|a| serde_json::json!({
                        "name": a.name,
                        "values": a.values.iter().map(|v| match v {
                            XuaValueOut::Text { text, .. } => text.clone(),
                            XuaValueOut::Element(f) => f.to_xml(),
                        }).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }),
            })
            };
    }
}

type Found<'a> = (&'a Node, Vec<String>, Vec<&'a Node>);

fn find_assertions<'a>(node: &'a Node, ancestors: &mut Vec<&'a Node>, out: &mut Vec<Found<'a>>) {
    if node.is(ns::SAML, "Assertion") {
        let mut path: Vec<String> = ancestors.iter().map(|a| a.local.clone()).collect();
        path.push(node.local.clone());
        out.push((node, path, ancestors.clone()));
        return;
    }
    ancestors.push(node);
    for c in &node.children {
        find_assertions(c, ancestors, out);
    }
    ancestors.pop();
}

/// The assertion's bytes taken out of its envelope, with the namespace declarations it inherits written onto
/// its start tag (exc-c14n renders only the visibly used ones, so the digest is unaffected).
fn extracted(text: &str, node: &Node, ancestors: &[&Node]) -> Vec<u8> {
    let (start, end) = node.span;
    let Some(element) = text.get(start..end) else {
        return Vec::new();
    };
    let mut inherited: Vec<(String, String)> = Vec::new();
    for a in ancestors.iter().rev() {
        for (prefix, uri) in &a.ns_decls {
            let shadowed = node.ns_decls.iter().any(|(p, _)| p == prefix)
                || inherited.iter().any(|(p, _)| p == prefix);
            if !shadowed {
                inherited.push((prefix.clone(), uri.clone()));
            }
        }
    }
    let Some(name_end) = element.find(|c: char| c.is_whitespace() || c == '>' || c == '/') else {
        return element.as_bytes().to_vec();
    };
    let mut out = String::with_capacity(element.len() + 256);
    out.push_str(&element[..name_end]);
    for (prefix, uri) in inherited {
        let mut escaped = String::new();
        crate::saml::fragment::escape_into(&uri, &mut escaped);
        if prefix.is_empty() {
            out.push_str(&format!(" xmlns=\"{escaped}\""));
        } else {
            out.push_str(&format!(" xmlns:{prefix}=\"{escaped}\""));
        }
    }
    out.push_str(&element[name_end..]);
    out.into_bytes()
}

/// The certificate in the assertion's ds:KeyInfo, as PEM (for information: the inspector never trusts it).
fn keyinfo_certificate(node: &Node) -> Result<Vec<u8>, Rejection> {
    let cert = node
        .children
        .iter()
        .find(|c| c.is(ns::DSIG, "Signature"))
        .and_then(|s| s.children.iter().find(|c| c.is(ns::DSIG, "KeyInfo")))
        .and_then(|k| k.children.iter().find(|c| c.is(ns::DSIG, "X509Data")))
        .and_then(|x| {
            x.children
                .iter()
                .find(|c| c.is(ns::DSIG, "X509Certificate"))
        })
        .ok_or_else(|| Rejection::sig("the assertion carries no X509Certificate"))?;
    let b64: String = cert.text.chars().filter(|c| !c.is_whitespace()).collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| Rejection::sig("its X509Certificate is not base64"))?;
    let x509 = openssl::x509::X509::from_der(&der)
        .map_err(|_| Rejection::sig("its X509Certificate is not a certificate"))?;
    x509.to_pem()
        .map_err(|_| Rejection::sig("its certificate cannot be read"))
}

/// The report as text for a terminal.
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
