//! The insight report for a client over HTTP (`GET /audit/insight`, a patient portal): one function that
//! asks whether the client may have it, builds it, records the request and renders it, so the HTTP handler
//! only translates. Which clients may ask is client authentication's decision ([`InsightAccess`]); a build
//! without it has [`NoClients`], which refuses every request, and each refusal is recorded too.

use std::sync::Arc;

use super::insight::{self, Format};
use super::tables::{Lang, Tables};
use super::usage::{self, Use};
use crate::audit::log::AuditLog;
use crate::audit::{AuditSink, Event, LogUse};
use crate::clock::SharedClock;
use crate::error::Rejection;
use crate::rules::CodeTables;

/// What the request carries that client authentication may look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCredentials<'a> {
    /// The `Authorization` header, as sent.
    pub authorization: Option<&'a str>,
    pub peer: Option<&'a str>,
}

/// Decides whether a request comes from a client whose policy grants insight reports.
pub trait InsightAccess: Send + Sync + std::fmt::Debug {
    /// The client's id when it may have the report; why not otherwise (no identifier of the request in it).
    fn client(&self, credentials: &ClientCredentials<'_>) -> Result<String, String>;
}

/// No client is authenticated in this deployment, so none may have a report.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoClients;

impl InsightAccess for NoClients {
    fn client(&self, _: &ClientCredentials<'_>) -> Result<String, String> {
        Err("insight reports are given only to an authenticated client whose policy grants them, \
             and this deployment authenticates no client"
            .to_string())
    }
}

/// What a client asks for.
#[derive(Debug, Clone, Default)]
pub struct InsightQuery {
    pub patient: String,
    pub lang: Option<String>,
    pub format: Option<String>,
}

/// Why a request got no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsightRefusal {
    /// The client may not have it (HTTP 403).
    Denied(String),
    /// The request or the log (a broken chain, the store) stands in the way.
    Rejected(Rejection),
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct InsightAnswer {
    pub content_type: &'static str,
    pub body: String,
}

/// Everything the endpoint needs, built at start-up.
#[derive(Debug)]
pub struct InsightService {
    pub log: Arc<dyn AuditLog>,
    pub sink: Arc<dyn AuditSink>,
    pub tables: Tables,
    pub codes: CodeTables,
    pub access: Arc<dyn InsightAccess>,
    pub clock: SharedClock,
}

/// A patient identifier a report may be asked for (digits and a few separators, no more than 64).
pub fn valid_patient(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

impl InsightService {
    /// Authorises, builds, records and renders one request. Runs on a blocking thread (it reads the log).
    pub fn answer(
        &self,
        query: &InsightQuery,
        credentials: &ClientCredentials<'_>,
        request_id: &str,
    ) -> Result<InsightAnswer, InsightRefusal> {
        let now = self.clock.now();
        let patient = valid_patient(&query.patient).then_some(query.patient.as_str());
        let mut details = LogUse {
            requested_by: "unauthenticated client".into(),
            format: query.format.clone().unwrap_or_else(|| "json".into()),
            language: query.lang.clone(),
            ..LogUse::default()
        };
        let record = |details: LogUse, result| {
            usage::record(
                self.sink.as_ref(),
                now,
                Use {
                    event: Event::InsightReport,
                    patient,
                    request_id,
                    client_address: credentials.peer,
                    details,
                },
                result,
            )
        };
        let unavailable = |e: crate::audit::AuditError| {
            tracing::error!(error = %e, "the insight request could not be recorded");
            InsightRefusal::Rejected(Rejection::unavailable(
                "the request cannot be recorded in the access log, so no report is given",
            ))
        };
        let client = match self.access.client(credentials) {
            Ok(c) => c,
            Err(why) => {
                let refused = usage::Refused {
                    class: crate::error::ErrorClass::Forbidden,
                    message: why.clone(),
                };
                record(details, Err(refused)).map_err(unavailable)?;
                return Err(InsightRefusal::Denied(why));
            }
        };
        details.requested_by = format!("client {client}");
        let lang = Lang::parse(query.lang.as_deref().unwrap_or("nb"));
        let format = Format::parse(query.format.as_deref().unwrap_or("json"));
        let (Some(patient), Some(lang), Some(format)) = (patient, lang, format) else {
            return Err(InsightRefusal::Rejected(Rejection::request(
                "patient must be a patient identifier, lang nb or en, format json, text or html",
            )));
        };
        let result = insight::build(self.log.as_ref(), &self.tables, &self.codes, patient, lang, now);
        details.covers = result.as_ref().ok().and_then(|r| r.chain.covered());
        details.listed = result.as_ref().map_or(0, |r| {
            u64::try_from(r.accesses.len() + r.refused.len()).unwrap_or(u64::MAX)
        });
        record(details, result.as_ref().map(|_| ()).map_err(usage::Refused::of))
            .map_err(unavailable)?;
        let report = result.map_err(|e| {
            InsightRefusal::Rejected(match e {
                crate::audit::log::ReadError::Broken(_) => Rejection::internal(e.to_string()),
                crate::audit::log::ReadError::Store(_) => {
                    Rejection::unavailable("the access log cannot be read now")
                }
            })
        })?;
        let content_type = match format {
            Format::Json => "application/json",
            Format::Text => "text/plain; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        };
        Ok(InsightAnswer {
            content_type,
            body: insight::render(&report, &self.tables, format),
        })
    }
}
