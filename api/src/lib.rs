//! The recur REST API (`docs/api.md`): an axum server over [`recur_common::store::Store`].

mod dashboard;
mod error;
mod extract;
mod metrics;
mod openapi;
mod routes;
mod settings;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    body::Body,
    extract::{Request, State},
    http::Uri,
    middleware::{self, Next},
    response::{IntoResponse as _, Response},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use recur_common::{clock::SystemClock, store::Store};
use tokio::{net::TcpListener, sync::Semaphore};

use crate::error::ApiError;
pub use settings::{Limits, Settings};

/// A built API server: bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
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
        let store =
            Store::sharded(conn, settings.redis.keys(), Arc::new(SystemClock)).with_retention(settings.retention);
        store
            .inspect()
            .redis_health()
            .await
            .with_context(|| format!("cannot reach Redis at {}", settings.redis.redacted_url()))?;
        store.check_layout().await?;
        let listener =
            TcpListener::bind(settings.addr).await.with_context(|| format!("cannot listen on {}", settings.addr))?;
        let state = routes::AppState { store, api_keys: Arc::new(settings.api_keys), metrics: Arc::default() };
        let limits = settings.limits;
        let router = routes::router(state)
            .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
            .layer(middleware::from_fn_with_state(limits, bound_request))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        Ok(Self { listener, router, limits })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The port actually bound.
    pub fn port(&self) -> std::io::Result<u16> {
        Ok(self.local_addr()?.port())
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight. At most
    /// `limits.max_connections` connections are served at once, and a client that is slow to send a
    /// request's head is disconnected after `limits.header_timeout`.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Trailing slashes are stripped before routing, so `/schedules/` and `/schedules` are one route.
        let app = tower::util::MapRequest::new(self.router, |request: hyper::Request<Incoming>| {
            strip_trailing_slash(request.map(Body::new))
        });
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().timer(TokioTimer::new()).header_read_timeout(self.limits.header_timeout);
        let connections = Arc::new(Semaphore::new(self.limits.max_connections));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, or a connection reset before it was accepted: keep serving.
                        tracing::warn!(error = %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let service = TowerToHyperService::new(app.clone());
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service).into_owned());
            tokio::spawn(async move {
                // A client that goes away or times out ends its own connection; nothing to report.
                let _ = connection.await;
                drop(permit);
            });
        }
        graceful.shutdown().await;
        Ok(())
    }
}

/// Longest request target (path and query) served; longer ones are 414 with the error envelope.
const MAX_URI_BYTES: usize = 8 * 1024;

/// Bounds each request: its target's length, and the time it may take (body and handler included).
async fn bound_request(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return ApiError::uri_too_long(MAX_URI_BYTES).into_response();
    }
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request_timeout(limits.request_timeout).into_response(),
    }
}

fn strip_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && !openapi::is_docs_page(path) {
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
