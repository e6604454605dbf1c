//! The running executions of this worker that a user may cancel, by execution id.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use tokio_util::sync::CancellationToken;

/// Cancel requests for the executions this worker runs.
#[derive(Default)]
pub struct Cancels(Mutex<HashMap<String, Watch>>);

/// The cancel request of one running execution.
#[derive(Clone, Default)]
pub struct Watch {
    token: CancellationToken,
    /// Whether the user asked to count it as a failure; set by the first request.
    count_as_failure: Arc<OnceLock<bool>>,
}

impl Watch {
    /// Requests the cancel (the first request decides how it counts).
    pub fn request(&self, count_as_failure: bool) {
        let _ = self.count_as_failure.set(count_as_failure);
        self.token.cancel();
    }

    /// Resolves when a cancel is requested, with whether it counts as a failure.
    pub async fn requested(&self) -> bool {
        self.token.cancelled().await;
        self.count_as_failure.get().copied().unwrap_or(false)
    }
}

impl Cancels {
    /// Starts watching `execution` for cancel requests until [`Cancels::forget`].
    pub fn watch(&self, execution: &str) -> Watch {
        let watch = Watch::default();
        if let Ok(mut watches) = self.0.lock() {
            watches.insert(execution.to_string(), watch.clone());
        }
        watch
    }

    pub fn forget(&self, execution: &str) {
        if let Ok(mut watches) = self.0.lock() {
            watches.remove(execution);
        }
    }

    /// Passes a request on to `execution`, if this worker runs it.
    pub fn request(&self, execution: &str, count_as_failure: bool) {
        let watch = self.0.lock().ok().and_then(|watches| watches.get(execution).cloned());
        if let Some(watch) = watch {
            watch.request(count_as_failure);
        }
    }
}
