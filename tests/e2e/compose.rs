//! `compose.yaml` checked statically (no Docker engine is needed): it parses, names the services, and uses
//! exactly the variables the binaries read.

use std::collections::BTreeSet;

use serde_norway::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|error| panic!("read {path}: {error}"))
}

/// Variable names listed in `.env.example`: the documented configuration.
fn documented_variables() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .map(|line| line.split('=').next().unwrap().to_string())
        .collect()
}

#[test]
fn compose_runs_redis_with_aof_the_api_and_a_scalable_worker_with_documented_variables() {
    let compose: Value = serde_norway::from_str(&read("compose.yaml")).expect("compose.yaml parses");
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    assert_eq!(names, BTreeSet::from(["api", "redis", "worker"]));

    let redis = &compose["services"]["redis"];
    let command: Vec<&str> = redis["command"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(command.windows(2).any(|pair| pair == ["--appendonly", "yes"]), "redis without AOF: {command:?}");
    assert!(redis["volumes"][0].as_str().unwrap().ends_with(":/data"));
    assert!(compose["volumes"]["redis-data"].is_null() || compose["volumes"]["redis-data"].is_mapping());

    let worker = &compose["services"]["worker"];
    assert!(worker.get("container_name").is_none() && worker.get("ports").is_none(), "worker cannot be scaled");
    assert_eq!(worker["command"][0], "recur-worker");
    assert_eq!(compose["services"]["api"]["command"][0], "recur-api");

    let documented = documented_variables();
    for service in ["api", "worker"] {
        let environment = compose["services"][service]["environment"].as_mapping().expect("environment");
        assert_eq!(environment.get("REDIS_URL").and_then(Value::as_str), Some("redis://redis:6379"));
        for name in environment.keys().filter_map(Value::as_str) {
            assert!(documented.contains(name), "{service} sets {name}, which .env.example does not document");
        }
    }
}

#[test]
fn every_documented_variable_is_read_by_a_binary_and_listed_in_the_readme() {
    let sources = [
        read("common/src/config.rs"),
        read("common/src/telemetry.rs"),
        read("api/src/settings.rs"),
        read("worker/src/settings.rs"),
        read("worker/src/egress.rs"),
    ]
    .concat();
    let readme = read("README.md");
    for name in documented_variables() {
        let read_by_code = sources.contains(&format!("\"{name}\"")) || name == "RUST_LOG";
        assert!(read_by_code, "{name} is documented but no binary reads it");
        assert!(readme.contains(&format!("`{name}`")), "README's configuration table lacks {name}");
    }
}

#[test]
fn the_image_is_built_in_two_stages_with_both_binaries() {
    let dockerfile = read("Dockerfile");
    assert_eq!(dockerfile.lines().filter(|line| line.starts_with("FROM ")).count(), 2);
    assert!(dockerfile.contains("-p recur-api -p recur-worker"));
    assert!(dockerfile.contains("recur-api") && dockerfile.contains("recur-worker"));
    assert!(dockerfile.contains("CARGO_PROFILE_RELEASE_STRIP=true"), "release binaries are stripped");
    // Dependencies are built in a layer of their own, before the sources are copied.
    let manifests = dockerfile.find("COPY Cargo.toml Cargo.lock").expect("the manifests are copied first");
    assert!(manifests < dockerfile.find("COPY . .").expect("then the sources"));
}

#[test]
fn both_services_share_one_image_the_api_probes_itself_and_a_missing_key_breaks_no_command() {
    let text = read("compose.yaml");
    let compose: Value = serde_norway::from_str(&text).expect("compose.yaml parses");
    let (api, worker) = (&compose["services"]["api"], &compose["services"]["worker"]);
    assert_eq!(api["image"], worker["image"]);
    assert!(api["build"].is_string() && worker.get("build").is_none(), "the image is built once");
    let probe: Vec<&str> = api["healthcheck"]["test"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(probe, ["CMD", "recur-api", "--check-health"]);
    assert!(!text.contains(":?"), "a required-variable check makes `docker compose ps/logs/down` fail");
}
