//! Crashes and lost data: nothing is lost, nothing runs twice.

use std::time::Duration;

use recur_common::{
    keys::Keys,
    model::{JobId, QueueName},
};
use serde_json::json;

use crate::support::{Target, TestRedis, WorkerOptions, spawn_app, spawn_worker, wait_until};

fn fast_recovery() -> WorkerOptions {
    WorkerOptions { lease_seconds: 2, reconcile_seconds: 1, ..WorkerOptions::default() }
}

#[tokio::test]
async fn kill_9_of_the_worker_running_a_job_lets_another_worker_finish_the_same_job_once() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let mut first = spawn_worker(&redis, WorkerOptions { id: "doomed".to_string(), ..fast_recovery() });
    let workflow = app
        .post_workflow(json!([{"kind": "sleep", "seconds": 2}, {"kind": "http", "url": target.url("/ok/crash")}]))
        .await;
    let id = &app.post_schedule_due_now(&workflow).await;
    app.wait_until_running(id, Some("doomed")).await;

    first.kill_9();
    let _second = spawn_worker(&redis, WorkerOptions { id: "survivor".to_string(), ..fast_recovery() });
    wait_until(Duration::from_secs(20), "the second worker finished the job", || async {
        app.show_schedule(id).await["run_count"] == 1
    })
    .await;

    let executions = app.executions(id).await;
    let job = format!("sched-{id}-n0-rc0");
    assert_eq!(executions.len(), 2, "{executions:?}");
    assert_eq!(
        (executions[0]["job_id"].as_str(), executions[1]["job_id"].as_str()),
        (Some(job.as_str()), Some(job.as_str()))
    );
    assert_eq!(
        (executions[0]["state"].as_str(), executions[0]["error"].as_str()),
        (Some("failed"), Some("lease_expired"))
    );
    assert_eq!(
        (executions[1]["state"].as_str(), executions[1]["worker_id"].as_str(), executions[1]["attempt"].as_u64()),
        (Some("succeeded"), Some("survivor"), Some(2))
    );
    assert_eq!(target.count("crash"), 1);
    let schedule = app.show_schedule(id).await;
    assert_eq!(
        (schedule["error_count"].as_u64(), schedule["current_repeat"].as_u64()),
        (Some(0), Some(1)),
        "a crash is not a failure"
    );
}

#[tokio::test]
async fn a_killed_workers_job_runs_again_when_its_lease_ends_not_at_the_next_reconciler_pass() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let lease_seconds = 2;
    // A reconciler pass an hour apart: only the lease can bring the job back in time.
    let options = WorkerOptions { lease_seconds, reconcile_seconds: 3600, ..WorkerOptions::default() };
    let mut first = spawn_worker(&redis, WorkerOptions { id: "doomed".to_string(), ..options.clone() });
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 1.5}])).await;
    let id = &app.post_schedule_due_now(&workflow).await;
    app.wait_until_running(id, Some("doomed")).await;

    first.kill_9();
    let killed_at = jiff::Timestamp::now();
    let _second = spawn_worker(&redis, WorkerOptions { id: "idle".to_string(), ..options });
    wait_until(Duration::from_secs(15), "the job ran again and succeeded", || async {
        app.show_schedule(id).await["run_count"] == 1
    })
    .await;
    let executions = app.executions(id).await;
    let rerun = executions.iter().find(|e| e["attempt"] == 2).expect("a second attempt");
    assert_eq!((rerun["worker_id"].as_str(), rerun["state"].as_str()), (Some("idle"), Some("succeeded")));
    let started_at: jiff::Timestamp = rerun["started_at"].as_str().unwrap().parse().unwrap();
    let after_kill = started_at.duration_since(killed_at).as_secs_f64();
    assert!(
        after_kill <= lease_seconds as f64 + 1.0,
        "the job ran again {after_kill:.2} s after the kill, more than the {lease_seconds} s lease + 1 s"
    );
}

#[tokio::test]
async fn jobs_deleted_from_redis_while_no_worker_runs_are_rebuilt_and_run_by_a_starting_worker() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "rebuilt"}])).await;
    let ids: Vec<uuid::Uuid> =
        app.post_repeating_schedules(&workflow, 3, 2).await.iter().map(|id| id.parse().unwrap()).collect();
    let keys = Keys::new("recur").shard(0);
    let queue = QueueName::default();
    let mut lost = vec![keys.delayed(&queue), keys.ready(&queue)];
    lost.extend(ids.iter().map(|id| keys.job(&JobId::regular(*id, 0, 0))));
    redis.delete(&lost).await;
    assert!(redis.zset(&keys.delayed(&queue)).await.is_empty());

    let _worker = spawn_worker(&redis, WorkerOptions::default());
    for id in &ids {
        let done = app.wait_for_status(&id.to_string(), "done", Duration::from_secs(20)).await;
        assert_eq!(done["run_count"], 2);
        let executions = app.executions(&id.to_string()).await;
        assert_eq!(executions[0]["job_id"], format!("sched-{id}-n0-rc0"), "the rebuilt job keeps its deterministic id");
    }
}

#[tokio::test]
async fn a_redis_crash_and_restart_loses_no_run_and_doubles_none() {
    let mut redis = TestRedis::start_with(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    let app = spawn_app(&redis).await;
    let _workers: Vec<_> = (0..2).map(|_| spawn_worker(&redis, fast_recovery())).collect();
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 0.1}])).await;
    let ids = app.post_repeating_schedules(&workflow, 5, 6).await;
    wait_until(Duration::from_secs(10), "every schedule ran twice", || async {
        for id in &ids {
            if app.show_schedule(id).await["run_count"].as_u64() < Some(2) {
                return false;
            }
        }
        true
    })
    .await;

    redis.kill();
    tokio::time::sleep(Duration::from_secs(1)).await; // the outage itself
    redis.restart();

    for id in &ids {
        let done = app.wait_for_status(id, "done", Duration::from_secs(40)).await;
        assert_eq!(done["run_count"], 6, "{done}");
        let succeeded: Vec<String> = app
            .executions(id)
            .await
            .into_iter()
            .filter(|e| e["state"] == "succeeded")
            .map(|e| e["job_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            succeeded,
            (0..6).map(|n| format!("sched-{id}-n{n}-rc0")).collect::<Vec<_>>(),
            "one success per repeat"
        );
    }
}

#[tokio::test]
async fn a_corrupt_record_is_passed_over_by_listings_tick_and_recovery_and_named_by_its_own_get() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let damaged_workflow =
        app.post_workflow_body(json!({"name": "damaged", "steps": [{"kind": "log", "message": "y"}]})).await;
    let ids = app.post_repeating_schedules(&workflow, 2, 1).await;
    let (broken, healthy) = (&ids[0], &ids[1]);
    let keys = Keys::new("recur").shard(0);
    let broken_key = keys.schedule(broken.parse().unwrap());
    let workflow_key = keys.workflow(damaged_workflow.parse().unwrap());
    redis.command(&["HSET", &broken_key, "interval_seconds", "abc"]).await;
    redis.command(&["SET", &workflow_key, "{not json"]).await;
    // The healthy schedule lost its job: the pass must rebuild it in spite of the broken one.
    let queue = QueueName::default();
    redis.delete(&[keys.delayed(&queue), keys.ready(&queue)]).await;

    let (status, body) = app.request(reqwest::Method::GET, &format!("/schedules/{broken}"), None).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (500, Some("corrupt_record")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&broken_key), "{body}");
    let (status, body) = app.request(reqwest::Method::GET, &format!("/workflows/{damaged_workflow}"), None).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (500, Some("corrupt_record")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&workflow_key), "{body}");

    let (status, listed) = app.request(reqwest::Method::GET, "/schedules", None).await;
    assert_eq!(status.as_u16(), 200, "{listed}");
    let listed: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [healthy.as_str()]);
    let (status, listed) = app.request(reqwest::Method::GET, "/workflows", None).await;
    assert_eq!(status.as_u16(), 200, "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    let (status, report) = app.request(reqwest::Method::POST, "/admin/tick", None).await;
    assert_eq!(status.as_u16(), 200, "{report}");
    assert_eq!((report["corrupt"].as_u64(), report["recovered"].as_u64()), (Some(1), Some(1)), "{report}");
    let inspect = || {
        let output = std::process::Command::new(crate::support::binary("recur-worker"))
            .args(["inspect", "--json"])
            .env("REDIS_URL", redis.url())
            .output()
            .expect("run inspect");
        assert!(output.status.success());
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("inspect JSON")
    };
    let listed = inspect();
    let detail = listed["corrupt_records"][&broken_key].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("interval_seconds"), "{listed}");

    // Repaired by hand: the next pass drops it from the list, and the schedule runs.
    redis.command(&["HSET", &broken_key, "interval_seconds", "60"]).await;
    let (_, report) = app.request(reqwest::Method::POST, "/admin/tick", None).await;
    assert_eq!(report["corrupt"].as_u64(), Some(0), "{report}");
    assert_eq!(inspect()["corrupt_records"], json!({}));
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    for id in [broken, healthy] {
        app.wait_for_status(id, "done", Duration::from_secs(20)).await;
    }
}

#[tokio::test]
async fn a_redelivered_http_step_carries_the_same_idempotency_key_so_its_target_can_deduplicate() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let mut first = spawn_worker(&redis, WorkerOptions { id: "doomed".to_string(), ..fast_recovery() });
    let workflow = app
        .post_workflow(json!([
            {"kind": "http", "method": "POST", "url": target.url("/ok/charge")},
            {"kind": "sleep", "seconds": 3},
            {"kind": "http", "method": "POST", "url": target.url("/ok/receipt")}
        ]))
        .await;
    let id = &app.post_schedule_due_now(&workflow).await;
    wait_until(Duration::from_secs(10), "the first step reached its target", || async { target.count("charge") == 1 })
        .await;

    first.kill_9();
    let _second = spawn_worker(&redis, WorkerOptions { id: "survivor".to_string(), ..fast_recovery() });
    wait_until(Duration::from_secs(20), "the job ran again to its end", || async { target.count("receipt") == 1 })
        .await;

    let keys: Vec<String> = target.hits("charge").iter().map(|hit| hit.headers["idempotency-key"].clone()).collect();
    let job = format!("sched-{id}-n0-rc0");
    assert_eq!(keys, [format!("{job}/step-0"), format!("{job}/step-0")], "one key for both deliveries");
    assert_eq!(target.hits("receipt")[0].headers["idempotency-key"], format!("{job}/step-2"));
}
