//! The insight report for a client over HTTP (`POST /audit/insight`, a patient portal): one function that
//! checks that the authenticated client may have it, builds it, records the request and renders it, so the
//! HTTP handler only collects and translates. Client authentication itself is `clients::ClientRegistry`'s;
//! which clients may have reports is their `[[clients]] insight_reports`. Every request is recorded,
//! answered or refused, before anything is handed over.

use std::sync::Arc;

use super::insight::{self, Format};
use super::tables::{Lang, Tables};
use super::usage::{self, Use};
use crate::audit::log::{AuditLog, ReadError};
use crate::audit::{AuditSink, Event, LogUse};
use crate::clients::AuthenticatedClient;
use crate::error::{ErrorClass, Rejection};
use crate::rules::CodeTables;

/// Who asked, as client authentication answered.
#[derive(Debug, Clone)]
pub struct Asker<'a> {
    /// The authenticated client, or why authentication refused it.
    pub client: Result<&'a AuthenticatedClient, Rejection>,
    /// The client the request claimed to be, for the record of a refusal.
    pub claimed: Option<&'a str>,
    /// The `x5t#S256` thumbprint of the connection's client certificate, if any.
    pub certificate: Option<&'a str>,
    pub peer: Option<&'a str>,
}

/// What a client asks for.
#[derive(Debug, Clone, Default)]
pub struct InsightQuery {
    pub patient: String,
    pub lang: Option<String>,
    pub format: Option<String>,
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
}

/// A patient identifier a report may be asked for (letters, digits and `._:-`, no more than 64).
pub fn valid_patient(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

fn refused(r: &Rejection) -> usage::Refused {
    usage::Refused {
        class: r.class,
        message: r.message.clone(),
    }
}

impl InsightService {
    /// Authorises, builds, records and renders one request. Runs on a blocking thread (it reads the log).
    /// A refusal is a [`Rejection`] for the one HTTP error mapping: `Client` (authentication failed),
    /// `Forbidden` (the client may not have reports), `Request`, `Internal` (the chain does not verify),
    /// `Unavailable` (the store).
    pub fn answer(
        &self,
        query: &InsightQuery,
        asker: &Asker<'_>,
        request_id: &str,
        now: time::OffsetDateTime,
    ) -> Result<InsightAnswer, Rejection> {
        let patient = valid_patient(&query.patient).then_some(query.patient.as_str());
        let client = asker.client.as_ref().ok().copied();
        let client_id = client.map(AuthenticatedClient::id).or(asker.claimed);
        let mut details = LogUse {
            requested_by: client_id.map_or_else(
                || "unidentified client".to_string(),
                |c| format!("client {c}"),
            ),
            format: query.format.clone().unwrap_or_else(|| "json".into()),
            language: query.lang.clone(),
            ..LogUse::default()
        };
        let record = |details: LogUse, result: Result<(), usage::Refused>| {
            usage::record(
                self.sink.as_ref(),
                now,
                Use {
                    event: Event::InsightReport,
                    patient,
                    request_id,
                    client_address: asker.peer,
                    client_id,
                    client_auth: client.map(|c| c.method().as_str()),
                    client_cert_thumbprint: asker.certificate,
                    details,
                },
                result,
            )
            .map_err(|e| {
                tracing::error!(error = %e, "the insight request could not be recorded");
                Rejection::unavailable(
                    "the request cannot be recorded in the access log, so no report is given",
                )
            })
        };
        let client = match &asker.client {
            Ok(c) => *c,
            Err(e) => {
                record(details, Err(refused(e)))?;
                return Err(e.clone());
            }
        };
        if !client.client.insight_reports {
            let e = Rejection::new(
                ErrorClass::Forbidden,
                "this client's policy does not grant insight reports (insight_reports)",
            );
            record(details, Err(refused(&e)))?;
            return Err(e);
        }
        let lang = Lang::parse(query.lang.as_deref().unwrap_or("nb"));
        let format = Format::parse(query.format.as_deref().unwrap_or("json"));
        let (Some(patient), Some(lang), Some(format)) = (patient, lang, format) else {
            let e = Rejection::request(
                "patient must be a patient identifier, lang nb or en, format json, text or html",
            );
            record(details, Err(refused(&e)))?;
            return Err(e);
        };
        let result = insight::build(
            self.log.as_ref(),
            &self.tables,
            &self.codes,
            patient,
            lang,
            now,
        );
        details.covers = result.as_ref().ok().and_then(|r| r.chain.covered());
        details.listed = result.as_ref().map_or(0, |r| {
            u64::try_from(r.accesses.len() + r.refused.len()).unwrap_or(u64::MAX)
        });
        record(
            details,
            result.as_ref().map(|_| ()).map_err(usage::Refused::of),
        )?;
        let report = result.map_err(|e| match e {
            ReadError::Broken(_) => Rejection::internal(e.to_string()),
            ReadError::Store(_) => Rejection::unavailable("the access log cannot be read now"),
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
