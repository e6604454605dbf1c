//! Every Redis key recur uses, named in one place.
//!
//! A key is `{<prefix>}:<path>`: the prefix in braces is the Redis Cluster hash tag, so every key of one
//! deployment lives in one slot and every script may touch any of them together. Scripts get their keys
//! from here through `KEYS`, with one exception: a key that depends on what only Redis knows (a schedule's
//! workflow, a waiting job's queue) is passed as a [`Keys::pattern`] that `lib/slots.lua` fills in, so its
//! format still lives here. `docs/redis.md` documents each key, and a test checks that it lists every
//! pattern that [`Keys::patterns`] returns.

use uuid::Uuid;

use crate::model::{JobId, QueueName, ScheduleStatus};

/// A record that [`Keys::record_of`] recognised by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredRecord {
    Schedule(Uuid),
    Workflow(Uuid),
}

/// The key builder of one deployment (one `RECUR_PREFIX`).
#[derive(Debug, Clone)]
pub struct Keys {
    /// `{prefix}`: the hash tag every key starts with.
    tag: String,
}

impl Keys {
    /// Keys under `prefix` (`RECUR_PREFIX`).
    pub fn new(prefix: &str) -> Self {
        Self { tag: format!("{{{prefix}}}") }
    }

    fn key(&self, path: std::fmt::Arguments<'_>) -> String {
        format!("{}:{path}", self.tag)
    }

    /// STRING, a workflow as JSON; written by `create_workflow.lua` and `update_workflow.lua`.
    pub fn workflow(&self, id: Uuid) -> String {
        self.key(format_args!("workflow:{id}"))
    }

    /// ZSET of workflow ids scored by creation ms; written by `create_workflow.lua`, read by listings.
    pub fn workflows(&self) -> String {
        self.key(format_args!("workflows"))
    }

    /// HASH workflow name → id, the uniqueness index of names; written by the workflow scripts.
    pub fn workflow_names(&self) -> String {
        self.key(format_args!("workflow-names"))
    }

    /// HASH version → workflow JSON of every version a workflow had; written by the workflow scripts, read to
    /// show what an execution ran.
    pub fn workflow_versions(&self, id: Uuid) -> String {
        self.key(format_args!("workflow:{id}:versions"))
    }

    /// HASH workflow id → `{"version", "max_concurrency", "handlers"}`: what a run needs; written by the
    /// workflow scripts, read by `claim_jobs.lua` before a run may start (the version tells workers which
    /// cached workflow to run).
    pub fn workflow_requirements(&self) -> String {
        self.key(format_args!("workflow-requirements"))
    }

    /// ZSET of the job ids running a workflow with `max_concurrency`, scored by lease expiry ms: one member per
    /// slot taken. Taken by `claim_jobs.lua`, renewed with the job's lease, freed by `finish_jobs.lua`; a
    /// crashed worker's slot frees itself when its score passes.
    pub fn workflow_slots(&self, id: Uuid) -> String {
        self.key(format_args!("workflow:{id}:slots"))
    }

    /// ZSET of `<queue>/<job id>` waiting for a slot of a workflow, scored by when they began to wait;
    /// `finish_jobs.lua` makes the first one due when it frees a slot.
    pub fn workflow_waiting(&self, id: Uuid) -> String {
        self.key(format_args!("workflow:{id}:waiting"))
    }

    /// A key pattern with `<id>` or `<queue>` in place of what only a script learns (the workflow of a
    /// schedule, the queue of a waiting job); `fill_key` in `lib/slots.lua` fills it in. The key format stays
    /// here.
    pub fn pattern(&self, key: impl Fn(&Keys) -> String) -> String {
        let pattern = key(self);
        pattern.replace(&Uuid::nil().to_string(), "<id>").replace(QueueName::placeholder().as_str(), "<queue>")
    }

    /// ZSET of the ids of schedules that use a workflow, scored by creation ms; written by the schedule
    /// scripts, read to refuse deleting a workflow in use and to list schedules by workflow.
    pub fn workflow_schedules(&self, workflow_id: Uuid) -> String {
        self.key(format_args!("workflow:{workflow_id}:schedules"))
    }

    /// HASH, one scheduled job with its counters, `rev` and `live_job`; written by every schedule script. The job
    /// scripts alone keep `running_jobs`, `buffered_job` and `backfill_job` in it.
    pub fn schedule(&self, id: Uuid) -> String {
        self.key(format_args!("schedule:{id}"))
    }

    /// ZSET of all schedule ids scored by creation ms; the index that listings page through.
    pub fn schedules(&self) -> String {
        self.key(format_args!("schedules"))
    }

    /// ZSET of the ids of schedules in one status, scored by creation ms; the reconciler pages through
    /// the `active` one.
    pub fn schedules_by_status(&self, status: ScheduleStatus) -> String {
        self.key(format_args!("schedules:{}", status.as_str()))
    }

    /// ZSET of all execution ids by start ms: the run history across schedules (`GET /executions`); written
    /// by `claim_jobs.lua` and `finish_jobs.lua`, trimmed by age in `trim_history.lua`.
    pub fn execution_index(&self) -> String {
        self.key(format_args!("executions"))
    }

    /// ZSET of the execution ids of one workflow by start ms (`GET /executions?workflow_id=`), kept like
    /// [`Keys::execution_index`].
    pub fn workflow_executions(&self, workflow_id: Uuid) -> String {
        self.key(format_args!("workflow:{workflow_id}:executions"))
    }

    /// HASH of one schedule's ended executions, execution id → JSON, written once by Rust through
    /// `finish_jobs.lua` or `requeue_job.lua` (a running one is read from its job); trimmed by `finish_jobs.lua`.
    pub fn executions(&self, schedule_id: Uuid) -> String {
        self.key(format_args!("schedule:{schedule_id}:executions"))
    }

    /// ZSET of one schedule's execution ids scored by start ms; the order and retention index of
    /// [`Keys::executions`].
    pub fn execution_times(&self, schedule_id: Uuid) -> String {
        self.key(format_args!("schedule:{schedule_id}:execution-times"))
    }

    /// LIST of the backfill job ids of one schedule still waiting, in occurrence order; pushed by
    /// `backfill_schedule.lua`, popped by `finish_jobs.lua` as each backfill run ends.
    pub fn backfill(&self, schedule_id: Uuid) -> String {
        self.key(format_args!("schedule:{schedule_id}:backfill"))
    }

    /// HASH, one live job: schedule, queue, due time, attempt, and the running execution (id, worker,
    /// workflow, start); created by the enqueue step of the schedule scripts and by `enqueue_runs.lua`,
    /// marked by `claim_jobs.lua`, deleted by `finish_jobs.lua`.
    pub fn job(&self, id: &JobId) -> String {
        self.key(format_args!("job:{id}"))
    }

    /// The job key with `<job>` in place of the id, for `claim_jobs.lua`, which learns the ids it pops.
    pub fn job_pattern(&self) -> String {
        self.key(format_args!("job:<job>"))
    }

    /// ZSET of job ids scored by due ms; written by every script that enqueues, drained by the promote step
    /// of `claim_jobs.lua` and `promote_due_jobs.lua`.
    pub fn delayed(&self, queue: &QueueName) -> String {
        self.key(format_args!("queue:{queue}:delayed"))
    }

    /// LIST of due job ids, oldest first; filled by promotion and `requeue_job.lua`, popped by `claim_jobs.lua`.
    pub fn ready(&self, queue: &QueueName) -> String {
        self.key(format_args!("queue:{queue}:ready"))
    }

    /// HASH job id → worker id of claimed jobs; written by `claim_jobs.lua`, cleared when the job finishes or
    /// is requeued. Finishing checks it: a worker that lost its lease records nothing.
    pub fn running(&self, queue: &QueueName) -> String {
        self.key(format_args!("queue:{queue}:running"))
    }

    /// ZSET of claimed job ids scored by lease expiry ms; renewed by `renew_lease.lua`, read by the
    /// reconciler to find abandoned jobs.
    pub fn leases(&self, queue: &QueueName) -> String {
        self.key(format_args!("queue:{queue}:leases"))
    }

    /// SET of queue names that ever held a job; read by the reconciler and `inspect`.
    pub fn queues(&self) -> String {
        self.key(format_args!("queues"))
    }

    /// STRING, ms of the last periodic reconciler pass; written by `take_reconciler_turn.lua` so that one
    /// worker per interval runs it.
    pub fn reconciled_at(&self) -> String {
        self.key(format_args!("reconciled-at"))
    }

    /// STRING, the rank in `schedules:active` where the next reconciler pass resumes its walk; written by
    /// `recover_schedule_jobs.lua` page by page, so each pass reads a bounded number of schedules.
    pub fn reconcile_cursor(&self) -> String {
        self.key(format_args!("reconcile-cursor"))
    }

    /// HASH key → why it does not decode, of the schedule and workflow records a worker could not read;
    /// written by `note_corrupt_records.lua` (added when met, removed by the reconciler once repaired or gone).
    pub fn handler_waits(&self) -> String {
        self.key(format_args!("handler-waits"))
    }

    pub fn corrupt_records(&self) -> String {
        self.key(format_args!("corrupt-records"))
    }

    /// Which record `key` holds, if it is a schedule's or a workflow's: the inverse of [`Keys::schedule`] and
    /// [`Keys::workflow`].
    pub fn record_of(&self, key: &str) -> Option<StoredRecord> {
        let id = |prefix: String| -> Option<Uuid> {
            let prefix = prefix.strip_suffix(&Uuid::nil().to_string())?.to_string();
            key.strip_prefix(&prefix)?.parse().ok()
        };
        id(self.schedule(Uuid::nil()))
            .map(StoredRecord::Schedule)
            .or_else(|| id(self.workflow(Uuid::nil())).map(StoredRecord::Workflow))
    }

    /// ZSET of worker ids scored by last heartbeat ms; written by `record_worker_heartbeat.lua`.
    pub fn workers(&self) -> String {
        self.key(format_args!("workers"))
    }

    /// HASH describing one live worker (queues, concurrency, start time); expires when heartbeats stop.
    pub fn worker(&self, id: &str) -> String {
        self.key(format_args!("worker:{id}"))
    }

    /// Pub/sub channel (not a key) on which enqueuing scripts announce a new earliest due time, so sleeping
    /// workers wake up early.
    pub fn wakeup_channel(&self) -> String {
        self.key(format_args!("wakeup"))
    }

    /// Pub/sub channel (not a key) on which `cancel_execution.lua` asks the worker running an execution to
    /// stop it: `<execution id> cancel|fail`.
    pub fn cancel_channel(&self) -> String {
        self.key(format_args!("cancel"))
    }

    /// Every key pattern with placeholders, in documentation order; `docs/redis.md` must list each.
    pub fn patterns(&self) -> Vec<String> {
        let id = Uuid::nil();
        let queue = QueueName::placeholder();
        let job = JobId::regular(id, 0, 0);
        let pattern = |key: String| {
            key.replace(&job.to_string(), "<job-id>")
                .replace(&id.to_string(), "<id>")
                .replace(queue.as_str(), "<queue>")
                .replace("schedules:active", "schedules:<status>")
        };
        [
            self.workflow(id),
            self.workflows(),
            self.workflow_names(),
            self.workflow_schedules(id),
            self.workflow_versions(id),
            self.workflow_requirements(),
            self.workflow_slots(id),
            self.workflow_waiting(id),
            self.schedule(id),
            self.schedules(),
            self.schedules_by_status(ScheduleStatus::Active),
            self.execution_index(),
            self.workflow_executions(id),
            self.executions(id),
            self.execution_times(id),
            self.backfill(id),
            self.job(&job),
            self.delayed(&queue),
            self.ready(&queue),
            self.running(&queue),
            self.leases(&queue),
            self.queues(),
            self.reconciled_at(),
            self.reconcile_cursor(),
            self.corrupt_records(),
            self.handler_waits(),
            self.workers(),
            self.worker("<worker>"),
            self.wakeup_channel(),
            self.cancel_channel(),
        ]
        .into_iter()
        .map(pattern)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_prefix_hash_tag() {
        for key in Keys::new("recur").patterns() {
            assert!(key.starts_with("{recur}:"), "{key}");
        }
    }

    #[test]
    fn a_record_key_names_its_record() {
        let (keys, id) = (Keys::new("recur"), Uuid::now_v7());
        assert_eq!(keys.record_of(&keys.schedule(id)), Some(StoredRecord::Schedule(id)));
        assert_eq!(keys.record_of(&keys.workflow(id)), Some(StoredRecord::Workflow(id)));
        assert_eq!(keys.record_of(&keys.executions(id)), None);
        assert_eq!(keys.record_of(&Keys::new("other").schedule(id)), None);
    }

    #[test]
    fn docs_list_every_key_pattern() {
        let docs = include_str!("../../docs/redis.md");
        for pattern in Keys::new("recur").patterns() {
            assert!(docs.contains(&format!("`{pattern}`")), "docs/redis.md does not list `{pattern}`");
        }
    }
}
