//! Process helpers: spawn the binaries, drive the API, serve an HTTP target, and wait for conditions.

mod openapi;
mod target;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

pub use openapi::ApiDescription;
pub use recur_common::testing::{RedisUnderTest, TestCluster, TestRedis};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
pub use target::Target;

/// Path of a binary built next to the test executable (`target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    built(name)
}

/// Path of an example built next to the test executable (`target/<profile>/examples/<name>`).
pub fn example(name: &str) -> PathBuf {
    built(&format!("examples/{name}"))
}

fn built(relative: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target directory");
    let path = dir.join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins --examples` first (scripts/test does)",
        path.display()
    );
    path
}

fn log_level() -> &'static str {
    if std::env::var("TEST_LOG").is_ok() { "info" } else { "warn" }
}

fn output() -> Stdio {
    if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() }
}

/// `SSL_CERT_FILE` pointing at a TLS test server's certificate, so the binaries trust it.
fn trust(redis: &impl RedisUnderTest) -> Vec<(&'static str, PathBuf)> {
    redis.ca_certificate().map(|certificate| ("SSL_CERT_FILE", certificate)).into_iter().collect()
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; panics with `what` on timeout.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !recur_common::testing::poll_until(timeout, condition).await {
        panic!("timed out after {timeout:?} waiting until {what}");
    }
}

/// A running `recur-api` process and a client for it.
pub struct TestApp {
    child: Child,
    pub base: String,
    client: reqwest::Client,
    /// The API description this process serves: every answer [`TestApp::send`] receives is checked against it.
    pub description: Arc<ApiDescription>,
}

/// Starts `recur-api` on a free port against `redis` and waits until it answers.
pub async fn spawn_app(redis: &impl RedisUnderTest) -> TestApp {
    spawn_app_with(redis, &[]).await
}

/// Like [`spawn_app`] with extra environment variables.
pub async fn spawn_app_with(redis: &impl RedisUnderTest, env: &[(&str, &str)]) -> TestApp {
    let port = recur_common::testing::free_port();
    let child = Command::new(binary("recur-api"))
        .env("REDIS_URL", redis.url())
        .env("RECUR_API_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", log_level())
        .envs(trust(redis))
        .envs(env.iter().copied())
        .stdout(output())
        .stderr(output())
        .spawn()
        .expect("spawn recur-api");
    let mut child = KillOnDrop(Some(child));
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/healthz");
    wait_until(Duration::from_secs(20), "recur-api answers /healthz", || {
        let (client, health) = (client.clone(), health.clone());
        async move { client.get(&health).send().await.is_ok_and(|response| response.status().is_success()) }
    })
    .await;
    let document = client.get(format!("http://127.0.0.1:{port}/api/v1/openapi.json")).send().await;
    let document: Value = document.expect("GET /api/v1/openapi.json").json().await.expect("a JSON API description");
    let description = Arc::new(ApiDescription::new(document));
    let child = child.0.take().expect("recur-api process");
    TestApp { child, base: format!("http://127.0.0.1:{port}/api/v1"), client, description }
}

/// A process killed if the test fails before it is handed over.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl TestApp {
    /// Sends a request with an optional JSON body; returns the status and the parsed body (null if empty).
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Sends a request with a raw body.
    pub async fn request_raw(&self, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let request = self.client.request(method, format!("{}{path}", self.base));
        self.send(request.header("content-type", "application/json").body(body.to_string())).await
    }

    /// Sends a prepared request, and checks the answer against the API description, and, when the API
    /// accepted it, the JSON request body too.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let request = request.build().expect("a well-formed request");
        let (method, path) = (request.method().clone(), request.url().path().to_string());
        let sent: Option<Value> =
            request.body().and_then(|body| body.as_bytes()).and_then(|bytes| serde_json::from_slice(bytes).ok());
        let response = self.client.execute(request).await.expect("request to recur-api");
        let status = response.status();
        let text = response.text().await.expect("response body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        self.description.check_answer(&method, &path, status, &body);
        if let Some(sent) = sent.filter(|_| status.is_success()) {
            self.description.check_accepted_request(&method, &path, &sent);
        }
        (status, body)
    }

    /// A request builder against this API, for headers the helpers do not set.
    pub fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    fn expect(&self, (status, body): (StatusCode, Value), expected: StatusCode) -> Value {
        assert_eq!(status, expected, "unexpected answer: {body}");
        body
    }

    /// Creates a workflow with `steps` and a unique name; returns its id.
    pub async fn post_workflow(&self, steps: Value) -> String {
        let name = format!("wf-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.post_workflow_body(json!({"name": name, "steps": steps})).await
    }

    /// Creates the workflow `body`; returns its id.
    pub async fn post_workflow_body(&self, body: Value) -> String {
        let body = self.expect(self.request(Method::POST, "/workflows", Some(body)).await, StatusCode::CREATED);
        body["id"].as_str().expect("workflow id").to_string()
    }

    /// Starts an ad-hoc run of `workflow` with `body` (`{"payload": ...}`); returns its execution id.
    pub async fn run_workflow(&self, workflow: &str, body: Value) -> String {
        let run = self.expect(
            self.request(Method::POST, &format!("/workflows/{workflow}/run"), Some(body)).await,
            StatusCode::ACCEPTED,
        );
        run["execution_id"].as_str().expect("execution id").to_string()
    }

    /// Creates a schedule; returns it.
    pub async fn post_schedule(&self, body: Value) -> Value {
        self.expect(self.request(Method::POST, "/schedules", Some(body)).await, StatusCode::CREATED)
    }

    /// Creates a schedule of `workflow` whose first run is due now and whose next is an hour later; returns
    /// its id.
    pub async fn post_schedule_due_now(&self, workflow: &str) -> String {
        let now = jiff::Timestamp::now().to_string();
        let schedule =
            self.post_schedule(json!({"workflow_id": workflow, "interval_seconds": 3600, "start_at": now})).await;
        schedule["id"].as_str().expect("schedule id").to_string()
    }

    /// Creates `count` schedules of `workflow` that run every second, `repeats` times, all starting now;
    /// returns their ids.
    pub async fn post_repeating_schedules(&self, workflow: &str, count: usize, repeats: u64) -> Vec<String> {
        let start = jiff::Timestamp::now().to_string();
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let body =
                json!({"workflow_id": workflow, "interval_seconds": 1, "repeat_count": repeats, "start_at": start});
            ids.push(self.post_schedule(body).await["id"].as_str().expect("schedule id").to_string());
        }
        ids
    }

    /// Waits until the latest execution of schedule `id` is running, on `worker` when given.
    pub async fn wait_until_running(&self, id: &str, worker: Option<&str>) {
        wait_until(Duration::from_secs(10), &format!("a job of schedule {id} is running"), || async {
            self.executions(id).await.last().is_some_and(|execution| {
                execution["state"] == "running" && worker.is_none_or(|worker| execution["worker_id"] == worker)
            })
        })
        .await;
    }

    pub async fn show_schedule(&self, id: &str) -> Value {
        self.expect(self.request(Method::GET, &format!("/schedules/{id}"), None).await, StatusCode::OK)
    }

    pub async fn pause_schedule(&self, id: &str) -> (StatusCode, Value) {
        self.request(Method::POST, &format!("/schedules/{id}/pause"), None).await
    }

    pub async fn resume_schedule(&self, id: &str) -> (StatusCode, Value) {
        self.request(Method::POST, &format!("/schedules/{id}/resume"), None).await
    }

    pub async fn trigger_schedule(&self, id: &str) -> Value {
        self.expect(self.request(Method::POST, &format!("/schedules/{id}/trigger"), None).await, StatusCode::ACCEPTED)
    }

    pub async fn delete_schedule(&self, id: &str) {
        self.expect(self.request(Method::DELETE, &format!("/schedules/{id}"), None).await, StatusCode::NO_CONTENT);
    }

    /// Every execution of a schedule, oldest first.
    pub async fn executions(&self, id: &str) -> Vec<Value> {
        let body = self.expect(
            self.request(Method::GET, &format!("/schedules/{id}/executions?limit=500"), None).await,
            StatusCode::OK,
        );
        let mut items = body["items"].as_array().expect("items").clone();
        items.reverse();
        items
    }

    /// Executions of a schedule that are no longer running, oldest first.
    pub async fn finished_executions(&self, id: &str) -> Vec<Value> {
        self.executions(id).await.into_iter().filter(|execution| execution["state"] != "running").collect()
    }

    /// Waits until execution `id` exists in `state`; returns it. Fails at once if it ends in another state.
    pub async fn wait_for_execution(&self, id: &str, state: &str) -> Value {
        let path = format!("/executions/{id}");
        wait_until(Duration::from_secs(20), &format!("execution {id} is {state}"), || async {
            let (status, execution) = self.request(Method::GET, &path, None).await;
            let current = execution["state"].as_str().unwrap_or("");
            assert!(
                status != StatusCode::OK || [state, "queued", "waiting_for_handler", "running"].contains(&current),
                "execution {id} ended {current}, not {state}: {execution}"
            );
            status == StatusCode::OK && current == state
        })
        .await;
        self.expect(self.request(Method::GET, &path, None).await, StatusCode::OK)
    }

    /// Waits until the schedule has `status`; returns it. Answers other than 200 (a 503 while Redis
    /// restarts) count as "not yet".
    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        wait_until(timeout, &format!("schedule {id} is {status}"), || async {
            let (code, schedule) = self.request(Method::GET, &format!("/schedules/{id}"), None).await;
            code == StatusCode::OK && schedule["status"] == status
        })
        .await;
        self.show_schedule(id).await
    }
}

impl TestApp {
    /// SIGTERM, then waits for the exit status.
    pub async fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        terminate(&mut self.child, timeout).await
    }
}

/// Sends SIGTERM to `child` and waits up to `timeout` for it to exit; kills it and fails when it does not.
pub async fn terminate(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    signal(child, "-TERM");
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the process") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `recur-worker` process.
pub struct WorkerProcess {
    child: Child,
}

/// Worker options the tests vary.
#[derive(Clone)]
pub struct WorkerOptions {
    pub id: String,
    pub lease_seconds: u64,
    pub reconcile_seconds: u64,
    pub concurrency: usize,
    pub shutdown_grace_seconds: u64,
    /// Further variables, such as the egress policy.
    pub env: Vec<(&'static str, String)>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
            lease_seconds: 30,
            reconcile_seconds: 30,
            concurrency: 16,
            shutdown_grace_seconds: 10,
            env: Vec::new(),
        }
    }
}

/// Starts `recur-worker` against `redis`.
pub fn spawn_worker(redis: &impl RedisUnderTest, options: WorkerOptions) -> WorkerProcess {
    spawn_worker_from(binary("recur-worker"), redis, options)
}

/// Starts the example worker with Rust handlers (`worker/examples/custom_worker.rs`) against `redis`.
pub fn spawn_custom_worker(redis: &impl RedisUnderTest, options: WorkerOptions) -> WorkerProcess {
    spawn_worker_from(example("custom_worker"), redis, options)
}

fn spawn_worker_from(program: PathBuf, redis: &impl RedisUnderTest, options: WorkerOptions) -> WorkerProcess {
    let env = vec![
        ("REDIS_URL".to_string(), redis.url()),
        ("RECUR_WORKER_ID".to_string(), options.id),
        ("RECUR_LEASE_SECONDS".to_string(), options.lease_seconds.to_string()),
        ("RECUR_RECONCILE_SECONDS".to_string(), options.reconcile_seconds.to_string()),
        ("RECUR_CONCURRENCY".to_string(), options.concurrency.to_string()),
        ("RECUR_SHUTDOWN_GRACE_SECONDS".to_string(), options.shutdown_grace_seconds.to_string()),
        ("RUST_LOG".to_string(), log_level().to_string()),
    ];
    let child = Command::new(program)
        .envs(env)
        .envs(options.env)
        .envs(trust(redis))
        .stdout(output())
        .stderr(output())
        .spawn()
        .expect("spawn recur-worker");
    WorkerProcess { child }
}

impl WorkerProcess {
    /// SIGKILL: the worker dies mid-whatever, as on a crash.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        terminate(&mut self.child, timeout).await
    }

    /// SIGSTOP: the worker freezes (it claims nothing, and its heartbeat record lives on until it expires).
    pub fn pause(&self) {
        signal(&self.child, "-STOP");
    }

    /// SIGCONT after [`WorkerProcess::pause`].
    pub fn resume(&self) {
        signal(&self.child, "-CONT");
    }
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill");
    assert!(status.success(), "kill {signal} failed");
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Seconds between two RFC 3339 instants in JSON.
pub fn seconds_between(earlier: &Value, later: &Value) -> f64 {
    let parse = |v: &Value| v.as_str().expect("instant").parse::<jiff::Timestamp>().expect("RFC 3339");
    parse(later).duration_since(parse(earlier)).as_secs_f64()
}
