//! `recur-worker`: runs a worker, or with `inspect` prints the state of Redis.

use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use recur_common::{clock::SystemClock, config::RedisSettings, store::Store};
use recur_worker::{Handlers, Settings, print_overview, run_until_signal};

// glibc's malloc was a third of the worker's CPU per job (many small, short-lived allocations across
// threads); mimalloc serves them from per-thread pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A recur worker: takes due jobs from Redis queues, runs their workflows, and plans the next runs. Every
/// setting is an environment variable (see the README) or the flag below; a flag wins over its variable.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print queues, workers and schedule counts without changing anything.
    Inspect {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

// One thread: a job's path is a chain of short tasks (claim, run, finish, the Redis connection's), and on
// tokio's multi-thread runtime handing them between threads cost a third of the worker's CPU per job in a
// profile (wake-ups and context switches). The built-in steps wait on I/O and never compute for long.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli: Cli = recur_common::config::parse_command_line(&Settings::all());
    recur_common::telemetry::init();
    let result = match cli.command {
        None => run_worker().await,
        Some(Command::Inspect { json }) => inspect(json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("recur-worker: {}", recur_common::one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run_worker() -> anyhow::Result<()> {
    run_until_signal(Settings::from_env()?, Handlers::default()).await
}

async fn inspect(json: bool) -> anyhow::Result<()> {
    let settings = RedisSettings::from_env()?;
    // The error names the URL (without its password) once.
    let conn = settings.connect().await?;
    let overview = Store::sharded(conn, settings.keys(), Arc::new(SystemClock)).inspect().overview().await?;
    print!("{}", print_overview(&overview, json)?);
    Ok(())
}
