//! The `recur` command-line client, driven end to end against a real API.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{TestApp, TestRedis, binary, spawn_app_with};

fn recur(app: &TestApp, args: &[&str]) -> Output {
    Command::new(binary("recur"))
        .args(args)
        .env("RECUR_API_URL", &app.base)
        .env("RECUR_API_KEY", "cli-key")
        .output()
        .expect("run recur")
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON out")
}

#[tokio::test]
async fn a_directory_of_workflows_and_schedules_applies_idempotently_and_the_cli_drives_them() {
    let redis = TestRedis::start();
    let app = spawn_app_with(&redis, &[("RECUR_API_KEYS", "cli-key")]).await;
    let dir = std::env::temp_dir().join(format!("recur-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("workflows")).unwrap();
    std::fs::create_dir_all(dir.join("schedules")).unwrap();
    let workflow = json!({"name": "nightly", "steps": [{"kind": "log", "message": "hi"}]});
    std::fs::write(dir.join("workflows/nightly.json"), workflow.to_string()).unwrap();
    let schedule =
        json!({"name": "nightly-report", "workflow": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin"});
    std::fs::write(dir.join("schedules/report.json"), schedule.to_string()).unwrap();
    let (workflows, schedules) = (dir.join("workflows"), dir.join("schedules"));
    let (workflows, schedules) = (workflows.to_str().unwrap(), schedules.to_str().unwrap());

    for _ in 0..2 {
        let applied = json_of(&recur(&app, &["workflows", "apply", "-f", workflows, "--json"]));
        assert_eq!(applied["items"][0]["version"], 1, "an unchanged workflow gets no new version");
        let applied = json_of(&recur(&app, &["schedules", "apply", "-f", schedules, "--json"]));
        assert_eq!(applied["items"][0]["cron"], "0 2 * * *");
    }
    let listed = json_of(&recur(&app, &["schedules", "list", "--json"]));
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "applied twice, one schedule: {listed}");
    let id = items[0]["id"].as_str().unwrap().to_string();

    let paused = json_of(&recur(&app, &["schedules", "pause", &id, "--json"]));
    assert_eq!(paused["status"], "paused");
    let status = json_of(&recur(&app, &["status", "--json"]));
    assert_eq!(status["overview"]["schedules"]["paused"], 1, "{status}");
    // The server's root URL works as well as its API base.
    let root = app.base.trim_end_matches("/api/v1");
    let from_root =
        Command::new(binary("recur")).args(["status", "--json", "--api-url", root, "--api-key", "cli-key"]).output();
    assert_eq!(json_of(&from_root.unwrap())["overview"]["schedules"], status["overview"]["schedules"], "from {root}");
    // A schedule is named by its name as well as by its id.
    let resumed = json_of(&recur(&app, &["schedules", "resume", "nightly-report", "--json"]));
    assert_eq!((resumed["id"].as_str(), resumed["status"].as_str()), (Some(id.as_str()), Some("active")));
    // The listing's filters: a part of the name in any case, the workflow by name, the queue.
    let found = |args: &[&str]| {
        let listed = json_of(&recur(&app, &[&["schedules", "list", "--json"], args].concat()));
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(found(&["--name", "REPORT", "--workflow", "nightly", "--queue", "default"]), std::slice::from_ref(&id));
    assert_eq!(found(&["--queue", "mail"]), Vec::<String>::new());
    let history = json_of(&recur(&app, &["executions", "list", "--schedule", "nightly-report", "--json"]));
    assert_eq!(history["items"], json!([]), "it has not run yet: {history}");
    // An offset's `+` reaches the API as itself, not as a space.
    let since = json_of(&recur(&app, &["executions", "list", "--since", "2026-01-01T00:00:00+01:00", "--json"]));
    assert_eq!(since["items"], json!([]), "{since}");
    let table = recur(&app, &["schedules", "get", &id]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("nightly-report"), "a human table by default");

    // A one-shot run for later, then cancelled before it starts.
    // A workflow is named by its name as well as by its id.
    let workflow_id = json_of(&recur(&app, &["workflows", "list", "--json"]))["items"][0]["id"].clone();
    assert_eq!(json_of(&recur(&app, &["workflows", "get", "nightly", "--json"]))["id"], workflow_id);
    let unknown = recur(&app, &["workflows", "run", "no-such-workflow"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", String::from_utf8_lossy(&unknown.stderr));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no workflow is named no-such-workflow"));
    let at = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let run = json_of(&recur(&app, &["workflows", "run", "nightly", "--at", &at, "--json"]));
    let execution = run["execution_id"].as_str().unwrap().to_string();
    let cancelled = json_of(&recur(&app, &["executions", "cancel", &execution, "--json"]));
    assert_eq!(cancelled["cancelled_before_start"], true, "{cancelled}");
    assert_eq!(json_of(&recur(&app, &["executions", "get", &execution, "--json"]))["state"], "cancelled");
    let of_workflow = json_of(&recur(&app, &["executions", "list", "--workflow", "nightly", "--json"]));
    assert_eq!(of_workflow["items"][0]["id"], execution.as_str(), "{of_workflow}");

    // Output into a pipe whose reader is gone (`recur ... | head`): a quiet stop, not a panic.
    let mut closed = Command::new(binary("recur"))
        .args(["schedules", "list"])
        .env("RECUR_API_URL", &app.base)
        .env("RECUR_API_KEY", "cli-key")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(closed.stdout.take());
    let closed = closed.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(closed.status.success() && stderr.is_empty(), "{:?}: {stderr}", closed.status);

    // The API's refusal: exit 1 and its message on one line.
    let missing = recur(&app, &["schedules", "get", &uuid::Uuid::new_v4().to_string()]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!((missing.status.code(), stderr.trim().lines().count()), (Some(1), 1), "{stderr}");
    assert!(stderr.starts_with("recur: 404"), "{stderr}");
    // A bad file: exit 2. No API: exit 3.
    let bad = recur(&app, &["schedules", "create", "-f", "/nonexistent.json"]);
    assert_eq!(bad.status.code(), Some(2));
    let nowhere = Command::new(binary("recur"))
        .args(["status"])
        .env("RECUR_API_URL", format!("http://127.0.0.1:{}/api/v1", recur_common::testing::free_port()))
        .output()
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(3), "{}", String::from_utf8_lossy(&nowhere.stderr));

    // Schedule names need not be unique: two of one name are told apart by id; a name is matched whole.
    let twin = dir.join("twin.json");
    // `create` takes the workflow by name, as `apply` does.
    let body = json!({"name": "nightly-report", "workflow": "nightly", "interval_seconds": 3600});
    std::fs::write(&twin, body.to_string()).unwrap();
    let twin = json_of(&recur(&app, &["schedules", "create", "-f", twin.to_str().unwrap(), "--json"]));
    assert_eq!(twin["workflow_id"], workflow_id);
    let ambiguous = recur(&app, &["schedules", "trigger", "nightly-report"]);
    let stderr = String::from_utf8_lossy(&ambiguous.stderr);
    assert_eq!(ambiguous.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2 schedules are named nightly-report; give one's id"), "{stderr}");
    assert!(stderr.contains(&id) && stderr.contains(twin["id"].as_str().unwrap()), "{stderr}");
    let partial = recur(&app, &["schedules", "trigger", "nightly"]);
    let stderr = String::from_utf8_lossy(&partial.stderr);
    assert_eq!((partial.status.code(), stderr.trim()), (Some(2), "recur: no schedule is named nightly"));

    // Applying an unchanged file again moves nothing (each apply is milliseconds after the last, and an
    // interval re-planned from now would move with it): an interval schedule applied at every deploy still runs.
    let hourly = dir.join("hourly.json");
    std::fs::write(&hourly, json!({"name": "export", "workflow": "nightly", "interval_seconds": 3600}).to_string())
        .unwrap();
    let apply =
        || json_of(&recur(&app, &["schedules", "apply", "-f", hourly.to_str().unwrap(), "--json"]))["items"][0].clone();
    let (first, again) = (apply(), apply());
    assert_eq!(
        (&first["next_run_at"], &first["updated_at"]),
        (&again["next_run_at"], &again["updated_at"]),
        "{first} then {again}"
    );

    // A workflow is deleted by name, and not while schedules use it.
    let in_use = recur(&app, &["workflows", "delete", "nightly"]);
    let stderr = String::from_utf8_lossy(&in_use.stderr);
    assert_eq!(in_use.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is used by schedules (GET /schedules?workflow_id="), "{stderr}");
    let spare = dir.join("spare.json");
    std::fs::write(&spare, json!({"name": "spare", "steps": [{"kind": "log", "message": "x"}]}).to_string()).unwrap();
    json_of(&recur(&app, &["workflows", "apply", "-f", spare.to_str().unwrap(), "--json"]));
    json_of(&recur(&app, &["workflows", "delete", "spare", "--json"]));
    assert_eq!(recur(&app, &["workflows", "get", "spare"]).status.code(), Some(2), "no workflow is named spare now");
    let _ = std::fs::remove_dir_all(dir);
}
