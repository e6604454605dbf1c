//! An HTTP server in the test process that workflows call: it records every hit and answers as the test
//! scripted it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::any,
};
use serde_json::Value;

#[derive(Default)]
struct Hits {
    /// Request bodies by key, in arrival order.
    bodies: HashMap<String, Vec<Value>>,
}

/// The target server; dropped with the test's runtime.
#[derive(Clone)]
pub struct Target {
    base: String,
    hits: Arc<Mutex<Hits>>,
}

impl Target {
    /// Serves on a free port:
    /// - `/ok/{key}`: 200;
    /// - `/fail/{key}`: 500;
    /// - `/fail-first/{n}/{key}`: 500 for the first `n` requests of `key`, then 200.
    pub async fn start() -> Self {
        let hits = Arc::new(Mutex::new(Hits::default()));
        let router = Router::new()
            .route("/ok/{key}", any(ok))
            .route("/fail/{key}", any(fail))
            .route("/fail-first/{n}/{key}", any(fail_first))
            .with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind target");
        let base = format!("http://{}", listener.local_addr().expect("target address"));
        tokio::spawn(async move { axum::serve(listener, router).await.expect("target server") });
        Self { base, hits }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many requests `key` received.
    pub fn count(&self, key: &str) -> usize {
        self.bodies(key).len()
    }

    /// The bodies `key` received, in order.
    pub fn bodies(&self, key: &str) -> Vec<Value> {
        self.hits.lock().expect("hits").bodies.get(key).cloned().unwrap_or_default()
    }
}

fn record(hits: &Mutex<Hits>, key: &str, body: &str) -> usize {
    let mut hits = hits.lock().expect("hits");
    let bodies = hits.bodies.entry(key.to_string()).or_default();
    bodies.push(serde_json::from_str(body).unwrap_or(Value::Null));
    bodies.len()
}

async fn ok(State(hits): State<Arc<Mutex<Hits>>>, Path(key): Path<String>, body: String) -> StatusCode {
    record(&hits, &key, &body);
    StatusCode::OK
}

async fn fail(State(hits): State<Arc<Mutex<Hits>>>, Path(key): Path<String>, body: String) -> StatusCode {
    record(&hits, &key, &body);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn fail_first(
    State(hits): State<Arc<Mutex<Hits>>>,
    Path((n, key)): Path<(usize, String)>,
    body: String,
) -> StatusCode {
    if record(&hits, &key, &body) <= n { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}
