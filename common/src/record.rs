//! The stored forms of a schedule (one Redis hash, one field per value, as text), of a running execution
//! (fields of its job's hash) and of an ended one (JSON, written by Rust alone when the attempt ends). Only
//! the store reads and writes them; the API's JSON forms are the model's `Serialize`.
//!
//! Decoding is lenient: it trusts what was checked when it was written, so a record saved under older,
//! looser input rules still reads. The input checks live in `model::schedule::input`, for requests only.

use std::{collections::HashMap, str::FromStr};

use jiff::Timestamp;
use redis::{RedisWrite, ToRedisArgs};
use serde::{Serialize, Serializer, ser::SerializeMap};
use uuid::Uuid;

use crate::model::{
    CronRule, DEFAULT_RETRY_MAX, DEFAULT_TIMEOUT_SECONDS, Execution, ExecutionId, ExecutionState, JobId, Overlap,
    QueueName, Recurrence, Schedule, ScheduleStatus, from_millis, id_millis, millis, rfc3339,
};

/// A schedule as a script writes it: the fields to set and the ones to delete, passed as one JSON argument
/// (`{"set": [name, value, ...], "del": [name, ...]}`) that `lib/write_schedule.lua` decodes once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduleRecord {
    set: Vec<String>,
    del: Vec<&'static str>,
}

impl ScheduleRecord {
    /// What a planned change writes: the fields of `after` that differ from `before`, the snapshot it was
    /// planned from (the scripts check its revision). Fields the change did not touch are left as they are,
    /// so a field another script keeps without a revision (`backfill_job`, set by a backfill queued while a
    /// run was under way) survives, and a finish writes a few fields, not the whole record.
    pub(crate) fn changes(before: &Schedule, after: &Schedule) -> Self {
        let mut record = Self { set: Vec::new(), del: Vec::new() };
        // `fields` lists every field in one order whatever the schedule, so the two lists pair up.
        let old = fields(before, before.live_job_spelled_out);
        for ((name, value), (_, old)) in fields(after, false).into_iter().zip(old) {
            if old == value {
                continue;
            }
            match value {
                Some(value) => record.set.extend([name.to_string(), value]),
                None => record.del.push(name),
            }
        }
        record
    }

    /// The whole record of a new `schedule`: its fields present. Its key is new (a fresh id), so there is
    /// nothing to delete.
    pub(crate) fn of(schedule: &Schedule) -> Self {
        let set = fields(schedule, false)
            .into_iter()
            .filter_map(|(name, value)| Some([name.to_string(), value?]))
            .flatten()
            .collect();
        Self { set, del: Vec::new() }
    }
}

impl ScheduleRecord {
    /// The one JSON argument `lib/write_schedule.lua` decodes.
    pub(crate) fn to_json(&self) -> String {
        serde_json::json!({ "set": self.set, "del": self.del }).to_string()
    }
}

impl ToRedisArgs for ScheduleRecord {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        out.write_arg(self.to_json().as_bytes());
    }
}

/// Every planned field of `schedule` as text; `None` fields are left out of the hash (deleted on write). So
/// is what reads back without them, since each field costs its name in every record and most schedules keep
/// most of them at their default: the id (the key names it), counters at 0, an empty description or payload,
/// the default retry limit, timeout, queue and overlap, the `active` status, a `created_at` the id carries
/// (a version 7 UUID drawn at creation, see [`crate::model::new_id_at`]), and the instants that equal another
/// (`updated_at` = `created_at`, `anchor_at` = `start_at`, `slot_at` = `next_run_at`: a slot is always set
/// once a schedule is created, so an absent one is never "none"; `live_job` = the job the counters name, see
/// [`implied_live_job`], with '' for none where that would name one).
/// `running_jobs` and `buffered_job` belong to the job scripts and are never written from here.
/// A `live_job` that could be left out is written when `spell_out_live_job`: as the record holds it.
fn fields(schedule: &Schedule, spell_out_live_job: bool) -> Vec<(&'static str, Option<String>)> {
    let ms = |t: Timestamp| millis(t).to_string();
    let count = |n: u64| (n > 0).then(|| n.to_string());
    fn unless<T: PartialEq + ToString>(value: &T, default: &T) -> Option<String> {
        (value != default).then(|| value.to_string())
    }
    let unless_at = |at: Timestamp, same: Option<Timestamp>| (Some(at) != same).then(|| ms(at));
    let live_job = match (schedule.live_job, implied_live_job(schedule)) {
        (live, implied) if live == implied && !spell_out_live_job => None,
        (Some(id), _) => Some(id.to_string()),
        // "None" where the counters would name one.
        (None, Some(_)) => Some(String::new()),
        (None, None) => None,
    };
    let (interval_seconds, cron, timezone, run_at) = match &schedule.recurrence {
        Recurrence::Interval { seconds } => (Some(seconds.to_string()), None, None, None),
        Recurrence::Cron(rule) => (None, Some(rule.expression().to_string()), Some(rule.timezone().to_string()), None),
        Recurrence::Once { at } => (None, None, None, Some(ms(*at))),
    };
    vec![
        ("name", Some(schedule.name.clone())),
        ("description", (!schedule.description.is_empty()).then(|| schedule.description.clone())),
        ("trigger_node_id", schedule.trigger_node_id.clone()),
        ("alert_webhook", schedule.alert_webhook.clone()),
        ("workflow_id", Some(schedule.workflow_id.to_string())),
        ("interval_seconds", interval_seconds),
        ("cron", cron),
        ("timezone", timezone),
        ("run_at", run_at),
        ("start_at", Some(ms(schedule.start_at))),
        ("end_at", schedule.end_at.map(ms)),
        ("repeat_count", count(schedule.repeat_count)),
        ("retry_max", unless(&schedule.retry_max, &DEFAULT_RETRY_MAX)),
        ("timeout_seconds", unless(&schedule.timeout_seconds, &DEFAULT_TIMEOUT_SECONDS)),
        ("queue", unless(&schedule.queue, &QueueName::default())),
        (
            "payload",
            (!schedule.payload.is_empty()).then(|| serde_json::Value::Object(schedule.payload.clone()).to_string()),
        ),
        ("catchup_window_seconds", schedule.catchup_window_seconds.map(|s| s.to_string())),
        ("overlap", unless(&schedule.overlap.as_str(), &Overlap::default().as_str())),
        ("jitter_seconds", count(schedule.jitter_seconds)),
        ("status", unless(&schedule.status.as_str(), &ScheduleStatus::Active.as_str())),
        ("current_repeat", count(schedule.current_repeat)),
        ("current_retry", count(u64::from(schedule.current_retry))),
        ("completed_repeats", count(schedule.completed_repeats)),
        ("next_run_at", schedule.next_run_at.map(ms)),
        ("last_run_at", schedule.last_run_at.map(ms)),
        ("last_status", schedule.last_status.map(|s| s.as_str().to_string())),
        ("last_error", schedule.last_error.clone()),
        ("last_execution_id", schedule.last_execution_id.map(|id| id.to_string())),
        ("run_count", count(schedule.run_count)),
        ("error_count", count(schedule.error_count)),
        ("missed_count", count(schedule.missed_count)),
        ("created_at", (id_millis(schedule.id) != Some(millis(schedule.created_at))).then(|| ms(schedule.created_at))),
        ("updated_at", unless_at(schedule.updated_at, Some(schedule.created_at))),
        ("rev", Some(schedule.rev.to_string())),
        ("anchor_at", unless_at(schedule.anchor_at, Some(schedule.start_at))),
        ("slot_at", schedule.slot_at.and_then(|slot| unless_at(slot, schedule.next_run_at))),
        ("repeat_base", count(schedule.repeat_base)),
        ("live_job", live_job),
        ("backfill_job", schedule.backfill_job.map(|id| id.to_string())),
    ]
}

/// The live job a record without a `live_job` field has: the regular job the counters name, for an active
/// schedule with a next run (the state almost every schedule spends its life in); none otherwise.
/// `claim_jobs.lua` and `recover_schedule_jobs.lua` apply the same rule (`lib/live_job.lua`).
fn implied_live_job(schedule: &Schedule) -> Option<JobId> {
    (schedule.status == ScheduleStatus::Active && schedule.next_run_at.is_some()).then(|| schedule.current_job())
}

/// Reads the hash of schedule `id` written by [`ScheduleRecord`] and the job scripts; the error names the
/// field at fault.
pub(crate) fn decode_schedule(id: Uuid, fields: &HashMap<String, String>) -> Result<Schedule, String> {
    decode_schedule_fields(id, &|name| fields.get(name).map(String::as_str))
}

/// A field's value by its name, as a record decoder reads it.
type Field<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

/// [`decode_schedule`] from `field`.
fn decode_schedule_fields(id: Uuid, field: &Field) -> Result<Schedule, String> {
    fn parse<T: FromStr>(field: &Field, name: &str) -> Result<T, String> {
        let text = field(name).ok_or_else(|| format!("missing field {name}"))?;
        text.parse().map_err(|_| format!("field {name} has invalid value {text:?}"))
    }
    fn optional<T: FromStr>(field: &Field, name: &str) -> Result<Option<T>, String> {
        field(name).map(|_| parse(field, name)).transpose()
    }
    let text = |name: &str| field(name).map(str::to_string);
    let instant = |name: &str| parse::<i64>(field, name).map(from_millis);
    let optional_instant = |name: &str| optional::<i64>(field, name).map(|ms| ms.map(from_millis));
    let payload = match serde_json::from_str(field("payload").unwrap_or("{}")) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err("field payload is not a JSON object".to_string()),
    };
    let recurrence = match (optional(field, "interval_seconds")?, text("cron"), optional_instant("run_at")?) {
        (Some(seconds), _, _) => Recurrence::Interval { seconds },
        (None, Some(expression), _) => {
            let timezone = text("timezone").unwrap_or_else(|| "UTC".to_string());
            Recurrence::Cron(Box::new(CronRule::parse(&expression, &timezone).map_err(|e| e.to_string())?))
        }
        (None, None, Some(at)) => Recurrence::Once { at },
        (None, None, None) => return Err("none of interval_seconds, cron and run_at is set".to_string()),
    };
    let start_at = instant("start_at")?;
    let created_at = match optional_instant("created_at")? {
        Some(at) => at,
        None => from_millis(id_millis(id).ok_or("missing field created_at")?),
    };
    let next_run_at = optional_instant("next_run_at")?;
    let live_job = match field("live_job") {
        Some("") => Some(None),
        Some(_) => Some(optional(field, "live_job")?),
        None => None,
    };
    let mut schedule = Schedule {
        id,
        name: parse(field, "name")?,
        description: text("description").unwrap_or_default(),
        trigger_node_id: text("trigger_node_id"),
        alert_webhook: text("alert_webhook"),
        workflow_id: parse(field, "workflow_id")?,
        recurrence,
        start_at,
        end_at: optional_instant("end_at")?,
        repeat_count: optional(field, "repeat_count")?.unwrap_or(0),
        retry_max: optional(field, "retry_max")?.unwrap_or(DEFAULT_RETRY_MAX),
        timeout_seconds: optional(field, "timeout_seconds")?.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        queue: text("queue").map_or_else(QueueName::default, QueueName::stored),
        payload,
        catchup_window_seconds: optional(field, "catchup_window_seconds")?,
        overlap: optional(field, "overlap")?.unwrap_or_default(),
        jitter_seconds: optional(field, "jitter_seconds")?.unwrap_or(0),
        status: optional(field, "status")?.unwrap_or(ScheduleStatus::Active),
        current_repeat: optional(field, "current_repeat")?.unwrap_or(0),
        current_retry: optional(field, "current_retry")?.unwrap_or(0),
        completed_repeats: optional(field, "completed_repeats")?.unwrap_or(0),
        next_run_at,
        last_run_at: optional_instant("last_run_at")?,
        last_status: optional(field, "last_status")?,
        last_error: text("last_error"),
        last_execution_id: optional(field, "last_execution_id")?,
        run_count: optional(field, "run_count")?.unwrap_or(0),
        error_count: optional(field, "error_count")?.unwrap_or(0),
        missed_count: optional(field, "missed_count")?.unwrap_or(0),
        ad_hoc: false,
        created_at,
        updated_at: optional_instant("updated_at")?.unwrap_or(created_at),
        rev: parse(field, "rev")?,
        anchor_at: optional_instant("anchor_at")?.unwrap_or(start_at),
        slot_at: optional_instant("slot_at")?.or(next_run_at),
        repeat_base: optional(field, "repeat_base")?.unwrap_or(0),
        live_job: live_job.flatten(),
        live_job_spelled_out: false,
        backfill_job: optional(field, "backfill_job")?,
        running_jobs: optional::<i64>(field, "running_jobs")?.map_or(0, |n| u64::try_from(n).unwrap_or(0)),
        buffered_job: optional(field, "buffered_job")?,
    };
    match live_job {
        None => schedule.live_job = implied_live_job(&schedule),
        Some(live) => schedule.live_job_spelled_out = live == implied_live_job(&schedule),
    }
    Ok(schedule)
}

/// Whether a job's hash is an ad-hoc run: a bare job that names its workflow and belongs to no schedule.
pub(crate) fn is_run(job: &HashMap<String, String>) -> bool {
    !job.contains_key("schedule_id") && job.contains_key("workflow_id")
}

/// When a job is due, from its hash: `due_at` as written for a schedule's job, `due_ms` for an ad-hoc run.
pub(crate) fn decode_due(job: &HashMap<String, String>) -> Result<Timestamp, String> {
    if let Some(text) = job.get("due_at") {
        return text.parse().map_err(|_| format!("field due_at has invalid value {text:?}"));
    }
    let text = job.get("due_ms").ok_or("missing field due_ms")?;
    text.parse().map(from_millis).map_err(|_| format!("field due_ms has invalid value {text:?}"))
}

/// The one-shot schedule an ad-hoc run `job`, waiting in `queue`, runs under, built from its hash (see
/// `enqueue_runs.lua`): due when it was queued, no retry, never stored. Its name is empty: the run has none.
pub(crate) fn decode_run(job: &JobId, queue: &QueueName, fields: &HashMap<String, String>) -> Result<Schedule, String> {
    let due = millis(decode_due(fields)?).to_string();
    let own = |name: &str| fields.get(name).map(String::as_str);
    // Answered from the run's few fields, without building a schedule's hash: this runs once per run.
    let field = |name: &str| match name {
        "name" => Some(""),
        "workflow_id" | "payload" | "timeout_seconds" => own(name),
        "run_at" | "start_at" | "next_run_at" | "created_at" | "updated_at" | "anchor_at" => Some(due.as_str()),
        "retry_max" | "rev" => Some("0"),
        "queue" => Some(queue.as_str()),
        "status" => Some(ScheduleStatus::Active.as_str()),
        _ => None,
    };
    let mut run = decode_schedule_fields(job.schedule(), &field)?;
    run.ad_hoc = true;
    Ok(run)
}

/// Attempt `id` of a live job, from the job's hash: `running` when the job runs that attempt, `queued` when it
/// is the job's next attempt and no worker holds the job. `schedule` is what the job's schedule says: its
/// workflow, for a job that has not started yet and so does not carry its own, and, for its live job waiting
/// without a record of its own (see `lib/enqueue.lua`), when that is due.
pub(crate) fn decode_live_execution(
    id: &ExecutionId,
    job: &HashMap<String, String>,
    schedule: Option<&Schedule>,
) -> Option<Execution> {
    let workflow_id = match job.get("workflow_id") {
        Some(text) => text.parse().ok()?,
        None => schedule?.workflow_id,
    };
    let due = match (decode_due(job), schedule) {
        (Ok(due), _) => due,
        (Err(_), Some(schedule)) if schedule.live_job == Some(id.job) => schedule.next_run_at?,
        (Err(_), _) => return None,
    };
    if job.get("execution_id") == Some(&id.to_string()) {
        let started_at = job.get("started_at")?.parse().ok()?;
        let worker = job.get("worker").cloned().unwrap_or_default();
        let mut running = Execution::running(*id, id.job.schedule(), workflow_id, due, None, started_at, worker);
        // The version the claim handed the worker; 0 when the workflow's requirements were not on record.
        running.workflow_version = job.get("workflow_version").and_then(|v| v.parse().ok()).filter(|v| *v > 0);
        return Some(running);
    }
    let deliveries: u32 = job.get("attempt").map_or(Some(0), |attempt| attempt.parse().ok())?;
    if job.contains_key("worker") || id.attempt != deliveries + 1 {
        return None;
    }
    let mut queued = Execution::queued(*id, id.job.schedule(), workflow_id, due);
    if let Some(handler) = job.get("waiting_for_handler") {
        queued.state = ExecutionState::WaitingForHandler;
        queued.error = Some(format!("waiting for a live worker that offers the handler {handler:?}"));
    }
    Some(queued)
}

/// An ended execution as stored: the API form without `job_id` and `schedule_id`, which its `id` names, and
/// without the optional fields it lacks (`null` in the API form): a sixth to a fifth shorter, for each of
/// the thousand executions a schedule keeps, and less for the finish script to carry.
pub(crate) fn execution_json(execution: &Execution) -> serde_json::Result<String> {
    serde_json::to_string(&StoredExecution(execution))
}

/// An ended execution as stored, in this form or the API form earlier versions wrote.
pub(crate) fn decode_execution(json: &str) -> serde_json::Result<Execution> {
    let mut execution: Execution = serde_json::from_str(json)?;
    execution.job_id = execution.id.job.to_string();
    execution.schedule_id = execution.id.job.schedule();
    Ok(execution)
}

struct StoredExecution<'a>(&'a Execution);

impl Serialize for StoredExecution<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Every field by name, without `..`: a field added to `Execution` does not compile here until it is
        // stored.
        let Execution {
            id,
            job_id: _,
            schedule_id: _,
            workflow_id,
            workflow_version,
            attempt,
            state,
            scheduled_for,
            jitter_ms,
            started_at,
            finished_at,
            duration_ms,
            worker_id,
            output,
            error,
            steps,
        } = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", id)?;
        map.serialize_entry("workflow_id", workflow_id)?;
        if let Some(version) = workflow_version {
            map.serialize_entry("workflow_version", version)?;
        }
        map.serialize_entry("attempt", attempt)?;
        map.serialize_entry("state", state)?;
        map.serialize_entry("scheduled_for", &rfc3339(*scheduled_for))?;
        if let Some(jitter) = jitter_ms {
            map.serialize_entry("jitter_ms", jitter)?;
        }
        if let Some(at) = started_at {
            map.serialize_entry("started_at", &rfc3339(*at))?;
        }
        if let Some(at) = finished_at {
            map.serialize_entry("finished_at", &rfc3339(*at))?;
        }
        if let Some(duration) = duration_ms {
            map.serialize_entry("duration_ms", duration)?;
        }
        map.serialize_entry("worker_id", worker_id)?;
        if let Some(output) = output {
            map.serialize_entry("output", output)?;
        }
        if let Some(error) = error {
            map.serialize_entry("error", error)?;
        }
        if !steps.is_empty() {
            map.serialize_entry("steps", steps)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::model::{NewSchedule, ScheduleStatus, new_id_at};

    fn schedule(body: serde_json::Value) -> Schedule {
        let mut body = body;
        body["workflow_id"] = serde_json::json!(Uuid::new_v4());
        let new: NewSchedule = serde_json::from_value(body).unwrap();
        new.into_schedule(Uuid::now_v7(), "wf", "2026-12-01T10:00:00Z".parse().unwrap()).unwrap()
    }

    fn stored(schedule: &Schedule) -> HashMap<String, String> {
        fields(schedule, false).into_iter().filter_map(|(name, value)| Some((name.to_string(), value?))).collect()
    }

    fn ended_execution(job: JobId) -> Execution {
        let (due, started): (Timestamp, Timestamp) =
            ("2026-12-01T10:00:00.25Z".parse().unwrap(), "2026-12-01T10:00:01.5Z".parse().unwrap());
        let id = ExecutionId { job, attempt: 2 };
        let mut execution =
            Execution::running(id, job.schedule(), Uuid::now_v7(), due, Some(250), started, "w1".to_string());
        execution.workflow_version = Some(3);
        execution.output = Some(serde_json::json!({"status": 200}));
        execution.steps = vec![crate::model::StepRecord {
            kind: "http".to_string(),
            name: Some("call".to_string()),
            state: ExecutionState::Failed,
            started_at: started,
            finished_at: Some(started),
            output: None,
            error: Some("503".to_string()),
        }];
        execution.close(ExecutionState::Failed, "2026-12-01T10:00:02Z".parse().unwrap(), Some("503".to_string()));
        execution
    }

    #[test]
    fn an_ended_execution_reads_back_as_it_was_written_without_what_its_id_names() {
        let schedule = Uuid::now_v7();
        let full = ended_execution(JobId::Regular { schedule, repeat: 4, retry: 1 });
        let mut bare = Execution::queued(
            ExecutionId { job: JobId::manual(schedule), attempt: 1 },
            schedule,
            Uuid::now_v7(),
            "2026-12-01T10:00:00Z".parse().unwrap(),
        );
        bare.close(ExecutionState::Cancelled, "2026-12-01T10:00:00Z".parse().unwrap(), None);
        for execution in [full, bare] {
            let json = execution_json(&execution).unwrap();
            assert!(!json.contains("job_id") && !json.contains("schedule_id"), "{json}");
            let api_form = serde_json::to_string(&execution).unwrap();
            assert!(json.len() + execution.job_id.len() + 36 < api_form.len(), "{json}");
            assert_eq!(decode_execution(&json).unwrap(), execution);
        }
    }

    #[test]
    fn an_execution_stored_in_the_api_form_by_an_earlier_version_still_reads() {
        let execution = ended_execution(JobId::manual(Uuid::now_v7()));
        assert_eq!(decode_execution(&serde_json::to_string(&execution).unwrap()).unwrap(), execution);
    }

    #[test]
    fn every_kind_of_schedule_reads_back_as_it_was_written() {
        for body in [
            serde_json::json!({"interval_seconds": 60, "repeat_count": 3, "payload": {"a": [1, "x"]}}),
            serde_json::json!({"cron": "0 9 * * MON-FRI", "timezone": "Europe/Berlin", "overlap": "buffer_one",
                "catchup_window_seconds": 600, "jitter_seconds": 30, "end_at": "2027-01-01T00:00:00Z"}),
            serde_json::json!({"run_at": "2026-12-24T18:00:00Z", "trigger_node_id": "n1", "queue": "mail"}),
        ] {
            let mut written = schedule(body);
            written.rev = 7;
            written.last_error = Some("boom".to_string());
            assert_eq!(decode_schedule(written.id, &stored(&written)).unwrap(), written);
        }
    }

    #[test]
    fn a_runs_hash_reads_as_the_one_shot_schedule_the_run_was_queued_as() {
        let (workflow, due): (Uuid, Timestamp) = (Uuid::new_v4(), "2026-12-24T18:00:00.250Z".parse().unwrap());
        let payload = serde_json::json!({"invoice": 4711});
        let queued = crate::model::NewRun {
            payload: payload.as_object().cloned(),
            queue: Some("mail".to_string()),
            timeout_seconds: Some(60),
            run_at: Some(due),
        }
        .into_schedule(Uuid::now_v7(), workflow, "wf", due)
        .unwrap();
        let queue = QueueName::parse("mail").unwrap();
        let job = JobId::Regular { schedule: queued.id, repeat: 0, retry: 0 };
        let mut fields: HashMap<String, String> = [
            ("workflow_id", workflow.to_string()),
            ("queue", "mail".to_string()),
            ("due_ms", millis(due).to_string()),
            ("payload", payload.to_string()),
            ("timeout_seconds", "60".to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        let run = decode_run(&job, &queue, &fields).unwrap();
        let expected = Schedule { name: String::new(), description: String::new(), ..queued };
        assert_eq!(run, expected);

        fields.remove("timeout_seconds");
        fields.remove("payload");
        let run = decode_run(&job, &queue, &fields).unwrap();
        assert_eq!((run.timeout_seconds, run.payload.len()), (DEFAULT_TIMEOUT_SECONDS, 0), "the defaults");
        fields.remove("workflow_id");
        assert_eq!(decode_run(&job, &queue, &fields).unwrap_err(), "missing field workflow_id");
    }

    #[test]
    fn defaults_are_left_out_of_the_record_and_a_change_back_to_one_deletes_the_field() {
        let fresh = schedule(serde_json::json!({"interval_seconds": 60}));
        let stored = stored(&fresh);
        for name in [
            "id",
            "description",
            "payload",
            "current_repeat",
            "current_retry",
            "run_count",
            "error_count",
            "retry_max",
            "timeout_seconds",
            "queue",
            "overlap",
            "updated_at",
            "anchor_at",
            "slot_at",
        ] {
            assert!(!stored.contains_key(name), "{name} stored at its default or derivable");
        }
        let mut failed = fresh.clone();
        (failed.current_retry, failed.error_count) = (2, 2);
        let mut recovered = failed.clone();
        recovered.current_retry = 0;
        let change = ScheduleRecord::changes(&failed, &recovered).to_json();
        // Its live job is again the one its counters name, so that is left out too.
        assert_eq!(change, r#"{"del":["current_retry","live_job"],"set":[]}"#);
    }

    #[test]
    fn fields_the_job_scripts_keep_are_read_but_never_written() {
        let written = schedule(serde_json::json!({"interval_seconds": 60}));
        let mut fields = stored(&written);
        assert!(!fields.contains_key("running_jobs") && !fields.contains_key("buffered_job"));
        fields.insert("running_jobs".to_string(), "-1".to_string());
        assert_eq!(decode_schedule(written.id, &fields).unwrap().running_jobs, 0, "a negative count reads as none");
    }

    #[test]
    fn a_record_written_under_older_looser_rules_still_reads() {
        let mut written = schedule(serde_json::json!({"interval_seconds": 60}));
        written.name = "x".repeat(500);
        written.status = ScheduleStatus::Dead;
        let mut fields = stored(&written);
        fields.insert("queue".to_string(), "Old Queue".to_string());
        let read = decode_schedule(written.id, &fields).unwrap();
        assert_eq!((read.name.len(), read.queue.as_str()), (500, "Old Queue"));
    }

    #[test]
    fn a_record_that_spells_out_its_defaults_reads_the_same() {
        let mut written = schedule(serde_json::json!({"interval_seconds": 60, "jitter_seconds": 5}));
        written.updated_at = written.created_at + jiff::SignedDuration::from_secs(1);
        let mut fields = stored(&written);
        assert!(fields.contains_key("slot_at") && fields.contains_key("updated_at"), "differ, so kept: {fields:?}");
        let spelled_out = [
            ("id", written.id.to_string()),
            ("retry_max", "3".to_string()),
            ("timeout_seconds", DEFAULT_TIMEOUT_SECONDS.to_string()),
            ("queue", "default".to_string()),
            ("overlap", "skip".to_string()),
            ("anchor_at", millis(written.start_at).to_string()),
        ];
        for (name, value) in spelled_out {
            fields.insert(name.to_string(), value);
        }
        assert_eq!(decode_schedule(written.id, &fields).unwrap(), written);
    }

    #[test]
    fn a_broken_field_is_named() {
        let written = schedule(serde_json::json!({"interval_seconds": 60}));
        let mut fields = stored(&written);
        fields.insert("current_retry".to_string(), "many".to_string());
        assert_eq!(decode_schedule(written.id, &fields).unwrap_err(), "field current_retry has invalid value \"many\"");
        fields.remove("interval_seconds");
        assert!(decode_schedule(written.id, &fields).unwrap_err().contains("interval_seconds"));
    }

    #[test]
    fn a_change_writes_only_the_fields_it_touched() {
        let before = schedule(serde_json::json!({"interval_seconds": 60}));
        let mut after = before.clone();
        after.rev += 1;
        after.last_error = Some("boom".to_string());
        after.next_run_at = None;
        let record = ScheduleRecord::changes(&before, &after);
        // The slot was read from `next_run_at`, and the live job from the counters of a schedule with a next
        // run; with that gone both are spelled out.
        let slot = millis(before.slot_at.unwrap()).to_string();
        let live = before.live_job.unwrap().to_string();
        assert_eq!(record.set, ["last_error", "boom", "rev", "1", "slot_at", &slot, "live_job", &live]);
        assert_eq!(record.del, ["next_run_at"]);
    }

    #[test]
    fn an_active_status_and_a_creation_instant_the_id_carries_are_left_out() {
        let mut written = schedule(serde_json::json!({"interval_seconds": 60}));
        let (seconds, nanos) = (written.created_at.as_second() as u64, written.created_at.subsec_nanosecond() as u32);
        written.id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos));
        let fields = stored(&written);
        assert!(!fields.contains_key("status") && !fields.contains_key("created_at"), "{fields:?}");
        assert_eq!(decode_schedule(written.id, &fields).unwrap(), written);

        // An id stamped another millisecond (drawn by another clock), or of another version, says nothing.
        for id in [new_id_at(written.created_at + jiff::SignedDuration::from_millis(1)), Uuid::new_v4()] {
            written.id = id;
            assert_eq!(stored(&written)["created_at"], millis(written.created_at).to_string());
        }
        written.status = ScheduleStatus::Paused;
        assert_eq!(stored(&written)["status"], "paused");
        let mut old = stored(&written);
        old.insert("status".to_string(), "active".to_string());
        assert_eq!(decode_schedule(written.id, &old).unwrap().status, ScheduleStatus::Active, "spelled out, as before");
    }

    #[test]
    fn the_live_job_is_left_out_while_the_counters_name_it_and_an_old_record_loses_it_at_its_next_write() {
        let fresh = schedule(serde_json::json!({"interval_seconds": 60}));
        assert_eq!(fresh.live_job, Some(fresh.current_job()));
        assert!(!stored(&fresh).contains_key("live_job"));
        assert_eq!(decode_schedule(fresh.id, &stored(&fresh)).unwrap(), fresh);

        // None where the counters would name one is written as ''.
        let mut between = fresh.clone();
        between.live_job = None;
        assert_eq!(stored(&between)["live_job"], "");
        assert_eq!(decode_schedule(fresh.id, &stored(&between)).unwrap().live_job, None);
        // A paused schedule has no implied live job: one still running is spelled out, none is left out.
        let mut paused = fresh.clone();
        paused.status = ScheduleStatus::Paused;
        assert_eq!(stored(&paused)["live_job"], fresh.current_job().to_string());
        paused.live_job = None;
        assert!(!stored(&paused).contains_key("live_job"));
        assert_eq!(decode_schedule(fresh.id, &stored(&paused)).unwrap().live_job, None);

        // A record written before spells it out: it reads the same, and the next write leaves it out even when
        // the live job moves on with the counters.
        let mut old = stored(&fresh);
        old.insert("live_job".to_string(), fresh.current_job().to_string());
        let read = decode_schedule(fresh.id, &old).unwrap();
        assert_eq!(read.live_job, fresh.live_job);
        let mut next = read.clone();
        next.current_repeat += 1;
        next.live_job = Some(next.current_job());
        let change = ScheduleRecord::changes(&read, &next);
        assert_eq!((change.set, change.del), (vec!["current_repeat".to_string(), "1".to_string()], vec!["live_job"]));
    }

    #[test]
    fn a_new_record_sets_its_present_fields_and_deletes_nothing() {
        let written = schedule(serde_json::json!({"interval_seconds": 60}));
        let record = ScheduleRecord::of(&written);
        assert!(record.del.is_empty());
        let set: HashMap<_, _> = record.set.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
        assert_eq!(set, stored(&written));
    }
}
