//! The dashboard in a real browser (headless Chromium over WebDriver): everything a user does there, checked
//! through the API it drives.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::json;

use recur_common::testing::browser::Browser;

use crate::support::{TestApp, TestRedis, WorkerOptions, spawn_app, spawn_app_with, spawn_worker, wait_until};

const LIVE: Duration = Duration::from_secs(15);

fn root(app: &TestApp) -> String {
    app.base.trim_end_matches("/api/v1").to_string()
}

async fn schedule_status(app: &TestApp, id: &str) -> String {
    app.show_schedule(id).await["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_dashboard_finds_pauses_triggers_backfills_edits_and_cancels_through_the_api() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = spawn_worker(&redis, WorkerOptions::default());
    let report = app
        .post_workflow_body(json!({"name": "nightly-report", "steps": [
            {"kind": "log", "name": "greet", "message": "report for {{ trigger.scheduled_for }}"},
            {"kind": "sleep", "seconds": 0.05},
        ]}))
        .await;
    let day_ago = (Timestamp::now() - SignedDuration::from_hours(24)).to_string();
    let schedule = app
        .post_schedule(json!({"name": "billing-nightly", "workflow_id": report, "cron": "0 * * * *",
            "timezone": "Europe/Berlin", "start_at": day_ago}))
        .await;
    let id = schedule["id"].as_str().expect("id").to_string();
    // Another schedule, so that the search has something to leave out.
    app.post_schedule(json!({"name": "other-hourly", "workflow_id": report, "interval_seconds": 3600})).await;
    let browser = Browser::start(1280, 1000).await;

    // Find it by name, open it.
    browser.goto(&format!("{}/ui/schedules", root(&app))).await;
    browser.fill("#schedule-filters input[name=name]", "BILLING").await;
    browser.click("#schedule-filters button[type=submit]").await;
    let listed = browser.wait_for_text("#schedules tbody", "billing-nightly", LIVE).await;
    assert!(!listed.contains("other-hourly"), "the search left nothing out: {listed}");
    browser.click(&format!("#schedules tr[data-id='{id}'] a")).await;
    browser.wait_for_text("#schedule-name", "billing-nightly", LIVE).await;
    // Its workflow by name, not by id.
    browser.wait_for_text("#settings", "nightly-report", LIVE).await;
    browser.wait_for_text("#occurrences", "Europe/Berlin GMT+01:00", LIVE).await;
    // The timeline from just before the spring DST change: 02:00 does not exist that night, 03:00 follows 01:00.
    browser.fill("#timeline-from", "2027-03-27T23:30:00Z").await;
    browser.click("#timeline-form button[type=submit]").await;
    let shift = browser.wait_for_text("#occurrences", "offset changes", LIVE).await;
    assert!(shift.contains("2027-03-28, 01:00") && shift.contains("2027-03-28, 03:00"), "{shift}");
    assert!(!shift.contains("2027-03-28, 02:00"), "{shift}");

    // Pause from the page; the API says paused. Resume.
    browser.click("button[data-action=pause]").await;
    wait_until(LIVE, "the schedule is paused", || async { schedule_status(&app, &id).await == "paused" }).await;
    browser.click("button[data-action=resume]").await;
    wait_until(LIVE, "the schedule is active", || async { schedule_status(&app, &id).await == "active" }).await;

    // Trigger: the run appears on the page by itself, and its step log after a click (no reload).
    browser.click("button[data-action=trigger]").await;
    browser.wait_for_text("#schedule-executions", "succeeded", LIVE).await;
    browser.screenshot("schedule").await;
    browser.click("#schedule-executions tbody tr a").await;
    let steps = browser.wait_for_text("#steps", "greet", LIVE).await;
    assert!(steps.contains("report for") && steps.contains("sleep"), "{steps}");
    browser.wait_for_text("#execution-title", "succeeded", LIVE).await;
    browser.wait_for_text("#execution-facts", "nightly-report v1", LIVE).await;
    browser.screenshot("execution").await;

    // Backfill two past hours from the form, after its preview.
    browser.goto(&format!("{}/ui/schedules/{id}", root(&app))).await;
    let hour = |back: i64| {
        let at = Timestamp::now() - SignedDuration::from_hours(back);
        Timestamp::from_second(at.as_second() - at.as_second() % 3600).expect("an hour").to_string()
    };
    browser.fill("#backfill-from", &hour(3)).await;
    browser.fill("#backfill-to", &hour(2)).await;
    browser.click("#backfill-preview").await;
    browser.wait_for_text("#backfill-occurrences", "2 occurrence(s)", LIVE).await;
    browser.click("#backfill-form button[type=submit]").await;
    browser.wait_for_text("#backfill-form .form-message", "2 run(s) queued", LIVE).await;
    wait_until(LIVE, "both backfill runs ran", || async {
        let history = app.executions(&id).await;
        history.iter().filter(|e| e["state"] == "succeeded").count() >= 3
    })
    .await;

    // An invalid edit: the API's error shows next to its field, and nothing changes.
    browser.fill("#edit-form input[name=timezone]", "Mars/Olympus_Mons").await;
    browser.click("#edit-form button[type=submit]").await;
    let error = browser.wait_for_text("[data-error-for=timezone]", "Mars/Olympus_Mons", LIVE).await;
    assert!(!error.is_empty());
    assert_eq!(app.show_schedule(&id).await["timezone"], "Europe/Berlin");

    // Cancel a running sleep from its page.
    let sleepy = app.post_workflow(json!([{"kind": "sleep", "seconds": 60}])).await;
    let run = app.run_workflow(&sleepy, json!({})).await;
    app.wait_for_execution(&run, "running").await;
    browser.goto(&format!("{}/ui/executions/{run}", root(&app))).await;
    // An ad-hoc run has no schedule to link to.
    browser.wait_for_text("#execution-facts", "none (an ad-hoc run", LIVE).await;
    browser.click("#cancel").await;
    app.wait_for_execution(&run, "cancelled").await;
    browser.wait_for_text("#execution-title", "cancelled", LIVE).await;
    // And a run waiting for its run_at, before it starts.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let waiting = app.run_workflow(&sleepy, json!({"run_at": later})).await;
    browser.goto(&format!("{}/ui/executions/{waiting}", root(&app))).await;
    browser.wait_for_text("#execution-title", "queued", LIVE).await;
    browser.click("#cancel").await;
    browser.wait_for_text("#action-message", "Cancelled before it started", LIVE).await;
    let cancelled = app.wait_for_execution(&waiting, "cancelled").await;
    assert!(cancelled["started_at"].is_null(), "{cancelled}");

    // The overview counts it all.
    browser.goto(&format!("{}/", root(&app))).await;
    browser.wait_for_text("#schedule-counts", "active", LIVE).await;
    browser.wait_for_text("#runs-chart", "runs", LIVE).await;
    browser.wait_for_text("#workers", "concurrency", LIVE).await;
    browser.screenshot("overview").await;
    browser.close().await;
}

#[tokio::test]
async fn with_keys_the_dashboard_asks_for_one_sends_it_as_a_bearer_token_and_says_when_redis_is_down() {
    let mut redis = TestRedis::start();
    let app = spawn_app_with(&redis, &[("RECUR_API_KEYS", "dashboard-key")]).await;
    let browser = Browser::start(420, 900).await;
    browser.goto(&format!("{}/ui/workflows", root(&app))).await;
    browser.fill("#api-key", "wrong-key").await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_text("main", "That key was refused", LIVE).await;
    browser.fill("#api-key", "dashboard-key").await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_text("main", "No workflow yet", LIVE).await;
    // The page itself holds nothing: without the key the API still refuses.
    let (status, _) = app.request(Method::GET, "/workflows", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // When Redis goes away the page says so, and when it is back, stops saying it.
    redis.kill();
    browser.wait_for_text("#banner", "Redis is unavailable", LIVE).await;
    redis.restart();
    wait_until(LIVE, "the banner is gone", || async {
        browser.find("#banner").await.is_displayed().await.is_ok_and(|shown| !shown)
    })
    .await;
    browser.close().await;
}
