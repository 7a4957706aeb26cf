//! The second access-log record of a proxied SOAP request. The exchange's own record (issued, with the
//! Action and the route) is durable before the assertion leaves the gateway; this one says what became of
//! the request: the upstream's HTTP status (outcome `forwarded`), or why it never got an answer (outcome
//! `rejected` with the error class: a timeout, a refused certificate, a redirect the proxy does not follow).
//! Both carry the same request id; this one names the issued assertion by its ID and holds no model, so a
//! question about a patient counts each access once.

use super::{Exchange, ExchangeRequest, Mode, Pipeline};
use crate::audit::ack::Pending;
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
    /// Hands the forwarding record of `request`, whose exchange issued the assertion `token_id`, to the
    /// access-log store. The caller passes nothing of the upstream's answer on before
    /// [`Recording::settled`] says the record is durable.
    pub fn forwarded(
        &self,
        request: &ExchangeRequest,
        token_id: &str,
        what: Forwarding<'_>,
    ) -> Recording {
        let x = Exchange::begin(self, Direction::JwtToSaml, request, Mode::Issue);
        let mut record = x.record;
        record.profile = request.profile.clone();
        record.output_token_id = Some(token_id.to_string());
        let said = match what {
            Forwarding::Answered(status) => {
                record.outcome = Outcome::Forwarded;
                record.upstream_status = Some(status);
                Said::Answered(status)
            }
            Forwarding::Failed { status, why } => {
                record.outcome = Outcome::Rejected;
                record.upstream_status = status;
                record.error_class = Some(why.class);
                record.error = Some(why.message.clone());
                Said::Failed(why.clone())
            }
        };
        Recording {
            written: self.audit.submit(&record),
            said,
        }
    }
}

/// A forwarding record with the store.
#[must_use = "nothing of the upstream's answer may be passed on before its record is durable"]
pub struct Recording {
    written: Pending,
    said: Said,
}

/// What the record says, for the log line once it is durable (class and message: no identifiers).
enum Said {
    Answered(u16),
    Failed(Rejection),
}

impl Recording {
    /// Waits, holding no thread, until the record is durable. A record that cannot be written is
    /// UNAVAILABLE, and the caller then passes nothing of the upstream's answer on.
    pub async fn settled(self) -> Result<(), Rejection> {
        self.written.settled().await.map_err(|e| {
            tracing::error!(error = %e, "audit write failed");
            Rejection::unavailable(
                "the access log cannot be written, so the upstream's answer is not passed on",
            )
        })?;
        match self.said {
            Said::Answered(status) => tracing::info!(upstream_status = status, "request forwarded"),
            Said::Failed(why) => tracing::info!(
                error_class = why.class.as_str(),
                reason = %why.message,
                "forwarding failed"
            ),
        }
        Ok(())
    }
}
