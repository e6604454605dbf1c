//! An HTTP server in the test process that workflows call: it records every hit and answers as the test
//! scripted it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Redirect, Response},
    routing::any,
};
use serde_json::{Value, json};

/// One request the target received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Path and query, as sent.
    pub uri: String,
    pub headers: HashMap<String, String>,
    /// The body parsed as JSON, or a JSON string of the raw text, or null when empty.
    pub body: Value,
}

type Hits = Arc<Mutex<HashMap<String, Vec<Hit>>>>;

/// The target server; dropped with the test's runtime.
#[derive(Clone)]
pub struct Target {
    base: String,
    hits: Hits,
}

impl Target {
    /// Serves on a free port:
    /// - `/ok/{key}`: 200;
    /// - `/fail/{key}`: 500;
    /// - `/fail-first/{n}/{key}`: 500 for the first `n` requests of `key`, then 200;
    /// - `/json/{key}`: 200 with `{"id": 4242, "key": key}` as `application/json`;
    /// - `/redirect/{key}`: 302 to `/ok/{key}`;
    /// - `/big/{key}`: 200 with 100,000 bytes of text;
    /// - any other path: 200 with `{"id": 42, "path": path}` as JSON, recorded under the path.
    pub async fn start() -> Self {
        let hits = Hits::default();
        let router = Router::new()
            .route("/ok/{key}", any(ok))
            .route("/fail/{key}", any(fail))
            .route("/fail-first/{n}/{key}", any(fail_first))
            .route("/json/{key}", any(json_answer))
            .route("/redirect/{key}", any(redirect))
            .route("/big/{key}", any(big))
            .fallback(any_path)
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
        self.hits(key).len()
    }

    /// The bodies `key` received, in order.
    pub fn bodies(&self, key: &str) -> Vec<Value> {
        self.hits(key).into_iter().map(|hit| hit.body).collect()
    }

    /// The requests `key` received, in order.
    pub fn hits(&self, key: &str) -> Vec<Hit> {
        self.hits.lock().expect("hits").get(key).cloned().unwrap_or_default()
    }
}

fn record(hits: &Hits, key: &str, uri: &Uri, headers: &HeaderMap, body: &str) -> usize {
    let hit = Hit {
        uri: uri.to_string(),
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        body: if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
        },
    };
    let mut hits = hits.lock().expect("hits");
    let list = hits.entry(key.to_string()).or_default();
    list.push(hit);
    list.len()
}

async fn ok(
    State(hits): State<Hits>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    record(&hits, &key, &uri, &headers, &body);
    StatusCode::OK
}

async fn fail(
    State(hits): State<Hits>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    record(&hits, &key, &uri, &headers, &body);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn fail_first(
    State(hits): State<Hits>,
    Path((n, key)): Path<(usize, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    if record(&hits, &key, &uri, &headers, &body) <= n { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}

async fn json_answer(
    State(hits): State<Hits>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Json<Value> {
    record(&hits, &key, &uri, &headers, &body);
    Json(json!({ "id": 4242, "key": key }))
}

async fn redirect(
    State(hits): State<Hits>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Redirect {
    record(&hits, &key, &uri, &headers, &body);
    Redirect::to(&format!("/ok/{key}"))
}

async fn big(
    State(hits): State<Hits>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    record(&hits, &key, &uri, &headers, &body);
    ([(header::CONTENT_TYPE, "text/plain")], "x".repeat(100_000)).into_response()
}

async fn any_path(State(hits): State<Hits>, uri: Uri, headers: HeaderMap, body: String) -> Json<Value> {
    record(&hits, uri.path(), &uri, &headers, &body);
    Json(json!({ "id": 42, "path": uri.path() }))
}
