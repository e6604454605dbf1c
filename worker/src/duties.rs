//! The worker's background duties: heartbeat, reconciler, lease watcher, wake-ups, metrics, the finisher's
//! batches. Each runs until the worker stops it. One that ends sooner (a panic: a bug) stops the worker,
//! which then exits with an error, rather than run on without it: without its wake-ups it would start new
//! jobs only on a timer, without its heartbeat it would drop out of `/status` while holding jobs, without
//! its finisher it would record nothing.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, PoisonError},
};

use futures_util::FutureExt as _;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::executor::panic_message;

/// A worker's duties, and how the first to fail ended.
pub struct Duties {
    tasks: TaskTracker,
    /// Cancelled when the worker stops its duties; each duty ends on it.
    stopping: CancellationToken,
    /// What a duty ending before `stopping` cancels: the worker's own stop.
    stop_worker: CancellationToken,
    /// What that duty's end was.
    failure: Arc<Mutex<Option<String>>>,
}

impl Duties {
    /// Duties that cancel `stop_worker` when one ends before they are stopped.
    pub fn new(stop_worker: CancellationToken) -> Self {
        Self { tasks: TaskTracker::new(), stopping: CancellationToken::new(), stop_worker, failure: Arc::default() }
    }

    /// What each duty ends on: the worker stopping its duties.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Runs `duty`, called `name` in what is reported should it end too soon.
    pub fn spawn(&self, name: &'static str, duty: impl Future<Output = ()> + Send + 'static) {
        let (stopping, stop_worker, failure) = (self.stopping.clone(), self.stop_worker.clone(), self.failure.clone());
        self.tasks.spawn(async move {
            let ended = AssertUnwindSafe(duty).catch_unwind().await;
            if stopping.is_cancelled() {
                return;
            }
            let how = match ended {
                Ok(()) => format!("the worker's {name} stopped"),
                Err(panic) => format!("the worker's {name} panicked: {}", panic_message(&*panic)),
            };
            tracing::error!("{how}; stopping the worker");
            failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(how);
            stop_worker.cancel();
        });
    }

    /// Stops every duty and waits for them; says how the first that ended too soon ended, if one did.
    pub async fn stop(self) -> Option<String> {
        self.tasks.close();
        self.stopping.cancel();
        self.tasks.wait().await;
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_duty_that_panics_stops_the_worker_and_says_which_and_why() {
        let worker = CancellationToken::new();
        let duties = Duties::new(worker.clone());
        let stopping = duties.stopping();
        duties.spawn("heartbeat", async move { stopping.cancelled().await });
        duties.spawn("reconciler", async { panic!("{} went wrong", "something") });
        tokio::time::timeout(Duration::from_secs(5), worker.cancelled()).await.unwrap();
        assert_eq!(duties.stop().await.as_deref(), Some("the worker's reconciler panicked: something went wrong"));
    }

    #[tokio::test]
    async fn a_duty_that_returns_early_stops_the_worker_too() {
        let worker = CancellationToken::new();
        let duties = Duties::new(worker.clone());
        duties.spawn("wake-up listener", async {});
        tokio::time::timeout(Duration::from_secs(5), worker.cancelled()).await.unwrap();
        assert_eq!(duties.stop().await.as_deref(), Some("the worker's wake-up listener stopped"));
    }

    #[tokio::test]
    async fn duties_that_end_when_stopped_report_nothing() {
        let worker = CancellationToken::new();
        let duties = Duties::new(worker.clone());
        for name in ["heartbeat", "reconciler"] {
            let stopping = duties.stopping();
            duties.spawn(name, async move { stopping.cancelled().await });
        }
        assert_eq!(duties.stop().await, None);
        assert!(!worker.is_cancelled());
    }
}
