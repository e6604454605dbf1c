//! A worker binary of your own: the recur worker plus Rust handlers that workflows call with
//! `{"kind": "handler", "name": "resize", "input": {...}}`.
//!
//! Run it like `recur-worker` (same environment variables):
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p recur-worker --example custom_worker`

use anyhow::Context as _;
use recur_worker::{HandlerCall, Handlers, Settings, run_until_signal};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    recur_worker::init_logging();
    let handlers = Handlers::default().register("resize", resize).register("checksum", checksum);
    run_until_signal(Settings::from_env()?, handlers).await
}

/// Pretends to resize an image: its output becomes the step's output, for later steps' templates.
async fn resize(call: HandlerCall) -> anyhow::Result<Value> {
    let path = call.input["path"].as_str().context("input.path must be a string")?;
    let width = call.input["width"].as_u64().context("input.width must be a whole number")?;
    Ok(json!({
        "path": format!("{path}@{width}w"),
        "width": width,
        "repeat_number": call.trigger["repeat_number"],
    }))
}

/// A handler that fails on bad input: the error fails the step, and the run, like a failed HTTP call.
async fn checksum(call: HandlerCall) -> anyhow::Result<Value> {
    let text = call.input["text"].as_str().context("input.text must be a string")?;
    let sum = text.bytes().fold(0u32, |sum, byte| sum.wrapping_mul(31).wrapping_add(u32::from(byte)));
    Ok(json!({ "checksum": sum }))
}
