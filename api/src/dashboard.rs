//! The dashboard: a small single-page app (`api/ui/`) compiled into the binary and served at `/` and `/ui/...`.
//! It drives the public REST API from the browser, with the user's key when keys are set, so these pages
//! themselves hold no data and are served without a key.

use axum::{
    Router,
    http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderName, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::routes::AppState;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/style.css");

/// Only this origin's own files and API: no inline script, nothing from elsewhere, never framed.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Whether `path` is a dashboard page or asset.
pub fn is_dashboard(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// The dashboard's routes: the app for `/` and every `/ui/...` page (it routes in the browser), and its assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/ui", get(page))
        .route("/ui/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/ui/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/ui/{*page}", get(page))
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // Revalidated on each load, so a new binary's dashboard is used at once.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
        (HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff")),
        (HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer")),
    ];
    (headers, body).into_response()
}
