//! The recur worker: claims due jobs from Redis queues, runs the workflow each points at, records the
//! execution and plans the next run, all through [`recur_common::store::Store`].
//!
//! `recur-worker` is this library's binary; tests and the benchmark start the same [`run`].

mod executor;
mod heartbeat;
mod inspect;
mod reconciler;
mod runner;
mod settings;
mod wakeup;

pub use executor::Executor;
pub use inspect::print_overview;
pub use runner::run;
pub use settings::Settings;
