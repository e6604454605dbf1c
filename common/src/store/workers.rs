//! Workers: heartbeats, so operators and the handler check see who is alive.

use std::time::Duration;

use jiff::SignedDuration;

use super::{Store, duration_ms};
use crate::{
    Result,
    model::{from_millis, millis},
    scripts::calls::{RecordWorkerHeartbeat, RemoveWorker},
};

impl Store {
    /// Marks `worker` alive with a description; forgets workers silent for longer than `horizon`. Answers how
    /// far this process's clock is ahead of Redis's (behind when negative), the call's round trip halved out.
    pub async fn record_worker_heartbeat(
        &self,
        worker: &str,
        description: &[(&str, String)],
        horizon: Duration,
    ) -> Result<SignedDuration> {
        let now = self.clock.now();
        let now_ms = millis(now);
        let lifetime_ms = duration_ms(horizon);
        let redis_ms = self
            .run(RecordWorkerHeartbeat {
                workers: self.keys.workers(),
                worker: self.keys.worker(worker),
                worker_id: worker.to_string(),
                now_ms,
                lifetime_ms,
                prune_before_ms: now_ms.saturating_sub(lifetime_ms),
                description: description
                    .iter()
                    .flat_map(|(name, value)| [(*name).to_string(), value.clone()])
                    .collect(),
            })
            .await?;
        let answered = self.clock.now();
        let midway = now + answered.duration_since(now) / 2;
        Ok(midway.duration_since(from_millis(i64::try_from(redis_ms).unwrap_or(i64::MAX))))
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
