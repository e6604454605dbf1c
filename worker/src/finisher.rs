//! Finishes jobs in batches. While the claim loop is about to claim, the ends wait for its claim, which
//! records them in the same call (one round trip per batch for ending jobs and starting the next); otherwise
//! a task of its own sends the ends that completed while its last call was under way together, so a lone
//! job waits for no claim.

use std::{
    future::Future,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use recur_common::store::{BATCH, FinishOutcome, JobEnd, Store};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

/// Where one job's outcome goes: the job task waiting for it (or the error, as text: one error answers a
/// whole batch).
type Reply = oneshot::Sender<Result<FinishOutcome, String>>;

/// The handle job tasks finish through and the claim loop takes ends from. The batching task ends when the
/// handle is dropped or the worker stops its duties, after sending what waits.
pub struct Finisher {
    shared: Arc<Shared>,
}

struct Shared {
    waiting: Mutex<Waiting>,
    /// Wakes the batching task: ends wait that no claim will take.
    send: Notify,
}

/// The ends not yet sent, in the order jobs ended.
#[derive(Default)]
struct Waiting {
    ends: Vec<JobEnd>,
    replies: Vec<Reply>,
    /// Whether the claim loop is about to claim, so that its claim takes the ends.
    claim_takes: bool,
    closed: bool,
}

/// Ends the claim loop took: its claim records them and answers each.
pub struct TakenEnds {
    ends: Vec<JobEnd>,
    replies: Vec<Reply>,
}

impl Finisher {
    /// The handle, and the batching task on `store` for the caller to run until `stopping`.
    pub fn new(store: Store, stopping: CancellationToken) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let shared = Arc::new(Shared { waiting: Mutex::default(), send: Notify::new() });
        (Self { shared: shared.clone() }, run(store, shared, stopping))
    }

    /// Records `end` with the next claim or batch and waits for its outcome.
    pub async fn finish(&self, end: JobEnd) -> Result<FinishOutcome, String> {
        let (reply, outcome) = oneshot::channel();
        let claim_takes = {
            let mut waiting = self.shared.lock();
            waiting.ends.push(end);
            waiting.replies.push(reply);
            waiting.claim_takes
        };
        if !claim_takes {
            self.shared.send.notify_one();
        }
        outcome.await.map_err(|_| "the finisher stopped".to_string())?
    }

    /// Says whether the claim loop is about to claim (it is not while it sleeps, backs off or waits for a
    /// job to end): while it is, ends wait for its claim; when it stops, the ends waiting are sent at once.
    pub fn claim_loop_active(&self, active: bool) {
        let send = {
            let mut waiting = self.shared.lock();
            waiting.claim_takes = active;
            !active && !waiting.ends.is_empty()
        };
        if send {
            self.shared.send.notify_one();
        }
    }

    /// The ends waiting, at most [`BATCH`], for the claim about to go out.
    pub fn take_for_claim(&self) -> TakenEnds {
        let (ends, replies) = self.shared.take(true);
        TakenEnds { ends, replies }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.send.notify_one();
    }
}

impl TakenEnds {
    pub fn ends(&self) -> &[JobEnd] {
        &self.ends
    }

    /// Answers each end from the claim's outcome, and hands on what the claim itself answered.
    pub fn answer<T>(self, answer: recur_common::Result<(Vec<FinishOutcome>, T)>) -> recur_common::Result<T> {
        match answer {
            Ok((outcomes, claimed)) => {
                answer_each(self.replies, Ok(outcomes));
                Ok(claimed)
            }
            Err(error) => {
                answer_each(self.replies, Err(recur_common::one_line(&error)));
                Err(error)
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes up to [`BATCH`] of the ends waiting, oldest first: for the claim loop's claim, or for the
    /// batching task unless the claim loop is about to take them.
    fn take(&self, for_claim: bool) -> (Vec<JobEnd>, Vec<Reply>) {
        let mut waiting = self.lock();
        if !for_claim && waiting.claim_takes && !waiting.closed {
            return (Vec::new(), Vec::new());
        }
        let count = waiting.ends.len().min(BATCH);
        (waiting.ends.drain(..count).collect(), waiting.replies.drain(..count).collect())
    }
}

async fn run(store: Store, shared: Arc<Shared>, stopping: CancellationToken) {
    loop {
        tokio::select! {
            () = shared.send.notified() => {}
            () = stopping.cancelled() => {}
        }
        // Yielding once lets jobs ending at this moment join the batch (microseconds, not a timer).
        tokio::task::yield_now().await;
        loop {
            let (ends, replies) = shared.take(false);
            if ends.is_empty() {
                break;
            }
            let outcomes = store.finish_jobs(&ends).await.map_err(|error| recur_common::one_line(&error));
            answer_each(replies, outcomes);
        }
        if shared.lock().closed || stopping.is_cancelled() {
            return;
        }
    }
}

/// Sends each job task its outcome, or every one the error.
fn answer_each(replies: Vec<Reply>, outcomes: Result<Vec<FinishOutcome>, String>) {
    match outcomes {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
