//! Each insight request and each review run is itself written to the access log (Normen counts use of the
//! log as use of personal data): who asked, for which patient or period, what was produced and which chain
//! head it covered, or why it was refused. The record is durable before the report is handed over; if it
//! cannot be written, no report is given.

use time::OffsetDateTime;

use crate::audit::log::ReadError;
use crate::audit::{AuditError, AuditRecord, AuditSink, Event, LogUse};
use crate::error::ErrorClass;
use crate::model::{AccessContext, Identifier, Outcome, Patient};

/// One use of the log, as it is recorded.
#[derive(Debug, Clone)]
pub struct Use<'a> {
    pub event: Event,
    /// The insight report's patient (the record's `patient_id`, so the patient's own use is findable).
    pub patient: Option<&'a str>,
    pub request_id: &'a str,
    pub client_address: Option<&'a str>,
    /// The authenticated client that asked over HTTP (none from the command line).
    pub client_id: Option<&'a str>,
    /// How it authenticated (`private_key_jwt`, `tls_client_auth`, ...).
    pub client_auth: Option<&'a str>,
    pub client_cert_thumbprint: Option<&'a str>,
    pub details: LogUse,
}

/// Why a use got no report, as its record says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub class: ErrorClass,
    pub message: String,
}

impl Refused {
    /// A report the log itself stood in the way of: a broken chain (naming the record), or the store.
    pub fn of(e: &ReadError) -> Self {
        match e {
            ReadError::Broken(b) => Self {
                class: ErrorClass::Internal,
                message: format!(
                    "the access log does not verify at record {}: no report was made",
                    b.seq
                ),
            },
            ReadError::Store(e) => Self {
                class: ErrorClass::Unavailable,
                message: e.0.clone(),
            },
        }
    }
}

/// Writes the record of `u`: produced (`Ok`) or refused with the reason. Returns once it is durable.
pub fn record(
    sink: &dyn AuditSink,
    now: OffsetDateTime,
    u: Use<'_>,
    result: Result<(), Refused>,
) -> Result<(), AuditError> {
    let context = u.patient.map(|p| AccessContext {
        patients: vec![Patient {
            identifier: Some(Identifier {
                id: p.to_string(),
                ..Identifier::default()
            }),
            ..Patient::default()
        }],
        ..AccessContext::default()
    });
    let (outcome, error_class, error) = match result {
        Ok(()) => (Outcome::Issued, None, None),
        Err(r) => (Outcome::Rejected, Some(r.class), Some(r.message)),
    };
    let record = AuditRecord {
        time: now,
        request_id: u.request_id.to_string(),
        direction: u.event,
        outcome,
        error_class,
        error,
        input_issuer: None,
        input_token_id: None,
        output_token_id: None,
        output_audience: Some(u.details.requested_by.clone()),
        output_expires: None,
        profile: None,
        client_address: u.client_address.map(str::to_string),
        context,
        rules: None,
        fastlege: None,
        client_id: u.client_id.map(str::to_string),
        client_auth: u.client_auth.map(str::to_string),
        dpop_jkt: None,
        client_cert_thumbprint: u.client_cert_thumbprint.map(str::to_string),
        actor: None,
        replay: None,
        checks: Vec::new(),
        soap_action: None,
        proxy_route: None,
        upstream_status: None,
        log_use: Some(u.details),
    };
    sink.write(&record)
}
