//! Tracing set-up shared by both binaries and the tests.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), `RECUR_LOG_FORMAT=json` switches
/// to JSON lines. Safe to call more than once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let json = crate::config::lookup("RECUR_LOG_FORMAT").is_some_and(|format| format == "json");
    let _already_set = if json { builder.json().try_init() } else { builder.try_init() };
}
