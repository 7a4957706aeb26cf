//! The second access-log record of a proxied SOAP request. The exchange's own record (issued, with the
//! Action and the route) is durable before the assertion leaves the gateway; this one says what became of
//! the request: the upstream's HTTP status (outcome `forwarded`), or why it never got an answer (outcome
//! `rejected` with the error class: a timeout, a refused certificate, a redirect the proxy does not follow).
//! Both carry the same request id; this one names the issued assertion by its ID and holds no model, so a
//! question about a patient counts each access once.

use super::{Exchange, ExchangeRequest, Mode, Pipeline};
use crate::error::Rejection;
use crate::model::{Direction, Outcome};

/// What became of a forwarded request.
#[derive(Debug, Clone, Copy)]
pub enum Forwarding<'a> {
    /// The upstream answered with this HTTP status, and the answer is passed on.
    Answered(u16),
    /// No answer is passed on: the upstream could not be reached or did not answer in time (no status),
    /// or it answered something the proxy refuses to pass on (a redirect: its status).
    Failed {
        status: Option<u16>,
        why: &'a Rejection,
    },
}

impl Pipeline {
    /// Writes the forwarding record of `request`, whose exchange issued the assertion `token_id`. Waits for
    /// the commit: call it on the blocking pool. A record that cannot be written is UNAVAILABLE, and the
    /// caller then passes nothing of the upstream's answer on.
    pub fn forwarded(
        &self,
        request: &ExchangeRequest,
        token_id: &str,
        what: Forwarding<'_>,
    ) -> Result<(), Rejection> {
        let x = Exchange::begin(self, Direction::JwtToSaml, request, Mode::Issue);
        let mut record = x.record;
        record.profile = request.profile.clone();
        record.output_token_id = Some(token_id.to_string());
        match what {
            Forwarding::Answered(status) => {
                record.outcome = Outcome::Forwarded;
                record.upstream_status = Some(status);
            }
            Forwarding::Failed { status, why } => {
                record.outcome = Outcome::Rejected;
                record.upstream_status = status;
                record.error_class = Some(why.class);
                record.error = Some(why.message.clone());
            }
        }
        self.audit.write(&record).map_err(|e| {
            tracing::error!(error = %e, "audit write failed");
            Rejection::unavailable(
                "the access log cannot be written, so the upstream's answer is not passed on",
            )
        })?;
        match what {
            Forwarding::Answered(status) => {
                tracing::info!(upstream_status = status, "request forwarded")
            }
            Forwarding::Failed { why, .. } => tracing::info!(
                error_class = why.class.as_str(),
                reason = %why.message,
                "forwarding failed"
            ),
        }
        Ok(())
    }
}
