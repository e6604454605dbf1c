//! `recur`: the command-line client of the REST API (`docs/operations.md`).
//!
//! Human tables by default, `--json` for scripts. Exit codes: 0 done, 1 the API refused (its error message
//! on one line), 2 bad usage or input, 3 the API could not be reached.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use reqwest::Method;
use serde_json::{Value, json};

/// Drive recur over its REST API.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The API's URL: the server's (`http://host:8080`) or its `/api/v1` base.
    #[arg(long, env = "RECUR_API_URL", default_value = "http://127.0.0.1:8080/api/v1", global = true)]
    api_url: String,
    /// A bearer key, when the API has keys.
    #[arg(long, env = "RECUR_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Queues, workers, schedules by status, and what is failing.
    Status,
    /// Scheduled jobs.
    #[command(subcommand)]
    Schedules(Schedules),
    /// Workflows.
    #[command(subcommand)]
    Workflows(Workflows),
    /// Run history.
    #[command(subcommand)]
    Executions(Executions),
}

#[derive(Subcommand)]
enum Schedules {
    /// Schedules, newest first.
    List(ScheduleFilters),
    /// One schedule, every field.
    Get {
        /// The schedule's id or name.
        schedule: String,
    },
    /// Create one from a JSON file (the body of POST /schedules). It may name its workflow (`"workflow":
    /// "<name>"`) instead of giving `workflow_id`.
    Create(FileArg),
    /// Change one with a JSON file (the body of PATCH /schedules/{id}; `"workflow": "<name>"` as in create).
    Patch {
        /// The schedule's id or name.
        schedule: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Create or update by name each schedule in a JSON file, or in every `*.json` file of a directory. A
    /// schedule may name its workflow (`"workflow": "<name>"`) instead of giving `workflow_id`.
    Apply(FileArg),
    /// Stop its runs (a run under way finishes) until it is resumed.
    Pause {
        /// The schedule's id or name.
        schedule: String,
    },
    /// Make a paused schedule active again: its next run is planned from now.
    Resume {
        /// The schedule's id or name.
        schedule: String,
    },
    /// Run it once now, beside its regular runs.
    Trigger {
        /// The schedule's id or name.
        schedule: String,
    },
    /// Make a done or dead schedule active again.
    Restart {
        /// The schedule's id or name.
        schedule: String,
    },
    /// Delete it and its queued job (a run under way finishes and is recorded).
    Delete {
        /// The schedule's id or name.
        schedule: String,
    },
    /// Its next occurrences.
    Upcoming {
        /// The schedule's id or name.
        schedule: String,
        /// How many.
        #[arg(long, default_value_t = 10)]
        count: u32,
    },
    /// Run each occurrence between two instants (RFC 3339) once, in order.
    Backfill {
        /// The schedule's id or name.
        schedule: String,
        /// The first instant (RFC 3339).
        #[arg(long)]
        from: String,
        /// The last instant (RFC 3339).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum Workflows {
    /// Workflows, newest first.
    List(ListArgs),
    /// One workflow, as its latest version.
    Get {
        /// The workflow's id or name.
        workflow: String,
    },
    /// Create or replace by name each workflow in a JSON file, or in every `*.json` file of a directory.
    Apply(FileArg),
    /// Run it once, now or at `--at`, with an optional JSON payload.
    Run {
        /// The workflow's id or name.
        workflow: String,
        /// The run's payload, a JSON object (`trigger.payload` in templates).
        #[arg(long)]
        payload: Option<String>,
        /// When to run (RFC 3339); a queued run can be cancelled with `executions cancel`.
        #[arg(long)]
        at: Option<String>,
    },
    /// Every version it had.
    Versions {
        /// The workflow's id or name.
        workflow: String,
    },
    /// Delete it and its versions; refused while schedules use it (runs already queued fail, saying so).
    Delete {
        /// The workflow's id or name.
        workflow: String,
    },
}

#[derive(Subcommand)]
enum Executions {
    /// Executions across schedules, newest first.
    List {
        /// Only this schedule's (its id or name).
        #[arg(long)]
        schedule: Option<String>,
        /// Only this workflow's (its id or name).
        #[arg(long)]
        workflow: Option<String>,
        /// Only in this state (`running`, `succeeded`, `failed`, ...).
        #[arg(long)]
        state: Option<String>,
        /// Only those started at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One execution, with its steps.
    Get {
        /// The execution's id.
        id: String,
    },
    /// Ask the worker running it to stop it.
    Cancel {
        /// The execution's id.
        id: String,
        /// Count it as a failure of its schedule (a retry follows), not as cancelled.
        #[arg(long)]
        count_as_failure: bool,
    },
    /// Follow new executions as they start and end, until Ctrl-C.
    Tail {
        /// Only this schedule's (its id or name).
        #[arg(long)]
        schedule: Option<String>,
        /// Only this workflow's (its id or name).
        #[arg(long)]
        workflow: Option<String>,
    },
}

#[derive(Args)]
struct ListArgs {
    /// How many at most.
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

#[derive(Args)]
struct ScheduleFilters {
    #[command(flatten)]
    list: ListArgs,
    /// Only this status: active, paused, done or dead.
    #[arg(long)]
    status: Option<String>,
    /// Only those whose name contains this, ignoring case.
    #[arg(long)]
    name: Option<String>,
    /// Only this workflow's (its id or name).
    #[arg(long)]
    workflow: Option<String>,
    /// Only this queue's.
    #[arg(long)]
    queue: Option<String>,
}

#[derive(Args)]
struct FileArg {
    /// A JSON file, or a directory of them (`apply`).
    #[arg(short = 'f', long = "file")]
    path: PathBuf,
}

/// Why a command failed, and its exit code.
enum Failure {
    /// The API answered with an error (exit 1).
    Refused(String),
    /// The command line or a file is wrong (exit 2).
    Usage(String),
    /// No answer from the API (exit 3).
    Unreachable(String),
}

type Outcome<T = ()> = Result<T, Failure>;

struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Outcome<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| Failure::Unreachable(format!("{}: {error}", self.base)))?;
        let status = response.status();
        let text = response.text().await.map_err(|error| Failure::Unreachable(error.to_string()))?;
        let answer: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if status.is_success() {
            // What was accepted but will wait (no worker for its queue or handler): said on stderr, so that
            // `--json` output stays parseable.
            for warning in answer["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                eprintln!("recur: warning: {warning}");
            }
            return Ok(answer);
        }
        let message = answer["error"]["message"].as_str().map_or_else(|| format!("{status}"), str::to_string);
        let field = answer["error"]["field"].as_str().map(|field| format!(" ({field})")).unwrap_or_default();
        let items = answer["error"]["items"].as_array().map_or(String::new(), |items| {
            let each: Vec<String> = items
                .iter()
                .map(|item| format!("#{}: {}", item["index"], item["message"].as_str().unwrap_or("")))
                .collect();
            format!(": {}", each.join("; "))
        });
        Err(Failure::Refused(format!("{} {message}{field}{items}", status.as_u16())))
    }

    async fn get(&self, path: &str) -> Outcome<Value> {
        self.call(Method::GET, path, None).await
    }

    /// Every item of a listing, following its cursors.
    async fn all(&self, path: &str) -> Outcome<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=500&cursor={cursor}"),
                None => format!("{path}{separator}limit=500"),
            };
            let page = self.get(&page_path).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(items),
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let client = Client { http: reqwest::Client::new(), base: api_base(&cli.api_url), key: cli.api_key.clone() };
    match run(&client, cli.command, cli.json).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, message) = match failure {
                Failure::Refused(message) => (1, message),
                Failure::Usage(message) => (2, message),
                Failure::Unreachable(message) => (3, format!("cannot reach the recur API at {message}")),
            };
            eprintln!("recur: {}", message.replace('\n', " "));
            ExitCode::from(code)
        }
    }
}

/// The REST API's base from the URL a user gives: the API lives at `/api/v1` under the server's root (behind
/// a proxy too), so a URL without it means the server's root.
fn api_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/api/v1") { url.to_string() } else { format!("{url}/api/v1") }
}

/// Prints a line of output. When its reader is gone (`recur executions tail | head -3`), stops quietly with
/// 0, as Unix tools do, where `println!` would panic.
fn say(text: impl std::fmt::Display) {
    use std::io::Write as _;
    if let Err(error) = writeln!(std::io::stdout(), "{text}") {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "recur: cannot write the output: {error}");
        std::process::exit(1);
    }
}

async fn run(client: &Client, command: Command, json: bool) -> Outcome {
    let print = |value: &Value, table: fn(&Value) -> Table| {
        if json {
            say(serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            say(table(value));
        }
    };
    match command {
        Command::Status => {
            let overview = client.get("/status").await?;
            let dead = client.get("/schedules?status=dead&limit=20").await?;
            let status = json!({ "overview": overview, "dead_schedules": dead["items"] });
            print(&status, status_table);
        }
        Command::Schedules(command) => schedules(client, command, &print).await?,
        Command::Workflows(command) => workflows(client, command, &print).await?,
        Command::Executions(command) => executions(client, command, json, &print).await?,
    }
    Ok(())
}

async fn schedules(client: &Client, command: Schedules, print: &impl Fn(&Value, fn(&Value) -> Table)) -> Outcome {
    let one = |value: &Value| schedules_table(&json!({ "items": [value] }));
    match command {
        Schedules::List(args) => {
            let workflow = optional_workflow_id(client, args.workflow).await?;
            let filters =
                [("status", args.status), ("name", args.name), ("workflow_id", workflow), ("queue", args.queue)];
            print(&client.get(&format!("/schedules?{}", query(args.list.limit, filters))).await?, schedules_table);
        }
        Schedules::Get { schedule } => {
            print(&client.get(&format!("/schedules/{}", schedule_id(client, &schedule).await?)).await?, one);
        }
        Schedules::Create(file) => {
            print(&client.call(Method::POST, "/schedules", Some(&schedule_body(client, &file.path).await?)).await?, one)
        }
        Schedules::Patch { schedule, file } => {
            let id = schedule_id(client, &schedule).await?;
            let body = schedule_body(client, &file.path).await?;
            print(&client.call(Method::PATCH, &format!("/schedules/{id}"), Some(&body)).await?, one);
        }
        Schedules::Apply(file) => {
            let existing = client.all("/schedules").await?;
            let workflows = client.all("/workflows").await?;
            let mut applied = Vec::new();
            for mut body in read_all(&file.path)? {
                name_workflow(&mut body, &workflows)?;
                let name = body["name"]
                    .as_str()
                    .ok_or_else(|| Failure::Usage("every schedule to apply needs a name".to_string()))?;
                let named: Vec<&Value> = existing.iter().filter(|schedule| schedule["name"] == name).collect();
                let answer = match named.as_slice() {
                    [] => client.call(Method::POST, "/schedules", Some(&body)).await?,
                    [one] => {
                        let id = one["id"].as_str().unwrap_or_default();
                        client.call(Method::PATCH, &format!("/schedules/{id}"), Some(&body)).await?
                    }
                    _ => {
                        return Err(Failure::Usage(format!(
                            "{} schedules are named {name:?}; apply needs one",
                            named.len()
                        )));
                    }
                };
                applied.push(answer);
            }
            print(&json!({ "items": applied }), schedules_table);
        }
        Schedules::Pause { schedule } => print(&act_on(client, &schedule, "pause").await?, one),
        Schedules::Resume { schedule } => print(&act_on(client, &schedule, "resume").await?, one),
        Schedules::Restart { schedule } => print(&act_on(client, &schedule, "restart").await?, one),
        Schedules::Trigger { schedule } => print(&act_on(client, &schedule, "trigger").await?, fields_table),
        Schedules::Delete { schedule } => {
            let id = schedule_id(client, &schedule).await?;
            client.call(Method::DELETE, &format!("/schedules/{id}"), None).await?;
            print(&json!({ "deleted": id }), fields_table);
        }
        Schedules::Upcoming { schedule, count } => {
            let id = schedule_id(client, &schedule).await?;
            print(&client.get(&format!("/schedules/{id}/upcoming?count={count}")).await?, fields_table);
        }
        Schedules::Backfill { schedule, from, to } => {
            let id = schedule_id(client, &schedule).await?;
            let body = json!({ "from": from, "to": to });
            print(&client.call(Method::POST, &format!("/schedules/{id}/backfill"), Some(&body)).await?, fields_table);
        }
    }
    Ok(())
}

async fn workflows(client: &Client, command: Workflows, print: &impl Fn(&Value, fn(&Value) -> Table)) -> Outcome {
    let one = |value: &Value| workflows_table(&json!({ "items": [value] }));
    match command {
        Workflows::List(args) => {
            print(&client.get(&format!("/workflows?limit={}", args.limit)).await?, workflows_table)
        }
        Workflows::Get { workflow } => {
            let id = workflow_id(client, &workflow).await?;
            print(&client.get(&format!("/workflows/{id}")).await?, one)
        }
        Workflows::Apply(file) => {
            let existing = client.all("/workflows").await?;
            let mut applied = Vec::new();
            for body in read_all(&file.path)? {
                let name = body["name"]
                    .as_str()
                    .ok_or_else(|| Failure::Usage("every workflow to apply needs a name".to_string()))?;
                let answer = match existing.iter().find(|workflow| workflow["name"] == name) {
                    None => client.call(Method::POST, "/workflows", Some(&body)).await?,
                    // Unchanged: no new version.
                    Some(current)
                        if current["steps"] == body["steps"]
                            && current["max_concurrency"]
                                == body.get("max_concurrency").cloned().unwrap_or(Value::Null) =>
                    {
                        current.clone()
                    }
                    Some(current) => {
                        let id = current["id"].as_str().unwrap_or_default();
                        client.call(Method::PUT, &format!("/workflows/{id}"), Some(&body)).await?
                    }
                };
                applied.push(answer);
            }
            print(&json!({ "items": applied }), workflows_table);
        }
        Workflows::Run { workflow, payload, at } => {
            let id = workflow_id(client, &workflow).await?;
            let payload: Value = match payload {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|error| Failure::Usage(format!("--payload is not JSON: {error}")))?,
                None => json!({}),
            };
            let mut body = json!({ "payload": payload });
            if let Some(at) = at {
                body["run_at"] = json!(at);
            }
            print(&client.call(Method::POST, &format!("/workflows/{id}/run"), Some(&body)).await?, fields_table);
        }
        Workflows::Versions { workflow } => {
            let id = workflow_id(client, &workflow).await?;
            let current = client.get(&format!("/workflows/{id}")).await?;
            let mut versions = Vec::new();
            for version in 1..=current["version"].as_u64().unwrap_or(1) {
                versions.push(client.get(&format!("/workflows/{id}/versions/{version}")).await?);
            }
            print(&json!({ "items": versions }), workflows_table);
        }
        Workflows::Delete { workflow } => {
            let id = workflow_id(client, &workflow).await?;
            client.call(Method::DELETE, &format!("/workflows/{id}"), None).await?;
            print(&json!({ "deleted": id }), fields_table);
        }
    }
    Ok(())
}

async fn executions(
    client: &Client,
    command: Executions,
    json: bool,
    print: &impl Fn(&Value, fn(&Value) -> Table),
) -> Outcome {
    match command {
        Executions::List { schedule, workflow, state, since, limit } => {
            let (schedule, workflow) =
                (optional_schedule_id(client, schedule).await?, optional_workflow_id(client, workflow).await?);
            let filters = [("schedule_id", schedule), ("workflow_id", workflow), ("state", state), ("since", since)];
            let path = format!("/executions?{}", query(limit, filters));
            print(&client.get(&path).await?, executions_table);
        }
        Executions::Get { id } => print(&client.get(&format!("/executions/{id}")).await?, fields_table),
        Executions::Cancel { id, count_as_failure } => {
            let path = format!("/executions/{id}/cancel?count_as_failure={count_as_failure}");
            print(&client.call(Method::POST, &path, None).await?, fields_table);
        }
        Executions::Tail { schedule, workflow } => {
            let (schedule, workflow) =
                (optional_schedule_id(client, schedule).await?, optional_workflow_id(client, workflow).await?);
            let path = format!("/executions?{}", query(50, [("schedule_id", schedule), ("workflow_id", workflow)]));
            let mut seen = std::collections::HashMap::<String, String>::new();
            let colour = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
            loop {
                let page = client.get(&path).await?;
                let mut items = page["items"].as_array().cloned().unwrap_or_default();
                items.reverse();
                for execution in items {
                    let id = execution["id"].as_str().unwrap_or_default().to_string();
                    let state = execution["state"].as_str().unwrap_or_default().to_string();
                    if seen.get(&id) == Some(&state) {
                        continue;
                    }
                    seen.insert(id.clone(), state.clone());
                    if json {
                        say(execution);
                    } else {
                        let shown = if colour { paint(&state) } else { state.clone() };
                        let error = execution["error"].as_str().map(|error| format!("  {error}")).unwrap_or_default();
                        say(format!("{}  {id}  {shown}{error}", execution["started_at"].as_str().unwrap_or("")));
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}

/// A schedule body may name its workflow (`"workflow": "<name>"`) instead of giving its id, so files can be
/// applied to any deployment: the name is replaced by the id of that workflow.
fn name_workflow(body: &mut Value, workflows: &[Value]) -> Outcome {
    let Some(object) = body.as_object_mut() else {
        return Err(Failure::Usage("a schedule must be a JSON object".to_string()));
    };
    let Some(name) = object.remove("workflow") else { return Ok(()) };
    let name = name.as_str().ok_or_else(|| Failure::Usage(format!("\"workflow\" must be a name, not {name}")))?;
    object.insert("workflow_id".to_string(), Value::String(named_workflow(workflows, name)?));
    Ok(())
}

/// The schedule body in the file at `path`, its workflow named by id (see [`name_workflow`]).
async fn schedule_body(client: &Client, path: &PathBuf) -> Outcome<Value> {
    let mut body = read_json(path)?;
    if body.get("workflow").is_some() {
        name_workflow(&mut body, &client.all("/workflows").await?)?;
    }
    Ok(body)
}

/// The id of the workflow named `name` among `workflows`.
fn named_workflow(workflows: &[Value], name: &str) -> Result<String, Failure> {
    let found = workflows.iter().find(|workflow| workflow["name"] == name);
    let found = found.ok_or_else(|| Failure::Usage(format!("no workflow is named {name}")))?;
    Ok(found["id"].as_str().unwrap_or_default().to_string())
}

/// The id of the workflow `key` names: an id as it is, else the id of the workflow of that name (names are
/// unique), so commands take either.
async fn workflow_id(client: &Client, key: &str) -> Result<String, Failure> {
    if uuid::Uuid::parse_str(key).is_ok() {
        return Ok(key.to_string());
    }
    named_workflow(&client.all("/workflows").await?, key)
}

/// The id of the schedule `key` names: an id as it is, else the id of the one schedule of that name. Names
/// need not be unique: schedules that share one are told apart by id.
async fn schedule_id(client: &Client, key: &str) -> Result<String, Failure> {
    if uuid::Uuid::parse_str(key).is_ok() {
        return Ok(key.to_string());
    }
    // The listing's `name` takes the names containing it; only the same name counts here.
    let query: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let named: Vec<Value> = client
        .all(&format!("/schedules?name={query}"))
        .await?
        .into_iter()
        .filter(|schedule| schedule["name"] == key)
        .collect();
    let ids: Vec<&str> = named.iter().filter_map(|schedule| schedule["id"].as_str()).collect();
    match ids.as_slice() {
        [id] => Ok((*id).to_string()),
        [] => Err(Failure::Usage(format!("no schedule is named {key}"))),
        ids => {
            Err(Failure::Usage(format!("{} schedules are named {key}; give one's id: {}", ids.len(), ids.join(", "))))
        }
    }
}

/// `POST /schedules/{id}/{action}` on the schedule `key` names.
async fn act_on(client: &Client, key: &str, action: &str) -> Outcome<Value> {
    let id = schedule_id(client, key).await?;
    client.call(Method::POST, &format!("/schedules/{id}/{action}"), None).await
}

/// A listing's query string: `limit`, and each of `filters` that has a value, encoded.
fn query<const N: usize>(limit: u32, filters: [(&str, Option<String>); N]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    for (name, value) in filters {
        if let Some(value) = value {
            query.append_pair(name, &value);
        }
    }
    query.finish()
}

/// [`schedule_id`] of a filter that may be absent.
async fn optional_schedule_id(client: &Client, key: Option<String>) -> Result<Option<String>, Failure> {
    match key {
        Some(key) => Ok(Some(schedule_id(client, &key).await?)),
        None => Ok(None),
    }
}

/// [`workflow_id`] of a filter that may be absent.
async fn optional_workflow_id(client: &Client, key: Option<String>) -> Result<Option<String>, Failure> {
    match key {
        Some(key) => Ok(Some(workflow_id(client, &key).await?)),
        None => Ok(None),
    }
}

/// A state in its terminal colour.
fn paint(state: &str) -> String {
    let code = match state {
        "succeeded" => "32",
        "failed" => "31",
        "running" => "34",
        "cancelled" | "skipped" => "33",
        _ => "0",
    };
    format!("\x1b[{code}m{state}\x1b[0m")
}

/// The body in a file, or every `*.json` file of a directory in name order; a file may hold one object or
/// an array of them.
fn read_all(path: &PathBuf) -> Outcome<Vec<Value>> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|error| Failure::Usage(format!("{}: {error}", path.display())))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|file| file.extension().is_some_and(|extension| extension == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.clone()]
    };
    let mut bodies = Vec::new();
    for file in files {
        match read_json(&file)? {
            Value::Array(items) => bodies.extend(items),
            body => bodies.push(body),
        }
    }
    Ok(bodies)
}

fn read_json(path: &PathBuf) -> Outcome<Value> {
    let text = std::fs::read_to_string(path).map_err(|error| Failure::Usage(format!("{}: {error}", path.display())))?;
    serde_json::from_str(&text).map_err(|error| Failure::Usage(format!("{} is not JSON: {error}", path.display())))
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    table
}

/// A cell: a string as it is, anything else as JSON, a missing value as `-`.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn schedules_table(page: &Value) -> Table {
    let mut table = table(&["id", "name", "status", "timing", "next run", "last status", "runs", "errors"]);
    for schedule in page["items"].as_array().into_iter().flatten() {
        let timing = match (&schedule["interval_seconds"], &schedule["cron"], &schedule["run_at"]) {
            (Value::Number(seconds), _, _) => format!("every {seconds} s"),
            (_, Value::String(cron), _) => format!("{cron} {}", cell(&schedule["timezone"])),
            (_, _, at) => format!("once at {}", cell(at)),
        };
        table.add_row([
            cell(&schedule["id"]),
            cell(&schedule["name"]),
            cell(&schedule["status"]),
            timing,
            cell(&schedule["next_run_at"]),
            cell(&schedule["last_status"]),
            cell(&schedule["run_count"]),
            cell(&schedule["error_count"]),
        ]);
    }
    table
}

fn workflows_table(page: &Value) -> Table {
    let mut table = table(&["id", "name", "version", "steps", "max concurrency", "updated"]);
    for workflow in page["items"].as_array().into_iter().flatten() {
        let steps: Vec<String> =
            workflow["steps"].as_array().into_iter().flatten().map(|step| cell(&step["kind"])).collect();
        table.add_row([
            cell(&workflow["id"]),
            cell(&workflow["name"]),
            cell(&workflow["version"]),
            steps.join(", "),
            cell(&workflow["max_concurrency"]),
            cell(&workflow["updated_at"]),
        ]);
    }
    table
}

fn executions_table(page: &Value) -> Table {
    let mut table = table(&["id", "state", "started", "ms", "worker", "error"]);
    for execution in page["items"].as_array().into_iter().flatten() {
        table.add_row([
            cell(&execution["id"]),
            cell(&execution["state"]),
            cell(&execution["started_at"]),
            cell(&execution["duration_ms"]),
            cell(&execution["worker_id"]),
            cell(&execution["error"]),
        ]);
    }
    table
}

/// Any object, one field a row.
fn fields_table(value: &Value) -> Table {
    let mut table = table(&["field", "value"]);
    for (name, field) in value.as_object().into_iter().flatten() {
        table.add_row([name.clone(), cell(field)]);
    }
    table
}

fn status_table(status: &Value) -> Table {
    let overview = &status["overview"];
    let consumed: Vec<&str> = overview["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|worker| worker["description"]["queues"].as_str())
        .flat_map(|queues| queues.split(','))
        .collect();
    let mut table = table(&["what", "state"]);
    for queue in overview["queues"].as_array().into_iter().flatten() {
        let name = queue["name"].as_str().unwrap_or_default();
        let unserved = if consumed.contains(&name) { "" } else { "; no live worker consumes it" };
        table.add_row([
            format!("queue {name}"),
            format!(
                "ready {}, delayed {}, running {}, expired leases {}, waiting for a handler {}{unserved}",
                queue["ready"],
                queue["delayed"],
                queue["running"],
                queue["expired_leases"],
                queue["waiting_for_handler"]
            ),
        ]);
    }
    for wait in overview["waiting_for_handler"].as_array().into_iter().flatten() {
        table.add_row([
            format!("waiting: {}", cell(&wait["job_id"])),
            format!(
                "no live worker of queue {} offers the handler {}, since {}",
                cell(&wait["queue"]),
                cell(&wait["handler"]),
                cell(&wait["since"])
            ),
        ]);
    }
    let workers = overview["workers"].as_array().map_or(0, Vec::len);
    table.add_row(["workers".to_string(), format!("{workers} live")]);
    let counts: Vec<String> = overview["schedules"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, count)| format!("{status} {count}"))
        .collect();
    table.add_row(["schedules".to_string(), counts.join(", ")]);
    for dead in status["dead_schedules"].as_array().into_iter().flatten() {
        table.add_row([
            format!("dead: {}", cell(&dead["name"])),
            format!("{}: {}", cell(&dead["id"]), cell(&dead["last_error"])),
        ]);
    }
    for (key, detail) in overview["corrupt_records"].as_object().into_iter().flatten() {
        table.add_row([format!("corrupt: {key}"), cell(detail)]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_strings_as_they_are_and_missing_values_as_a_dash() {
        assert_eq!(
            (cell(&json!("a")), cell(&json!(3)), cell(&Value::Null)),
            ("a".to_string(), "3".to_string(), "-".to_string())
        );
    }

    #[test]
    fn the_api_url_may_be_the_servers_root_or_its_api_base() {
        for url in ["http://h:8080", "http://h:8080/", "http://h:8080/api/v1", "http://h:8080/api/v1/"] {
            assert_eq!(api_base(url), "http://h:8080/api/v1", "{url}");
        }
        assert_eq!(api_base("https://h/recur"), "https://h/recur/api/v1", "behind a proxy's path");
    }
}
