//! recur on a Redis Cluster (`REDIS_URL=redis+cluster://...`): the core flows on three primaries, with the
//! deployment in one slot and sharded over the primaries (`RECUR_SHARDS`), and a primary killed under load
//! whose replica takes over, with the deployment in one slot and sharded.

use std::{collections::HashSet, process::Command, time::Duration};

use recur_common::{
    keys::Keys,
    model::{JobId, QueueName},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    RedisUnderTest, Target, TestCluster, WorkerOptions, binary, spawn_app, spawn_app_with, spawn_worker, wait_until,
};

#[tokio::test]
async fn the_core_flows_run_on_a_redis_cluster() {
    core_flows(1).await;
}

#[tokio::test]
async fn the_core_flows_run_on_a_redis_cluster_with_the_deployment_sharded_over_its_primaries() {
    core_flows(6).await;
}

/// Create, run, retry, pause and resume, listings with a cursor, inspect, the reconciler rebuilding a lost
/// job, and kill -9 recovery, on 3 primaries, with the deployment in `shards` shards.
async fn core_flows(shards: usize) {
    let cluster = TestCluster::start(3, 0);
    let shard_count = shards.to_string();
    let app = spawn_app_with(&cluster, &[("RECUR_SHARDS", shard_count.as_str())]).await;
    let target = Target::start().await;
    let options = WorkerOptions {
        lease_seconds: 2,
        reconcile_seconds: 3600,
        env: vec![("RECUR_SHARDS", shard_count.clone())],
        ..WorkerOptions::default()
    };
    let mut doomed = spawn_worker(&cluster, WorkerOptions { id: "doomed".to_string(), ..options.clone() });

    // Ready: the deployment's node answers, takes writes and holds every script.
    let ready = reqwest::get(app.base.replace("/api/v1", "/readyz")).await.expect("GET /readyz");
    assert_eq!(ready.status(), StatusCode::OK);

    // Create and run.
    let log = app.post_workflow(json!([{"kind": "log", "message": "on a cluster"}])).await;
    for id in app.post_repeating_schedules(&log, 3, 2).await {
        assert_eq!(app.wait_for_status(&id, "done", Duration::from_secs(20)).await["run_count"], 2);
    }
    // Retry, then dead.
    let failing =
        app.post_workflow(json!([{"kind": "http", "method": "GET", "url": target.url("/fail/cluster")}])).await;
    let now = jiff::Timestamp::now().to_string();
    let dying =
        app.post_schedule(json!({"workflow_id": failing, "interval_seconds": 1, "start_at": now, "retry_max": 1}));
    let dying = dying.await["id"].as_str().expect("id").to_string();
    let dead = app.wait_for_status(&dying, "dead", Duration::from_secs(20)).await;
    assert_eq!((dead["error_count"].as_u64(), target.count("cluster")), (Some(2), 2), "{dead}");
    // Pause and resume.
    let hourly = app.post_schedule(json!({"workflow_id": log, "interval_seconds": 3600})).await;
    let hourly = hourly["id"].as_str().expect("id").to_string();
    let (status, paused) = app.pause_schedule(&hourly).await;
    assert_eq!((status, paused["status"].as_str()), (StatusCode::OK, Some("paused")), "{paused}");
    let (status, resumed) = app.resume_schedule(&hourly).await;
    assert_eq!((status, resumed["status"].as_str()), (StatusCode::OK, Some("active")), "{resumed}");
    // Listings page with a cursor.
    let (_, first) = app.request(Method::GET, "/schedules?limit=3", None).await;
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = app.request(Method::GET, &format!("/schedules?limit=3&cursor={cursor}"), None).await;
    let listed: HashSet<&str> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().expect("items"))
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(listed.len(), 5, "every schedule once: {first} {second}");
    // Where the shards live, rather than where these five schedules landed: five random ids all fall on
    // one of three primaries about once in a hundred runs.
    let keys = Keys::sharded("recur", shards);
    let primaries: HashSet<u16> =
        (0..shards).map(|shard| cluster.primary_of(&keys.shard(shard).schedule(uuid::Uuid::nil()))).collect();
    if shards > 1 {
        assert!(primaries.len() > 1, "the shards spread over the primaries, not {primaries:?}");
    }
    // Inspect.
    let inspect = Command::new(binary("recur-worker"))
        .args(["inspect", "--json"])
        .env("REDIS_URL", cluster.url())
        .env("RECUR_SHARDS", &shard_count)
        .output();
    let inspect = inspect.expect("run inspect");
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    let overview: Value = serde_json::from_slice(&inspect.stdout).expect("JSON");
    assert_eq!(overview["schedules"], json!({"active": 1, "paused": 0, "done": 3, "dead": 1}), "{overview}");

    // The reconciler rebuilds a job lost from Redis.
    let job = JobId::regular(hourly.parse().expect("uuid"), 0, 0);
    let delayed = keys.of_job(&job).delayed(&QueueName::default());
    cluster.delete(&[keys.of_job(&job).job(&job), delayed.clone()]).await;
    let (status, tick) = app.request(Method::POST, "/admin/tick", None).await;
    assert_eq!((status, tick["recovered"].as_u64()), (StatusCode::OK, Some(1)), "{tick}");
    let back: Vec<String> = cluster.zset(&delayed).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(back, [job.to_string()], "the job is back in its delayed set");

    // kill -9 mid-job: another worker runs it again once the lease ends.
    let sleepy = app.post_workflow(json!([{"kind": "sleep", "seconds": 1.5}])).await;
    let id = app.post_schedule_due_now(&sleepy).await;
    app.wait_until_running(&id, Some("doomed")).await;
    doomed.kill_9();
    let _idle = spawn_worker(&cluster, WorkerOptions { id: "idle".to_string(), ..options });
    wait_until(Duration::from_secs(15), "the job ran again and succeeded", || async {
        app.show_schedule(&id).await["run_count"] == 1
    })
    .await;
    let rerun = app.executions(&id).await.into_iter().find(|e| e["attempt"] == 2).expect("a second attempt");
    assert_eq!((rerun["worker_id"].as_str(), rerun["state"].as_str()), (Some("idle"), Some("succeeded")));
}

#[tokio::test]
async fn a_primary_killed_under_load_fails_over_and_every_schedule_keeps_running_with_nothing_replicated_lost() {
    failover(1).await;
}

#[tokio::test]
async fn a_primary_of_a_sharded_deployment_killed_under_load_fails_over_with_nothing_replicated_lost() {
    failover(6).await;
}

/// 20 schedules every second on 3 primaries with a replica each, the deployment in `shards` shards; the
/// primary holding shard 0 is killed once every schedule ran twice.
async fn failover(shards: usize) {
    let mut cluster = TestCluster::start(3, 1);
    let shard_count = shards.to_string();
    let app = spawn_app_with(&cluster, &[("RECUR_SHARDS", shard_count.as_str())]).await;
    let options = WorkerOptions {
        lease_seconds: 3,
        reconcile_seconds: 5,
        env: vec![("RECUR_SHARDS", shard_count.clone())],
        ..WorkerOptions::default()
    };
    let _workers: Vec<_> = (0..2)
        .map(|n| spawn_worker(&cluster, WorkerOptions { id: format!("worker-{n}"), ..options.clone() }))
        .collect();
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "through a failover"}])).await;
    let ids = app.post_repeating_schedules(&workflow, 20, 0).await;
    let run_counts = || async {
        let mut counts = Vec::with_capacity(ids.len());
        for id in &ids {
            let (status, schedule) = app.request(Method::GET, &format!("/schedules/{id}"), None).await;
            counts.push(if status == StatusCode::OK { schedule["run_count"].as_u64().unwrap_or(0) } else { 0 });
        }
        counts
    };
    wait_until(Duration::from_secs(20), "every schedule ran twice", || async {
        run_counts().await.iter().all(|count| *count >= 2)
    })
    .await;

    // What was acknowledged and replicated before the kill.
    let keys = Keys::sharded("recur", shards);
    for shard in keys.shards() {
        cluster.wait_for_replication(&shard.queues());
    }
    let keys = keys.shard(0);
    let mut recorded = Vec::new();
    for id in &ids {
        recorded.extend(
            app.executions(id).await.into_iter().filter(|e| e["state"] == "succeeded").map(|e| e["id"].clone()),
        );
    }
    let before = run_counts().await;

    let primary = cluster.primary_of(&keys.queues());
    cluster.kill_node(primary);
    assert!(
        cluster.wait_for_failover(&keys.queues(), primary, Duration::from_secs(30)),
        "no replica took over the deployment's slot"
    );

    wait_until(Duration::from_secs(40), "every schedule ran three more times after the failover", || async {
        run_counts().await.iter().zip(&before).all(|(now, then)| *now >= then + 3)
    })
    .await;
    for execution in recorded {
        let id = execution.as_str().expect("execution id");
        let (status, found) = app.request(Method::GET, &format!("/executions/{id}"), None).await;
        assert_eq!((status, found["state"].as_str()), (StatusCode::OK, Some("succeeded")), "{id} was lost: {found}");
    }
}

#[tokio::test]
async fn recur_reaches_a_tls_cluster_and_verifies_its_certificate() {
    let cluster = TestCluster::start_tls(3);
    assert!(cluster.url().starts_with("rediss+cluster://"));
    let app = spawn_app(&cluster).await;
    let _worker = spawn_worker(&cluster, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "over TLS"}])).await;
    for id in app.post_repeating_schedules(&workflow, 2, 2).await {
        assert_eq!(app.wait_for_status(&id, "done", Duration::from_secs(20)).await["run_count"], 2);
    }
    // Without the CA, the certificate is refused: recur-api does not start.
    let untrusting = Command::new(binary("recur-api"))
        .env("REDIS_URL", cluster.url())
        .env("RECUR_API_ADDR", format!("127.0.0.1:{}", recur_common::testing::free_port()))
        .env_remove("SSL_CERT_FILE")
        .output()
        .expect("run recur-api");
    let stderr = String::from_utf8_lossy(&untrusting.stderr);
    assert!(!untrusting.status.success(), "recur-api started against an untrusted certificate");
    assert!(stderr.contains("cannot reach Redis at rediss+cluster://127.0.0.1"), "{stderr}");
}
