//! Group commit for an access-log store: requests queue their record and wait; one writer thread takes
//! everything queued (up to `max_batch`), commits it in one transaction and then releases the waiters. The
//! store says how to commit a batch ([`Committer`]); the queue, the waiting, the time limits and the metrics
//! are the same for every store.
//!
//! Contract: [`GroupCommit::submit`] returns `Ok` only after the batch holding the item has committed. A full
//! queue, a failed commit, a stopped writer or a commit that does not finish within `commit_timeout` is an
//! error (and the gateway issues no token).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::audit::ack::{Ack, Pending};
use crate::audit::sqlite::Settings;
use crate::audit::AuditError;
use crate::observability::metrics::Metrics;

/// How a store commits a batch, and what it does between batches.
pub trait Committer: Send + 'static {
    type Item: Send + 'static;

    /// Commits every item in one transaction; returns the sequence number of the first.
    fn commit(&mut self, batch: &[Self::Item]) -> Result<i64, AuditError>;

    /// Housekeeping between batches (retention pruning); returns true when more is waiting to be done now.
    fn maintain(&mut self) -> bool {
        false
    }

    /// How often [`Committer::maintain`] runs when nothing is waiting (None: never).
    fn maintain_every(&self) -> Option<Duration> {
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the queue stays consistent, so go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Job<T> {
    item: T,
    ack: Arc<Ack>,
}

struct Queue<T> {
    jobs: VecDeque<Job<T>>,
    closed: bool,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    alive: AtomicBool,
    failing: AtomicBool,
}

/// Marks the writer dead and fails every waiting request, however the writer thread ends.
struct WriterGuard<T>(Arc<Shared<T>>);

impl<T> Drop for WriterGuard<T> {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
        let mut q = lock(&self.0.queue);
        q.closed = true;
        for job in q.jobs.drain(..) {
            job.ack
                .set(Err(AuditError("the audit writer has stopped".into())));
        }
        self.0.not_full.notify_all();
    }
}

pub struct GroupCommit<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    settings: Settings,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> std::fmt::Debug for GroupCommit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the writer thread (`name`) around `committer`.
    pub fn start<C: Committer<Item = T>>(
        name: &str,
        committer: C,
        settings: Settings,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, AuditError> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            alive: AtomicBool::new(true),
            failing: AtomicBool::new(false),
        });
        let writer = Writer {
            committer,
            shared: shared.clone(),
            max_batch: settings.max_batch.max(1),
            metrics,
        };
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || writer.run())
            .map_err(|e| AuditError(format!("cannot start the audit writer: {e}")))?;
        Ok(Self {
            shared,
            settings,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Queues `item` and waits until the batch holding it has committed; returns its sequence number.
    pub fn submit(&self, item: T) -> Result<i64, AuditError> {
        let ack = Arc::new(Ack::default());
        self.enqueue(Job {
            item,
            ack: ack.clone(),
        })?;
        ack.wait(self.settings.commit_timeout)
    }

    /// Queues `item`; the answer comes once the batch holding it has committed (or the queue refused it).
    pub fn queue(&self, item: T) -> Pending {
        let ack = Arc::new(Ack::default());
        match self.enqueue(Job {
            item,
            ack: ack.clone(),
        }) {
            Ok(()) => Pending::queued(ack, self.settings.commit_timeout),
            Err(e) => Pending::done(Err(e)),
        }
    }

    fn enqueue(&self, job: Job<T>) -> Result<(), AuditError> {
        let deadline = crate::clock::deadline(self.settings.enqueue_timeout);
        let mut q = lock(&self.shared.queue);
        loop {
            if q.closed || !self.shared.alive.load(Ordering::SeqCst) {
                return Err(AuditError("the audit writer has stopped".into()));
            }
            if q.jobs.len() < self.settings.queue_capacity.max(1) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AuditError("the audit queue is full".into()));
            }
            q = self
                .shared
                .not_full
                .wait_timeout(q, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        q.jobs.push_back(job);
        drop(q);
        self.shared.not_empty.notify_one();
        Ok(())
    }

    pub fn alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    /// The last commit failed (cleared by the next one that succeeds, or by [`GroupCommit::recovered`]).
    pub fn failing(&self) -> bool {
        self.shared.failing.load(Ordering::SeqCst)
    }

    /// A durable write outside the queue succeeded: the store works again.
    pub fn recovered(&self) {
        self.shared.failing.store(false, Ordering::SeqCst);
    }

    pub fn queue_len(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }
}

impl<T: Send + 'static> Drop for GroupCommit<T> {
    /// Lets the writer commit what is queued, then stops it.
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.not_empty.notify_all();
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }
}

struct Writer<C: Committer> {
    committer: C,
    shared: Arc<Shared<C::Item>>,
    max_batch: usize,
    metrics: Option<Arc<Metrics>>,
}

impl<C: Committer> Writer<C> {
    fn run(mut self) {
        let _guard = WriterGuard(self.shared.clone());
        let every = self.committer.maintain_every();
        let mut last: Option<Instant> = None;
        let mut backlog = false;
        loop {
            if let Some(every) = every {
                if backlog || last.is_none_or(|t| t.elapsed() >= every) {
                    backlog = self.committer.maintain();
                    last = Some(Instant::now());
                }
            }
            let batch = {
                let mut q = lock(&self.shared.queue);
                if q.jobs.is_empty() && !q.closed && !backlog {
                    q = self
                        .shared
                        .not_empty
                        .wait_timeout(q, every.unwrap_or(Duration::from_secs(3600)))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if q.jobs.is_empty() {
                    if q.closed {
                        return;
                    }
                    continue;
                }
                let n = q.jobs.len().min(self.max_batch);
                let batch: Vec<Job<C::Item>> = q.jobs.drain(..n).collect();
                if let Some(m) = &self.metrics {
                    m.audit_queue_depth(q.jobs.len());
                }
                batch
            };
            self.shared.not_full.notify_all();
            let (items, acks): (Vec<C::Item>, Vec<Arc<Ack>>) =
                batch.into_iter().map(|j| (j.item, j.ack)).unzip();
            let started = Instant::now();
            let result = self.committer.commit(&items);
            if let Some(m) = &self.metrics {
                m.audit_commit(items.len(), started.elapsed(), result.is_ok());
            }
            match result {
                Ok(first) => {
                    self.shared.failing.store(false, Ordering::SeqCst);
                    for (i, ack) in acks.into_iter().enumerate() {
                        ack.set(Ok(first + i64::try_from(i).unwrap_or(i64::MAX)));
                    }
                }
                Err(e) => {
                    self.shared.failing.store(true, Ordering::SeqCst);
                    tracing::error!(error = %e, records = items.len(), "audit commit failed");
                    for ack in acks {
                        ack.set(Err(e.clone()));
                    }
                }
            }
        }
    }
}
