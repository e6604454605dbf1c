//! End-to-end tests: the built `recur-api` and `recur-worker` binaries against a private redis-server.
//! `cargo build --workspace --bins` must run first (the README's test command does).

mod api;
mod calendar;
mod chaos;
mod cli;
mod cluster;
mod compose;
mod dashboard;
mod metrics;
mod openapi;
mod recovery;
mod schedules;
mod support;
mod workers;
mod workflow_docs;
mod workflows;
