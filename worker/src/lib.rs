//! The recur worker: claims due jobs from Redis queues, runs the workflow each points at, records the
//! execution and plans the next run, all through [`recur_common::store::Store`].
//!
//! `recur-worker` is this library's binary. A binary of your own runs the same worker with Rust handlers
//! registered (see `examples/custom_worker.rs`):
//!
//! ```no_run
//! # async fn main_() -> anyhow::Result<()> {
//! let handlers = recur_worker::Handlers::default()
//!     .register("resize", |call| async move { Ok(serde_json::json!({ "resized": call.input["path"] })) });
//! recur_worker::run_until_signal(recur_worker::Settings::from_env()?, handlers).await
//! # }
//! ```

mod alerts;
mod cancels;
mod duties;
mod egress;
mod executor;
mod finisher;
mod handlers;
mod heartbeat;
mod inspect;
mod metrics;
mod reconciler;
mod recoverer;
mod runner;
mod settings;
mod wakeup;
mod workflows;

pub use executor::Executor;
pub use handlers::{HandlerCall, HandlerFuture, Handlers};
pub use inspect::print_overview;
pub use recur_common::telemetry::init as init_logging;
pub use runner::{run, run_until_signal};
pub use settings::Settings;
