//! Cron, one-shot, bounds, catch-up, overlap, restart, backfill and preview through the REST API, run by a
//! real worker on short real intervals and 6-field crons.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestRedis, WorkerOptions, spawn_app, spawn_worker};

fn instant(value: &Value) -> Timestamp {
    value.as_str().expect("an RFC 3339 string").parse().expect("an instant")
}

fn in_seconds(seconds: i64) -> String {
    (Timestamp::now() + SignedDuration::from_secs(seconds)).to_string()
}

#[tokio::test]
async fn a_six_field_cron_runs_on_whole_seconds_then_is_done() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "tick"}])).await;
    let schedule = app
        .post_schedule(
            json!({"workflow_id": workflow, "cron": "* * * * * *", "timezone": "Asia/Kolkata", "repeat_count": 3}),
        )
        .await;
    assert_eq!((schedule["cron"].as_str(), schedule["interval_seconds"].clone()), (Some("* * * * * *"), Value::Null));
    let id = schedule["id"].as_str().unwrap();

    app.wait_for_status(id, "done", Duration::from_secs(15)).await;
    let executions = app.executions(id).await;
    let due: Vec<Timestamp> = executions.iter().map(|e| instant(&e["scheduled_for"])).collect();
    assert_eq!(due.len(), 3, "{executions:?}");
    assert!(due.iter().all(|t| t.subsec_nanosecond() == 0), "cron runs on whole seconds: {due:?}");
    assert!(due.windows(2).all(|w| w[1].duration_since(w[0]) == SignedDuration::from_secs(1)), "{due:?}");
}

#[tokio::test]
async fn bad_calendars_are_refused_with_codes_that_name_the_field() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let cases = [
        (json!({"cron": "0 25 * * *"}), "invalid_cron", "cron", "field 2 (hour)"),
        (json!({"cron": "0 9 * *"}), "invalid_cron", "cron", "4 fields"),
        (json!({"cron": "0 0 30 2 *"}), "invalid_cron", "cron", "never run"),
        (
            json!({"cron": "0 9 * * *", "timezone": "Europe/Atlantis"}),
            "invalid_timezone",
            "timezone",
            "Europe/Atlantis",
        ),
        (json!({"cron": "0 9 * * *", "interval_seconds": 60}), "validation_error", "cron", "exactly one"),
        (json!({"timezone": "UTC", "interval_seconds": 60}), "validation_error", "timezone", "only to a cron"),
        (json!({}), "validation_error", "interval_seconds", "one of interval_seconds, cron or run_at"),
        (json!({"interval_seconds": 60, "end_at": "2020-01-01T00:00:00Z"}), "validation_error", "end_at", "never run"),
        (json!({"run_at": in_seconds(60), "start_at": in_seconds(120)}), "validation_error", "run_at", "never run"),
        (json!({"run_at": in_seconds(60), "repeat_count": 3}), "validation_error", "repeat_count", "runs once"),
        (
            json!({"interval_seconds": 60, "overlap": "sometimes"}),
            "validation_error",
            "overlap",
            "overlap must be one of skip, buffer_one, allow, not \"sometimes\"",
        ),
    ];
    for (body, code, field, words) in cases {
        let mut body = body;
        body["workflow_id"] = json!(workflow);
        let (status, answer) = app.request(Method::POST, "/schedules", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(
            (answer["error"]["code"].as_str(), answer["error"]["field"].as_str()),
            (Some(code), Some(field)),
            "{body} → {answer}"
        );
        assert!(answer["error"]["message"].as_str().unwrap().contains(words), "{body} → {answer}");
    }
    let (_, listed) = app.request(Method::GET, "/schedules", None).await;
    assert_eq!(listed["items"], json!([]), "nothing that cannot fire was stored");
}

#[tokio::test]
async fn preview_and_upcoming_show_the_occurrences_the_runs_follow() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let body = json!({"workflow_id": workflow, "cron": "30 2 * * *", "timezone": "America/New_York"});
    let (status, preview) =
        app.request(Method::POST, "/schedules/preview?count=3&from=2027-03-13T12:00:00Z", Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    // 02:30 does not exist on 2027-03-14 in New York: that day's run is right after the jump, at 03:00 EDT.
    assert_eq!(
        preview,
        json!({"occurrences": ["2027-03-14T07:00:00Z", "2027-03-15T06:30:00Z", "2027-03-16T06:30:00Z"],
            "from": "2027-03-13T12:00:00Z"})
    );
    // A `from` before the schedule's start (start_at defaults to now) counts from the start, and says so.
    let with_start = json!({"workflow_id": workflow, "cron": "0 * * * *", "start_at": "2027-01-01T00:00:00Z"});
    let (_, early) =
        app.request(Method::POST, "/schedules/preview?count=1&from=2026-01-01T00:00:00Z", Some(with_start)).await;
    assert_eq!(early, json!({"occurrences": ["2027-01-01T00:00:00Z"], "from": "2027-01-01T00:00:00Z"}));
    let (_, listed) = app.request(Method::GET, "/schedules", None).await;
    assert_eq!(listed["items"], json!([]), "a preview saves nothing");

    let schedule = app.post_schedule(body).await;
    let id = schedule["id"].as_str().unwrap();
    let (status, upcoming) = app.request(Method::GET, &format!("/schedules/{id}/upcoming?count=2"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upcoming["occurrences"][0], schedule["next_run_at"], "the same function plans the real runs");
    assert_eq!(upcoming["occurrences"].as_array().unwrap().len(), 2);
    for bad in ["count=0", "count=1001", "from=yesterday", "colour=red"] {
        let (status, answer) = app.request(Method::GET, &format!("/schedules/{id}/upcoming?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
    }
}

#[tokio::test]
async fn a_one_shot_run_runs_once_then_restart_runs_it_again_under_a_new_id() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "once"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "run_at": in_seconds(1)})).await;
    let id = schedule["id"].as_str().unwrap();
    assert_eq!(schedule["next_run_at"], schedule["run_at"]);

    let done = app.wait_for_status(id, "done", Duration::from_secs(10)).await;
    assert_eq!((done["run_count"].as_u64(), done["next_run_at"].clone()), (Some(1), Value::Null));
    // Held still, the worker cannot finish the restarted run before the second restart is asked for.
    worker.pause();
    let (status, restarted) = app.request(Method::POST, &format!("/schedules/{id}/restart"), None).await;
    assert_eq!((status, restarted["status"].as_str()), (StatusCode::OK, Some("active")));
    let (status, again) = app.request(Method::POST, &format!("/schedules/{id}/restart"), None).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    worker.resume();

    app.wait_for_status(id, "done", Duration::from_secs(10)).await;
    let ids: Vec<String> = app.executions(id).await.iter().map(|e| e["job_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, [format!("sched-{id}-n0-rc0"), format!("sched-{id}-n2-rc0")], "ids never repeat");
}

#[tokio::test]
async fn end_at_stops_an_interval_schedule_and_it_is_done() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let start = Timestamp::now() + SignedDuration::from_millis(500);
    let end = start + SignedDuration::from_millis(2_500);
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "start_at": start.to_string(), "end_at": end.to_string()}))
        .await;
    let id = schedule["id"].as_str().unwrap();
    let done = app.wait_for_status(id, "done", Duration::from_secs(10)).await;
    let executions = app.executions(id).await;
    assert_eq!(done["run_count"].as_u64(), Some(3), "{executions:?}");
    assert!(executions.iter().all(|e| instant(&e["started_at"]) <= end), "no run after end_at: {executions:?}");
}

#[tokio::test]
async fn an_occurrence_missed_beyond_the_window_is_skipped_not_replayed() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let schedule = app
        .post_schedule(json!({"workflow_id": workflow, "interval_seconds": 1, "catchup_window_seconds": 1, "start_at": in_seconds(0)}))
        .await;
    let id = schedule["id"].as_str().unwrap();
    // No worker runs: the occurrence is found 2.5 s late by the tick.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (status, report) = app.request(Method::POST, "/admin/tick", None).await;
    assert_eq!(
        (status, report["skipped_expired"].as_u64(), report["skipped_overlap"].as_u64()),
        (StatusCode::OK, Some(1), Some(0))
    );
    let after = app.show_schedule(id).await;
    assert!(after["missed_count"].as_u64().unwrap() >= 2, "{after}");
    assert!(instant(&after["next_run_at"]) > Timestamp::now() - SignedDuration::from_millis(100), "{after}");
    let executions = app.executions(id).await;
    assert_eq!(executions.len(), 1, "one skipped record, no replay: {executions:?}");
    assert_eq!(executions[0]["state"], "skipped");

    // A worker then runs the next occurrences normally.
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    crate::support::wait_until(Duration::from_secs(10), "an occurrence ran", || async {
        app.executions(id).await.iter().any(|e| e["state"] == "succeeded")
    })
    .await;
}

#[tokio::test]
async fn trigger_obeys_overlap_skip_and_allow_lets_runs_overlap() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let slow = app.post_workflow(json!([{"kind": "sleep", "seconds": 2}])).await;
    let skip = app.post_schedule(json!({"workflow_id": slow, "interval_seconds": 3600})).await;
    let skip_id = skip["id"].as_str().unwrap();
    app.trigger_schedule(skip_id).await;
    app.wait_until_running(skip_id, None).await;
    let (status, refused) = app.request(Method::POST, &format!("/schedules/{skip_id}/trigger"), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_running")));

    let allow = app
        .post_schedule(json!({"workflow_id": slow, "cron": "* * * * * *", "overlap": "allow", "repeat_count": 2}))
        .await;
    let allow_id = allow["id"].as_str().unwrap();
    app.wait_for_status(allow_id, "done", Duration::from_secs(15)).await;
    let runs = app.executions(allow_id).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(instant(&runs[1]["started_at"]) < instant(&runs[0]["finished_at"]), "the runs overlapped: {runs:?}");
}

#[tokio::test]
async fn backfill_runs_past_occurrences_in_order_beside_the_chain() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "cron": "0 * * * *"})).await;
    let id = schedule["id"].as_str().unwrap();
    let range = json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T03:00:00Z"});
    let (status, backfill) = app.request(Method::POST, &format!("/schedules/{id}/backfill"), Some(range)).await;
    assert_eq!((status, backfill["queued"].as_u64()), (StatusCode::ACCEPTED, Some(4)), "{backfill}");

    crate::support::wait_until(Duration::from_secs(10), "four backfill runs", || async {
        app.finished_executions(id).await.len() == 4
    })
    .await;
    let runs = app.executions(id).await;
    let expected: Vec<(String, String)> = (0..4)
        .map(|hour| {
            let t: Timestamp = format!("2026-01-01T0{hour}:00:00Z").parse().unwrap();
            (format!("sched-{id}-bf-{}", t.as_second()), t.to_string())
        })
        .collect();
    let got: Vec<(String, String)> = runs
        .iter()
        .map(|e| (e["job_id"].as_str().unwrap().to_string(), e["scheduled_for"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected);
    assert!(runs.windows(2).all(|w| instant(&w[1]["started_at"]) >= instant(&w[0]["finished_at"])), "one at a time");
    assert_eq!(app.show_schedule(id).await["current_repeat"], 0, "the regular chain is untouched");

    let too_many = json!({"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"});
    let (status, answer) = app.request(Method::POST, &format!("/schedules/{id}/backfill"), Some(too_many)).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("to")), "{answer}");
    // The hours to come are the regular chain's to run.
    let now = Timestamp::now();
    let ahead = json!({"from": now - SignedDuration::from_hours(2), "to": now + SignedDuration::from_hours(3)});
    let (status, answer) = app.request(Method::POST, &format!("/schedules/{id}/backfill"), Some(ahead)).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("to")), "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("in the future")), "{answer}");
}
