//! Workers: heartbeats, so operators and the handler check see who is alive.

use std::time::Duration;

use super::{Store, duration_ms};
use crate::{
    Result,
    model::millis,
    scripts::calls::{RecordWorkerHeartbeat, RemoveWorker},
};

impl Store {
    /// Marks `worker` alive with a description; forgets workers silent for longer than `horizon`.
    pub async fn record_worker_heartbeat(
        &self,
        worker: &str,
        description: &[(&str, String)],
        horizon: Duration,
    ) -> Result<()> {
        let now_ms = millis(self.clock.now());
        let lifetime_ms = duration_ms(horizon);
        self.run(RecordWorkerHeartbeat {
            workers: self.keys.workers(),
            worker: self.keys.worker(worker),
            worker_id: worker.to_string(),
            now_ms,
            lifetime_ms,
            prune_before_ms: now_ms.saturating_sub(lifetime_ms),
            description: description.iter().flat_map(|(name, value)| [(*name).to_string(), value.clone()]).collect(),
        })
        .await
    }

    /// Forgets a worker that stopped cleanly.
    pub async fn remove_worker(&self, worker: &str) -> Result<()> {
        self.run(RemoveWorker {
            workers: self.keys.workers(),
            worker: self.keys.worker(worker),
            worker_id: worker.to_string(),
        })
        .await
    }
}
