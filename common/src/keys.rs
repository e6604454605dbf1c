//! Every Redis key recur uses, named in one place.
//!
//! A key is `{<tag>}:<path>`: the part in braces is the Redis Cluster hash tag, so keys that share it live in
//! one slot and a script may touch them together. A deployment (`RECUR_PREFIX`) has a home tag, `{<prefix>}`,
//! for what spans all schedules and is small (workflows, workers), and `RECUR_SHARDS` shard tags for its
//! schedules, jobs, queues and history ([`ShardKeys`]). With one shard (the default) the shard's tag is the
//! home tag, so every key shares one slot. With more, shard `n` is `{<prefix>:s<nn>}`, and a schedule's
//! shard follows from its id ([`Keys::shard_of`]), so every transition of one schedule stays in one slot. A
//! shard keeps a copy of each workflow and of its requirements, which its scripts check.
//!
//! Scripts get their keys from here through `KEYS`, with one exception: a key that depends on what only Redis
//! knows (a schedule's workflow, a waiting job's queue) is passed as a [`ShardKeys::pattern`] that
//! `lib/slots.lua` fills in, so its format still lives here. `docs/redis.md` documents each key, and a test
//! checks that it lists every pattern that [`Keys::patterns`] returns.

use uuid::Uuid;

use crate::model::{JobId, QueueName, ScheduleStatus};

/// A record that [`Keys::record_of`] recognised by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredRecord {
    Schedule(Uuid),
    Workflow(Uuid),
}

/// The key builder of one deployment (one `RECUR_PREFIX`): its home keys, and the way to each shard's.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// `{prefix}`: the home hash tag.
    tag: String,
    shards: usize,
}

/// The keys of one shard of a deployment: its schedules, jobs, queues, history, and its copy of each
/// workflow and of their requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardKeys {
    /// `{prefix}` with one shard, `{prefix:s<nn>}` with several: the shard's hash tag.
    tag: String,
}

fn key(tag: &str, path: std::fmt::Arguments<'_>) -> String {
    format!("{tag}:{path}")
}

impl Keys {
    /// Keys of the one-shard deployment `prefix` (`RECUR_PREFIX`).
    pub fn new(prefix: &str) -> Self {
        Self::sharded(prefix, 1)
    }

    /// Keys of deployment `prefix` spread over `shards` shards (`RECUR_SHARDS`, at least 1).
    pub fn sharded(prefix: &str, shards: usize) -> Self {
        Self { prefix: prefix.to_string(), tag: format!("{{{prefix}}}"), shards: shards.max(1) }
    }

    /// The deployment's prefix (`RECUR_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many shards the deployment has.
    pub fn shard_count(&self) -> usize {
        self.shards
    }

    /// The shard of the schedule or ad-hoc run `id`: its 128 bits modulo the shard count (the low bits of a
    /// UUID v4 or v7 are random, so shards fill evenly).
    pub fn shard_of(&self, id: Uuid) -> usize {
        (id.as_u128() % self.shards as u128) as usize
    }

    /// The keys of shard `index`.
    pub fn shard(&self, index: usize) -> ShardKeys {
        if self.shards == 1 {
            return ShardKeys { tag: self.tag.clone() };
        }
        ShardKeys { tag: format!("{{{}:s{index:02}}}", self.prefix) }
    }

    /// Every shard's keys, in shard order.
    pub fn shards(&self) -> Vec<ShardKeys> {
        (0..self.shards).map(|index| self.shard(index)).collect()
    }

    /// The keys of the shard that holds schedule (or ad-hoc run) `id`.
    pub fn of(&self, id: Uuid) -> ShardKeys {
        self.shard(self.shard_of(id))
    }

    /// The keys of the shard that holds `job` (its schedule's or run's).
    pub fn of_job(&self, job: &JobId) -> ShardKeys {
        self.of(job.schedule())
    }

    fn key(&self, path: std::fmt::Arguments<'_>) -> String {
        key(&self.tag, path)
    }

    /// STRING, the shard count the deployment was created with; written once by `check_layout.lua`, so
    /// that processes started with another `RECUR_SHARDS` refuse to run on it.
    pub fn layout(&self) -> String {
        self.key(format_args!("shards"))
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
    /// workflow scripts. Each shard has its copy ([`ShardKeys::workflow_requirements`]), the same key with one
    /// shard.
    pub fn workflow_requirements(&self) -> String {
        self.key(format_args!("workflow-requirements"))
    }

    /// HASH workflow id → how many schedules use it, as `delete_workflow.lua` checks it: with one shard, the
    /// shard's count ([`ShardKeys::workflow_uses`]); with several, a key no script writes (each shard keeps
    /// its own, and deleting a workflow checks them shard by shard first).
    pub fn workflow_uses(&self) -> String {
        self.key(format_args!("workflow-uses"))
    }

    /// The index of the schedules that used a workflow, as a deployment kept it before
    /// [`Keys::workflow_uses`], read by `delete_workflow.lua` alongside it (see
    /// [`ShardKeys::legacy_workflow_schedules`]).
    pub fn legacy_workflow_schedules(&self, workflow_id: Uuid) -> String {
        self.key(format_args!("workflow:{workflow_id}:schedules"))
    }

    /// Which record `key` holds, if it is a schedule's (in any shard) or a workflow's: the inverse of
    /// [`ShardKeys::schedule`] and [`Keys::workflow`].
    pub fn record_of(&self, key: &str) -> Option<StoredRecord> {
        let id = |prefix: String| -> Option<Uuid> {
            let prefix = prefix.strip_suffix(&Uuid::nil().to_string())?.to_string();
            key.strip_prefix(&prefix)?.parse().ok()
        };
        self.shards()
            .iter()
            .find_map(|shard| id(shard.schedule(Uuid::nil())))
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

    /// Pub/sub channel (not a key) on which enqueuing scripts of every shard announce a new earliest due time,
    /// so sleeping workers wake up early.
    pub fn wakeup_channel(&self) -> String {
        self.key(format_args!("wakeup"))
    }

    /// Pub/sub channel (not a key) on which `cancel_execution.lua` asks the worker running an execution to
    /// stop it: `<execution id> cancel|fail`.
    pub fn cancel_channel(&self) -> String {
        self.key(format_args!("cancel"))
    }

    /// Every key pattern with placeholders, in documentation order (a shard's keys as they are with one
    /// shard); `docs/redis.md` must list each.
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
        let shard = self.shard(0);
        [
            self.layout(),
            self.workflow(id),
            self.workflows(),
            self.workflow_names(),
            shard.workflow_uses(),
            shard.legacy_workflow_schedules(id),
            self.workflow_versions(id),
            self.workflow_requirements(),
            shard.workflow_slots(id),
            shard.workflow_waiting(id),
            shard.schedule(id),
            shard.schedules_by_status(ScheduleStatus::Active),
            shard.execution_index(),
            shard.workflow_executions(id),
            shard.executions(id),
            shard.run_executions(),
            shard.run_workflows(),
            shard.execution_times(id),
            shard.backfill(id),
            shard.job(&job),
            shard.delayed(&queue),
            shard.ready(&queue),
            shard.running(&queue),
            shard.leases(&queue),
            shard.queues(),
            shard.reconciled_at(),
            shard.reconcile_cursor(),
            shard.corrupt_records(),
            shard.handler_waits(),
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

impl ShardKeys {
    fn key(&self, path: std::fmt::Arguments<'_>) -> String {
        key(&self.tag, path)
    }

    /// STRING, the shard's copy of a workflow (the workflow itself with one shard): its existence lets the
    /// shard's scripts take schedules and runs of the workflow. Written by `copy_workflow.lua`.
    pub fn workflow(&self, id: Uuid) -> String {
        self.key(format_args!("workflow:{id}"))
    }

    /// HASH, the shard's copy of [`Keys::workflow_requirements`], read by `claim_jobs.lua` before a run may
    /// start (the version tells workers which cached workflow to run).
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
    pub fn pattern(&self, key: impl Fn(&ShardKeys) -> String) -> String {
        let pattern = key(self);
        pattern.replace(&Uuid::nil().to_string(), "<id>").replace(QueueName::placeholder().as_str(), "<queue>")
    }

    /// HASH workflow id → how many of the shard's schedules use it (no field: none); kept by the schedule
    /// scripts, read to refuse deleting a workflow in use. A count rather than an index of ids: an index cost
    /// every schedule a second ZSET entry, and listing by workflow walks the status indexes instead.
    pub fn workflow_uses(&self) -> String {
        self.key(format_args!("workflow-uses"))
    }

    /// ZSET of the ids of the shard's schedules that use a workflow, as a deployment created before
    /// [`ShardKeys::workflow_uses`] kept them. No longer written: its members still count as uses, and leave
    /// it when their schedule is deleted or moves to another workflow (`lib/workflow_uses.lua`).
    pub fn legacy_workflow_schedules(&self, workflow_id: Uuid) -> String {
        self.key(format_args!("workflow:{workflow_id}:schedules"))
    }

    /// HASH, one scheduled job with its counters, `rev` and `live_job`; written by every schedule script. The job
    /// scripts alone keep `running_jobs`, `buffered_job` and `backfill_job` in it.
    pub fn schedule(&self, id: Uuid) -> String {
        self.key(format_args!("schedule:{id}"))
    }

    /// ZSET of the ids of the shard's schedules in one status, scored by creation ms: every schedule is in
    /// one, and listings merge them; the reconciler pages through the `active` one.
    pub fn schedules_by_status(&self, status: ScheduleStatus) -> String {
        self.key(format_args!("schedules:{}", status.as_str()))
    }

    /// ZSET of the shard's execution ids by start ms: the run history across schedules (`GET /executions`
    /// merges the shards'); written by `claim_jobs.lua` and `finish_jobs.lua`, trimmed by age in
    /// `trim_execution_index.lua`.
    pub fn execution_index(&self) -> String {
        self.key(format_args!("executions"))
    }

    /// ZSET of the execution ids of one workflow by start ms (`GET /executions?workflow_id=`), kept like
    /// [`ShardKeys::execution_index`].
    pub fn workflow_executions(&self, workflow_id: Uuid) -> String {
        self.key(format_args!("workflow:{workflow_id}:executions"))
    }

    /// HASH of one schedule's ended executions, execution id → JSON, written once by Rust through
    /// `finish_jobs.lua` or `requeue_job.lua` (a running one is read from its job); trimmed by `finish_jobs.lua`.
    pub fn executions(&self, schedule_id: Uuid) -> String {
        self.key(format_args!("schedule:{schedule_id}:executions"))
    }

    /// HASH of the shard's ad-hoc runs' ended executions, execution id → JSON, written like
    /// [`ShardKeys::executions`]: one hash for all runs rather than a key with an expiry per run. Its records
    /// leave with their entries of [`ShardKeys::execution_index`], by age, in `trim_execution_index.lua`.
    pub fn run_executions(&self) -> String {
        self.key(format_args!("run-executions"))
    }

    /// HASH of workflow tag → workflow id: which workflow the shard's bare runs run (see
    /// [`BareRun`](crate::model::BareRun)); written by `enqueue_runs.lua`, one entry per workflow.
    pub fn run_workflows(&self) -> String {
        self.key(format_args!("run-workflows"))
    }

    /// ZSET of one schedule's execution ids scored by start ms; the order and retention index of
    /// [`ShardKeys::executions`].
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

    /// SET of queue names that ever held a job of the shard; read by the reconciler and `inspect`.
    pub fn queues(&self) -> String {
        self.key(format_args!("queues"))
    }

    /// STRING, ms of the shard's last periodic reconciler pass; written by `take_reconciler_turn.lua` so that
    /// one worker per interval runs it.
    pub fn reconciled_at(&self) -> String {
        self.key(format_args!("reconciled-at"))
    }

    /// STRING, the rank in `schedules:active` where the next reconciler pass resumes its walk; written by
    /// `recover_schedule_jobs.lua` page by page, so each pass reads a bounded number of schedules.
    pub fn reconcile_cursor(&self) -> String {
        self.key(format_args!("reconcile-cursor"))
    }

    /// ZSET of `<queue>/<job id>` of the shard's jobs waiting for a worker that offers a handler.
    pub fn handler_waits(&self) -> String {
        self.key(format_args!("handler-waits"))
    }

    /// HASH key → why it does not decode, of the schedule and workflow records a worker could not read;
    /// written by `note_corrupt_records.lua` (added when met, removed by the reconciler once repaired or gone).
    pub fn corrupt_records(&self) -> String {
        self.key(format_args!("corrupt-records"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_one_shard_every_key_shares_the_prefix_hash_tag() {
        for key in Keys::new("recur").patterns() {
            assert!(key.starts_with("{recur}:"), "{key}");
        }
    }

    #[test]
    fn a_schedule_and_its_jobs_stay_in_one_shard_and_shards_fill_evenly() {
        let keys = Keys::sharded("recur", 4);
        assert_eq!(keys.shard(3).queues(), "{recur:s03}:queues");
        assert_eq!(keys.workflows(), "{recur}:workflows", "what spans schedules stays home");
        let mut per_shard = [0; 4];
        for _ in 0..4_000 {
            let id = Uuid::now_v7();
            let shard = keys.of(id);
            assert_eq!(keys.of_job(&JobId::regular(id, 7, 1)), shard);
            assert!(shard.schedule(id).starts_with(&format!("{{recur:s{:02}}}:", keys.shard_of(id))));
            per_shard[keys.shard_of(id)] += 1;
        }
        assert!(per_shard.iter().all(|count| (800..1_200).contains(count)), "{per_shard:?}");
    }

    #[test]
    fn a_record_key_names_its_record() {
        let (keys, id) = (Keys::sharded("recur", 3), Uuid::now_v7());
        assert_eq!(keys.record_of(&keys.of(id).schedule(id)), Some(StoredRecord::Schedule(id)));
        assert_eq!(keys.record_of(&keys.workflow(id)), Some(StoredRecord::Workflow(id)));
        assert_eq!(keys.record_of(&keys.of(id).executions(id)), None);
        assert_eq!(keys.record_of(&Keys::new("other").shard(0).schedule(id)), None);
    }

    #[test]
    fn docs_list_every_key_pattern() {
        let docs = include_str!("../../docs/redis.md");
        for pattern in Keys::new("recur").patterns() {
            assert!(docs.contains(&format!("`{pattern}`")), "docs/redis.md does not list `{pattern}`");
        }
    }
}
