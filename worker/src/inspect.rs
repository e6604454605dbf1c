//! `recur-worker inspect`: the state of a deployment for operators, as a table or JSON.

use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use recur_common::{inspect::Overview, model::rfc3339};

/// Renders `overview` as human tables or, with `json`, as one JSON document.
pub fn print_overview(overview: &Overview, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string_pretty(overview)? + "\n");
    }
    let mut out = String::new();
    let mut queues = Table::new();
    queues.load_style(UTF8_BORDERS_ONLY).set_header([
        "queue",
        "ready",
        "running",
        "delayed",
        "expired leases",
        "waiting for handler",
        "next due job",
    ]);
    for queue in &overview.queues {
        let next = match (&queue.next_job, queue.next_due_at) {
            (Some(job), Some(due)) => format!("{job} at {due}"),
            _ => "-".to_string(),
        };
        queues.add_row([
            queue.name.clone(),
            queue.ready.to_string(),
            queue.running.to_string(),
            queue.delayed.to_string(),
            queue.expired_leases.to_string(),
            queue.waiting_for_handler.to_string(),
            next,
        ]);
    }
    writeln!(out, "Queues at {}\n{queues}\n", rfc3339(overview.now))?;
    let mut workers = Table::new();
    workers.load_style(UTF8_BORDERS_ONLY).set_header(["worker", "last heartbeat", "queues", "concurrency"]);
    for worker in &overview.workers {
        let ago = overview.now.duration_since(worker.last_heartbeat_at).as_secs_f64();
        let field = |name: &str| match worker.description.get(name) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(value) => value.to_string(),
            None => "-".to_string(),
        };
        workers.add_row([worker.id.clone(), format!("{ago:.1} s ago"), field("queues"), field("concurrency")]);
    }
    writeln!(out, "Workers\n{workers}\n")?;
    let counts: Vec<String> = overview.schedules.iter().map(|(status, count)| format!("{status} {count}")).collect();
    writeln!(out, "Schedules: {}", counts.join(", "))?;
    if !overview.waiting_for_handler.is_empty() {
        writeln!(out, "\nWaiting for a live worker that offers their handler (oldest first):")?;
        for wait in &overview.waiting_for_handler {
            writeln!(
                out,
                "  {} on queue {}: handler {:?} since {}",
                wait.job_id,
                wait.queue,
                wait.handler,
                rfc3339(wait.since)
            )?;
        }
    }
    if !overview.corrupt_records.is_empty() {
        writeln!(out, "\nCorrupt records (left out of listings and reconciler passes until repaired):")?;
        for (key, detail) in &overview.corrupt_records {
            writeln!(out, "  {key}: {detail}")?;
        }
    }
    Ok(out)
}
