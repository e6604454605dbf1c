//! The workflow examples in `docs/workflows.md` and the README, created and run as written.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{Target, TestRedis, WorkerOptions, spawn_app, spawn_custom_worker, spawn_worker};

/// Where the examples send their requests; the test serves it.
const EXAMPLE_HOST: &str = "http://localhost:8000";

/// One example: the `POST /workflows` body and the `POST /workflows/{id}/run` body it is run with.
struct Example {
    source: &'static str,
    workflow: Value,
    run: Value,
}

/// Every example of `text`: a `<!-- example...; run with {...} -->` line, then a json block.
fn examples(source: &'static str, text: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(marker) = line.strip_prefix("<!-- example") else { continue };
        let run = marker.split_once("run with ").and_then(|(_, rest)| rest.strip_suffix(" -->"));
        let run: Value = serde_json::from_str(run.unwrap_or_else(|| panic!("{source}: marker without a run: {line}")))
            .unwrap_or_else(|error| panic!("{source}: run body of {line:?} is not JSON: {error}"));
        assert_eq!(lines.next(), Some("```json"), "{source}: a json block must follow {line:?}");
        let block: Vec<&str> = lines.by_ref().take_while(|line| *line != "```").collect();
        let workflow = serde_json::from_str(&block.join("\n"))
            .unwrap_or_else(|error| panic!("{source}: example after {line:?} is not JSON: {error}"));
        found.push(Example { source, workflow, run });
    }
    found
}

#[tokio::test]
async fn every_workflow_example_in_the_docs_saves_and_runs() {
    let docs = examples("docs/workflows.md", include_str!("../../docs/workflows.md"));
    let readme = examples("README.md", include_str!("../../README.md"));
    assert!(
        docs.len() >= 4 && !readme.is_empty(),
        "examples went missing: {} in docs, {} in the README",
        docs.len(),
        readme.len()
    );
    let redis = TestRedis::start();
    let app = spawn_app(&redis).await;
    let target = Target::start().await;
    let _plain = spawn_worker(&redis, WorkerOptions::default());
    let _handlers = spawn_custom_worker(&redis, WorkerOptions::default());
    for example in docs.iter().chain(&readme) {
        let body = example.workflow.to_string().replace(EXAMPLE_HOST, &target.url(""));
        let deadline = Instant::now() + Duration::from_secs(10);
        let saved = loop {
            let (status, saved) = app.request(Method::POST, "/workflows", serde_json::from_str(&body).ok()).await;
            // The handler worker's first heartbeat may not have landed yet.
            if status != StatusCode::UNPROCESSABLE_ENTITY || Instant::now() > deadline {
                assert_eq!(status, StatusCode::CREATED, "{}: {saved}", example.source);
                break saved;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let id = saved["id"].as_str().expect("id");
        let run = app.run_workflow(id, example.run.clone()).await;
        let execution = app.wait_for_execution(&run, "succeeded").await;
        assert!(!execution["output"].is_null(), "{} {}: {execution}", example.source, saved["name"]);
    }
}
