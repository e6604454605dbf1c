//! Finishes jobs in batches: the finishes that complete while one call is under way go together in the
//! next one, so a busy worker spends one round trip on many finishes, and a lone job waits for none.

use recur_common::store::{BATCH, FinishOutcome, JobEnd, Store};
use tokio::sync::{mpsc, oneshot};

/// One job's end and where its outcome goes.
struct Request {
    end: JobEnd,
    /// The job task waiting for its outcome (or the error, as text: one error answers a whole batch).
    reply: oneshot::Sender<Result<FinishOutcome, String>>,
}

/// The handle job tasks finish through. The batching task ends when the last handle is dropped.
pub struct Finisher {
    /// Requests in the order jobs ended; unbounded because each job task sends one and awaits its reply.
    requests: mpsc::UnboundedSender<Request>,
}

impl Finisher {
    /// Starts the batching task on `store`.
    pub fn start(store: Store) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver));
        Self { requests }
    }

    /// Records `end` with the next batch and waits for its outcome.
    pub async fn finish(&self, end: JobEnd) -> Result<FinishOutcome, String> {
        let (reply, outcome) = oneshot::channel();
        self.requests.send(Request { end, reply }).map_err(|_| "the finisher stopped".to_string())?;
        outcome.await.map_err(|_| "the finisher stopped".to_string())?
    }
}

async fn run(store: Store, mut requests: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = requests.recv().await {
        // Yielding once lets jobs ending at this moment join the batch (microseconds, not a timer).
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let (ends, replies): (Vec<JobEnd>, Vec<_>) =
            batch.into_iter().map(|request| (request.end, request.reply)).unzip();
        match store.finish_jobs(&ends).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                let error = recur_common::one_line(&error);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}
