//! Several workers, graceful shutdown, start-up failures and the operator's `inspect`.

use std::{collections::HashSet, process::Command, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestRedis, WorkerOptions, binary, spawn_app, spawn_worker, terminate, wait_until};

#[tokio::test]
async fn three_workers_run_25_schedules_4_times_each_exactly_100_runs() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _workers: Vec<_> =
        (0..3).map(|_| spawn_worker(&redis, WorkerOptions { concurrency: 4, ..WorkerOptions::default() })).collect();
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 0.05}])).await;
    let ids = app.post_repeating_schedules(&workflow, 25, 4).await;
    for id in &ids {
        app.wait_for_status(id, "done", Duration::from_secs(30)).await;
    }
    let mut runs = 0;
    let mut workers = HashSet::new();
    for id in &ids {
        let executions = app.executions(id).await;
        let jobs: Vec<&str> = executions.iter().map(|e| e["job_id"].as_str().unwrap()).collect();
        assert_eq!(jobs, (0..4).map(|n| format!("sched-{id}-n{n}-rc0")).collect::<Vec<_>>());
        assert!(executions.iter().all(|e| e["state"] == "succeeded" && e["attempt"] == 1), "{executions:?}");
        workers.extend(executions.iter().map(|e| e["worker_id"].as_str().unwrap().to_string()));
        runs += executions.len();
    }
    assert_eq!(runs, 100);
    assert!(workers.len() >= 2, "all runs went to one worker: {workers:?}");
}

#[tokio::test]
async fn a_worker_runs_at_most_its_concurrency_at_once_and_uses_all_of_it() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 0.4}])).await;
    // Queued before the worker starts, so that it is busy from its first claim.
    let (status, body) = app
        .request(Method::POST, &format!("/workflows/{workflow}/runs"), Some(json!({"items": vec![json!({}); 12]})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let _worker = spawn_worker(&redis, WorkerOptions { concurrency: 4, ..WorkerOptions::default() });
    let listing = format!("/executions?workflow_id={workflow}&limit=100");
    let executions = || async {
        let (_, page) = app.request(Method::GET, &listing, None).await;
        page["items"].as_array().cloned().unwrap_or_default()
    };
    wait_until(Duration::from_secs(30), "the 12 runs succeeded", || async {
        let executions = executions().await;
        executions.len() == 12 && executions.iter().all(|e| e["state"] == "succeeded")
    })
    .await;
    let executions = executions().await;
    // A run holds its place from its claim (`started_at`) until its workflow ends (`finished_at`).
    let instant = |e: &Value, field: &str| e[field].as_str().expect(field).parse::<jiff::Timestamp>().expect("a time");
    let mut edges: Vec<(jiff::Timestamp, i32)> =
        executions.iter().flat_map(|e| [(instant(e, "started_at"), 1), (instant(e, "finished_at"), -1)]).collect();
    // An end and a start at the same millisecond do not overlap: ends first.
    edges.sort();
    let (mut running, mut most) = (0, 0);
    for (_, step) in edges {
        running += step;
        most = most.max(running);
    }
    assert_eq!(most, 4, "runs at once, with RECUR_CONCURRENCY=4: {executions:?}");
}

#[tokio::test]
async fn a_run_is_recorded_as_it_ends_on_an_idle_worker_and_beside_long_runs_holding_the_other_permit() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let long = app.post_workflow(json!([{"kind": "sleep", "seconds": 8}])).await;
    let short = app.post_workflow(json!([{"kind": "sleep", "seconds": 0.2}])).await;
    let _worker = spawn_worker(&redis, WorkerOptions { concurrency: 2, ..WorkerOptions::default() });
    let state = |execution: String| {
        let app = &app;
        async move { app.request(Method::GET, &format!("/executions/{execution}"), None).await.1["state"].clone() }
    };
    // Idle, the worker claims no more after the run: its end goes out on its own.
    let lone = app.run_workflow(&short, json!({})).await;
    wait_until(Duration::from_secs(3), "the lone run is recorded as succeeded", || async {
        state(lone.clone()).await == "succeeded"
    })
    .await;

    // Busy: the first long run and the short one take both permits, and the short one's permit goes to the
    // second long run; its end must not wait for a claim after that.
    let first_long = app.run_workflow(&long, json!({})).await;
    let short_run = app.run_workflow(&short, json!({})).await;
    let second_long = app.run_workflow(&long, json!({})).await;
    wait_until(Duration::from_secs(4), "both long runs are running", || async {
        state(first_long.clone()).await == "running" && state(second_long.clone()).await == "running"
    })
    .await;
    wait_until(Duration::from_secs(2), "the short run is recorded as succeeded", || async {
        state(short_run.clone()).await == "succeeded"
    })
    .await;
    assert_eq!(
        (state(first_long.clone()).await, state(second_long.clone()).await),
        (json!("running"), json!("running")),
        "the long runs still hold both permits"
    );
}

#[tokio::test]
async fn sigterm_lets_the_running_job_finish_and_exits_zero() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let mut worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 1.5}])).await;
    let id = &app.post_schedule_due_now(&workflow).await;
    app.wait_until_running(id, None).await;

    let status = worker.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "worker exited with {status}");
    let executions = app.executions(id).await;
    assert_eq!((executions.len(), executions[0]["state"].as_str()), (1, Some("succeeded")));
    assert_eq!(app.show_schedule(id).await["run_count"], 1);
}

#[test]
fn both_binaries_exit_non_zero_with_one_clear_line_when_redis_is_unreachable() {
    let nowhere = format!("redis://127.0.0.1:{}", recur_common::testing::free_port());
    for (name, args) in [("recur-worker", vec![]), ("recur-worker", vec!["inspect"]), ("recur-api", vec![])] {
        let output = Command::new(binary(name))
            .args(&args)
            .env("REDIS_URL", &nowhere)
            .env("RECUR_API_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "off")
            .output()
            .expect("run binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} {args:?} exited 0");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains("cannot reach Redis at redis://127.0.0.1"), "{name}: {stderr}");
        assert_eq!(stderr.matches("cannot reach Redis").count(), 1, "said once: {stderr}");
    }
}

#[test]
fn a_misspelt_setting_is_warned_of_at_start_with_the_one_it_likely_meant() {
    let nowhere = format!("redis://127.0.0.1:{}", recur_common::testing::free_port());
    for name in ["recur-worker", "recur-api"] {
        let output = Command::new(binary(name))
            .env("REDIS_URL", &nowhere)
            .env("RECUR_API_ADDR", "127.0.0.1:0")
            .env("RECUR_CONCURENCY", "4")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let warning = "RECUR_CONCURENCY is set, but no recur program reads it: did you mean RECUR_CONCURRENCY?";
        assert!(stderr.contains(warning), "{name}: {stderr}");
    }
}

#[tokio::test]
async fn a_metrics_address_in_use_stops_the_worker_at_start_with_one_line() {
    let redis = TestRedis::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut worker = Command::new(binary("recur-worker"))
        .env("REDIS_URL", redis.url())
        .env("RECUR_METRICS_ADDR", &addr)
        .env("RUST_LOG", "off")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while worker.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = worker.kill();
            panic!("the worker kept running without its metrics and probes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = worker.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.trim().lines().count() == 1, "{stderr}");
    assert!(stderr.contains(&format!("cannot serve metrics on {addr}")), "{stderr}");
}

#[test]
fn a_setting_out_of_range_stops_the_binary_at_start_with_one_line_naming_it() {
    for (variable, value) in [
        ("RECUR_LEASE_SECONDS", "18446744073709551615"),
        ("RECUR_RECONCILE_SECONDS", "0"),
        ("RECUR_CONCURRENCY", "1000000"),
        ("RECUR_SHUTDOWN_GRACE_SECONDS", "-1"),
        ("RECUR_EXECUTION_KEEP", "0"),
    ] {
        let output = Command::new(binary("recur-worker"))
            .env("REDIS_URL", "redis://127.0.0.1:1")
            .env(variable, value)
            .env("RUST_LOG", "off")
            .output()
            .expect("run recur-worker");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{variable}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{variable}={value}: {stderr}");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
}

#[tokio::test]
async fn inspect_reports_queues_workers_and_schedules_as_json() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    // A lease of 3 s: a heartbeat a second.
    let options = WorkerOptions { id: "inspected-worker".to_string(), lease_seconds: 3, ..WorkerOptions::default() };
    let _worker = spawn_worker(&redis, options);
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600})).await;
    let run_inspect = |json: bool| {
        let mut command = Command::new(binary("recur-worker"));
        command.arg("inspect").env("REDIS_URL", redis.url());
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("run inspect");
        assert!(output.status.success());
        String::from_utf8(output.stdout).expect("utf-8")
    };
    wait_until(Duration::from_secs(10), "the worker heartbeat is visible", || async {
        run_inspect(true).contains("inspected-worker")
    })
    .await;
    let overview: Value = serde_json::from_str(&run_inspect(true)).unwrap();
    let queue = &overview["queues"][0];
    assert_eq!(
        (queue["name"].as_str(), queue["delayed"].as_u64(), queue["ready"].as_u64()),
        (Some("default"), Some(1), Some(0))
    );
    assert_eq!(queue["next_job"].as_str(), Some(format!("sched-{}-n0-rc0", schedule["id"].as_str().unwrap()).as_str()));
    assert_eq!(overview["schedules"]["active"], 1);
    assert_eq!(overview["workers"][0]["id"], "inspected-worker");
    assert_eq!(overview["workers"][0]["description"]["concurrency"], 16, "numbers as numbers");
    let table = run_inspect(false);
    assert!(table.contains("default") && table.contains("inspected-worker") && table.contains("active 1"), "{table}");
    // From its second heartbeat, how far its clock is off Redis's: on one machine, by nothing to speak of.
    wait_until(Duration::from_secs(10), "the worker's clock skew is shown", || async {
        let overview: Value = serde_json::from_str(&run_inspect(true)).unwrap();
        overview["workers"][0]["description"]["clock_skew_ms"].as_i64().is_some_and(|skew| skew.abs() < 1_000)
    })
    .await;
}

#[tokio::test]
async fn api_and_worker_reach_redis_over_tls_and_verify_its_certificate() {
    let redis = TestRedis::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "over tls"}])).await;
    let id = &app.post_schedule_due_now(&workflow).await;
    wait_until(Duration::from_secs(10), "the job ran over TLS", || async {
        app.show_schedule(id).await["run_count"] == 1
    })
    .await;

    // A client that does not trust the server's certificate is refused.
    let output = Command::new(binary("recur-worker"))
        .arg("inspect")
        .env("REDIS_URL", redis.url())
        .env_remove("SSL_CERT_FILE")
        .output()
        .expect("run inspect");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach Redis at rediss://127.0.0.1"));
}

#[tokio::test]
async fn a_job_still_running_when_the_grace_period_ends_is_handed_back_and_run_by_another_worker() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let mut leaving = spawn_worker(
        &redis,
        WorkerOptions { id: "leaving".to_string(), shutdown_grace_seconds: 1, ..WorkerOptions::default() },
    );
    let workflow = app.post_workflow(json!([{"kind": "sleep", "seconds": 3}])).await;
    let id = &app.post_schedule_due_now(&workflow).await;
    app.wait_until_running(id, None).await;

    let status = leaving.terminate(Duration::from_secs(5)).await;
    assert!(status.success(), "worker exited with {status}");
    let handed_back = &app.executions(id).await[0];
    assert_eq!(handed_back["state"], "failed");
    assert_eq!(handed_back["error"], "worker shut down before the job finished");

    // The lease was handed back, so the next worker runs the job at once rather than after the 30 s lease.
    let _staying = spawn_worker(&redis, WorkerOptions { id: "staying".to_string(), ..WorkerOptions::default() });
    wait_until(Duration::from_secs(10), "the other worker finished the job", || async {
        app.show_schedule(id).await["run_count"] == 1
    })
    .await;
    let executions = app.executions(id).await;
    assert_eq!((executions[1]["worker_id"].as_str(), executions[1]["attempt"].as_u64()), (Some("staying"), Some(2)));
    assert_eq!(executions[0]["job_id"], executions[1]["job_id"]);
}

/// Starts `name` against `redis` with `env`, its log (text, `RUST_LOG=info`) written to a file; the file.
fn spawn_logged(name: &str, redis: &TestRedis, env: &[(&str, String)]) -> (std::process::Child, std::path::PathBuf) {
    let log = std::env::temp_dir().join(format!("recur-log-{}", uuid::Uuid::new_v4()));
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(binary(name))
        .env("REDIS_URL", redis.url())
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn");
    (child, log)
}

#[tokio::test]
async fn failures_are_logged_at_warn_with_their_error_and_requests_in_an_access_log_without_keys() {
    let redis = TestRedis::start();
    let port = recur_common::testing::free_port();
    let env = [("RECUR_API_ADDR", format!("127.0.0.1:{port}")), ("RECUR_API_KEYS", "secret-key".to_string())];
    let (mut api, api_log) = spawn_logged("recur-api", &redis, &env);
    let (mut worker, worker_log) = spawn_logged("recur-worker", &redis, &[]);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = client.request(method, format!("{base}{path}")).bearer_auth("secret-key");
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.ok()?.json::<Value>().await.ok() }
    };
    wait_until(Duration::from_secs(20), "the API answers", || async {
        send(reqwest::Method::GET, "/workflows".to_string(), None).await.is_some()
    })
    .await;
    let steps = json!([{"kind": "http", "url": "http://169.254.169.254/", "timeout_seconds": 1}]);
    let workflow =
        send(reqwest::Method::POST, "/workflows".to_string(), Some(json!({"name": "doomed", "steps": steps})))
            .await
            .expect("workflow");
    let body = json!({"workflow_id": workflow["id"], "run_at": jiff::Timestamp::now().to_string(), "retry_max": 0});
    let schedule = send(reqwest::Method::POST, "/schedules".to_string(), Some(body)).await.expect("schedule");
    let id = schedule["id"].as_str().expect("id").to_string();
    wait_until(Duration::from_secs(15), "the schedule is dead", || async {
        send(reqwest::Method::GET, format!("/schedules/{id}"), None).await.is_some_and(|s| s["status"] == "dead")
    })
    .await;
    let worker_text = std::fs::read_to_string(&worker_log).unwrap_or_default();
    let warned = |needle: &str| worker_text.lines().any(|line| line.contains("WARN") && line.contains(needle));
    assert!(warned("failed in") && warned("egress policy"), "the failure and its error at WARN:\n{worker_text}");
    assert!(warned("is dead after its retries"), "the dead schedule at WARN:\n{worker_text}");
    // A manual run of the dead schedule fails at WARN too, but it leaves the schedule as dead as it was: no
    // second warning that it died.
    send(reqwest::Method::POST, format!("/schedules/{id}/trigger"), None).await.expect("trigger");
    wait_until(Duration::from_secs(15), "the manual run's failure is logged", || async {
        let text = std::fs::read_to_string(&worker_log).unwrap_or_default();
        text.lines().any(|line| line.contains("WARN") && line.contains("-manual-") && line.contains("failed in"))
    })
    .await;
    let worker_text = std::fs::read_to_string(&worker_log).unwrap_or_default();
    let deaths = worker_text.lines().filter(|line| line.contains("is dead after its retries")).count();
    assert_eq!(deaths, 1, "one death, one warning:\n{worker_text}");
    let api_text = std::fs::read_to_string(&api_log).unwrap_or_default();
    assert!(api_text.lines().any(|line| line.contains("GET /api/v1/schedules/{id} 200")), "{api_text}");
    assert!(!api_text.contains("secret-key"), "the key is never logged");
    let access: Vec<&str> = api_text.lines().filter(|line| line.contains("http.route=")).collect();
    assert!(access.len() >= 4 && access.iter().all(|line| !line.contains(&id)), "routes, not ids: {access:?}");
    for child in [&mut api, &mut worker] {
        let _ = child.kill();
        let _ = child.wait();
    }
    for log in [api_log, worker_log] {
        let _ = std::fs::remove_file(log);
    }
}

#[tokio::test]
async fn the_alert_webhooks_hear_of_a_dead_schedule_and_of_a_recovery() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = crate::support::Target::start().await;
    let env = vec![("RECUR_ALERT_WEBHOOK", target.url("/alert"))];
    let _worker = spawn_worker(&redis, WorkerOptions { env, ..WorkerOptions::default() });
    let doomed =
        app.post_workflow(json!([{"kind": "http", "url": "http://169.254.169.254/", "timeout_seconds": 1}])).await;
    // This schedule's team hears of it too, at its own webhook.
    let team = target.url("/team-alert");
    let dead = app
        .post_schedule(json!({"workflow_id": doomed, "interval_seconds": 1, "retry_max": 0, "alert_webhook": team}))
        .await;
    assert_eq!(dead["alert_webhook"], team);
    let flaky = app.post_workflow(json!([{"kind": "http", "url": target.url("/fail-first/1/flaky")}])).await;
    let recovering = app
        .post_schedule(json!({"workflow_id": flaky, "interval_seconds": 1, "retry_max": 2, "repeat_count": 1}))
        .await;
    let (status, refused) = app
        .request(
            Method::PATCH,
            &format!("/schedules/{}", recovering["id"].as_str().unwrap()),
            Some(json!({"alert_webhook": "ftp://x"})),
        )
        .await;
    assert_eq!((status, &refused["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("alert_webhook")), "{refused}");
    wait_until(Duration::from_secs(20), "both alerts arrived", || async { target.count("/alert") >= 2 }).await;
    wait_until(Duration::from_secs(20), "the team's alert arrived", || async { target.count("/team-alert") >= 1 })
        .await;
    let team_alerts = target.bodies("/team-alert");
    assert_eq!((team_alerts.len(), &team_alerts[0]["event"]), (1, &json!("schedule_dead")), "{team_alerts:?}");
    assert_eq!(team_alerts[0]["schedule_id"], dead["id"]);

    let alerts = target.bodies("/alert");
    let of = |event: &str| alerts.iter().find(|alert| alert["event"] == event).cloned().unwrap_or(Value::Null);
    let died = of("schedule_dead");
    assert_eq!(died["schedule_id"], dead["id"], "{alerts:?}");
    assert!(died["error"].as_str().unwrap_or_default().contains("egress policy"), "{died}");
    assert_eq!(of("schedule_recovered")["schedule_id"], recovering["id"], "{alerts:?}");
    assert_eq!(alerts.len(), 2, "a failure that is retried raises no alert: {alerts:?}");
}

#[tokio::test]
async fn every_setting_is_a_flag_too_and_a_flag_wins_over_its_variable() {
    let help = |name: &str| {
        let output = Command::new(binary(name)).arg("--help").output().expect("run --help");
        assert!(output.status.success());
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let helps = help("recur-api") + &help("recur-worker");
    let documented = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example")).unwrap();
    for line in documented.lines().filter(|line| !line.starts_with('#') && line.contains('=')) {
        let variable = line.split('=').next().unwrap();
        if variable != "RUST_LOG" {
            assert!(helps.contains(&format!("[env: {variable}]")), "{variable} is not a flag:\n{helps}");
        }
    }
    assert!(helps.contains("--lease-seconds") && helps.contains("--api-addr") && helps.contains("--redis-url"));

    // The flag wins: the worker refuses its flag's value, not the variable's.
    let output = Command::new(binary("recur-worker"))
        .args(["--concurrency", "0"])
        .env("RECUR_CONCURRENCY", "8")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .expect("run recur-worker");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("RECUR_CONCURRENCY=\"0\""), "{stderr}");
    // And the API listens where its flag says.
    let redis = TestRedis::start();
    let port = recur_common::testing::free_port();
    let mut api = Command::new(binary("recur-api"))
        .args(["--api-addr", &format!("127.0.0.1:{port}"), "--redis-url", &redis.url()])
        .env("RECUR_API_ADDR", "127.0.0.1:1")
        .env("RUST_LOG", "off")
        .spawn()
        .expect("spawn recur-api");
    wait_until(Duration::from_secs(20), "recur-api answers on its flag's address", || async move {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;
    let _ = api.kill();
    let _ = api.wait();
}

#[tokio::test]
async fn a_worker_and_an_api_whose_log_pipe_closed_keep_working_and_stop_on_sigterm() {
    use std::{
        io::{BufRead, BufReader},
        process::Stdio,
    };
    let redis = TestRedis::start();
    let port = recur_common::testing::free_port();
    let spawn = |name: &str| {
        Command::new(binary(name))
            .env("REDIS_URL", redis.url())
            .env("RECUR_API_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let mut processes = Vec::new();
    for (name, started) in [("recur-api", "listening"), ("recur-worker", "started on queues")] {
        let mut child = spawn(name);
        // Read until it says it started, then close the pipe, as a log collector that died would.
        let log = BufReader::new(child.stderr.take().expect("stderr"));
        let line = log.lines().map_while(Result::ok).find(|line| line.contains(started));
        assert!(line.is_some(), "{name} never logged {started:?}");
        processes.push(child);
    }
    let api = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let post = |path: String, body: Value| {
        let request = api.post(format!("{base}{path}")).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let logged = json!({"name": "logged", "steps": [{"kind": "log", "message": "into a closed pipe"}]});
    let workflow = post("/workflows".to_string(), logged).await;
    let run = post(format!("/workflows/{}/run", workflow["id"].as_str().unwrap()), json!({})).await;
    let execution = format!("{base}/executions/{}", run["execution_id"].as_str().expect("a run"));
    wait_until(Duration::from_secs(10), "the run succeeded", || async {
        let answer: Value = api.get(&execution).send().await.unwrap().json().await.unwrap();
        answer["state"] == "succeeded"
    })
    .await;
    for mut child in processes.into_iter().rev() {
        let status = terminate(&mut child, Duration::from_secs(10)).await;
        assert!(status.success(), "{child:?} exited {status} on SIGTERM");
    }
}
