//! Tracing set-up shared by both binaries and the tests.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), `RECUR_LOG_FORMAT=json` switches
/// to JSON lines. A line that cannot be written is dropped. Safe to call more than once; later calls do
/// nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        // Otherwise a log line that cannot be written (the reader of stderr is gone) is reported with
        // `eprintln!`, which panics on the same broken pipe: every task that logged would die, the API's
        // requests and the worker's shutdown listener with them.
        .log_internal_errors(false);
    let json = crate::config::lookup("RECUR_LOG_FORMAT").is_some_and(|format| format == "json");
    let _already_set = if json { builder.json().try_init() } else { builder.try_init() };
}
