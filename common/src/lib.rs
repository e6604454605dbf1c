//! Shared core of recur: the model, the Redis key layout, the Lua scripts and the store that owns every
//! state transition. The API and the worker call [`store::Store`] for writes and [`inspect::Inspect`] for
//! reads; neither builds a key or sends a raw command.
//!
//! # Layout
//! - [`model`]: schedules, workflows, jobs and executions, parsed at the edge into checked types.
//! - [`timing`]: pure functions for fixed-rate slots and retry backoff.
//! - [`keys`]: the one place that names Redis keys.
//! - [`scripts`]: one Lua script per state transition, declared once with typed keys, arguments and reply.
//! - [`store`]: the only writer: per aggregate, plans each change with the model and runs one script.
//! - `record`: how a schedule and a running execution are stored, read by the store and by `inspect`.
//! - [`inspect`]: read-only queries for the API and operator tools.
//! - [`clock`]: injected time, so timing rules are testable.
//! - [`config`]: settings shared by both binaries, read from the environment.
//! - [`connection`]: one Redis server or a Redis Cluster, behind one connection type.
//! - [`telemetry`]: tracing set-up.
//! - [`shutdown`]: the signal both binaries drain on.
//! - [`error`]: the error type callers branch on.
//! - `testing`: a private `redis-server` per test (behind the `testing` feature).

pub mod clock;
pub mod config;
pub mod connection;
pub mod error;
pub mod inspect;
pub mod keys;
pub mod model;
mod record;
pub mod scripts;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod timing;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, Result, one_line};
