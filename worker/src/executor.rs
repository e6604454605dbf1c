//! Runs a workflow's steps in order: renders each step's templates, runs it, and logs it into the execution.

use std::{
    any::Any,
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::FutureExt as _;

use recur_common::{
    clock::Clock,
    model::{ExecutionState, JobId, StatusPattern, Step, StepRecord, Workflow},
    template,
};
use serde_json::{Value, json};

use crate::{
    egress::{EgressPolicy, PolicyResolver, literal_address},
    handlers::{HandlerCall, Handlers},
};

/// Step output kept in an execution record, as JSON, summed over its steps; an output past it is kept as a
/// `truncated` note with a preview. The run's result is a copy of the last step's output, so step outputs,
/// result, errors and the rest of the record stay under the documented 256 KiB.
const MAX_STORED_OUTPUT_BYTES: usize = 120 * 1024;
/// Bytes of a too-large output kept as its preview.
const PREVIEW_BYTES: usize = 1024;
/// Longest step error kept (a handler may fail with any text).
const MAX_ERROR_BYTES: usize = 2 * 1024;
/// Step output a run keeps whole for the templates of later steps, summed over its steps; past it, later
/// steps see outputs as stored. This bounds a worker's memory per run, whatever the number of steps.
const MAX_CONTEXT_OUTPUT_BYTES: usize = 8 * 1024 * 1024;

/// The header that lets an http step's target recognise a redelivery of the same step of the same job.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` of step `index` of `job`: the same on every delivery of that job (a worker that
/// lost its lease, a hand-back on shutdown), different for each step and for each retry or occurrence.
fn idempotency_key(job: &JobId, index: usize) -> String {
    format!("{job}/step-{index}")
}

/// `text` with its control characters escaped (a newline as `\n`), so a message cannot forge a line of
/// the text log.
fn one_log_line(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

/// Executes workflows. Cheap to clone: HTTP clients and handlers are shared.
#[derive(Clone)]
pub struct Executor {
    /// One client per redirect limit, each pooling its connections.
    http: Arc<Mutex<HashMap<u8, reqwest::Client>>>,
    handlers: Handlers,
    egress: Arc<EgressPolicy>,
}

/// Why a step failed, and what it produced before failing (an HTTP answer with an unexpected status).
struct StepFailure {
    error: String,
    output: Option<Value>,
}

impl From<String> for StepFailure {
    fn from(error: String) -> Self {
        Self { error, output: None }
    }
}

impl Executor {
    /// An executor offering `handlers` to handler steps, whose http steps reach what `egress` permits.
    pub fn new(handlers: Handlers, egress: Arc<EgressPolicy>) -> Self {
        Self { http: Arc::default(), handlers, egress }
    }

    fn client(&self, max_redirects: u8) -> Result<reqwest::Client, String> {
        let mut clients = self.http.lock().map_err(|_| "HTTP client pool poisoned".to_string())?;
        if let Some(client) = clients.get(&max_redirects) {
            return Ok(client.clone());
        }
        let egress = self.egress.clone();
        let redirects = match max_redirects {
            0 => reqwest::redirect::Policy::none(),
            limit => reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` starts with the first URL, which is not a redirect.
                if attempt.previous().len() > usize::from(limit) {
                    let error = format!("more than {limit} redirects");
                    return attempt.error(error);
                }
                // A redirect to a name is checked when the name resolves; one to an address, here.
                match literal_address(attempt.url()).map(|ip| egress.check(ip)) {
                    Some(Err(refusal)) => attempt.error(format!("egress policy: redirect refused: {refusal}")),
                    _ => attempt.follow(),
                }
            }),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .dns_resolver(PolicyResolver(self.egress.clone()))
            .redirect(redirects)
            .user_agent(concat!("recur/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| recur_common::one_line(&error))?;
        clients.insert(max_redirects, client.clone());
        Ok(client)
    }

    /// Runs every step of `workflow` in order for job `job`, appending a record per step to `log`. Stops at
    /// the first failed step. Returns the last step's output (bounded as stored), or the failed step's error.
    pub async fn run(
        &self,
        workflow: &Workflow,
        job: &JobId,
        trigger: &Value,
        clock: &dyn Clock,
        log: &mut Vec<StepRecord>,
    ) -> Result<Option<Value>, String> {
        let mut context = template::Context::new(
            trigger.clone(),
            json!({ "id": workflow.id, "name": workflow.name, "version": workflow.version }),
        );
        let (mut stored_bytes, mut context_bytes) = (0, 0);
        let mut output = None;
        for (index, step) in workflow.steps.iter().enumerate() {
            log.push(StepRecord {
                kind: step.kind().to_string(),
                name: step.name().map(str::to_string),
                state: ExecutionState::Running,
                started_at: clock.now(),
                finished_at: None,
                output: None,
                error: None,
            });
            let result = match render(step, &context) {
                Ok(step) => self.run_step(&step, trigger, &idempotency_key(job, index)).await,
                Err(error) => Err(StepFailure::from(error)),
            };
            let record = log.last_mut().ok_or("step log is empty")?;
            record.finished_at = Some(clock.now());
            match result {
                Ok(step_output) => {
                    record.state = ExecutionState::Succeeded;
                    let size = step_output.to_string().len();
                    let stored = bounded(&step_output, size, &mut stored_bytes);
                    record.output = Some(stored.clone());
                    context_bytes += size;
                    let seen = if context_bytes <= MAX_CONTEXT_OUTPUT_BYTES { step_output } else { stored.clone() };
                    output = Some(stored);
                    context.push_step(step.kind(), step.name(), seen);
                }
                Err(failure) => {
                    let error = cut(&failure.error, MAX_ERROR_BYTES);
                    record.state = ExecutionState::Failed;
                    record.error = Some(error.clone());
                    record.output = failure.output.map(|output| {
                        let size = output.to_string().len();
                        bounded(&output, size, &mut stored_bytes)
                    });
                    return Err(format!("step {index} ({}) failed: {error}", step.kind()));
                }
            }
        }
        Ok(output)
    }

    async fn run_step(&self, step: &Step, trigger: &Value, idempotency_key: &str) -> Result<Value, StepFailure> {
        match step {
            Step::Log { message, .. } => {
                tracing::info!(step.kind = "log", "{}", one_log_line(message));
                Ok(json!({ "message": message }))
            }
            Step::Sleep { seconds, .. } => {
                tokio::time::sleep(Duration::from_secs_f64(*seconds)).await;
                Ok(json!({ "slept_seconds": seconds }))
            }
            Step::Handler { name, input } => {
                let handler = self.handlers.get(name).ok_or_else(|| {
                    format!("this worker has no handler {name:?} (it offers: {})", self.handlers.names().join(", "))
                })?;
                let call = HandlerCall { input: input.clone(), trigger: trigger.clone() };
                // A handler that panics fails its step as an error does. Left to unwind, it took the job's task
                // down unrecorded: the job ran again each time its lease ran out, and never showed as failed.
                match AssertUnwindSafe(async { handler(call).await }).catch_unwind().await {
                    Ok(result) => result.map_err(|error| StepFailure::from(format!("{error:#}"))),
                    Err(panic) => {
                        Err(StepFailure::from(format!("handler {name:?} panicked: {}", panic_message(&*panic))))
                    }
                }
            }
            Step::Http {
                method,
                url,
                headers,
                body,
                timeout_seconds,
                expect_status,
                max_response_bytes,
                max_redirects,
                ..
            } => {
                let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|error| error.to_string())?;
                let parsed = reqwest::Url::parse(url).map_err(|error| format!("invalid URL {url:?}: {error}"))?;
                if let Some(Err(refusal)) = literal_address(&parsed).map(|ip| self.egress.check(ip)) {
                    return Err(StepFailure::from(format!("egress policy: {refusal}")));
                }
                let sends_body =
                    matches!(method, reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH);
                let mut request =
                    self.client(*max_redirects)?.request(method, url).timeout(Duration::from_secs(*timeout_seconds));
                // A step that sets its own Idempotency-Key keeps it.
                if !headers.keys().any(|name| name.eq_ignore_ascii_case(IDEMPOTENCY_KEY)) {
                    request = request.header(IDEMPOTENCY_KEY, idempotency_key);
                }
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
                let mut response = request.send().await.map_err(|error| recur_common::one_line(&error))?;
                let status = response.status().as_u16();
                let is_json = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|value| {
                        let media = value.split(';').next().unwrap_or_default().trim();
                        media == "application/json" || media.ends_with("+json")
                    });
                let headers: serde_json::Map<String, Value> = response
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| {
                        Some((name.to_string(), Value::String(value.to_str().ok()?.to_string())))
                    })
                    .collect();
                // Read no more than the limit: a huge answer is cut, not downloaded.
                let limit = usize::try_from(*max_response_bytes).unwrap_or(usize::MAX);
                let mut bytes = Vec::new();
                let mut truncated = false;
                while let Some(chunk) = response.chunk().await.map_err(|error| recur_common::one_line(&error))? {
                    let room = limit - bytes.len();
                    if chunk.len() > room {
                        bytes.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = || Value::String(String::from_utf8_lossy(&bytes).into_owned());
                let body = if is_json && !truncated {
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| text())
                } else {
                    text()
                };
                let mut output = json!({ "status": status, "headers": headers, "body": body });
                if truncated {
                    output["truncated"] = Value::Bool(true);
                }
                if StatusPattern::expected(expect_status, status) {
                    Ok(output)
                } else {
                    let expected = if expect_status.is_empty() { "2xx".to_string() } else { describe(expect_status) };
                    Err(StepFailure {
                        error: format!("HTTP {status} from {url} (expected {expected})"),
                        output: Some(output),
                    })
                }
            }
        }
    }
}

/// The step with every template string rendered; the error names the field.
fn render(step: &Step, context: &template::Context) -> Result<Step, String> {
    let mut rendered = step.clone();
    for (field, text) in rendered.templates_mut() {
        *text = context.render(text).map_err(|error| format!("cannot render the template in {field}: {error}"))?;
    }
    Ok(rendered)
}

/// `output` (`size` bytes as JSON) as stored: whole while the execution's budget for outputs lasts, then a
/// note that it was truncated, with its size and as much of its start as the budget still holds.
fn bounded(output: &Value, size: usize, stored_bytes: &mut usize) -> Value {
    if *stored_bytes + size <= MAX_STORED_OUTPUT_BYTES {
        *stored_bytes += size;
        return output.clone();
    }
    let room = MAX_STORED_OUTPUT_BYTES.saturating_sub(*stored_bytes).min(PREVIEW_BYTES);
    let preview = cut(&output.to_string(), room);
    *stored_bytes += preview.len();
    json!({ "truncated": true, "size_bytes": size, "preview": preview })
}

/// The first `limit` bytes of `text` (cut at a character boundary), marked when something was cut.
fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let end = (0..=limit).rev().find(|&end| text.is_char_boundary(end)).unwrap_or(0);
    format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
}

/// What a panic said: its message when it was text (as `panic!` makes it).
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn describe(patterns: &[StatusPattern]) -> String {
    patterns
        .iter()
        .map(|pattern| match pattern {
            StatusPattern::Code(code) => code.to_string(),
            StatusPattern::Range(range) => range.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use recur_common::{clock::ManualClock, model::JobId};
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn a_stored_execution_stays_under_its_bound_whatever_its_steps_produce() {
        let handlers = Handlers::default()
            .register("blob", |_| async { Ok(json!({ "data": "x".repeat(200 * 1024) })) })
            .register("boom", |_| async { anyhow::bail!("{}", "e".repeat(10 * 1024)) });
        let mut steps: Vec<Value> = (0..8).map(|_| json!({"kind": "handler", "name": "blob"})).collect();
        steps.push(json!({"kind": "handler", "name": "boom"}));
        let workflow: Workflow = serde_json::from_value(json!({
            "id": Uuid::nil(), "name": "big", "steps": steps,
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap();
        let clock = ManualClock::new("2026-12-01T00:00:00Z".parse().unwrap());
        let mut log = Vec::new();
        let job = JobId::regular(Uuid::nil(), 0, 0);
        let error = Executor::new(handlers, Arc::default())
            .run(&workflow, &job, &json!({}), &clock, &mut log)
            .await
            .unwrap_err();

        let stored = serde_json::to_string(&log).unwrap().len() + error.len() * 2;
        assert!(stored <= 256 * 1024, "{stored} bytes stored, over the documented bound");
        let first = log[0].output.as_ref().unwrap();
        assert_eq!((first["truncated"].as_bool(), first["size_bytes"].as_u64()), (Some(true), Some(204_811)));
        assert!(first["preview"].as_str().unwrap().starts_with(r#"{"data":"xxx"#), "{first}");
        assert!(log[8].error.as_ref().unwrap().ends_with("bytes cut)"), "the error is cut and says so");
    }

    #[tokio::test]
    async fn a_handler_that_panics_fails_its_step_with_the_panic_message() {
        let handlers = Handlers::default()
            .register("index", |call| async move {
                let items: Vec<u64> = serde_json::from_value(call.input["items"].clone())?;
                Ok(json!(items[3]))
            })
            .register("early", |_| -> std::future::Ready<anyhow::Result<Value>> { panic!("{} {}", "no", "future") });
        let steps = json!([{"kind": "handler", "name": "index", "input": {"items": [1, 2]}}]);
        let workflow: Workflow = serde_json::from_value(json!({
            "id": Uuid::nil(), "name": "panics", "steps": steps,
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap();
        let clock = ManualClock::new("2026-12-01T00:00:00Z".parse().unwrap());
        let executor = Executor::new(handlers, Arc::default());
        let job = JobId::regular(Uuid::nil(), 0, 0);
        let mut log = Vec::new();
        let error = executor.run(&workflow, &job, &json!({}), &clock, &mut log).await.unwrap_err();
        assert_eq!(
            error,
            r#"step 0 (handler) failed: handler "index" panicked: index out of bounds: the len is 2 but the index is 3"#
        );
        assert_eq!(log[0].state, ExecutionState::Failed);

        // A handler that panics before it returns its future fails the same way.
        let mut early = workflow.clone();
        early.steps = serde_json::from_value(json!([{"kind": "handler", "name": "early"}])).unwrap();
        let error = executor.run(&early, &job, &json!({}), &clock, &mut Vec::new()).await.unwrap_err();
        assert_eq!(error, r#"step 0 (handler) failed: handler "early" panicked: no future"#);
    }

    #[test]
    fn a_logged_message_stays_on_one_line() {
        let forged = "done\n2026-12-03T00:00:00Z ERROR recur: forged\r\u{1b}[31m";
        assert_eq!(one_log_line(forged), "done\\n2026-12-03T00:00:00Z ERROR recur: forged\\r\\u{1b}[31m");
        assert_eq!(one_log_line("café \"ok\""), "café \"ok\"");
    }
}
