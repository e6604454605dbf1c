//! Cron, bounds, catch-up, overlap, jitter, restart and backfill through the store, on an injected clock.

use serde_json::json;

use super::{tests::*, *};

impl Fixture {
    async fn reload(&self, id: Uuid) -> Schedule {
        self.store.inspect().schedule(id).await.unwrap()
    }

    pub(super) async fn finish(&self, started: &StartedJob, outcome: Outcome) {
        let mut execution = started.execution.clone();
        execution.close(outcome.state(), self.now(), outcome.error());
        assert_eq!(finish_one(&self.store, started, &execution, &outcome).await, FinishOutcome::Recorded);
    }

    async fn execution(&self, id: &str) -> Execution {
        self.store.inspect().execution(id).await.unwrap()
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[tokio::test]
async fn a_cron_schedule_runs_on_its_matches_in_its_time_zone() {
    let f = Fixture::new().await;
    // 2026-01-01 is a Thursday; 09:00 in Berlin is 08:00Z in winter.
    let schedule = f.schedule(json!({"cron": "0 9 * * MON-FRI", "timezone": "Europe/Berlin"})).await;
    assert_eq!(schedule.next_run_at, Some(at("2026-01-01T08:00:00Z")));
    let mut ran = Vec::new();
    for _ in 0..3 {
        let due = f.reload(schedule.id).await.next_run_at.unwrap();
        f.clock.set(due);
        ran.push(f.run_next(Outcome::Succeeded).await.execution.scheduled_for);
    }
    assert_eq!(ran, [at("2026-01-01T08:00:00Z"), at("2026-01-02T08:00:00Z"), at("2026-01-05T08:00:00Z")]);
    assert_eq!(f.reload(schedule.id).await.next_run_at, Some(at("2026-01-06T08:00:00Z")));
}

#[tokio::test]
async fn an_occurrence_beyond_the_catch_up_window_is_skipped_by_the_tick_and_the_next_is_planned() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60, "catchup_window_seconds": 30})).await;
    f.advance(200); // due 00:01:00, now 00:03:20: 140 s late
    let report = f.store.reconcile().await.unwrap();
    assert_eq!((report.skipped_expired, report.skipped_overlap), (1, 0));
    let after = f.reload(schedule.id).await;
    // The skipped occurrence and the two that passed after it (00:02, 00:03) are counted; never replayed.
    assert_eq!((after.missed_count, after.current_repeat, after.run_count), (3, 1, 0));
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 1, 0).to_string(), ms("2026-01-01T00:04:00Z"))]);
    let skipped = f.execution(&format!("sched-{}-n0-rc0-a1", schedule.id)).await;
    assert_eq!(skipped.state, ExecutionState::Skipped);
    assert!(skipped.error.unwrap().contains("catch-up window"));
}

#[tokio::test]
async fn a_worker_skips_an_expired_occurrence_at_start_and_without_a_window_it_runs_once() {
    let f = Fixture::new().await;
    let windowed = f.schedule(json!({"interval_seconds": 60, "catchup_window_seconds": 10})).await;
    f.advance(75);
    let Some((_, start)) = f.claim_for(&claimant()).await else { panic!("nothing due") };
    assert!(matches!(start, Start::Skipped(SkipReason::Expired { .. })), "{start:?}");
    assert_eq!(f.reload(windowed.id).await.next_run_at, Some(at("2026-01-01T00:02:00Z")));

    let open = f.schedule(json!({"interval_seconds": 60, "start_at": "2026-01-01T00:00:00Z"})).await;
    f.advance(600);
    let started = f.start_next().await;
    assert_eq!(started.job, JobId::regular(open.id, 0, 0));
    f.finish(&started, Outcome::Succeeded).await;
    let after = f.reload(open.id).await;
    // Created at 00:01:15: the occurrences 00:02 to 00:11 were missed; 00:01 came before it existed.
    assert_eq!((after.run_count, after.missed_count), (1, 10));
    assert_eq!(after.next_run_at, Some(at("2026-01-01T00:12:00Z")));
}

#[tokio::test]
async fn overlap_skip_refuses_a_trigger_and_skips_an_occurrence_while_a_manual_run_runs() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    f.store.trigger_schedule(schedule.id).await.unwrap();
    let manual = f.start_next().await;
    assert!(matches!(f.store.trigger_schedule(schedule.id).await, Err(Error::AlreadyRunning(_))));
    f.advance(60);
    // The manual run is still going: its worker keeps renewing the lease.
    assert_eq!(f.store.renew_lease(&manual).await.unwrap(), Renewal::Held);
    let report = f.store.reconcile().await.unwrap();
    assert_eq!((report.skipped_expired, report.skipped_overlap), (0, 1));
    f.finish(&manual, Outcome::Succeeded).await;
    let after = f.reload(schedule.id).await;
    assert_eq!((after.missed_count, after.run_count, after.next_run_at), (1, 1, Some(at("2026-01-01T00:02:00Z"))));
    f.store.trigger_schedule(schedule.id).await.expect("nothing runs any more");
}

#[tokio::test]
async fn overlap_buffer_one_runs_one_missed_occurrence_right_after_an_overrun() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10, "overlap": "buffer_one"})).await;
    f.advance(10);
    let first = f.start_next().await;
    let triggered = f.store.trigger_schedule(schedule.id).await.unwrap();
    assert!(triggered.waiting, "a manual run waits for the run under way");
    f.advance(25); // 00:00:35: the occurrences at 00:00:20 and 00:00:30 passed during the run
    f.finish(&first, Outcome::Succeeded).await;
    let after = f.reload(schedule.id).await;
    assert_eq!((after.missed_count, after.next_run_at), (1, Some(at("2026-01-01T00:00:35Z"))));
    let mut due: Vec<String> = f.delayed().await.into_iter().map(|(job, _)| job).collect();
    due.sort();
    let mut expected = vec![triggered.job.to_string(), JobId::regular(schedule.id, 1, 0).to_string()];
    expected.sort();
    assert_eq!(due, expected, "the buffered regular run and the waiting manual run are both due now");
}

#[tokio::test]
async fn overlap_allow_enqueues_the_next_occurrence_when_a_run_starts() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10, "overlap": "allow", "repeat_count": 2})).await;
    f.advance(10);
    let first = f.start_next().await;
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 1, 0).to_string(), ms("2026-01-01T00:00:20Z"))]);
    f.advance(10);
    let second = f.start_next().await;
    assert_eq!(second.job, JobId::regular(schedule.id, 1, 0));
    f.finish(&first, Outcome::Succeeded).await;
    f.finish(&second, Outcome::Succeeded).await;
    let after = f.reload(schedule.id).await;
    assert_eq!((after.status, after.completed_repeats, after.run_count), (ScheduleStatus::Done, 2, 2));
    assert!(f.delayed().await.is_empty(), "the occurrence planned beyond repeat_count was dropped");
}

#[tokio::test]
async fn restart_revives_done_and_dead_schedules_with_new_job_ids() {
    let f = Fixture::new().await;
    let done = f.schedule(json!({"interval_seconds": 10, "repeat_count": 1, "start_at": "2026-01-01T00:00:00Z"})).await;
    f.run_next(Outcome::Succeeded).await;
    assert_eq!(f.reload(done.id).await.status, ScheduleStatus::Done);
    let restarted = f.store.restart_schedule(done.id).await.unwrap();
    assert_eq!(
        (restarted.status, restarted.completed_repeats, restarted.current_retry),
        (ScheduleStatus::Active, 0, 0)
    );
    assert_eq!(f.delayed().await, [(JobId::regular(done.id, 2, 0).to_string(), ms("2026-01-01T00:00:10Z"))]);
    assert!(matches!(f.store.restart_schedule(done.id).await, Err(Error::Conflict(_))));
    f.store.delete_schedule(done.id).await.unwrap();

    let dead = f.schedule(json!({"interval_seconds": 10, "retry_max": 0, "start_at": "2026-01-01T00:00:00Z"})).await;
    f.run_next(Outcome::Failed("boom".to_string())).await;
    assert_eq!(f.reload(dead.id).await.status, ScheduleStatus::Dead);
    f.store.restart_schedule(dead.id).await.unwrap();
    assert_eq!(f.delayed().await, [(JobId::regular(dead.id, 1, 0).to_string(), ms("2026-01-01T00:00:10Z"))]);
}

#[tokio::test]
async fn end_at_and_run_at_bound_the_runs_then_the_schedule_is_done() {
    let f = Fixture::new().await;
    let bounded = f.schedule(json!({"interval_seconds": 10, "end_at": "2026-01-01T00:00:25Z"})).await;
    for _ in 0..2 {
        f.advance(10);
        f.run_next(Outcome::Succeeded).await;
    }
    let after = f.reload(bounded.id).await;
    assert_eq!((after.status, after.run_count, after.next_run_at), (ScheduleStatus::Done, 2, None));

    let once = f.schedule(json!({"run_at": "2026-01-01T00:01:00Z", "retry_max": 1})).await;
    assert_eq!(once.next_run_at, Some(at("2026-01-01T00:01:00Z")));
    f.clock.set(at("2026-01-01T00:01:00Z"));
    f.run_next(Outcome::Failed("boom".to_string())).await;
    // A one-shot run retries after one minute.
    assert_eq!(f.reload(once.id).await.next_run_at, Some(at("2026-01-01T00:02:00Z")));
    f.advance(60);
    f.run_next(Outcome::Succeeded).await;
    assert_eq!(f.reload(once.id).await.status, ScheduleStatus::Done);
}

#[tokio::test]
async fn jitter_delays_each_occurrence_within_its_bound_and_is_recorded() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60, "jitter_seconds": 30})).await;
    let due = schedule.next_run_at.unwrap();
    let slot = at("2026-01-01T00:01:00Z");
    assert!(due >= slot && due <= slot + SignedDuration::from_secs(30), "{due}");
    f.clock.set(due);
    let started = f.run_next(Outcome::Succeeded).await;
    assert_eq!(started.execution.jitter_ms, Some(due.duration_since(slot).as_millis() as u64));
}

#[tokio::test]
async fn backfill_runs_each_past_occurrence_once_in_order_one_at_a_time() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"cron": "0 * * * *", "start_at": "2026-01-01T05:00:00Z"})).await;
    let (from, to) = (at("2025-12-31T20:00:00Z"), at("2025-12-31T23:00:00Z"));
    let backfill = f.store.backfill_schedule(schedule.id, from, to).await.unwrap();
    assert_eq!((backfill.queued, backfill.already_run), (4, 0));
    let mut ran = Vec::new();
    for _ in 0..4 {
        assert_eq!(f.delayed().await.len(), 2, "the regular job and one backfill job at a time");
        let started = f.start_next().await;
        ran.push((started.job.to_string(), started.execution.scheduled_for));
        if ran.len() == 1 {
            let again = f.store.backfill_schedule(schedule.id, from, to).await.unwrap();
            assert_eq!(
                (again.queued, again.already_run),
                (0, 4),
                "running or waiting occurrences are not queued twice"
            );
        }
        f.finish(&started, Outcome::Succeeded).await;
    }
    let expected: Vec<(String, Timestamp)> = ["20", "21", "22", "23"]
        .iter()
        .map(|hour| {
            let t = at(&format!("2025-12-31T{hour}:00:00Z"));
            (format!("sched-{}-bf-{}", schedule.id, t.as_second()), t)
        })
        .collect();
    assert_eq!(ran, expected);
    let after = f.reload(schedule.id).await;
    assert_eq!((after.current_repeat, after.run_count), (0, 4), "backfill leaves the regular chain alone");
    let too_many = f.store.backfill_schedule(schedule.id, at("2025-11-01T00:00:00Z"), to).await;
    assert!(too_many.is_err_and(|error| error.to_string().contains("more than 1000 occurrences")), "over 1,000");
    // Occurrences to come are the regular chain's: backfilled as well, they would run twice.
    let ahead = f.store.backfill_schedule(schedule.id, from, f.now() + SignedDuration::from_hours(3)).await;
    assert!(ahead.is_err_and(|error| error.to_string().contains("is in the future")));
}

#[tokio::test]
async fn patch_switches_the_timing_kind_and_re_plans_the_pending_job() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 3600})).await;
    let patch = serde_json::from_value(json!({"cron": "0 12 * * *", "timezone": "Asia/Kolkata"})).unwrap();
    let patched = f.store.update_schedule(schedule.id, patch).await.unwrap();
    // 12:00 in Kolkata is 06:30Z.
    assert_eq!(patched.next_run_at, Some(at("2026-01-01T06:30:00Z")));
    assert_eq!(f.delayed().await, [(JobId::regular(schedule.id, 0, 0).to_string(), ms("2026-01-01T06:30:00Z"))]);
    let zone_only = serde_json::from_value(json!({"timezone": "UTC"})).unwrap();
    let patched = f.store.update_schedule(schedule.id, zone_only).await.unwrap();
    assert_eq!(patched.next_run_at, Some(at("2026-01-01T12:00:00Z")));
    let both = serde_json::from_value(json!({"cron": "0 12 * * *", "interval_seconds": 5})).unwrap();
    assert!(matches!(f.store.update_schedule(schedule.id, both).await, Err(Error::Invalid { .. })));
    let once = serde_json::from_value(json!({"run_at": "2026-01-01T00:00:30Z"})).unwrap();
    let patched = f.store.update_schedule(schedule.id, once).await.unwrap();
    assert_eq!((patched.next_run_at, patched.start_at), (Some(at("2026-01-01T00:00:30Z")), at("2026-01-01T00:00:30Z")));
}

#[tokio::test]
async fn a_backfill_queued_while_a_regular_run_is_under_way_survives_that_runs_end() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 3600, "start_at": "2026-01-01T00:00:00Z"})).await;
    let regular = f.start_next().await;
    // The backfill is queued while the regular run started from a snapshot without it.
    let (from, to) = (at("2025-12-31T20:00:00Z"), at("2025-12-31T22:00:00Z"));
    assert_eq!(f.store.backfill_schedule(schedule.id, from, to).await.unwrap().queued, 3);
    f.finish(&regular, Outcome::Succeeded).await;
    let mut ran = Vec::new();
    for _ in 0..3 {
        let started = f.start_next().await;
        ran.push(started.execution.scheduled_for);
        f.finish(&started, Outcome::Succeeded).await;
    }
    assert_eq!(ran, [from, at("2025-12-31T21:00:00Z"), to], "every backfilled occurrence ran, in order");
    assert_eq!(f.reload(schedule.id).await.backfill_job, None);
}

#[tokio::test]
async fn an_overlap_skip_decided_on_a_run_that_has_since_ended_is_not_applied() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    f.store.trigger_schedule(schedule.id).await.unwrap();
    let manual = f.start_next().await;
    f.advance(60);
    // The reconciler reads the schedule while the manual run is under way ...
    let seen = f.reload(schedule.id).await;
    assert_eq!(seen.running_jobs, 1);
    // ... and the run ends before the reconciler applies its skip.
    f.finish(&manual, Outcome::Succeeded).await;
    assert_eq!(f.store.skip_due_occurrence(&seen).await.unwrap(), None, "no run is under way any more");
    let after = f.reload(schedule.id).await;
    assert_eq!((after.missed_count, after.live_job), (0, schedule.live_job), "the occurrence still runs");
    assert_eq!(f.start_next().await.job, schedule.live_job.unwrap());
}

#[tokio::test]
async fn an_overlap_skip_decided_on_a_run_since_handed_back_is_not_applied() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 60})).await;
    f.store.trigger_schedule(schedule.id).await.unwrap();
    f.start_next().await;
    f.advance(60);
    let seen = f.reload(schedule.id).await;
    assert_eq!(seen.running_jobs, 1);
    // The manual run's worker died: another worker hands it back (no planned write, no new revision).
    assert_eq!(f.store.requeue_expired_jobs(&f.queue).await.unwrap(), 1);
    assert_eq!(f.store.skip_due_occurrence(&seen).await.unwrap(), None, "no run is under way any more");
    assert_eq!(f.reload(schedule.id).await.missed_count, 0);
}
