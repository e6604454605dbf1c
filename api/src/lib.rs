//! The recur REST API (spec §6): an axum server over [`recur_common::store::Store`].

mod error;
mod extract;
mod routes;
mod settings;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use axum::{ServiceExt as _, extract::Request, http::Uri};
use recur_common::{clock::SystemClock, store::Store};
use tokio::net::TcpListener;
use tower::Layer as _;

pub use settings::Settings;

/// A built API server: bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Connects to Redis (failing at once when it does not answer), binds the address and builds the
    /// router. Refuses a non-loopback address without API keys.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check_exposure()?;
        let conn = settings
            .redis
            .connect()
            .await
            .with_context(|| format!("cannot reach Redis at {}", settings.redis.redacted_url()))?;
        let store = Store::new(conn, &settings.redis.prefix, Arc::new(SystemClock)).with_retention(settings.retention);
        store
            .inspect()
            .redis_health()
            .await
            .with_context(|| format!("cannot reach Redis at {}", settings.redis.redacted_url()))?;
        let listener =
            TcpListener::bind(settings.addr).await.with_context(|| format!("cannot listen on {}", settings.addr))?;
        let state = routes::AppState { store, api_keys: Arc::new(settings.api_keys) };
        let router = routes::router(state)
            .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        Ok(Self { listener, router })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The port actually bound.
    pub fn port(&self) -> std::io::Result<u16> {
        Ok(self.local_addr()?.port())
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Trailing slashes are stripped before routing, so `/schedules/` and `/schedules` are one route.
        let app = tower::layer::layer_fn(|inner| tower::util::MapRequest::new(inner, strip_trailing_slash))
            .layer(self.router);
        axum::serve(self.listener, app.into_make_service()).with_graceful_shutdown(shutdown).await
    }
}

fn strip_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}
