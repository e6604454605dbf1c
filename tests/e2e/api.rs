//! The REST contract: status codes, the error envelope, Pipelit's body, auth, slashes and paging.

use std::{process::Command, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestRedis, binary, spawn_app, spawn_app_with};

/// method, path, body, expected status, error code, and the field the error names (when it names one).
type Case = (Method, String, Option<Value>, StatusCode, &'static str, Option<&'static str>);

#[tokio::test]
async fn every_bad_request_gets_the_right_status_code_and_field_never_a_500() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let unknown = uuid::Uuid::new_v4();
    let schedule = |extra: Value| {
        let mut body = json!({"workflow_id": workflow, "interval_seconds": 60});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let big = "x".repeat(70 * 1024);
    let long_cron = format!("0 {} * * *", vec!["1"; 600].join(","));
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"start_at": "0001-01-01T00:00:00Z"}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("start_at"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"end_at": "9999-06-01T00:00:00Z"}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("end_at"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(json!({"workflow_id": workflow, "cron": long_cron})),
            StatusCode::BAD_REQUEST,
            "invalid_cron",
            Some("cron"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(json!({"bogus": 1})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("bogus"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(json!({"interval_seconds": 5})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("workflow_id"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(json!({"workflow_id": "42", "interval_seconds": 5})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("workflow_id"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(json!({"workflow_id": workflow})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("interval_seconds"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"interval_seconds": "abc"}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("interval_seconds"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"interval_seconds": 0}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("interval_seconds"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"interval_seconds": -5}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("interval_seconds"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"interval_seconds": 1.5}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("interval_seconds"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"retry_max": 101}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("retry_max"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"repeat_count": -1}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("repeat_count"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"timeout_seconds": 0}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("timeout_seconds"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"queue": "Not A Queue"}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("queue"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"payload": [1, 2]}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("payload"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"payload": {"big": big}}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("payload"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"name": ""}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("name"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"name": "n".repeat(201)}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("name"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"description": "d".repeat(2001)}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("description"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"start_at": "yesterday"}))),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("start_at"),
        ),
        (
            Method::POST,
            "/schedules".into(),
            Some(schedule(json!({"workflow_id": unknown}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_workflow",
            Some("workflow_id"),
        ),
        (Method::POST, "/schedules".into(), Some(json!([1])), StatusCode::BAD_REQUEST, "validation_error", None),
        (Method::GET, "/schedules?limit=0".into(), None, StatusCode::BAD_REQUEST, "validation_error", Some("limit")),
        (Method::GET, "/schedules?limit=501".into(), None, StatusCode::BAD_REQUEST, "validation_error", Some("limit")),
        (Method::GET, "/schedules?limit=ten".into(), None, StatusCode::BAD_REQUEST, "validation_error", Some("limit")),
        (
            Method::GET,
            "/schedules?status=sleeping".into(),
            None,
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("status"),
        ),
        (
            Method::GET,
            "/schedules?workflow_id=7".into(),
            None,
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("workflow_id"),
        ),
        (Method::GET, "/schedules?color=red".into(), None, StatusCode::BAD_REQUEST, "validation_error", Some("color")),
        (
            Method::GET,
            "/executions?state=queued".into(),
            None,
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("state"),
        ),
        (
            Method::GET,
            format!("/schedules?cursor={unknown}"),
            None,
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("cursor"),
        ),
        (Method::GET, "/schedules/not-a-uuid".into(), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::GET, format!("/schedules/{unknown}"), None, StatusCode::NOT_FOUND, "not_found", None),
        (
            Method::PATCH,
            format!("/schedules/{unknown}"),
            Some(json!({"name": "x"})),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (Method::POST, format!("/schedules/{unknown}/pause"), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::POST, format!("/schedules/{unknown}/trigger"), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::DELETE, format!("/schedules/{unknown}"), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::GET, format!("/schedules/{unknown}/executions"), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::GET, "/executions/garbage".into(), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::GET, format!("/executions/sched-{unknown}-n0-rc0-a1"), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::GET, "/nowhere".into(), None, StatusCode::NOT_FOUND, "not_found", None),
        (Method::DELETE, "/schedules".into(), None, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
        (
            Method::POST,
            "/workflows".into(),
            Some(json!({"name": "Bad Name", "steps": [{"kind": "log", "message": "x"}]})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("name"),
        ),
        (
            Method::POST,
            "/workflows".into(),
            Some(json!({"name": "w", "steps": [{"kind": "teleport"}]})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            None,
        ),
        (
            Method::POST,
            "/workflows".into(),
            Some(json!({"name": "w", "steps": [{"kind": "http", "url": "ftp://x"}]})),
            StatusCode::BAD_REQUEST,
            "validation_error",
            Some("steps[0]"),
        ),
        (
            Method::POST,
            "/workflows".into(),
            Some(
                json!({"name": "w", "steps": [{"kind": "log", "message": "ok"}, {"kind": "log", "message": "{{ trigger.payload"}]}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_template",
            Some("steps[1].message"),
        ),
        (Method::GET, format!("/workflows/{unknown}"), None, StatusCode::NOT_FOUND, "not_found", None),
    ];
    for (method, path, body, status, code, field) in cases {
        let (got, answer) = app.request(method.clone(), &path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{method} {path}: {answer}");
        }
    }
    // A refused query parameter is named with what it takes and what was given, in the API's words.
    let (_, answer) = app.request(Method::GET, "/executions?state=failed&since=yesterday", None).await;
    let expected = "since must be an RFC 3339 instant such as 2026-12-04T09:00:00Z, not \"yesterday\"";
    assert_eq!(
        (answer["error"]["message"].as_str(), answer["error"]["field"].as_str()),
        (Some(expected), Some("since"))
    );
    let (_, answer) = app.request(Method::GET, "/workflows?bogus=1", None).await;
    assert_eq!(answer["error"]["message"], "unknown query parameter bogus; known: limit, cursor", "{answer}");
    // A path part that is not an id says so (a name in place of an id is the usual slip).
    let (status, answer) = app.request(Method::POST, "/schedules/nightly-report/trigger", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let expected = "nothing at /schedules/nightly-report/trigger: \"nightly-report\" is not an id (a UUID); \
                    GET /schedules?name= finds one by name";
    assert_eq!(answer["error"]["message"], expected, "{answer}");
    // So is a body field of the wrong type, with serde's and jiff's own words after it.
    let workflow_id = uuid::Uuid::new_v4();
    let at_noon = json!({"workflow_id": workflow_id, "interval_seconds": 60, "start_at": "2026-12-04 12:00"});
    let (_, answer) = app.request(Method::POST, "/schedules", Some(at_noon)).await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("start_at must be an RFC 3339 instant such as 2026-12-04T09:00:00Z: "), "{answer}");
    let items = json!({"items": [
        {"workflow_id": workflow_id, "interval_seconds": 60},
        {"workflow_id": workflow_id, "interval_seconds": 1.5},
    ]});
    let (_, answer) = app.request(Method::POST, "/schedules/batch", Some(items)).await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(message, "items[1].interval_seconds must be a whole number, not 1.5", "{answer}");
    assert_eq!(answer["error"]["field"], "items[1].interval_seconds");
    let (status, answer) = app.request_raw(Method::POST, "/schedules", "{\"workflow_id\": ").await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("validation_error")));
    assert_eq!(answer["error"]["field"], Value::Null, "a body cut short is no field's fault: {answer}");
    // An array where an object belongs is said to be one, not read as the object's fields in order.
    for path in ["/schedules", "/schedules/batch"] {
        let (status, answer) = app.request(Method::POST, path, Some(json!([schedule(json!({}))]))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], Value::Null, "{path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("the request body must be a JSON object, not an array"), "{path}: {answer}");
    }
    let (status, answer) = app.request_raw(Method::POST, "/schedules", &"x".repeat(1024 * 1024 + 1)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
}

#[tokio::test]
async fn conflicts_answer_409() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let (_, workflow) = app
        .request(Method::POST, "/workflows", Some(json!({"name": "dup", "steps": [{"kind": "log", "message": "x"}]})))
        .await;
    let (status, answer) = app
        .request(Method::POST, "/workflows", Some(json!({"name": "dup", "steps": [{"kind": "log", "message": "y"}]})))
        .await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let schedule = app.post_schedule(json!({"workflow_id": workflow["id"], "interval_seconds": 60})).await;
    let (status, _) =
        app.request(Method::DELETE, &format!("/workflows/{}", workflow["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a workflow in use was deleted");
    assert_eq!(app.resume_schedule(schedule["id"].as_str().unwrap()).await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_pipelit_tutorial_body_works_unchanged_and_trailing_slashes_are_accepted() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let (status, workflow) = app
        .request(
            Method::POST,
            "/workflows/",
            Some(json!({"name": "health-monitor", "steps": [{"kind": "log", "message": "x"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({
        "name": "hourly health check",
        "description": "",
        "workflow_id": workflow["id"],
        "trigger_node_id": "trigger_schedule_abc123",
        "interval_seconds": 3600,
        "total_repeats": 0,
        "max_retries": 3,
        "timeout_seconds": 600,
        "trigger_payload": null
    });
    let (status, created) = app.request(Method::POST, "/schedules/", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["trigger_node_id"], "trigger_schedule_abc123");
    assert_eq!(
        (created["repeat_count"].as_u64(), created["retry_max"].as_u64(), created["payload"].clone()),
        (Some(0), Some(3), json!({}))
    );
    assert_eq!(created["status"], "active");
    assert!(created["next_run_at"].as_str().unwrap().ends_with('Z'));
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.request(Method::GET, &format!("/schedules/{id}/"), None).await.0, StatusCode::OK);
    assert_eq!(app.request(Method::POST, &format!("/schedules/{id}/pause/"), None).await.0, StatusCode::OK);
    let default_name = app.post_schedule(json!({"workflow_id": workflow["id"], "interval_seconds": 5})).await;
    let id = default_name["id"].as_str().unwrap();
    let expected = format!("health-monitor-{}", &id[id.len() - 8..]);
    assert_eq!(default_name["name"].as_str(), Some(expected.as_str()));
}

#[tokio::test]
async fn listings_are_newest_first_and_page_with_a_cursor() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 60})).await["id"].clone());
    }
    let (_, first) = app.request(Method::GET, "/schedules?limit=2", None).await;
    assert_eq!(
        first["items"].as_array().unwrap().iter().map(|s| s["id"].clone()).collect::<Vec<_>>(),
        [ids[2].clone(), ids[1].clone()]
    );
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let (_, second) = app.request(Method::GET, &format!("/schedules?limit=2&cursor={cursor}"), None).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!((second["items"][0]["id"].clone(), second["next_cursor"].clone()), (ids[0].clone(), Value::Null));
    let (_, paused) = app.request(Method::GET, &format!("/schedules?status=paused&workflow_id={workflow}"), None).await;
    assert_eq!(paused["items"], json!([]));
}

#[tokio::test]
async fn configured_keys_are_required_except_on_healthz() {
    let redis = TestRedis::start();
    let app = spawn_app_with(&redis, &[("RECUR_API_KEYS", "first-key, second-key")]).await;
    let (status, answer) = app.request(Method::GET, "/schedules", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    assert_eq!(app.send(app.builder(Method::GET, "/schedules").bearer_auth("wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.send(app.builder(Method::GET, "/schedules").bearer_auth("second-key")).await.0, StatusCode::OK);
    assert_eq!(app.request(Method::GET, "/healthz", None).await.0, StatusCode::OK);
    // The scheme is case-insensitive.
    let lower = app.builder(Method::GET, "/schedules").header("authorization", "bearer first-key");
    assert_eq!(app.send(lower).await.0, StatusCode::OK);
    // Routes cannot be probed without a key: an unknown path or a wrong method is 401 too.
    for (method, path) in [(Method::GET, "/no-such-route"), (Method::PUT, "/schedules"), (Method::GET, "/admin/tick")] {
        let (status, answer) = app.request(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {answer}");
    }
    let known = app.builder(Method::PUT, "/schedules").bearer_auth("first-key");
    assert_eq!(app.send(known).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_cross_site_page_cannot_drive_the_keyless_loopback_api() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let body = r#"{"name": "from-a-web-page", "steps": [{"kind": "log", "message": "x"}]}"#;
    // A page can post text/plain without asking: bodies must say they are JSON.
    let plain = app.builder(Method::POST, "/workflows").header("content-type", "text/plain").body(body);
    let (status, answer) = app.send(plain).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type"))
    );
    let untyped = app.builder(Method::POST, "/workflows").body(body);
    assert_eq!(app.send(untyped).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A DNS-rebound name reaches this port with a foreign Host.
    let rebound = app.builder(Method::GET, "/workflows").header("host", "attacker.example:8080");
    let (status, answer) = app.send(rebound).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{answer}");
    // A browser says where a cross-site request comes from, even a body-less POST from a form.
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 60})).await;
    let path = format!("/schedules/{}/trigger", schedule["id"].as_str().unwrap());
    let forged = app.builder(Method::POST, &path).header("origin", "http://attacker.example");
    assert_eq!(app.send(forged).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.executions(schedule["id"].as_str().unwrap()).await, Vec::<Value>::new());
    // No CORS: a preflight is not granted.
    let preflight = app
        .builder(Method::OPTIONS, "/workflows")
        .header("origin", "http://attacker.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-origin").is_none(), "{:?}", preflight.headers());
    let (_, listed) = app.request(Method::GET, "/workflows", None).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "only the workflow posted as JSON: {listed}");
    // The API's own origin (a page it would serve) is welcome.
    let port = app.builder(Method::GET, "/workflows").build().unwrap().url().port().unwrap();
    let same = app.builder(Method::GET, "/workflows").header("origin", format!("http://127.0.0.1:{port}"));
    assert_eq!(app.send(same).await.0, StatusCode::OK);
}

#[tokio::test]
async fn recur_api_checks_its_own_health_and_has_help_and_a_version() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let check = |addr: String| {
        Command::new(binary("recur-api")).arg("--check-health").env("RECUR_API_ADDR", addr).output().expect("run")
    };
    let healthy = check(address(&app));
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    let nobody = check(format!("127.0.0.1:{}", recur_common::testing::free_port()));
    let stderr = String::from_utf8_lossy(&nobody.stderr);
    assert_eq!((nobody.status.code(), stderr.trim().lines().count()), (Some(1), 1), "{stderr}");
    assert!(stderr.contains("cannot reach recur-api"), "{stderr}");

    let version = Command::new(binary("recur-api")).arg("--version").output().expect("run");
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), concat!("recur-api ", env!("CARGO_PKG_VERSION")));
    let help = Command::new(binary("recur-api")).arg("--help").output().expect("run");
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--check-health"));
}

#[test]
fn the_api_refuses_a_public_address_without_keys() {
    let output = Command::new(binary("recur-api"))
        .env("RECUR_API_ADDR", "0.0.0.0:0")
        .env("RECUR_API_KEYS", "")
        .env("RUST_LOG", "off")
        .output()
        .expect("run recur-api");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("without RECUR_API_KEYS"));
}

#[tokio::test]
async fn healthz_and_api_calls_answer_503_while_redis_is_gone() {
    let mut redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    redis.kill();
    let (status, answer) = app.request(Method::GET, "/healthz", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Redis is unreachable: ") && !message.contains("redis: redis"), "{message}");
    for _ in 0..2 {
        let (status, answer) = app.request(Method::GET, "/schedules", None).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));
    }
}

#[tokio::test]
async fn redis_out_of_memory_is_a_503_that_says_so_and_writes_nothing() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let schedule = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 60})).await;
    let id = schedule["id"].as_str().unwrap();
    redis.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]).await;
    redis.command(&["CONFIG", "SET", "maxmemory", "1"]).await;

    let workflow_body = json!({"name": "refused", "steps": [{"kind": "log", "message": "y"}]});
    for (method, path, body) in [
        (Method::POST, "/workflows".to_string(), Some(workflow_body)),
        (Method::POST, "/schedules".to_string(), Some(json!({"workflow_id": workflow, "interval_seconds": 60}))),
        (Method::POST, format!("/schedules/{id}/trigger"), None),
        (Method::PATCH, format!("/schedules/{id}"), Some(json!({"interval_seconds": 120}))),
    ] {
        let (status, answer) = app.request(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "unavailable", "{method} {path}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("out of memory"), "{answer}");
    }
    let (status, answer) = app.request(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("out of memory"), "{answer}");

    redis.command(&["CONFIG", "SET", "maxmemory", "0"]).await;
    assert_eq!(app.request(Method::GET, "/healthz", None).await.0, StatusCode::OK);
    for listing in ["/workflows", "/schedules"] {
        let (_, listed) = app.request(Method::GET, listing, None).await;
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "nothing half-written: {listed}");
    }
    let unchanged = app.show_schedule(id).await;
    assert_eq!((unchanged["interval_seconds"].as_u64(), unchanged["run_count"].as_u64()), (Some(60), Some(0)));
}

#[tokio::test]
async fn the_api_exits_zero_on_sigterm() {
    let redis = TestRedis::start();
    let mut app = spawn_app(&redis).await;
    let status = app.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "recur-api exited with {status}");
}

#[tokio::test]
async fn workflows_can_be_listed_read_replaced_and_deleted() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let id = app.post_workflow(json!([{"kind": "log", "message": "v1"}])).await;
    let other = app.post_workflow(json!([{"kind": "log", "message": "other"}])).await;

    let (status, listed) = app.request(Method::GET, "/workflows?limit=1", None).await;
    assert_eq!((status, listed["items"][0]["id"].as_str()), (StatusCode::OK, Some(other.as_str())));
    let cursor = listed["next_cursor"].as_str().expect("a second page");
    let (_, second) = app.request(Method::GET, &format!("/workflows?limit=1&cursor={cursor}"), None).await;
    assert_eq!((second["items"][0]["id"].as_str(), second["next_cursor"].clone()), (Some(id.as_str()), Value::Null));

    let replacement = json!({"name": "renamed", "steps": [{"kind": "sleep", "seconds": 0.1}]});
    let (status, replaced) = app.request(Method::PUT, &format!("/workflows/{id}"), Some(replacement)).await;
    assert_eq!(
        (status, replaced["name"].as_str(), replaced["steps"][0]["kind"].as_str()),
        (StatusCode::OK, Some("renamed"), Some("sleep"))
    );
    let (_, read) = app.request(Method::GET, &format!("/workflows/{id}"), None).await;
    assert_eq!(read, replaced);
    let taken = json!({"name": "renamed", "steps": [{"kind": "log", "message": "x"}]});
    assert_eq!(app.request(Method::PUT, &format!("/workflows/{other}"), Some(taken)).await.0, StatusCode::CONFLICT);

    assert_eq!(app.request(Method::DELETE, &format!("/workflows/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.request(Method::GET, &format!("/workflows/{id}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_tick_runs_one_reconciler_pass_and_reports_it() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let id = app.post_schedule_due_now(&workflow).await;
    let keys = recur_common::keys::Keys::new("recur").shard(0);
    let queue = recur_common::model::QueueName::default();
    redis.delete(&[keys.delayed(&queue)]).await;

    let (status, first) = app.request(Method::POST, "/admin/tick", None).await;
    assert_eq!(
        (status, first),
        (
            StatusCode::OK,
            json!({"promoted": 0, "requeued": 0, "recovered": 1, "skipped_expired": 0, "skipped_overlap": 0,
                "corrupt": 0})
        )
    );
    let (_, second) = app.request(Method::POST, "/admin/tick", None).await;
    assert_eq!(
        second,
        json!({"promoted": 1, "requeued": 0, "recovered": 0, "skipped_expired": 0, "skipped_overlap": 0,
            "corrupt": 0}),
        "the recovered job was overdue"
    );
    assert_eq!(redis.list(&keys.ready(&queue)).await, [format!("sched-{id}-n0-rc0")]);
}

#[tokio::test]
async fn an_execution_is_served_by_its_id() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = crate::support::spawn_worker(&redis, crate::support::WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "served"}])).await;
    let id = app.post_schedule_due_now(&workflow).await;
    let schedule = app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    crate::support::wait_until(Duration::from_secs(10), "the run finished", || async {
        app.show_schedule(&id).await["last_execution_id"].is_string()
    })
    .await;
    let execution_id = app.show_schedule(&id).await["last_execution_id"].as_str().unwrap().to_string();
    assert_eq!(execution_id, format!("sched-{id}-n0-rc0-a1"));
    let (status, execution) = app.request(Method::GET, &format!("/executions/{execution_id}"), None).await;
    assert_eq!((status, execution["schedule_id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert_eq!(
        (execution["workflow_id"].clone(), execution["state"].as_str()),
        (schedule["workflow_id"].clone(), Some("succeeded"))
    );
    assert_eq!(execution["output"], json!({"message": "served"}));
    assert_eq!(execution["steps"][0]["output"], json!({"message": "served"}));
}

#[tokio::test]
async fn bulk_requests_create_schedules_and_runs_in_order_or_list_every_bad_item() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let _worker = crate::support::spawn_worker(&redis, crate::support::WorkerOptions::default());
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "bulk"}])).await;
    let now = jiff::Timestamp::now();
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"workflow_id": workflow, "run_at": now, "name": format!("bulk-{i}"), "payload": {"i": i}}))
        .collect();
    let (status, created) = app.request(Method::POST, "/schedules/batch", Some(json!({"items": items}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let ids: Vec<String> =
        created["items"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        let done = app.wait_for_status(id, "done", Duration::from_secs(10)).await;
        assert_eq!(
            (done["name"].as_str(), done["payload"]["i"].as_u64()),
            (Some(format!("bulk-{i}").as_str()), Some(i as u64))
        );
    }

    let (status, runs) = app
        .request(
            Method::POST,
            &format!("/workflows/{workflow}/runs"),
            Some(json!({"items": [{}, {"payload": {"n": 2}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{runs}");
    for run in runs["items"].as_array().unwrap() {
        let execution_id = run["execution_id"].as_str().unwrap();
        crate::support::wait_until(Duration::from_secs(10), "the ad-hoc run succeeded", || async {
            let (_, execution) = app.request(Method::GET, &format!("/executions/{execution_id}"), None).await;
            execution["state"] == "succeeded"
        })
        .await;
    }

    let bad = json!({"items": [
        {"workflow_id": workflow, "interval_seconds": 60},
        {"workflow_id": workflow, "interval_seconds": 0},
        {"workflow_id": uuid::Uuid::new_v4(), "interval_seconds": 60},
    ]});
    let (status, refused) = app.request(Method::POST, "/schedules/batch", Some(bad)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_items")),
        "{refused}"
    );
    let listed: Vec<(u64, &str, Option<&str>)> = refused["error"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["index"].as_u64().unwrap(), item["code"].as_str().unwrap(), item["field"].as_str()))
        .collect();
    assert_eq!(
        listed,
        [(1, "validation_error", Some("interval_seconds")), (2, "unknown_workflow", Some("workflow_id"))]
    );
    let (_, listing) = app.request(Method::GET, "/schedules?limit=500", None).await;
    assert_eq!(listing["items"].as_array().unwrap().len(), 3, "the refused request created nothing");

    let too_many: Vec<Value> = (0..1001).map(|_| json!({"workflow_id": workflow, "interval_seconds": 60})).collect();
    let (status, refused) = app.request(Method::POST, "/schedules/batch", Some(json!({"items": too_many}))).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("items")), "{refused}");
    let (status, refused) = app.request(Method::POST, "/schedules/batch", Some(json!({"items": [{"bogus": 1}]}))).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("items[0].bogus")),
        "{refused}"
    );
}

/// The API's address as `host:port`, for raw TCP clients.
fn address(app: &crate::support::TestApp) -> String {
    app.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_string()
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_cannot_hold_every_connection() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let redis = TestRedis::start();
    let app = spawn_app_with(
        &redis,
        &[
            ("RECUR_API_MAX_CONNECTIONS", "3"),
            ("RECUR_API_HEADER_TIMEOUT_SECONDS", "2"),
            ("RECUR_API_REQUEST_TIMEOUT_SECONDS", "1"),
        ],
    )
    .await;
    let addr = address(&app);

    // A client that sends one header line and then nothing is disconnected when the head times out.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/v1/schedules HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the slow client was still connected after 10 s");
    assert!(started.elapsed() >= Duration::from_millis(1_500), "cut off after {:?}", started.elapsed());

    // A body that never comes ends with 408 in the envelope.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer)).await.expect("an answer").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("\"request_timeout\""), "{answer}");

    // Past the connection cap a new client waits for a free connection; it is served once one frees up.
    let mut held = Vec::new();
    let holding_since = std::time::Instant::now();
    for _ in 0..3 {
        let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
        idle.write_all(b"GET /api/v1/schedules HTTP/1.1\r\n").await.unwrap();
        held.push(idle);
    }
    let waiting = tokio::spawn({
        let url = format!("{}/schedules", app.base);
        async move { reqwest::get(url).await.map(|response| response.status()) }
    });
    let status = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("served in time").unwrap();
    assert_eq!(status.unwrap(), StatusCode::OK, "served once the held connections timed out");
    let waited = holding_since.elapsed();
    assert!(waited >= Duration::from_millis(1_500), "served after {waited:?}, before any held connection freed up");
}

#[tokio::test]
async fn an_overlong_request_target_is_a_414_in_the_envelope() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let (status, answer) = app.request(Method::GET, &format!("/schedules?cursor={}", "x".repeat(10_000)), None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::URI_TOO_LONG, Some("uri_too_long")));
}

#[tokio::test]
async fn readyz_loads_every_script_redis_lacks_and_needs_no_key() {
    let redis = TestRedis::start();
    let app = spawn_app_with(&redis, &[("RECUR_API_KEYS", "k")]).await;
    let cached = || async {
        redis.info_field("memory", "number_of_cached_scripts").await.and_then(|count| count.parse::<u32>().ok())
    };
    redis.command(&["SCRIPT", "FLUSH"]).await;
    assert_eq!(cached().await, Some(0));
    let root = app.base.trim_end_matches("/api/v1").to_string();
    for path in ["/readyz", "/api/v1/readyz"] {
        let response = reqwest::get(format!("{root}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    assert!(cached().await.unwrap_or(0) >= 20, "every script loaded: {:?}", cached().await);
}

#[tokio::test]
async fn work_queued_where_no_live_worker_consumes_is_accepted_with_a_warning() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{"kind": "log", "message": "x"}])).await;
    let lonely = app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 60})).await;
    let warnings = lonely["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w.as_str().unwrap_or("").to_string()).collect::<Vec<_>>());
    assert!(warnings.is_some_and(|w| w.len() == 1 && w[0].contains("\"default\"")), "{lonely}");

    let _worker = crate::support::spawn_worker(&redis, crate::support::WorkerOptions::default());
    crate::support::wait_until(Duration::from_secs(10), "the worker's heartbeat is in", || async {
        app.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 60})).await.get("warnings").is_none()
    })
    .await;
    let (status, run) =
        app.request(Method::POST, &format!("/workflows/{workflow}/run"), Some(json!({"queue": "mail"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(run["warnings"][0].as_str().unwrap_or_default().contains("\"mail\""), "{run}");
    // Moving a schedule to such a queue warns too; moving it back, where the worker is, does not.
    let id = lonely["id"].as_str().unwrap_or_default();
    let (status, moved) = app.request(Method::PATCH, &format!("/schedules/{id}"), Some(json!({"queue": "mail"}))).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert!(moved["warnings"][0].as_str().unwrap_or_default().contains("\"mail\""), "{moved}");
    let (_, back) = app.request(Method::PATCH, &format!("/schedules/{id}"), Some(json!({"queue": "default"}))).await;
    assert_eq!((back["queue"].as_str(), back.get("warnings")), (Some("default"), None), "{back}");
}
