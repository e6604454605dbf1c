//! New schedules and ad-hoc runs, one or many a request. A bulk request is checked as a whole (each item's
//! fields and its workflow) before anything is written, and written in calls of at most
//! [`BATCH`](super::BATCH) schedules of one shard.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use super::{Store, is_recorded, planned_job};
use crate::{
    Error, Result,
    model::{
        BareRun, DEFAULT_TIMEOUT_SECONDS, JobId, NewRun, NewSchedule, QueueName, Schedule, ScheduleStatus, Workflow,
        millis, new_id_at, rfc3339,
    },
    record::ScheduleRecord,
    scripts::{
        RunsEnqueued, ScheduleCreated,
        calls::{CreateSchedules, EnqueueRuns},
        flag,
    },
};

/// Items a bulk request may hold.
pub const MAX_BULK_ITEMS: usize = 1_000;

/// Whether ad-hoc `run` is queued as a bare run (see [`BareRun`]), with no record until it starts: when it
/// has nothing its id cannot say, no payload and the default timeout. (Its queue is the one that holds it.)
fn is_bare(run: &Schedule) -> bool {
    run.payload.is_empty() && run.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
}

/// An ad-hoc run as queued: its job, and the queue it waits in. Its first execution is the job's attempt 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun {
    pub job: JobId,
    pub queue: QueueName,
}

impl Store {
    /// Saves a new active schedule and enqueues its first job.
    #[tracing::instrument(skip_all, fields(workflow.id = %new.workflow_id))]
    pub async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        single(self.create_schedules(vec![new]).await)
    }

    /// Saves new active schedules and enqueues the first job of each, in order. Refused as a whole, with
    /// [`Error::InvalidItems`], when any item cannot be accepted; nothing is written then.
    #[tracing::instrument(skip_all, fields(items = items.len()))]
    pub async fn create_schedules(&self, items: Vec<NewSchedule>) -> Result<Vec<Schedule>> {
        check_count(items.len())?;
        let mut workflows: HashMap<Uuid, Option<Workflow>> = HashMap::new();
        for id in items.iter().map(|new| new.workflow_id).collect::<BTreeSet<_>>() {
            let workflow = match self.inspect().workflow(id).await {
                Err(Error::NotFound { .. }) => None,
                other => Some(other?),
            };
            workflows.insert(id, workflow);
        }
        let now = self.clock.now();
        let built = items.into_iter().map(|new| {
            let workflow = workflows[&new.workflow_id].as_ref().ok_or(Error::UnknownWorkflow(new.workflow_id))?;
            new.into_schedule(self.new_id(workflow, || new_id_at(now)), &workflow.name, now)
        });
        let schedules = Self::accept(built.collect())?;
        self.insert_schedules(schedules).await
    }

    /// Runs a workflow once, now or at its `run_at`, as `run` says: an ad-hoc run, queued as a bare job (no
    /// schedule record).
    /// Its first execution is `sched-{id}-n0-rc0-a1`.
    #[tracing::instrument(skip_all, fields(workflow.id = %workflow_id))]
    pub async fn run_workflow(&self, workflow_id: Uuid, run: NewRun) -> Result<QueuedRun> {
        let mut queued = self.run_workflow_many(workflow_id, vec![run]).await.map_err(single_item_error)?;
        queued.pop().ok_or_else(|| Error::unexpected_reply("enqueue_runs.lua", "no run queued"))
    }

    /// Runs a workflow once per item of `runs`, each now or at its `run_at`, in order; refused as a whole like
    /// [`Store::create_schedules`].
    #[tracing::instrument(skip_all, fields(workflow.id = %workflow_id, items = runs.len()))]
    pub async fn run_workflow_many(&self, workflow_id: Uuid, runs: Vec<NewRun>) -> Result<Vec<QueuedRun>> {
        check_count(runs.len())?;
        let workflow = self.inspect().workflow(workflow_id).await?;
        let now = self.clock.now();
        let built = runs.into_iter().map(|run| {
            let id = self.new_id(&workflow, || new_id_at(now));
            let built = run.clone().into_schedule(id, workflow_id, &workflow.name, now)?;
            if !is_bare(&built) {
                return Ok(built);
            }
            // Built again under an id that carries its due time, known once the run is built.
            let due_ms = millis(planned_job(&built).1);
            let id = self.new_id(&workflow, || BareRun::new_id(workflow_id, due_ms));
            run.into_schedule(id, workflow_id, &workflow.name, now)
        });
        let runs = Self::accept(built.collect())?;
        let queued: Vec<QueuedRun> =
            runs.iter().map(|run| QueuedRun { job: planned_job(run).0, queue: run.queue.clone() }).collect();
        let mut written = vec![false; runs.len()];
        for (keys, chunk) in self.calls_by_shard(runs.iter().map(|run| run.id)) {
            let (mut run_keys, mut run_args) = (Vec::new(), Vec::new());
            for &index in &chunk {
                let run = &runs[index];
                let (job, due) = planned_job(run);
                run_keys.extend([keys.job(&job), keys.ready(&run.queue), keys.delayed(&run.queue)]);
                let payload = if run.payload.is_empty() {
                    String::new()
                } else {
                    serde_json::Value::Object(run.payload.clone()).to_string()
                };
                let timeout = run.timeout_seconds;
                let timeout = if timeout == DEFAULT_TIMEOUT_SECONDS { String::new() } else { timeout.to_string() };
                run_args.extend([job.to_string(), run.queue.to_string(), millis(due).to_string(), payload, timeout]);
            }
            let answer = self
                .run(EnqueueRuns {
                    workflow: keys.workflow(workflow_id),
                    queues: keys.queues(),
                    run_workflows: keys.run_workflows(),
                    run_keys,
                    workflow_id: workflow_id.to_string(),
                    now_ms: millis(now),
                    wakeup_channel: self.keys.wakeup_channel(),
                    run_tag: BareRun::tag_of(workflow_id),
                    run_args,
                })
                .await?;
            if answer == RunsEnqueued::UnknownWorkflow {
                // Deleted while the request was written: the calls written so far stay queued.
                let refused = (0..runs.len())
                    .filter(|index| !written[*index])
                    .map(|index| (index, Error::UnknownWorkflow(workflow_id)));
                return Err(Error::InvalidItems { items: refused.collect() });
            }
            for index in chunk {
                written[index] = true;
            }
        }
        tracing::info!(workflow.id = %workflow_id, "{} ad-hoc runs of workflow {workflow_id} queued", queued.len());
        Ok(queued)
    }

    /// A new id for a schedule or run of `workflow`, drawn by `draw`. With several shards and a workflow with a concurrency
    /// limit, one in the workflow's own shard (its UUID modulo the count), where the limit's slots are
    /// counted: every run of such a workflow shares that one slot.
    fn new_id(&self, workflow: &Workflow, draw: impl Fn() -> Uuid) -> Uuid {
        let home = self.keys.shard_of(workflow.id);
        loop {
            let id = draw();
            if workflow.max_concurrency.is_none() || self.keys.shard_of(id) == home {
                return id;
            }
        }
    }

    /// The schedules of a bulk request if every item was built; otherwise every failing item with its
    /// position.
    fn accept(built: Vec<Result<Schedule>>) -> Result<Vec<Schedule>> {
        let mut schedules = Vec::with_capacity(built.len());
        let mut invalid = Vec::new();
        for (index, item) in built.into_iter().enumerate() {
            match item {
                Ok(schedule) => schedules.push(schedule),
                Err(error) => invalid.push((index, error)),
            }
        }
        if invalid.is_empty() { Ok(schedules) } else { Err(Error::InvalidItems { items: invalid }) }
    }

    /// Writes accepted schedules, at most [`BATCH`](super::BATCH) of one shard per call. A schedule whose workflow was deleted meanwhile is
    /// reported as an invalid item (the others are written).
    async fn insert_schedules(&self, schedules: Vec<Schedule>) -> Result<Vec<Schedule>> {
        let mut invalid = Vec::new();
        for (keys, chunk) in self.calls_by_shard(schedules.iter().map(|schedule| schedule.id)) {
            let (mut schedule_keys, mut schedule_args) = (Vec::new(), Vec::new());
            for &index in &chunk {
                let schedule = &schedules[index];
                let (job, due) = planned_job(schedule);
                schedule_keys.extend([
                    keys.schedule(schedule.id),
                    keys.schedules_by_status(ScheduleStatus::Active),
                    keys.workflow(schedule.workflow_id),
                    keys.job(&job),
                    keys.delayed(&schedule.queue),
                ]);
                schedule_args.extend([
                    schedule.id.to_string(),
                    schedule.workflow_id.to_string(),
                    millis(schedule.created_at).to_string(),
                    job.to_string(),
                    schedule.queue.to_string(),
                    millis(due).to_string(),
                    flag(is_recorded(schedule, &job, due)),
                    ScheduleRecord::of(schedule).to_json(),
                ]);
            }
            let answers = self
                .run(CreateSchedules {
                    queues: keys.queues(),
                    workflow_uses: keys.workflow_uses(),
                    schedule_keys,
                    wakeup_channel: self.keys.wakeup_channel(),
                    schedule_args,
                })
                .await?;
            if answers.len() != chunk.len() {
                return Err(Error::unexpected_reply(
                    "create_schedules.lua",
                    format!("{} answers for {}", answers.len(), chunk.len()),
                ));
            }
            for (index, answer) in chunk.into_iter().zip(answers) {
                let schedule = &schedules[index];
                match answer {
                    ScheduleCreated::Created => tracing::info!(schedule.id = %schedule.id,
                        "schedule {} created, first run at {}", schedule.id, rfc3339(planned_job(schedule).1)),
                    ScheduleCreated::UnknownWorkflow => {
                        invalid.push((index, Error::UnknownWorkflow(schedule.workflow_id)));
                    }
                }
            }
        }
        invalid.sort_by_key(|(index, _)| *index);
        if invalid.is_empty() { Ok(schedules) } else { Err(Error::InvalidItems { items: invalid }) }
    }
}

/// The one schedule of a single-item request, or its item's own error.
fn single(created: Result<Vec<Schedule>>) -> Result<Schedule> {
    created
        .map_err(single_item_error)?
        .pop()
        .ok_or_else(|| Error::unexpected_reply("create_schedules.lua", "no schedule created"))
}

/// The error of a single-item request: its item's own.
fn single_item_error(error: Error) -> Error {
    match error {
        Error::InvalidItems { mut items } if items.len() == 1 => items.remove(0).1,
        error => error,
    }
}

fn check_count(count: usize) -> Result<()> {
    if (1..=MAX_BULK_ITEMS).contains(&count) {
        Ok(())
    } else {
        Err(Error::invalid("items", format!("a request holds 1 to {MAX_BULK_ITEMS} items, not {count}")))
    }
}
