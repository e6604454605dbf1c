//! Timing and control of schedules through the REST API, run by a real worker.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Target, TestRedis, WorkerOptions, seconds_between, spawn_app, spawn_worker, wait_until};

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn job_ids(executions: &[Value]) -> Vec<String> {
    executions.iter().map(|execution| execution["job_id"].as_str().expect("job_id").to_string()).collect()
}

#[tokio::test]
async fn a_schedule_with_repeat_count_three_runs_exactly_three_times_then_is_done() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let target = Target::start().await;
    let workflow = app.post_workflow(json!([{"kind": "http", "method": "POST", "url": target.url("/ok/three")}])).await;
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "total_repeats": 3, "start_at": now(), "trigger_payload": {"k": "v"}}))
        .await;
    let id = schedule["id"].as_str().unwrap();

    let done = app.wait_for_status(id, "done", Duration::from_secs(20)).await;
    assert_eq!(
        (done["run_count"].as_u64(), done["current_repeat"].as_u64(), done["next_run_at"].clone()),
        (Some(3), Some(3), Value::Null)
    );
    let executions = app.executions(id).await;
    assert_eq!(job_ids(&executions), (0..3).map(|n| format!("sched-{id}-n{n}-rc0")).collect::<Vec<_>>());
    assert!(executions.iter().all(|execution| execution["state"] == "succeeded"), "{executions:?}");
    // The target received each run's trigger, payload included.
    let bodies = target.bodies("three");
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies.iter().map(|b| b["repeat_number"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(bodies.iter().all(|b| b["payload"] == json!({"k": "v"}) && b["schedule_id"] == id));
}

#[tokio::test]
async fn a_target_failing_twice_is_retried_after_one_and_two_intervals() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let target = Target::start().await;
    let workflow = app.post_workflow(json!([{"kind": "http", "url": target.url("/fail-first/2/twice")}])).await;
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "repeat_count": 1, "start_at": now()}))
        .await;
    let id = schedule["id"].as_str().unwrap();

    let done = app.wait_for_status(id, "done", Duration::from_secs(20)).await;
    let executions = app.executions(id).await;
    assert_eq!(
        job_ids(&executions),
        [format!("sched-{id}-n0-rc0"), format!("sched-{id}-n0-rc1"), format!("sched-{id}-n0-rc2")]
    );
    let states: Vec<&str> = executions.iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed", "failed", "succeeded"]);
    let first_delay = seconds_between(&executions[0]["finished_at"], &executions[1]["scheduled_for"]);
    let second_delay = seconds_between(&executions[1]["finished_at"], &executions[2]["scheduled_for"]);
    assert!((first_delay - 1.0).abs() < 0.1, "first retry planned {first_delay} s after the failure");
    assert!((second_delay - 2.0).abs() < 0.1, "second retry planned {second_delay} s after the failure");
    assert!(seconds_between(&executions[1]["scheduled_for"], &executions[1]["started_at"]) < 0.5);
    assert_eq!(
        (done["error_count"].as_u64(), done["run_count"].as_u64(), done["current_retry"].as_u64()),
        (Some(2), Some(1), Some(0))
    );
}

#[tokio::test]
async fn a_target_that_always_fails_makes_the_schedule_dead_after_retry_max_plus_one_attempts() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let target = Target::start().await;
    let workflow = app.post_workflow(json!([{"kind": "http", "url": target.url("/fail/always")}])).await;
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "max_retries": 2, "start_at": now()}))
        .await;
    let id = schedule["id"].as_str().unwrap();

    let dead = app.wait_for_status(id, "dead", Duration::from_secs(20)).await;
    let executions = app.executions(id).await;
    assert_eq!(job_ids(&executions), (0..3).map(|rc| format!("sched-{id}-n0-rc{rc}")).collect::<Vec<_>>());
    assert!(executions.iter().all(|e| e["state"] == "failed"));
    assert_eq!(target.count("always"), 3);
    assert_eq!((dead["error_count"].as_u64(), dead["next_run_at"].clone()), (Some(3), Value::Null));
    assert!(dead["last_error"].as_str().unwrap().contains("500"), "{dead}");
}

#[tokio::test]
async fn pause_stops_runs_resume_restarts_them_and_delete_stops_them() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let target = Target::start().await;
    let workflow = app.post_workflow(json!([{"kind": "http", "url": target.url("/ok/pause")}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "start_at": now()})).await;
    let id = schedule["id"].as_str().unwrap();
    wait_until(Duration::from_secs(10), "the schedule ran", || async { target.count("pause") >= 1 }).await;

    let (status, paused) = app.pause_schedule(id).await;
    assert_eq!(
        (status, paused["status"].as_str(), paused["next_run_at"].clone()),
        (StatusCode::OK, Some("paused"), Value::Null)
    );
    let (status, conflict) = app.pause_schedule(id).await;
    assert_eq!((status, conflict["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    // A run already under way when the pause came may still finish; after it, nothing more runs.
    wait_until(Duration::from_secs(5), "no execution is running", || async {
        app.executions(id).await.iter().all(|e| e["state"] != "running")
    })
    .await;
    let runs_when_paused = target.count("pause");
    tokio::time::sleep(Duration::from_millis(2500)).await; // two and a half intervals with nothing to run
    assert_eq!(target.count("pause"), runs_when_paused, "a paused schedule ran");

    let (status, resumed) = app.resume_schedule(id).await;
    assert_eq!((status, resumed["status"].as_str()), (StatusCode::OK, Some("active")));
    assert_eq!(app.resume_schedule(id).await.0, StatusCode::CONFLICT);
    wait_until(Duration::from_secs(10), "the resumed schedule ran again", || async {
        target.count("pause") > runs_when_paused
    })
    .await;

    app.delete_schedule(id).await;
    assert_eq!(app.request(reqwest::Method::GET, &format!("/schedules/{id}"), None).await.0, StatusCode::NOT_FOUND);
    wait_until(Duration::from_secs(5), "the last run ended", || async { target.count("pause") > 0 }).await;
    let runs_when_deleted = target.count("pause");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(target.count("pause") <= runs_when_deleted + 1, "a deleted schedule kept running");
}

#[tokio::test]
async fn trigger_runs_at_once_without_moving_the_next_regular_run() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    // The reconciler sleeps for 30 s: only the wake-up can make the worker notice the triggered job.
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let target = Target::start().await;
    let workflow =
        app.post_workflow(json!([{"kind": "http", "method": "POST", "url": target.url("/ok/trigger")}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600})).await;
    let id = schedule["id"].as_str().unwrap();

    let answer = app.trigger_schedule(id).await;
    let job_id = answer["job_id"].as_str().unwrap();
    assert!(job_id.starts_with(&format!("sched-{id}-manual-")), "{job_id}");
    wait_until(Duration::from_secs(5), "the triggered run finished", || async {
        !app.finished_executions(id).await.is_empty()
    })
    .await;
    let execution = &app.executions(id).await[0];
    assert_eq!((execution["job_id"].as_str(), execution["state"].as_str()), (Some(job_id), Some("succeeded")));
    assert!(seconds_between(&execution["scheduled_for"], &execution["started_at"]) < 1.0);
    let after = app.show_schedule(id).await;
    assert_eq!(after["next_run_at"], schedule["next_run_at"]);
    assert_eq!((after["current_repeat"].as_u64(), after["current_retry"].as_u64()), (Some(0), Some(0)));
    assert_eq!(target.bodies("trigger")[0]["schedule_name"], schedule["name"]);
}

#[tokio::test]
async fn runs_of_a_slow_workflow_keep_the_interval_without_drift() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 0.6}])).await;
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 2, "repeat_count": 4, "start_at": now()}))
        .await;
    let id = schedule["id"].as_str().unwrap();

    app.wait_for_status(id, "done", Duration::from_secs(20)).await;
    let executions = app.executions(id).await;
    assert_eq!(executions.len(), 4);
    for pair in executions.windows(2) {
        let gap = seconds_between(&pair[0]["started_at"], &pair[1]["started_at"]);
        assert!((gap - 2.0).abs() < 0.1, "runs started {gap} s apart");
        assert!(seconds_between(&pair[0]["started_at"], &pair[0]["finished_at"]) >= 0.6);
    }
}

#[tokio::test]
async fn patching_the_interval_replans_the_pending_run_at_once() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "patched"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600})).await;
    let id = schedule["id"].as_str().unwrap();

    let (status, patched) =
        app.request(reqwest::Method::PATCH, &format!("/schedules/{id}"), Some(json!({"interval_seconds": 1}))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(seconds_between(&json!(now()), &patched["next_run_at"]) <= 1.0);
    wait_until(Duration::from_secs(10), "the re-planned run happened", || async {
        app.finished_executions(id).await.len() >= 2
    })
    .await;
}

#[tokio::test]
async fn a_run_longer_than_timeout_seconds_is_cut_off_and_counts_as_a_failure() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow =
        app.post_workflow(json!([{"kind": "log", "message": "before"}, {"kind": "sleep", "seconds": 30}])).await;
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 60, "timeout_seconds": 1, "retry_max": 0, "start_at": now()}))
        .await;
    let id = schedule["id"].as_str().unwrap();

    let dead = app.wait_for_status(id, "dead", Duration::from_secs(10)).await;
    assert_eq!(dead["last_error"], "timed out after 1 s");
    let execution = &app.executions(id).await[0];
    let duration = seconds_between(&execution["started_at"], &execution["finished_at"]);
    assert!((1.0..2.0).contains(&duration), "the run lasted {duration} s");
    let steps = execution["steps"].as_array().unwrap();
    assert_eq!((steps[0]["state"].as_str(), steps[1]["state"].as_str()), (Some("succeeded"), Some("failed")));
    assert_eq!(steps[1]["error"], "aborted: the execution timed out");
}

#[tokio::test]
async fn a_run_longer_than_the_lease_keeps_it_by_renewal_and_runs_once() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _workers: Vec<_> = (0..2)
        .map(|_| {
            spawn_worker(&redis, WorkerOptions { lease_seconds: 1, reconcile_seconds: 1, ..WorkerOptions::default() })
        })
        .collect();
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 3.5}])).await;
    let id = &app.post_schedule_due_now(&workflow).await;

    wait_until(Duration::from_secs(15), "the long run finished", || async {
        app.show_schedule(id).await["run_count"] == 1
    })
    .await;
    let executions = app.executions(id).await;
    assert_eq!(executions.len(), 1, "the job was taken from its worker: {executions:?}");
    assert_eq!((executions[0]["attempt"].as_u64(), executions[0]["state"].as_str()), (Some(1), Some("succeeded")));
}
