//! The reply a queued access-log record gets once its batch has committed, shared by every group-committing
//! store (SQLite's writer, and `store::group_commit` for PostgreSQL).
//!
//! A request can wait for it in two ways: a thread blocks on it ([`Pending::wait`]: the CLI, the SOAP edge,
//! tests), or an async handler awaits it ([`Pending::settled`]), so that no thread is held while the fsync
//! runs: the HTTP handlers run the pipeline on the blocking pool, then give the thread back and wait for the
//! commit on their worker's event loop. Either way the answer is the same, and so is the time limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::AuditError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the slot stays consistent, so go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
struct Slot {
    result: Option<Result<i64, AuditError>>,
    /// The task awaiting the result, when one is.
    waker: Option<Waker>,
}

/// A queued record's reply slot: set once by the writer, taken once by the request.
#[derive(Debug, Default)]
pub struct Ack {
    slot: Mutex<Slot>,
    cv: Condvar,
}

impl Ack {
    /// The writer's answer: the record's sequence number, or why it was not committed.
    pub fn set(&self, result: Result<i64, AuditError>) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.result = Some(result);
            slot.waker.take()
        };
        self.cv.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Blocks until the writer answers or `timeout` has passed.
    pub fn wait(&self, timeout: Duration) -> Result<i64, AuditError> {
        let deadline = crate::clock::deadline(timeout);
        let mut slot = lock(&self.slot);
        loop {
            if let Some(result) = slot.result.take() {
                return result;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(late());
            }
            slot = self
                .cv
                .wait_timeout(slot, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

fn late() -> AuditError {
    AuditError("the audit record was not committed in time".into())
}

/// A record handed to a store: committed already, or waiting for its batch.
#[derive(Debug)]
pub struct Pending {
    state: State,
}

#[derive(Debug)]
enum State {
    Done(Result<(), AuditError>),
    Queued { ack: Arc<Ack>, timeout: Duration },
}

impl Pending {
    /// A store that writes synchronously has its answer at once.
    pub fn done(result: Result<(), AuditError>) -> Self {
        Self {
            state: State::Done(result),
        }
    }

    /// A record queued for a writer that answers through `ack` within `timeout`.
    pub fn queued(ack: Arc<Ack>, timeout: Duration) -> Self {
        Self {
            state: State::Queued { ack, timeout },
        }
    }

    /// Blocks this thread until the record is committed, refused, or late.
    pub fn wait(self) -> Result<(), AuditError> {
        match self.state {
            State::Done(result) => result,
            State::Queued { ack, timeout } => ack.wait(timeout).map(|_| ()),
        }
    }

    /// As [`Pending::wait`], holding no thread: for an async handler, inside the actix (tokio) runtime.
    pub async fn settled(self) -> Result<(), AuditError> {
        match self.state {
            State::Done(result) => result,
            State::Queued { ack, timeout } => actix_web::rt::time::timeout(timeout, Settle(ack))
                .await
                .unwrap_or_else(|_| Err(late()))
                .map(|_| ()),
        }
    }
}

/// The future [`Pending::settled`] awaits.
struct Settle(Arc<Ack>);

impl Future for Settle {
    type Output = Result<i64, AuditError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The result and the waker share one lock, so a result set between the check and the registration
        // cannot be missed.
        let mut slot = lock(&self.0.slot);
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                match &slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => slot.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(timeout: Duration) -> (Arc<Ack>, Pending) {
        let ack = Arc::new(Ack::default());
        (ack.clone(), Pending::queued(ack, timeout))
    }

    #[test]
    fn a_thread_waits_for_the_writer_and_gives_up_at_the_limit() {
        let (ack, pending) = queued(Duration::from_secs(5));
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ack.set(Ok(41));
        });
        assert_eq!(pending.wait(), Ok(()));
        writer.join().unwrap();

        let (_ack, pending) = queued(Duration::from_millis(30));
        let err = pending.wait().unwrap_err();
        assert!(err.0.contains("not committed in time"), "{err}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_awaits_the_writer_without_a_thread_and_gives_up_at_the_limit() {
        let (ack, pending) = queued(Duration::from_secs(5));
        // The writer answers from another thread while this runtime's only thread awaits.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ack.set(Err(AuditError("disk full".into())));
        });
        assert_eq!(pending.settled().await, Err(AuditError("disk full".into())));
        writer.join().unwrap();

        let (ack, pending) = queued(Duration::from_millis(30));
        let err = pending.settled().await.unwrap_err();
        assert!(err.0.contains("not committed in time"), "{err}");
        // A late answer finds nobody waiting, and nothing breaks.
        ack.set(Ok(1));

        assert_eq!(Pending::done(Ok(())).settled().await, Ok(()));
        let refused = Pending::done(Err(AuditError("closed".into())));
        assert_eq!(refused.settled().await, Err(AuditError("closed".into())));
    }
}
