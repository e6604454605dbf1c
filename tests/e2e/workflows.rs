//! Workflows end to end: templates, step outputs and HTTP options, concurrency limits, cancel, ad-hoc runs,
//! run history, versions and Rust handlers in a worker of one's own.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    Target, TestRedis, WorkerOptions, seconds_between, spawn_app, spawn_custom_worker, spawn_worker, wait_until,
};

#[tokio::test]
async fn templates_send_the_trigger_and_an_earlier_steps_json_output_to_the_target() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let workflow = app
        .post_workflow(json!([
            {"kind": "http", "name": "fetch", "url": target.url("/json/fetch")},
            {"kind": "http", "method": "POST",
             "url": target.url("/ok/{{ steps.fetch.output.body.id }}?at={{ trigger.timestamp | urlencode }}"),
             "headers": {"x-user": "{{ trigger.payload.user }}"},
             "body": {"order": "{{ steps[0].output.body.id }}", "user": "{{ trigger.payload.user }}",
                      "at": "{{ trigger.timestamp }}", "repeat": "{{ trigger.repeat_number }}"}},
        ]))
        .await;
    let now = jiff::Timestamp::now().to_string();
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600, "start_at": now,
                              "payload": {"user": "ada"}}))
        .await;
    let schedule = schedule["id"].as_str().expect("id").to_string();
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    wait_until(Duration::from_secs(15), "the run is recorded", || async {
        app.finished_executions(&schedule).await.len() == 1
    })
    .await;
    let execution = &app.finished_executions(&schedule).await[0];
    assert_eq!(execution["state"], "succeeded", "{execution}");
    let hits = target.hits("4242");
    assert_eq!(hits.len(), 1, "the templated request arrives once");
    let hit = &hits[0];
    let body = &hit.body;
    assert_eq!(
        (body["order"].as_str(), body["user"].as_str(), body["repeat"].as_str()),
        (Some("4242"), Some("ada"), Some("0"))
    );
    assert_eq!(hit.headers["x-user"], "ada");
    let at: jiff::Timestamp = body["at"].as_str().expect("at").parse().expect("trigger.timestamp is RFC 3339");
    assert!(hit.uri.ends_with(&format!("?at={}", body["at"].as_str().expect("at").replace(':', "%3A"))), "{}", hit.uri);
    let started: jiff::Timestamp = execution["started_at"].as_str().expect("started_at").parse().expect("instant");
    assert!(at >= started, "trigger.timestamp {at} is the run's time, not before its start {started}");
    assert_eq!(execution["steps"][0]["name"], "fetch");
    assert_eq!(execution["steps"][0]["output"]["body"]["id"], 4242, "JSON answers are parsed");
    assert_eq!(execution["output"]["status"], 200, "the last step's output is the execution's");
    assert_eq!(execution["workflow_version"], 1);
}

#[tokio::test]
async fn http_steps_take_expected_statuses_a_size_limit_and_a_redirect_policy_and_a_bad_render_fails_the_step() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let workflow = app
        .post_workflow(json!([
            {"kind": "http", "url": target.url("/fail/expected"), "expect_status": [500]},
            {"kind": "http", "url": target.url("/redirect/kept"), "max_redirects": 0, "expect_status": ["3xx"]},
            {"kind": "http", "url": target.url("/redirect/followed")},
            {"kind": "http", "url": target.url("/big/cut"), "max_response_bytes": 1000},
            {"kind": "log", "message": "{{ steps[99].output }}"},
        ]))
        .await;
    let run = app.run_workflow(&workflow, json!({})).await;
    // The execution the answer names is there at once, queued until a worker takes it.
    let (status, queued) = app.request(Method::GET, &format!("/executions/{run}"), None).await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    assert_eq!((queued["state"].as_str(), queued["workflow_id"].as_str()), (Some("queued"), Some(workflow.as_str())));
    assert!(queued["started_at"].is_null() && queued["worker_id"] == "", "{queued}");
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let execution = app.wait_for_execution(&run, "failed").await;
    assert!(execution["started_at"].is_string() && execution["worker_id"] != "", "{execution}");
    let steps = execution["steps"].as_array().expect("steps");
    assert_eq!(
        steps.iter().map(|step| step["state"].as_str().unwrap_or("")).collect::<Vec<_>>(),
        ["succeeded", "succeeded", "succeeded", "succeeded", "failed"]
    );
    assert_eq!(steps[0]["output"]["status"], 500);
    assert_eq!(steps[1]["output"]["status"], 303);
    assert_eq!(target.count("kept"), 1, "the redirect was not followed");
    // Followed: the redirect and the page it points at both saw the request.
    assert_eq!((steps[2]["output"]["status"].as_u64(), target.count("followed")), (Some(200), 2));
    assert_eq!(steps[3]["output"]["body"].as_str().map(str::len), Some(1000));
    assert_eq!(steps[3]["output"]["truncated"], true);
    let error = execution["error"].as_str().expect("error");
    assert!(error.contains("step 4 (log)") && error.contains("cannot render the template in message"), "{error}");
}

#[tokio::test]
async fn max_concurrency_one_never_overlaps_across_three_schedules_and_three_workers() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app
        .post_workflow_body(
            json!({"name": "one-at-a-time", "max_concurrency": 1, "steps": [{"kind": "sleep", "seconds": 0.3}]}),
        )
        .await;
    let _workers: Vec<_> = (0..3).map(|_| spawn_worker(&redis, WorkerOptions::default())).collect();
    let schedules = app.post_repeating_schedules(&workflow, 3, 2).await;
    for schedule in &schedules {
        app.wait_for_status(schedule, "done", Duration::from_secs(30)).await;
    }
    let mut runs = Vec::new();
    for schedule in &schedules {
        runs.extend(app.finished_executions(schedule).await);
    }
    assert_eq!(runs.len(), 6);
    assert!(
        runs.iter().all(|run| run["state"] == "succeeded" && run["attempt"] == 1),
        "waiting is no attempt: {runs:?}"
    );
    // By instant, not by text: RFC 3339 leaves out a zero fraction (`…:18Z` is before `…:18.982Z`).
    runs.sort_by_key(|run| run["started_at"].as_str().and_then(|at| at.parse::<jiff::Timestamp>().ok()));
    for pair in runs.windows(2) {
        let gap = seconds_between(&pair[0]["finished_at"], &pair[1]["started_at"]);
        assert!(gap >= 0.0, "runs overlapped: {} and {}", pair[0], pair[1]);
    }
}

#[tokio::test]
async fn a_killed_workers_slot_is_freed_within_the_lease() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app
        .post_workflow_body(
            json!({"name": "exclusive", "max_concurrency": 1, "steps": [{"kind": "sleep", "seconds": 60}]}),
        )
        .await;
    let lease_seconds = 2;
    let mut holder =
        spawn_worker(&redis, WorkerOptions { id: "holder".into(), lease_seconds, ..WorkerOptions::default() });
    let first = app.post_schedule_due_now(&workflow).await;
    app.wait_until_running(&first, Some("holder")).await;
    let _other = spawn_worker(
        &redis,
        WorkerOptions { id: "other".into(), lease_seconds, reconcile_seconds: 60, ..WorkerOptions::default() },
    );
    let second = app.post_schedule_due_now(&workflow).await;
    // While the holder lives, the second run waits.
    tokio::time::sleep(Duration::from_secs(lease_seconds + 1)).await;
    assert!(app.executions(&second).await.is_empty(), "the second run started beside the first");
    holder.kill_9();
    let killed_at = Instant::now();
    app.wait_until_running(&second, Some("other")).await;
    let waited = killed_at.elapsed();
    assert!(waited <= Duration::from_secs(lease_seconds) + Duration::from_millis(1500), "slot freed after {waited:?}");
}

#[tokio::test]
async fn cancel_stops_a_long_sleep_within_a_second_and_counts_as_a_failure_only_when_asked() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 60}])).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    for (count_as_failure, schedule_after) in [(false, "active"), (true, "dead")] {
        let now = jiff::Timestamp::now().to_string();
        let schedule = app
            .post_schedule(
                json!({"workflow_id": workflow, "interval_seconds": 3600, "start_at": now, "max_retries": 0}),
            )
            .await;
        let schedule = schedule["id"].as_str().expect("id").to_string();
        app.wait_until_running(&schedule, None).await;
        let execution = app.executions(&schedule).await[0]["id"].as_str().expect("id").to_string();
        let asked = Instant::now();
        let (status, body) = app
            .request(Method::POST, &format!("/executions/{execution}/cancel?count_as_failure={count_as_failure}"), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let cancelled = app.wait_for_execution(&execution, "cancelled").await;
        assert!(asked.elapsed() < Duration::from_secs(1), "cancel took {:?}", asked.elapsed());
        assert_eq!(cancelled["steps"][0]["state"], "cancelled");
        assert!(seconds_between(&cancelled["started_at"], &cancelled["finished_at"]) < 5.0);
        let after = app.wait_for_status(&schedule, schedule_after, Duration::from_secs(5)).await;
        assert_eq!(after["error_count"], u64::from(count_as_failure), "{after}");
        let (status, body) = app.request(Method::POST, &format!("/executions/{execution}/cancel"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
}

#[tokio::test]
async fn ad_hoc_runs_are_recorded_in_the_history_which_filters_and_pages() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let workflow = app
        .post_workflow(json!([{"kind": "http", "method": "POST", "url": target.url("/ok/adhoc"),
                               "body": {"n": "{{ trigger.payload.n }}"}}]))
        .await;
    let other = app.post_workflow(json!([{"kind": "log", "message": "other"}])).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let since = jiff::Timestamp::now();
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = app.run_workflow(&workflow, json!({"payload": {"n": n}})).await;
        app.wait_for_execution(&id, "succeeded").await;
        ids.push(id);
    }
    let other_run = app.run_workflow(&other, json!({})).await;
    app.wait_for_execution(&other_run, "succeeded").await;
    let sent: Vec<_> = target.bodies("adhoc").iter().map(|body| body["n"].clone()).collect();
    assert_eq!(sent, [json!("0"), json!("1"), json!("2")]);

    let app = &app;
    let page = |query: String| async move { app_get(app, &format!("/executions?{query}")).await };
    let all = page(format!("workflow_id={workflow}")).await;
    let listed: Vec<_> =
        all["items"].as_array().expect("items").iter().map(|e| e["id"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(listed, ids.iter().rev().cloned().collect::<Vec<_>>(), "newest first, this workflow only");
    let first = page(format!("workflow_id={workflow}&limit=2")).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = page(format!("workflow_id={workflow}&limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["id"].as_str(), Some(ids[0].as_str()));
    assert!(second["next_cursor"].is_null());
    assert_eq!(page(format!("state=succeeded&since={since}")).await["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(page("state=failed".to_string()).await["items"].as_array().map(Vec::len), Some(0));
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    assert_eq!(page(format!("since={later}")).await["items"].as_array().map(Vec::len), Some(0));
    let run_schedule = app_get(app, &format!("/executions/{}", ids[0])).await["schedule_id"].clone();
    let of_schedule = page(format!("schedule_id={}", run_schedule.as_str().expect("schedule id"))).await;
    assert_eq!(of_schedule["items"].as_array().map(Vec::len), Some(1));
    // An ad-hoc run is a job, not a schedule: none is listed, and its id names none.
    assert_eq!(app_get(app, "/schedules").await["items"].as_array().map(Vec::len), Some(0));
    let (status, _) = app.pause_schedule(run_schedule.as_str().expect("id")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.request(Method::GET, "/executions?state=sideways", None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("state")), "{body}");
}

#[tokio::test]
async fn a_run_at_a_later_time_waits_as_a_job_starts_on_time_and_can_be_cancelled_until_it_starts() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "one-shot"}])).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    // Whole milliseconds, as recur keeps times.
    let soon = jiff::Timestamp::from_millisecond(jiff::Timestamp::now().as_millisecond() + 2_000).expect("a time");
    let soon_run = app.run_workflow(&workflow, json!({"run_at": soon})).await;
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let (status, body) = app
        .request(
            Method::POST,
            &format!("/workflows/{workflow}/runs"),
            Some(json!({"items": [{"run_at": later, "payload": {"n": 1}}, {"run_at": later}]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let later_runs: Vec<String> =
        body["items"].as_array().expect("items").iter().map(|run| run["execution_id"].to_string()).collect();
    let later_runs: Vec<&str> = later_runs.iter().map(|id| id.trim_matches('"')).collect();

    let queued = app_get(&app, &format!("/executions/{soon_run}")).await;
    assert_eq!(queued["state"], "queued", "{queued}");
    assert_eq!(queued["scheduled_for"].as_str().map(|t| t.parse::<jiff::Timestamp>().ok()), Some(Some(soon)));
    let status = app_get(&app, "/status").await;
    assert_eq!(status["queues"][0]["delayed"], 3, "{status}");
    assert_eq!(app_get(&app, "/schedules").await["items"].as_array().map(Vec::len), Some(0), "runs are not schedules");

    // Cancelled before it starts: recorded at once, out of its queue, never run.
    let (status, body) = app.request(Method::POST, &format!("/executions/{}/cancel", later_runs[0]), None).await;
    assert_eq!((status, &body["cancelled_before_start"]), (StatusCode::ACCEPTED, &json!(true)), "{body}");
    let cancelled = app_get(&app, &format!("/executions/{}", later_runs[0])).await;
    assert_eq!((&cancelled["state"], &cancelled["started_at"]), (&json!("cancelled"), &Value::Null), "{cancelled}");
    let (status, body) = app.request(Method::POST, &format!("/executions/{}/cancel", later_runs[0]), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(app_get(&app, &format!("/executions/{}", later_runs[1])).await["state"], "queued");

    let ran = app.wait_for_execution(&soon_run, "succeeded").await;
    let started: jiff::Timestamp = ran["started_at"].as_str().expect("started").parse().expect("a time");
    assert!(started >= soon, "started {started}, before its run_at {soon}");
    assert!(started.duration_since(soon) < jiff::SignedDuration::from_secs(2), "started {started}, due {soon}");
    let status = app_get(&app, "/status").await;
    assert_eq!(status["queues"][0]["delayed"], 1, "only the run left waiting: {status}");
    let executions = app_get(&app, &format!("/executions?workflow_id={workflow}")).await;
    let states: Vec<_> = executions["items"].as_array().expect("items").iter().map(|e| e["state"].clone()).collect();
    assert_eq!(states, [json!("succeeded"), json!("cancelled")], "{executions}");

    // A schedule's next run is held back by pausing the schedule, not by a cancel.
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600})).await;
    let next = format!("sched-{}-n0-rc0-a1", schedule["id"].as_str().expect("id"));
    let (status, body) = app.request(Method::POST, &format!("/executions/{next}/cancel"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("pause")), "{body}");
    let (status, body) =
        app.request(Method::POST, &format!("/workflows/{workflow}/run"), Some(json!({"run_at": "soon"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("run_at")), "{body}");
}

async fn app_get(app: &crate::support::TestApp, path: &str) -> Value {
    let (status, body) = app.request(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn an_edit_does_not_touch_a_running_execution_and_the_next_run_uses_the_new_version() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let steps = |key: &str| json!([{"kind": "sleep", "seconds": 1}, {"kind": "http", "url": target.url(&format!("/ok/{key}"))}]);
    let (_, created) =
        app.request(Method::POST, "/workflows", Some(json!({"name": "versioned", "steps": steps("v1")}))).await;
    let workflow = created["id"].as_str().expect("id").to_string();
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let first = app.run_workflow(&workflow, json!({})).await;
    let running = app.wait_for_execution(&first, "running").await;
    assert_eq!(running["workflow_version"], 1, "a running execution says which version it runs: {running}");
    let (status, edited) = app
        .request(
            Method::PUT,
            &format!("/workflows/{workflow}"),
            Some(json!({"name": "versioned", "steps": steps("v2")})),
        )
        .await;
    assert_eq!((status, edited["version"].as_u64()), (StatusCode::OK, Some(2)), "{edited}");
    let done = app.wait_for_execution(&first, "succeeded").await;
    assert_eq!((done["workflow_version"].as_u64(), target.count("v1"), target.count("v2")), (Some(1), 1, 0));
    let second = app.run_workflow(&workflow, json!({})).await;
    let second = app.wait_for_execution(&second, "succeeded").await;
    assert_eq!((second["workflow_version"].as_u64(), target.count("v2")), (Some(2), 1));
    let old = app_get(&app, &format!("/workflows/{workflow}/versions/1")).await;
    assert_eq!(old["steps"][1]["url"], target.url("/ok/v1"));
    let (status, _) = app.request(Method::GET, &format!("/workflows/{workflow}/versions/3"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_job_waits_visibly_for_its_handler_raises_one_alert_and_runs_once_a_worker_offers_it() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let steps = json!([
        {"kind": "handler", "name": "resize", "input": {"path": "{{ trigger.payload.path }}", "width": 640}},
        {"kind": "http", "method": "POST", "url": target.url("/ok/resized"), "body": {"file": "{{ steps.resize.output.path }}"}},
    ]);
    // Saved before any worker offers the handler (applied from CI, say): accepted, and told.
    let (status, created) =
        app.request(Method::POST, "/workflows", Some(json!({"name": "thumbs", "steps": steps}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["warnings"][0].as_str().is_some_and(|w| w.contains("\"resize\"")), "{created}");
    let workflow = created["id"].as_str().expect("id").to_string();

    // Only a worker without the handler runs: it must hand the job back, not fail it, and the wait shows.
    let alerting =
        vec![("RECUR_ALERT_WEBHOOK", target.url("/alert")), ("RECUR_HANDLER_WAIT_ALERT_SECONDS", "1".to_string())];
    let plain = WorkerOptions { id: "plain".into(), reconcile_seconds: 1, env: alerting, ..WorkerOptions::default() };
    let _plain = spawn_worker(&redis, plain);
    let execution = app.run_workflow(&workflow, json!({"payload": {"path": "cat.png"}})).await;
    let waiting = app.wait_for_execution(&execution, "waiting_for_handler").await;
    assert!(waiting["error"].as_str().is_some_and(|e| e.contains("\"resize\"")), "{waiting}");
    assert!(waiting["started_at"].is_null(), "{waiting}");
    let job = waiting["job_id"].clone();
    let (_, overview) = app.request(Method::GET, "/status", None).await;
    let waits = overview["waiting_for_handler"].as_array().expect("waits");
    assert_eq!((waits.len(), &waits[0]["job_id"], &waits[0]["handler"]), (1, &job, &json!("resize")), "{overview}");
    let default = overview["queues"].as_array().and_then(|queues| queues.iter().find(|q| q["name"] == "default"));
    assert_eq!(default.map(|queue| &queue["waiting_for_handler"]), Some(&json!(1)), "{overview}");
    let root = app.base.trim_end_matches("/api/v1").to_string();
    let metrics = reqwest::get(format!("{root}/metrics")).await.expect("scrape").text().await.expect("text");
    assert!(metrics.contains(r#"recur_queue_jobs{queue="default",state="waiting_for_handler"} 1"#), "{metrics}");
    wait_until(Duration::from_secs(20), "the long wait raised an alert", || async { target.count("/alert") >= 1 })
        .await;
    let alert = &target.bodies("/alert")[0];
    assert_eq!(
        (&alert["event"], &alert["job_id"], &alert["handler"]),
        (&json!("waiting_for_handler"), &job, &json!("resize"))
    );

    let _custom = spawn_custom_worker(&redis, WorkerOptions { id: "images".into(), ..WorkerOptions::default() });
    let done = app.wait_for_execution(&execution, "succeeded").await;
    assert_eq!(done["worker_id"], "images");
    assert_eq!(done["attempt"], 1, "waiting is not a delivery");
    assert_eq!(done["steps"][0]["output"], json!({"path": "cat.png@640w", "width": 640, "repeat_number": 0}));
    assert_eq!(target.bodies("resized"), [json!({"file": "cat.png@640w"})]);
    let (_, overview) = app.request(Method::GET, "/status", None).await;
    assert_eq!(overview["waiting_for_handler"], json!([]), "{overview}");
    assert_eq!(target.count("/alert"), 1, "one alert per wait, whichever worker takes the reconciler turn");
}

#[tokio::test]
async fn a_schedules_own_webhook_hears_that_its_job_waits_for_a_handler() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let workflow = app.post_workflow(json!([{"kind": "handler", "name": "resize"}])).await;
    let team = target.url("/team");
    let schedule =
        app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "alert_webhook": team})).await;
    // No deployment webhook: only the schedule's own can hear of it.
    let env = vec![("RECUR_HANDLER_WAIT_ALERT_SECONDS", "1".to_string())];
    let _plain = spawn_worker(&redis, WorkerOptions { reconcile_seconds: 1, env, ..WorkerOptions::default() });
    wait_until(Duration::from_secs(20), "the team's webhook hears of the wait", || async {
        target.count("/team") >= 1
    })
    .await;
    let alert = &target.bodies("/team")[0];
    assert_eq!((&alert["event"], &alert["handler"]), (&json!("waiting_for_handler"), &json!("resize")), "{alert}");
    let job = alert["job_id"].as_str().unwrap_or_default();
    assert!(job.starts_with(&format!("sched-{}-", schedule["id"].as_str().unwrap_or_default())), "{alert}");
}

#[tokio::test]
async fn the_egress_policy_holds_for_addresses_names_and_redirects() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let port = target.url("").rsplit(':').next().unwrap().to_string();
    let run = |url: String, queue: &'static str| {
        let app = &app;
        async move {
            let workflow = app.post_workflow(json!([{"kind": "http", "url": url, "timeout_seconds": 5}])).await;
            let run = app.run_workflow(&workflow, json!({"queue": queue})).await;
            let execution = app.wait_for_execution(&run, "failed").await;
            execution["steps"][0]["error"].as_str().unwrap_or_default().to_string()
        }
    };
    let worker = |queue: &str, deny: &str| {
        let env = vec![("RECUR_QUEUES", queue.to_string()), ("RECUR_HTTP_DENY", deny.to_string())];
        spawn_worker(&redis, WorkerOptions { env, ..WorkerOptions::default() })
    };
    // One worker denies every loopback address; the other only 127.0.0.2, so its first hop is allowed.
    let _strict = worker("strict", "169.254.0.0/16,127.0.0.0/8,::1/128");
    let _loose = worker("loose", "127.0.0.2/32");

    let metadata = run("http://169.254.169.254/latest/meta-data/".to_string(), "strict").await;
    assert!(metadata.contains("egress policy") && metadata.contains("169.254.0.0/16"), "{metadata}");
    let by_name = run(format!("http://localhost:{port}/ok/by-name"), "strict").await;
    assert!(by_name.contains("egress policy: localhost resolves to"), "{by_name}");
    let away = format!("http://127.0.0.2:{port}/ok/redirected");
    let redirected = run(format!("{}?url={away}", target.url("/redirect-to")), "loose").await;
    assert!(redirected.contains("egress policy: redirect refused: 127.0.0.2"), "{redirected}");
    assert_eq!(target.count("/redirect-to"), 1, "the allowed first hop was made");
    assert_eq!((target.count("by-name"), target.count("redirected")), (0, 0));
}

#[tokio::test]
async fn a_run_whose_workflow_was_deleted_while_it_waited_fails_saying_so() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "gone"}])).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(1_500);
    let run = app.run_workflow(&workflow, json!({"run_at": soon})).await;
    let (status, body) = app.request(Method::DELETE, &format!("/workflows/{workflow}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "no schedule uses it: {body}");
    let failed = app.wait_for_execution(&run, "failed").await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("no longer exists: it was deleted after this run was queued"), "{failed}");
}
