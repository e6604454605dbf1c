//! Runs a workflow's steps in order and logs each one into the execution.

use std::time::Duration;

use recur_common::{
    clock::Clock,
    model::{ExecutionState, Step, StepRecord, Workflow},
};
use serde_json::{Value, json};

/// Largest part of an HTTP answer kept in a step's output.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Executes workflows. Cheap to clone: the HTTP client is shared.
#[derive(Clone)]
pub struct Executor {
    /// One client for all steps, so connections are pooled.
    http: reqwest::Client,
}

impl Executor {
    /// An executor with an HTTP client that follows at most 5 redirects.
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("recur/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }

    /// Runs every step of `workflow` in order, appending a record per step to `log`. Stops at the first
    /// failed step. Returns the last step's output, or the failed step's error.
    pub async fn run(
        &self,
        workflow: &Workflow,
        trigger: &Value,
        clock: &dyn Clock,
        log: &mut Vec<StepRecord>,
    ) -> Result<Option<Value>, String> {
        let mut output = None;
        for (index, step) in workflow.steps.iter().enumerate() {
            log.push(StepRecord {
                kind: step.kind().to_string(),
                state: ExecutionState::Running,
                started_at: clock.now(),
                finished_at: None,
                output: None,
                error: None,
            });
            let result = self.run_step(step, trigger).await;
            let record = log.last_mut().ok_or("step log is empty")?;
            record.finished_at = Some(clock.now());
            match result {
                Ok(step_output) => {
                    record.state = ExecutionState::Succeeded;
                    record.output = Some(step_output.clone());
                    output = Some(step_output);
                }
                Err(error) => {
                    record.state = ExecutionState::Failed;
                    record.error = Some(error.clone());
                    return Err(format!("step {index} ({}) failed: {error}", step.kind()));
                }
            }
        }
        Ok(output)
    }

    async fn run_step(&self, step: &Step, trigger: &Value) -> Result<Value, String> {
        match step {
            Step::Log { message } => {
                tracing::info!(step.kind = "log", "{message}");
                Ok(json!({ "message": message }))
            }
            Step::Sleep { seconds } => {
                tokio::time::sleep(Duration::from_secs_f64(*seconds)).await;
                Ok(json!({ "slept_seconds": seconds }))
            }
            Step::Http { method, url, headers, body, timeout_seconds } => {
                let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|error| error.to_string())?;
                let sends_body =
                    matches!(method, reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH);
                let mut request = self.http.request(method, url).timeout(Duration::from_secs(*timeout_seconds));
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                request = match body {
                    Some(Value::String(text)) => request.body(text.clone()),
                    Some(body) => request.json(body),
                    // Without an explicit body, a POST/PUT/PATCH delivers the trigger, as a webhook would.
                    None if sends_body => request.json(trigger),
                    None => request,
                };
                let response = request.send().await.map_err(|error| recur_common::one_line(&error))?;
                let status = response.status();
                let headers: serde_json::Map<String, Value> = response
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| {
                        Some((name.to_string(), Value::String(value.to_str().ok()?.to_string())))
                    })
                    .collect();
                let bytes = response.bytes().await.map_err(|error| recur_common::one_line(&error))?;
                let body = if bytes.len() <= MAX_BODY_BYTES {
                    serde_json::from_slice(&bytes)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
                } else {
                    Value::String(String::from_utf8_lossy(&bytes[..MAX_BODY_BYTES]).into_owned())
                };
                let output = json!({ "status": status.as_u16(), "headers": headers, "body": body });
                if status.is_success() { Ok(output) } else { Err(format!("HTTP {status} from {url}")) }
            }
        }
    }
}
