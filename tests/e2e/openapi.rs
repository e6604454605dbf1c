//! The API description: served, complete, its examples valid, its docs page self-contained. Every other test
//! checks its answers against it too (`support::TestApp::send`).

use std::panic::{AssertUnwindSafe, catch_unwind};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestRedis, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_route_is_described_with_its_errors_and_every_example_matches_its_schema() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let document = app.description.document();
    assert_eq!(document["openapi"], "3.1.0");

    let operations: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| item.as_object().expect("path item").keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    for (method, path) in [
        ("post", "/api/v1/workflows"),
        ("put", "/api/v1/workflows/{id}"),
        ("post", "/api/v1/workflows/{id}/runs"),
        ("post", "/api/v1/schedules/batch"),
        ("patch", "/api/v1/schedules/{id}"),
        ("post", "/api/v1/schedules/{id}/backfill"),
        ("get", "/api/v1/schedules/{id}/upcoming"),
        ("post", "/api/v1/executions/{id}/cancel"),
        ("get", "/api/v1/status"),
        ("get", "/api/v1/readyz"),
        ("get", "/metrics"),
        ("get", "/healthz"),
    ] {
        assert!(operations.contains(&(method.to_string(), path.to_string())), "{method} {path} is not described");
    }
    assert_eq!(operations.len(), 32, "every route, once: {operations:?}");
    let create = &document["paths"]["/api/v1/schedules"]["post"];
    for status in ["201", "400", "401", "415", "422", "503"] {
        assert!(create["responses"][status].is_object(), "POST /schedules does not describe {status}");
    }
    let parameters: Vec<&str> = document["paths"]["/api/v1/executions"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|parameter| parameter["name"].as_str())
        .collect();
    assert_eq!(parameters, ["workflow_id", "schedule_id", "state", "since", "limit", "cursor"]);

    let examples = app.description.examples();
    let illustrated: Vec<&str> = examples.iter().map(|(pointer, _)| pointer.as_str()).collect();
    for schema in ["NewSchedule", "NewWorkflow", "NewRun", "SchedulePatch", "BackfillRange", "ErrorBody"] {
        let pointer = format!("#/components/schemas/{schema}");
        assert!(illustrated.contains(&pointer.as_str()), "{schema} has no example: {illustrated:?}");
    }
    for (pointer, example) in &examples {
        app.description.check(pointer, example, &format!("the example of {pointer}"));
    }
    // The checks can fail: a create body with a field the API refuses, an answer without a required field.
    let mut wrong = examples.iter().find(|(pointer, _)| pointer.ends_with("/NewSchedule")).expect("example").1.clone();
    wrong["intervall_seconds"] = json!(60);
    let refused =
        catch_unwind(AssertUnwindSafe(|| app.description.check("#/components/schemas/NewSchedule", &wrong, "a typo")));
    assert!(refused.is_err(), "a body with an unknown field passed the schema");
}

#[tokio::test]
async fn answers_that_differ_from_the_description_are_caught() {
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let workflow = app.post_workflow(json!([{ "kind": "log", "message": "hi" }])).await;
    let schedule = app.post_schedule(json!({ "workflow_id": workflow, "interval_seconds": 60 })).await;
    let path = format!("/api/v1/schedules/{}", schedule["id"].as_str().expect("id"));
    let (status, answer) = app.request(Method::GET, &path["/api/v1".len()..], None).await;
    assert_eq!(status, StatusCode::OK);

    let differs = |body: &Value, status: StatusCode| {
        catch_unwind(AssertUnwindSafe(|| app.description.check_answer(&Method::GET, &path, status, body))).is_err()
    };
    assert!(!differs(&answer, StatusCode::OK));
    let mut missing = answer.clone();
    missing.as_object_mut().expect("object").remove("status");
    let mut extra = answer.clone();
    extra["undocumented"] = json!(1);
    let mut no_null = answer.clone();
    no_null.as_object_mut().expect("object").remove("last_error");
    let mut ill_typed = answer.clone();
    ill_typed["next_run_at"] = json!("tomorrow");
    for (what, body, status) in [
        ("a missing field", &missing, StatusCode::OK),
        ("an undocumented field", &extra, StatusCode::OK),
        ("a nullable field left out instead of null", &no_null, StatusCode::OK),
        ("a date that is not RFC 3339", &ill_typed, StatusCode::OK),
        ("an undocumented status", &answer, StatusCode::IM_A_TEAPOT),
        ("a schedule where the error envelope belongs", &answer, StatusCode::NOT_FOUND),
    ] {
        assert!(differs(body, status), "{what} passed");
    }

    // A request body the API accepted is held to the description too: the documented aliases pass, a field
    // it does not name does not.
    let accepted = |body: Value| {
        catch_unwind(AssertUnwindSafe(|| {
            app.description.check_accepted_request(&Method::POST, "/api/v1/schedules", &body)
        }))
        .is_ok()
    };
    assert!(accepted(json!({"workflow_id": workflow, "interval_seconds": 60, "total_repeats": 2})));
    assert!(!accepted(json!({"workflow_id": workflow, "interval_seconds": 60, "repeats": 2})));
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary_and_needs_no_key_to_read() {
    let redis = TestRedis::start();
    let app = spawn_app_with(&redis, &[("RECUR_API_KEYS", "docs-key")]).await;
    let root = app.base.trim_end_matches("/api/v1").to_string();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(3)).build().expect("client");

    let page = client.get(format!("{root}/api/v1/docs")).send().await.expect("docs page");
    assert_eq!(page.status(), StatusCode::OK, "the docs page (after its redirect to /docs/)");
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    let initializer = client.get(format!("{root}/api/v1/docs/swagger-initializer.js")).send().await.expect("js");
    let initializer = initializer.text().await.expect("js");
    assert!(initializer.contains("/api/v1/openapi.json"), "{initializer}");
    for text in [&html, &initializer] {
        assert!(!text.contains("https://") && !text.contains("http://"), "the page loads something from elsewhere");
    }
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"] {
        let response = client.get(format!("{root}/api/v1/docs/{asset}")).send().await.expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert!(response.bytes().await.expect("asset body").len() > 1_000, "{asset} is served whole");
    }
    let document = client.get(format!("{root}/api/v1/openapi.json")).send().await.expect("document");
    assert_eq!(document.status(), StatusCode::OK);
    // The API itself still needs the key.
    let listing = client.get(format!("{root}/api/v1/schedules")).send().await.expect("listing");
    assert_eq!(listing.status(), StatusCode::UNAUTHORIZED);
}
