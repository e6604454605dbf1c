//! `recur-api`: the REST API, configured by environment variables.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use recur_api::{Application, Settings};

// glibc's malloc was a third of the worker's CPU per job (many small, short-lived allocations across
// threads); mimalloc serves them from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The recur REST API. Every setting is an environment variable (see the README) or the flag below; a flag
/// wins over its variable.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Ask the API listening at RECUR_API_ADDR for its /healthz and exit 0 if it answers 200, 1 otherwise
    /// (a container healthcheck that needs no curl).
    #[arg(long)]
    check_health: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = recur_common::config::parse_command_line(&Settings::all());
    recur_common::telemetry::init();
    let result = if cli.check_health { check_health().await } else { serve().await };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("recur-api: {}", recur_common::one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    recur_common::config::warn_of_unknown_variables();
    let settings = Settings::from_env()?;
    let app = Application::build(settings).await?;
    tracing::info!("recur-api listening on http://{}/api/v1", app.local_addr()?);
    app.run_until_stopped(recur_common::shutdown::signal()).await?;
    tracing::info!("recur-api stopped");
    Ok(())
}

/// One `GET /healthz` to the API this environment configures, over plain HTTP/1.1.
async fn check_health() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut addr: std::net::SocketAddr =
        recur_common::config::env_or("RECUR_API_ADDR", std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        anyhow::Ok(answer)
    })
    .await
    .with_context(|| format!("no answer from {addr} within 5 s"))?
    .with_context(|| format!("cannot reach recur-api at {addr}"))?;
    let status = answer.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        anyhow::bail!("recur-api at {addr} is unhealthy: {status} {body}")
    }
}
