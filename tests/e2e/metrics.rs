//! Prometheus metrics scraped after real runs, from a worker and from the API.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestRedis, WorkerOptions, spawn_app, spawn_app_with, spawn_worker, wait_until};

/// The value of the sample `series` (name and labels, as exposed) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("scrape");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.text().await.expect("scrape text")
}

#[tokio::test]
async fn a_workers_metrics_count_its_runs_and_their_lateness_and_its_probes_answer() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let addr = format!("127.0.0.1:{}", recur_common::testing::free_port());
    let env = vec![("RECUR_METRICS_ADDR", addr.clone())];
    let _worker = spawn_worker(&redis, WorkerOptions { env, ..WorkerOptions::default() });
    let ok = app.post_workflow(json!([{"kind": "log", "message": "measured"}])).await;
    let failing =
        app.post_workflow(json!([{"kind": "http", "url": "http://169.254.169.254/", "timeout_seconds": 1}])).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.post_schedule_due_now(&ok).await);
    }
    let failed = app
        .post_schedule(json!({"workflow_id": failing, "run_at": jiff::Timestamp::now().to_string(), "retry_max": 0}))
        .await;
    for id in &ids {
        wait_until(Duration::from_secs(10), "the run was recorded", || async {
            app.show_schedule(id).await["run_count"] == 1
        })
        .await;
    }
    app.wait_for_status(failed["id"].as_str().unwrap(), "dead", Duration::from_secs(10)).await;

    let metrics = scrape(&format!("http://{addr}/metrics")).await;
    assert_eq!(sample(&metrics, r#"recur_runs_started_total{queue="default"}"#), Some(4.0), "{metrics}");
    assert_eq!(sample(&metrics, r#"recur_runs_finished_total{queue="default",outcome="succeeded"}"#), Some(3.0));
    assert_eq!(sample(&metrics, r#"recur_runs_finished_total{queue="default",outcome="failed"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"recur_run_start_lateness_seconds_count{queue="default"}"#), Some(4.0));
    assert_eq!(sample(&metrics, r#"recur_run_duration_seconds_count{queue="default"}"#), Some(4.0));
    assert!(sample(&metrics, r#"recur_reconciler_repairs_total{kind="recovered"}"#).is_some(), "{metrics}");
    let skew = sample(&metrics, "recur_clock_skew_seconds");
    assert!(skew.is_some_and(|seconds| seconds.abs() < 1.0), "one machine, one clock: {metrics}");
    for probe in ["healthz", "readyz"] {
        assert_eq!(reqwest::get(format!("http://{addr}/{probe}")).await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn the_apis_metrics_count_requests_by_route_and_show_queues_schedules_and_workers() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600})).await;
    let id = schedule["id"].as_str().unwrap();
    for _ in 0..2 {
        app.show_schedule(id).await;
    }
    let root = app.base.trim_end_matches("/api/v1").to_string();
    let metrics = scrape(&format!("{root}/metrics")).await;
    let series = r#"recur_http_requests_total{route="/api/v1/schedules/{id}",method="GET",status="200"}"#;
    assert_eq!(sample(&metrics, series), Some(2.0), "{metrics}");
    assert_eq!(
        sample(&metrics, r#"recur_http_request_duration_seconds_count{route="/api/v1/schedules/{id}"}"#),
        Some(2.0)
    );
    assert_eq!(sample(&metrics, r#"recur_queue_jobs{queue="default",state="delayed"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"recur_schedules{status="active"}"#), Some(1.0));
    assert_eq!(sample(&metrics, "recur_workers_live"), Some(0.0));
    assert!(!metrics.contains(id), "no ids in labels");

    // With keys, /metrics follows the API's auth rule.
    let keyed = spawn_app_with(&redis, &[("RECUR_API_KEYS", "k")]).await;
    let keyed_root = keyed.base.trim_end_matches("/api/v1").to_string();
    assert_eq!(reqwest::get(format!("{keyed_root}/metrics")).await.unwrap().status(), 401);
}
