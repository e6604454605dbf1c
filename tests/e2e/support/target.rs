//! An HTTP server in the test process that workflows call: it records every hit and answers as the test
//! scripted it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State},
    http::{StatusCode, Uri, header},
    middleware::{self, Next},
    response::{Redirect, Response},
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
    /// - `/redirect-to?url=...`: 303 to that URL;
    /// - `/big/{key}`: 200 with 100,000 bytes of text;
    /// - any other path: 200 with `{"id": 42, "path": path}` as JSON, recorded under the path.
    pub async fn start() -> Self {
        let hits = Hits::default();
        let router = Router::new()
            .route("/ok/{key}", any(|| async { StatusCode::OK }))
            .route("/fail/{key}", any(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/fail-first/{n}/{key}", any(fail_first))
            .route("/json/{key}", any(|Path(key): Path<String>| async move { Json(json!({ "id": 4242, "key": key })) }))
            .route("/redirect/{key}", any(|Path(key): Path<String>| async move { Redirect::to(&format!("/ok/{key}")) }))
            .route(
                "/redirect-to",
                any(|Query(to): Query<HashMap<String, String>>| async move { Redirect::to(&to["url"]) }),
            )
            .route("/big/{key}", any(|| async { ([(header::CONTENT_TYPE, "text/plain")], "x".repeat(100_000)) }))
            .fallback(|uri: Uri| async move { Json(json!({ "id": 42, "path": uri.path() })) })
            .layer(middleware::from_fn_with_state(hits.clone(), record))
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

/// The paths scripted above, recorded under their last segment; any other path is recorded under itself.
const SCRIPTED: [&str; 6] = ["ok", "fail", "fail-first", "json", "redirect", "big"];

/// Records every request before it is answered.
async fn record(State(hits): State<Hits>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let key = match segments.as_slice() {
        [first, .., last] if SCRIPTED.contains(first) => (*last).to_string(),
        _ => path.to_string(),
    };
    let text = String::from_utf8_lossy(&bytes);
    let hit = Hit {
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        body: if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.to_string()))
        },
    };
    hits.lock().expect("hits").entry(key).or_default().push(hit);
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// 500 for the first `n` requests of `key` (this one already recorded), then 200.
async fn fail_first(State(hits): State<Hits>, Path((n, key)): Path<(usize, String)>) -> StatusCode {
    let seen = hits.lock().expect("hits").get(&key).map_or(0, Vec::len);
    if seen <= n { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}
