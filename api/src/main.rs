//! `recur-api`: the REST API, configured by environment variables.

use std::process::ExitCode;

use recur_api::{Application, Settings};

// glibc's malloc was a third of the worker's CPU per job (many small, short-lived allocations across
// threads); mimalloc serves them from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    recur_common::telemetry::init();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("recur-api: {}", recur_common::one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let app = Application::build(settings).await?;
    tracing::info!("recur-api listening on http://{}/api/v1", app.local_addr()?);
    app.run_until_stopped(recur_common::shutdown::signal()).await?;
    tracing::info!("recur-api stopped");
    Ok(())
}
