//! The schedule's rules as pure functions of the record and a manual clock: no Redis.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::clock::{Clock, ManualClock};

const START: &str = "2026-12-01T10:00:00Z";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// A schedule created at the clock's time from a `POST /schedules` body (the workflow id is filled in).
fn create(clock: &ManualClock, body: serde_json::Value) -> Schedule {
    let mut body = body;
    body["workflow_id"] = json!(Uuid::new_v4());
    let new: NewSchedule = serde_json::from_value(body).unwrap();
    new.into_schedule(Uuid::now_v7(), "wf", clock.now()).unwrap()
}

/// Runs the live job: the clock moves to its due time plus `took`, and the run ends with `outcome`.
fn run(clock: &ManualClock, schedule: &Schedule, took: SignedDuration, outcome: Outcome) -> Settlement {
    let job = schedule.live_job.expect("a live job");
    let due = schedule.next_run_at.expect("a due time");
    clock.set(due.max(clock.now()) + took);
    schedule.settled(&job, due, ExecutionId { job, attempt: 1 }, &outcome, clock.now())
}

fn failed() -> Outcome {
    Outcome::Failed("boom".to_string())
}

// ---- creation --------------------------------------------------------------------------------------

#[test]
fn a_new_interval_schedule_first_runs_one_interval_after_creation() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    assert_eq!(schedule.next_run_at, Some(at(START) + secs(60)));
    assert_eq!(schedule.live_job, Some(JobId::regular(schedule.id, 0, 0)));
    assert_eq!((schedule.status, schedule.current_repeat, schedule.current_retry), (ScheduleStatus::Active, 0, 0));
}

#[test]
fn a_start_at_in_the_past_runs_now_and_keeps_its_grid() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "start_at": "2026-12-01T09:58:30Z"}));
    assert_eq!(schedule.next_run_at, Some(at(START)));
    assert_eq!(schedule.slot_at, Some(at("2026-12-01T09:58:30Z")));
}

#[test]
fn default_names_of_schedules_made_together_differ() {
    let clock = ManualClock::new(at(START));
    let names: std::collections::HashSet<String> =
        (0..50).map(|_| create(&clock, json!({"interval_seconds": 60})).name).collect();
    assert_eq!(names.len(), 50, "{names:?}");
}

#[test]
fn occurrences_before_the_schedule_existed_are_not_counted_as_missed() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 1, "start_at": "1970-01-01T00:00:00Z"}));
    let next = run(&clock, &schedule, secs(2), Outcome::Succeeded).schedule;
    assert_eq!(next.missed_count, 2, "only the two slots that passed while it ran");
    assert_eq!(next.slot_at, Some(at(START) + secs(3)), "still on its grid");
}

// ---- success and the fixed-rate grid ----------------------------------------------------------------

#[test]
fn a_success_plans_the_next_slot_of_the_grid_whatever_the_run_took() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let settlement = run(&clock, &schedule, secs(3), Outcome::Succeeded);
    let next = &settlement.schedule;
    assert_eq!(next.next_run_at, Some(at(START) + secs(120)), "no drift by the 3 s the run took");
    assert_eq!((next.current_repeat, next.current_retry, next.run_count), (1, 0, 1));
    assert_eq!(next.last_status, Some(ExecutionState::Succeeded));
    assert_eq!(settlement.next_job, Some((JobId::regular(schedule.id, 1, 0), at(START) + secs(120))));
}

#[test]
fn slots_missed_during_a_long_run_are_skipped_and_counted_never_replayed() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    // Due at +60; it runs 150 s, past the slots at +120 and +180.
    let next = run(&clock, &schedule, secs(150), Outcome::Succeeded).schedule;
    assert_eq!(next.next_run_at, Some(at(START) + secs(240)));
    assert_eq!(next.missed_count, 2);
}

#[test]
fn the_schedule_is_done_right_after_repeat_count_successes() {
    let clock = ManualClock::new(at(START));
    let mut schedule = create(&clock, json!({"interval_seconds": 10, "repeat_count": 2}));
    schedule = run(&clock, &schedule, secs(1), Outcome::Succeeded).schedule;
    assert_eq!(schedule.status, ScheduleStatus::Active);
    let settlement = run(&clock, &schedule, secs(1), Outcome::Succeeded);
    assert_eq!(settlement.schedule.status, ScheduleStatus::Done);
    assert_eq!(
        (settlement.next_job, settlement.schedule.next_run_at, settlement.schedule.live_job),
        (None, None, None)
    );
}

// ---- failure, backoff, dead ------------------------------------------------------------------------

#[test]
fn failures_retry_the_same_repeat_with_backoff_capped_at_ten_intervals_then_die() {
    let clock = ManualClock::new(at(START));
    let mut schedule = create(&clock, json!({"interval_seconds": 60, "retry_max": 5}));
    let mut delays = Vec::new();
    for retry in 1..=5 {
        let settlement = run(&clock, &schedule, SignedDuration::ZERO, failed());
        schedule = settlement.schedule;
        let (job, due) = settlement.next_job.expect("a retry");
        assert_eq!(job, JobId::regular(schedule.id, 0, retry));
        delays.push(due.duration_since(clock.now()).as_secs());
        assert_eq!((schedule.error_count, schedule.last_error.as_deref()), (u64::from(retry), Some("boom")));
    }
    assert_eq!(delays, [60, 120, 240, 480, 600]);
    let settlement = run(&clock, &schedule, SignedDuration::ZERO, failed());
    assert_eq!(settlement.schedule.status, ScheduleStatus::Dead);
    assert_eq!((settlement.next_job, settlement.schedule.current_retry), (None, 6));
}

#[test]
fn a_success_after_failures_clears_the_error_and_the_retry_count() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let retrying = run(&clock, &schedule, SignedDuration::ZERO, failed()).schedule;
    let next = run(&clock, &retrying, SignedDuration::ZERO, Outcome::Succeeded).schedule;
    assert_eq!((next.current_repeat, next.current_retry, next.last_error), (1, 0, None));
}

#[test]
fn a_cancelled_run_moves_on_without_counting_a_failure() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let next = run(&clock, &schedule, secs(1), Outcome::Cancelled).schedule;
    assert_eq!((next.current_repeat, next.error_count, next.run_count), (1, 0, 0));
    assert_eq!(next.last_status, Some(ExecutionState::Cancelled));
}

#[test]
fn a_run_that_ends_while_paused_counts_but_plans_nothing() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let mut paused = schedule.paused(clock.now()).unwrap();
    paused.next_run_at = schedule.next_run_at;
    let settlement = run(&clock, &paused, secs(1), Outcome::Succeeded);
    assert_eq!(settlement.schedule.status, ScheduleStatus::Paused);
    assert_eq!((settlement.next_job, settlement.schedule.run_count), (None, 1));
}

// ---- pause, resume, restart -------------------------------------------------------------------------

#[test]
fn pause_is_only_from_active_and_clears_the_next_run() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let paused = schedule.paused(clock.now()).unwrap();
    assert_eq!((paused.status, paused.next_run_at), (ScheduleStatus::Paused, None));
    assert!(matches!(paused.paused(clock.now()), Err(Error::Conflict(_))));
}

#[test]
fn resume_is_only_from_paused_and_runs_one_interval_after_it() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    assert!(matches!(schedule.resumed(clock.now()), Err(Error::Conflict(_))));
    let mut paused = schedule.paused(clock.now()).unwrap();
    paused.live_job = None;
    clock.advance(secs(1000));
    let resumed = paused.resumed(clock.now()).unwrap();
    assert_eq!(resumed.status, ScheduleStatus::Active);
    assert_eq!(resumed.next_run_at, Some(clock.now() + secs(60)));
    assert_eq!(resumed.live_job, Some(JobId::regular(schedule.id, 0, 0)));
}

#[test]
fn restart_is_only_from_done_or_dead_and_counts_job_ids_upward() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "retry_max": 0}));
    assert!(matches!(schedule.restarted(clock.now()), Err(Error::Conflict(_))));
    let dead = run(&clock, &schedule, SignedDuration::ZERO, failed()).schedule;
    assert_eq!(dead.status, ScheduleStatus::Dead);
    let restarted = dead.restarted(clock.now()).unwrap();
    assert_eq!(restarted.status, ScheduleStatus::Active);
    assert_eq!((restarted.current_repeat, restarted.current_retry, restarted.completed_repeats), (1, 0, 0));
    assert_eq!(restarted.live_job, Some(JobId::regular(schedule.id, 1, 0)));
    assert_eq!(restarted.next_run_at, Some(clock.now() + secs(60)));
}

// ---- patch -------------------------------------------------------------------------------------------

fn patch(body: serde_json::Value) -> SchedulePatch {
    serde_json::from_value(body).unwrap()
}

#[test]
fn a_new_interval_replans_the_pending_job_from_now_and_keeps_its_id() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    clock.advance(secs(10));
    let next = schedule.patched(patch(json!({"interval_seconds": 30})), clock.now()).unwrap();
    assert_eq!(next.next_run_at, Some(clock.now() + secs(30)));
    assert_eq!(next.live_job, schedule.live_job);
}

#[test]
fn a_patch_that_does_not_retime_leaves_the_plan_alone() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    clock.advance(secs(10));
    let next = schedule.patched(patch(json!({"name": "renamed", "retry_max": 7})), clock.now()).unwrap();
    assert_eq!((next.name.as_str(), next.retry_max), ("renamed", 7));
    assert_eq!((next.next_run_at, next.slot_at), (schedule.next_run_at, schedule.slot_at));
    assert_eq!(next.updated_at, clock.now());
}

#[test]
fn a_patch_restating_the_timing_leaves_the_plan_and_the_record_alone() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "jitter_seconds": 5}));
    clock.advance(secs(10));
    // What `recur schedules apply` sends for an unchanged file: every field as it is.
    let same =
        json!({"name": schedule.name, "interval_seconds": 60, "jitter_seconds": 5, "start_at": schedule.start_at});
    assert_eq!(schedule.patched(patch(same), clock.now()).unwrap(), schedule, "nothing moved, updated_at included");
    let cron = create(&clock, json!({"cron": "0 9 * * *", "timezone": "Europe/Berlin"}));
    clock.advance(secs(10));
    let same = json!({"cron": "0 9 * * *", "timezone": "Europe/Berlin"});
    assert_eq!(cron.patched(patch(same), clock.now()).unwrap(), cron);
    // A start_at in the past restated: before, the next run moved to now, so every apply ran it at once.
    let on_grid = create(&clock, json!({"interval_seconds": 3600, "start_at": "2026-01-01T00:00:00Z"}));
    let run = run(&clock, &on_grid, secs(1), Outcome::Succeeded).schedule;
    let same = json!({"interval_seconds": 3600, "start_at": "2026-01-01T00:00:00Z"});
    assert_eq!(run.patched(patch(same), clock.now()).unwrap().next_run_at, run.next_run_at);
    // An interval that differs re-plans from now (with no jitter to add).
    let retimed = schedule.patched(patch(json!({"interval_seconds": 120, "jitter_seconds": 0})), clock.now()).unwrap();
    assert_eq!((retimed.next_run_at, retimed.updated_at), (Some(clock.now() + secs(120)), clock.now()));
}

#[test]
fn a_new_end_or_jitter_keeps_the_grid_and_the_planned_occurrence() {
    let clock = ManualClock::new(at(START));
    let on_grid = create(&clock, json!({"interval_seconds": 3600, "start_at": "2026-01-01T00:00:00Z"}));
    let run = run(&clock, &on_grid, secs(1), Outcome::Succeeded).schedule;
    clock.advance(secs(20));
    let ending = run.patched(patch(json!({"end_at": "2027-01-01T00:00:00Z"})), clock.now()).unwrap();
    assert_eq!((ending.next_run_at, ending.slot_at, ending.anchor_at), (run.next_run_at, run.slot_at, run.anchor_at));
    let jittered = run.patched(patch(json!({"jitter_seconds": 30})), clock.now()).unwrap();
    assert_eq!((jittered.slot_at, jittered.anchor_at), (run.slot_at, run.anchor_at));
    let jitter = jittered.next_run_at.unwrap().duration_since(run.slot_at.unwrap());
    assert!(jitter >= SignedDuration::ZERO && jitter <= secs(30), "{jitter:?}");
    // An end before the planned occurrence leaves none: refused, as a schedule that would never run is.
    assert!(run.patched(patch(json!({"end_at": clock.now().to_string()})), clock.now()).is_err());
}

#[test]
fn a_repeat_count_lowered_below_the_runs_made_skips_the_pending_run_and_ends_the_schedule() {
    let clock = ManualClock::new(at(START));
    let mut schedule = create(&clock, json!({"interval_seconds": 60}));
    for _ in 0..4 {
        schedule = run(&clock, &schedule, secs(1), Outcome::Succeeded).schedule;
    }
    let lowered = schedule.patched(patch(json!({"repeat_count": 2})), clock.now()).unwrap();
    let (job, due) = (lowered.live_job.unwrap(), lowered.next_run_at.unwrap());
    let skip = SkipReason::RepeatsDone { repeat_count: 2 };
    assert_eq!(lowered.admission(&job, due, due), Admission::Skip(skip));
    assert_eq!(skip.to_string(), "skipped: the schedule had already reached its repeat_count of 2");
    let settled = run(&clock, &lowered, SignedDuration::ZERO, Outcome::Skipped(skip)).schedule;
    assert_eq!((settled.status, settled.completed_repeats, settled.next_run_at), (ScheduleStatus::Done, 4, None));
}

#[test]
fn a_patch_can_switch_an_interval_schedule_to_cron() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let next = schedule.patched(patch(json!({"cron": "30 10 * * *", "timezone": "UTC"})), clock.now()).unwrap();
    assert!(matches!(next.recurrence, Recurrence::Cron(_)));
    assert_eq!(next.next_run_at, Some(at("2026-12-01T10:30:00Z")));
}

#[test]
fn a_patch_is_checked_like_a_new_schedule() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    for (body, field) in [
        (json!({"retry_max": 101}), "retry_max"),
        (json!({"name": ""}), "name"),
        (json!({"queue": "Bad Queue"}), "queue"),
        (json!({"interval_seconds": 0}), "interval_seconds"),
    ] {
        match schedule.patched(patch(body.clone()), clock.now()) {
            Err(Error::Invalid { field: Some(named), .. }) => assert_eq!(named, field, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn a_paused_schedule_patched_stays_unplanned() {
    let clock = ManualClock::new(at(START));
    let paused = create(&clock, json!({"interval_seconds": 60})).paused(clock.now()).unwrap();
    let next = paused.patched(patch(json!({"interval_seconds": 5})), clock.now()).unwrap();
    assert_eq!((next.status, next.next_run_at), (ScheduleStatus::Paused, None));
}

// ---- admission: catch-up, end, overlap ---------------------------------------------------------------

#[test]
fn an_occurrence_found_beyond_its_catchup_window_is_skipped_and_one_within_runs() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "catchup_window_seconds": 30}));
    let (job, due) = (schedule.live_job.unwrap(), schedule.next_run_at.unwrap());
    assert_eq!(schedule.admission(&job, due, due + secs(30)), Admission::Run);
    assert_eq!(schedule.admission(&job, due, due + secs(31)), Admission::Skip(SkipReason::Expired { late: secs(31) }));
}

#[test]
fn without_a_catchup_window_an_overdue_occurrence_runs_once_at_once() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let (job, due) = (schedule.live_job.unwrap(), schedule.next_run_at.unwrap());
    assert_eq!(schedule.admission(&job, due, due + secs(86_400)), Admission::Run);
}

#[test]
fn a_retry_is_never_skipped_for_lateness() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "catchup_window_seconds": 1}));
    let retrying = run(&clock, &schedule, SignedDuration::ZERO, failed()).schedule;
    let (job, due) = (retrying.live_job.unwrap(), retrying.next_run_at.unwrap());
    assert_eq!(retrying.admission(&job, due, due + secs(3600)), Admission::Run);
}

#[test]
fn nothing_regular_starts_after_end_at() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "end_at": "2026-12-01T11:00:00Z"}));
    let job = schedule.live_job.unwrap();
    let late = at("2026-12-01T11:00:01Z");
    assert_eq!(schedule.admission(&job, late, late), Admission::Skip(SkipReason::Ended));
}

#[test]
fn overlap_skip_skips_regular_and_manual_runs_while_one_is_under_way_but_never_a_backfill() {
    let clock = ManualClock::new(at(START));
    let mut schedule = create(&clock, json!({"interval_seconds": 60}));
    schedule.running_jobs = 1;
    let now = clock.now();
    let regular = schedule.live_job.unwrap();
    assert_eq!(schedule.admission(&regular, now, now), Admission::Skip(SkipReason::Overlap));
    assert_eq!(schedule.admission(&JobId::manual(schedule.id), now, now), Admission::Skip(SkipReason::Overlap));
    assert_eq!(schedule.admission(&JobId::backfill(schedule.id, now), now, now), Admission::Run);
    for overlap in [Overlap::Allow, Overlap::BufferOne] {
        let relaxed = Schedule { overlap, ..schedule.clone() };
        assert_eq!(relaxed.admission(&regular, now, now), Admission::Run, "{overlap}");
    }
}

#[test]
fn a_regular_job_that_is_no_longer_the_live_one_always_runs() {
    let clock = ManualClock::new(at(START));
    let mut schedule = create(&clock, json!({"interval_seconds": 60, "catchup_window_seconds": 1}));
    schedule.running_jobs = 1;
    let old = JobId::regular(schedule.id, 7, 0);
    assert_eq!(schedule.admission(&old, at(START), at(START) + secs(3600)), Admission::Run);
}

// ---- overlap allow and buffer_one --------------------------------------------------------------------

#[test]
fn with_overlap_allow_the_next_occurrence_is_planned_when_a_run_starts() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "overlap": "allow"}));
    let job = schedule.live_job.unwrap();
    clock.set(schedule.next_run_at.unwrap());
    let advanced = schedule.advanced(&job, clock.now()).expect("advanced");
    assert_eq!(advanced.live_job, Some(JobId::regular(schedule.id, 1, 0)));
    assert_eq!(advanced.next_run_at, Some(clock.now() + secs(60)));
    assert_eq!(Schedule { overlap: Overlap::Skip, ..schedule.clone() }.advanced(&job, clock.now()), None);
    assert_eq!(schedule.advanced(&JobId::manual(schedule.id), clock.now()), None);
}

#[test]
fn with_overlap_allow_reaching_repeat_count_on_start_plans_nothing_more() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "overlap": "allow", "repeat_count": 1}));
    let advanced = schedule.advanced(&schedule.live_job.unwrap(), clock.now()).expect("advanced");
    assert_eq!((advanced.live_job, advanced.next_run_at), (None, None));
}

#[test]
fn with_overlap_allow_an_earlier_run_that_fails_is_retried_on_its_own() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "overlap": "allow"}));
    let first = schedule.live_job.unwrap();
    let due = schedule.next_run_at.unwrap();
    clock.set(due);
    let mut advanced = schedule.advanced(&first, clock.now()).unwrap();
    advanced.running_jobs = 1;
    clock.advance(secs(5));
    let settlement = advanced.settled(&first, due, ExecutionId { job: first, attempt: 1 }, &failed(), clock.now());
    assert_eq!(settlement.next_job, Some((JobId::regular(schedule.id, 0, 1), clock.now() + secs(60))));
    assert_eq!(settlement.schedule.live_job, advanced.live_job, "the next occurrence stays planned");
}

#[test]
fn with_overlap_allow_reaching_repeat_count_drops_the_pending_occurrence() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "overlap": "allow", "repeat_count": 1}));
    let first = schedule.live_job.unwrap();
    let due = schedule.next_run_at.unwrap();
    let mut running = schedule.clone();
    running.live_job = Some(JobId::regular(schedule.id, 1, 0));
    running.running_jobs = 1;
    let settlement =
        running.settled(&first, due, ExecutionId { job: first, attempt: 1 }, &Outcome::Succeeded, due + secs(1));
    assert_eq!(settlement.schedule.status, ScheduleStatus::Done);
    assert_eq!(settlement.dropped_job, Some(JobId::regular(schedule.id, 1, 0)));
}

#[test]
fn with_overlap_buffer_one_a_slot_missed_during_a_success_runs_at_once() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60, "overlap": "buffer_one"}));
    let settlement = run(&clock, &schedule, secs(90), Outcome::Succeeded);
    assert_eq!(settlement.schedule.next_run_at, Some(clock.now()), "the slot at +120 passed during the run");
    assert_eq!(settlement.schedule.slot_at, Some(at(START) + secs(120)));
}

#[test]
fn a_skipped_occurrence_counts_as_missed_and_moves_on() {
    let clock = ManualClock::new(at(START));
    let schedule = create(&clock, json!({"interval_seconds": 60}));
    let next = run(&clock, &schedule, secs(1), Outcome::Skipped(SkipReason::Overlap)).schedule;
    assert_eq!((next.current_repeat, next.missed_count, next.run_count), (1, 1, 0));
    assert_eq!(next.last_status, None, "a skip is not an outcome of a run");
}

// ---- invariants ----------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn fixed_rate_runs_stay_on_the_grid_whatever_each_run_takes(
        interval in 1u64..=3_600,
        took_per_mille in prop::collection::vec(0u64..1_000, 1..20),
    ) {
        let clock = ManualClock::new(at(START));
        let mut schedule = create(&clock, json!({"interval_seconds": interval}));
        let anchor = schedule.slot_at.unwrap();
        for took in took_per_mille {
            // Each run takes less than one interval, so no slot is missed.
            let took = SignedDuration::from_millis(i64::try_from(interval * took).unwrap());
            schedule = run(&clock, &schedule, took, Outcome::Succeeded).schedule;
            let offset = schedule.next_run_at.unwrap().duration_since(anchor).as_millis();
            let interval_ms = i128::from(interval) * 1000;
            prop_assert_eq!(offset, interval_ms * i128::from(schedule.current_repeat));
            prop_assert_eq!(schedule.missed_count, 0);
        }
    }

    #[test]
    fn a_retry_never_waits_more_than_ten_intervals(interval in 1u64..=86_400, failures in 1u32..=30) {
        let clock = ManualClock::new(at(START));
        let mut schedule = create(&clock, json!({"interval_seconds": interval, "retry_max": 100}));
        for retry in 1..=failures {
            let settlement = run(&clock, &schedule, SignedDuration::ZERO, failed());
            let (_, due) = settlement.next_job.unwrap();
            let delay = u64::try_from(due.duration_since(clock.now()).as_secs()).unwrap();
            prop_assert!(delay <= interval * 10);
            prop_assert_eq!(delay, interval * (1u64 << (retry - 1).min(4)).min(10));
            schedule = settlement.schedule;
        }
    }

    #[test]
    fn the_schedule_is_done_exactly_after_repeat_count_successes(repeat_count in 1u64..=30, failures in 0u32..=3) {
        let clock = ManualClock::new(at(START));
        let mut schedule = create(&clock, json!({"interval_seconds": 5, "repeat_count": repeat_count}));
        for success in 1..=repeat_count {
            for _ in 0..failures {
                schedule = run(&clock, &schedule, SignedDuration::ZERO, failed()).schedule;
            }
            schedule = run(&clock, &schedule, SignedDuration::ZERO, Outcome::Succeeded).schedule;
            let expected = if success == repeat_count { ScheduleStatus::Done } else { ScheduleStatus::Active };
            prop_assert_eq!(schedule.status, expected);
            prop_assert_eq!(schedule.run_count, success);
        }
    }
}

#[test]
fn every_listed_alias_is_accepted_as_its_field_by_creation_and_patch() {
    let value_of = |field: &str| match field {
        "payload" => json!({"a": 1}),
        _ => json!(2),
    };
    let (id, workflow, now) = (Uuid::now_v7(), Uuid::new_v4(), at(START));
    for (alias, field) in FIELD_ALIASES {
        let body = |name: &str| json!({"workflow_id": workflow, "interval_seconds": 60, name: value_of(field)});
        let build = |name: &str| {
            let new: NewSchedule = serde_json::from_value(body(name)).unwrap();
            new.into_schedule(id, "wf", now).unwrap()
        };
        assert_eq!(build(alias), build(field), "{alias} as {field} on creation");
        let patch = |name: &str| serde_json::from_value::<SchedulePatch>(json!({name: value_of(field)})).unwrap();
        assert_eq!(format!("{:?}", patch(alias)), format!("{:?}", patch(field)), "{alias} as {field} in a patch");
    }
}

#[test]
fn a_run_at_schedule_refuses_a_repeat_count_it_could_not_keep() {
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut body = json!({"run_at": "2026-01-02T00:00:00Z", "repeat_count": 3, "workflow_id": Uuid::new_v4()});
    let refused =
        serde_json::from_value::<NewSchedule>(body.clone()).unwrap().into_schedule(Uuid::now_v7(), "wf", clock.now());
    assert!(refused.is_err_and(|error| error.to_string().contains("runs once")));
    body["repeat_count"] = json!(1);
    let once = serde_json::from_value::<NewSchedule>(body).unwrap().into_schedule(Uuid::now_v7(), "wf", clock.now());
    assert!(once.is_ok(), "one run is what it does");

    // Switching a repeating schedule to run_at needs its repeat_count dropped; other changes still apply.
    let repeating = create(&clock, json!({"interval_seconds": 60, "repeat_count": 5}));
    assert!(repeating.patched(patch(json!({"run_at": "2026-01-02T00:00:00Z"})), clock.now()).is_err());
    let both = patch(json!({"run_at": "2026-01-02T00:00:00Z", "repeat_count": 0}));
    assert!(repeating.patched(both, clock.now()).is_ok());
    // A record stored before the rule still takes other changes.
    let mut stored = create(&clock, json!({"run_at": "2026-01-02T00:00:00Z"}));
    stored.repeat_count = 3;
    assert!(stored.patched(patch(json!({"name": "renamed"})), clock.now()).is_ok());
}
