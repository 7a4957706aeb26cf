//! Load shedding: a bound on the requests that hold a place in the blocking pool (running or waiting for a
//! thread), past which a request is answered `503` with `Retry-After` at once, before its body is read.
//! Inspections have a small bound of their own, so they can never take the exchanges' threads.
//!
//! A shed request reached no pipeline and holds no token, so it writes no access-log record (writing one
//! would need the very threads that are short); it is counted in the HTTP metrics as a 503.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::errors::error_json;
use crate::error::ErrorClass;

/// A counted bound.
#[derive(Debug)]
pub struct Gate {
    in_use: AtomicUsize,
    limit: usize,
}

/// A place taken in a [`Gate`]; dropping it gives the place back.
#[derive(Debug)]
pub struct Pass(Arc<Gate>);

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            in_use: AtomicUsize::new(0),
            limit,
        })
    }

    /// A place, or `None` when all are taken.
    pub fn try_enter(self: &Arc<Self>) -> Option<Pass> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Pass(self.clone()))
    }

    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }
}

/// The gates of one server.
#[derive(Debug, Clone)]
pub struct Gates {
    pub exchanges: Arc<Gate>,
    pub inspections: Arc<Gate>,
    pub retry_after_secs: u64,
}

impl Gates {
    /// The answer to a request beyond a gate.
    pub fn busy(&self) -> HttpResponse {
        let mut res = error_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            ErrorClass::Unavailable,
            "the gateway is at capacity; try again after the time Retry-After gives",
        );
        if let Ok(v) =
            actix_web::http::header::HeaderValue::from_str(&self.retry_after_secs.to_string())
        {
            res.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_admits_up_to_its_limit_and_takes_places_back() {
        let gate = Gate::new(2);
        let a = gate.try_enter().unwrap();
        let b = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        drop(a);
        let c = gate.try_enter().unwrap();
        assert_eq!(gate.in_use(), 2);
        drop((b, c));
        assert_eq!(gate.in_use(), 0);
        assert!(Gate::new(0).try_enter().is_none());
    }
}
