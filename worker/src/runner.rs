//! The worker's life: start-up recovery, the claim loop, job tasks, background duties, and shutdown.

use std::{
    collections::HashSet,
    pin::Pin,
    sync::{Arc, Mutex},
    task::Poll,
    time::Duration,
};

use anyhow::Context as _;
use futures_util::{StreamExt as _, stream::FuturesOrdered};
use recur_common::{
    clock::{Clock, SystemClock},
    model::{CANCELLED, Execution, ExecutionState, JobId, Outcome, QueueName, StepRecord, rfc3339},
    store::{BATCH, Claim, Claimant, FinishOutcome, JobEnd, Renewal, Start, StartedJob, Store},
};
use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    Executor, Handlers, Settings,
    alerts::Alerts,
    cancels::Cancels,
    duties::Duties,
    finisher::Finisher,
    heartbeat,
    metrics::{self, Metrics},
    reconciler, recoverer, wakeup,
    workflows::WorkflowCache,
};

/// How long after a due time a worker that just handed a job back for a missing handler waits before it
/// claims again, so that a worker offering the handler takes the job instead of racing it for the claim.
const HANDED_BACK_DELAY: Duration = Duration::from_millis(100);

/// How long a finish is retried while Redis is unreachable before the job is left to the reconciler.
const FINISH_RETRY_FOR: Duration = Duration::from_secs(30);

/// State shared by the claim loop and every job task.
struct Context {
    store: Store,
    executor: Executor,
    settings: Settings,
    /// This worker as it claims and starts jobs: its name, queues, handlers and lease.
    claimant: Claimant,
    /// Cancel requests for the executions running here.
    cancels: Arc<Cancels>,
    /// Workflows by version, so a run does not read its workflow from Redis each time.
    workflows: WorkflowCache,
    /// Records job ends in batches, with the next claim while one is about to go out: one round trip for
    /// the finishes that complete together.
    finisher: Finisher,
    /// One permit per job end waiting to be recorded: as many as jobs run at once for each claim in flight
    /// (whose ends it carries) and for the next claim. A job hands its run permit on when it ends, and waits
    /// here if Redis falls behind.
    recording: Arc<Semaphore>,
    /// Cancelled when the shutdown grace period is over: running jobs hand their leases back.
    hand_back: CancellationToken,
    /// The jobs this worker holds (claimed and not yet recorded), so that after a claim whose reply was lost
    /// it can hand back at once what it holds in Redis but never saw.
    held: Mutex<HashSet<JobId>>,
    /// What this worker did, for `RECUR_METRICS_ADDR`.
    metrics: Arc<Metrics>,
    /// Posts alerts to `RECUR_ALERT_WEBHOOK` and the schedules' own webhooks.
    alerts: Alerts,
}

/// Runs a worker offering `handlers` until SIGTERM or SIGINT, then drains it.
pub async fn run_until_signal(settings: Settings, handlers: Handlers) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        recur_common::shutdown::signal().await;
        on_signal.cancel();
    });
    run(settings, handlers, shutdown).await
}

/// Runs a worker offering `handlers` until `shutdown` is cancelled, then drains it. Fails at once when
/// Redis is unreachable, and after draining when a background duty ended on its own (see [`Duties`]).
pub async fn run(settings: Settings, handlers: Handlers, shutdown: CancellationToken) -> anyhow::Result<()> {
    recur_common::config::warn_of_unknown_variables();
    let conn = settings.redis.connect().await?;
    let metrics_listener = match settings.metrics_addr {
        Some(addr) => Some(metrics::bind(addr).await?),
        None => None,
    };
    let store = Store::sharded(conn, settings.redis.keys(), Arc::new(SystemClock)).with_retention(settings.retention);
    store.check_layout().await?;
    let report = store.reconcile().await.context("start-up recovery failed")?;
    let metrics = Arc::new(Metrics::default());
    metrics.reconciled(&report);
    tracing::info!(worker.id = %settings.worker_id, concurrency = settings.concurrency,
        "worker {} started on queues [{}] with concurrency {}; start-up recovery promoted {}, requeued {}, recovered {}",
        settings.worker_id, settings.queues.iter().map(QueueName::as_str).collect::<Vec<_>>().join(", "),
        settings.concurrency, report.promoted, report.requeued, report.recovered);

    if !handlers.names().is_empty() {
        tracing::info!("handlers offered: {}", handlers.names().join(", "));
    }
    tracing::info!("egress policy: {}", settings.egress);
    let claimant = Claimant {
        id: settings.worker_id.clone(),
        queues: settings.queues.clone(),
        handlers: handlers.names(),
        lease: settings.lease,
    };
    let egress = Arc::new(settings.egress.clone());
    let alerts = Alerts::start(settings.alert_webhook.clone(), egress.clone());
    // Stopped by a signal, or by a duty that ended too soon.
    let stop = shutdown.child_token();
    let duties = Duties::new(stop.clone());
    let (finisher, batching) = Finisher::new(store.clone(), duties.stopping());
    duties.spawn("finisher", batching);
    let context = Arc::new(Context {
        recording: Arc::new(Semaphore::new(settings.concurrency * (CLAIMS_IN_FLIGHT + 1))),
        executor: Executor::new(handlers, egress),
        settings,
        claimant,
        cancels: Arc::default(),
        workflows: WorkflowCache::default(),
        finisher,
        store,
        hand_back: CancellationToken::new(),
        held: Mutex::default(),
        metrics,
        alerts,
    });
    let wake = Arc::new(Notify::new());
    duties.spawn(
        "heartbeat",
        heartbeat::run(
            context.store.clone(),
            context.settings.clone(),
            context.claimant.handlers.clone(),
            context.metrics.clone(),
            duties.stopping(),
        ),
    );
    duties.spawn(
        "reconciler",
        reconciler::run(
            context.store.clone(),
            reconciler::Cadence {
                every: context.settings.reconcile_every,
                handler_wait_alert: context.settings.handler_wait_alert,
            },
            context.metrics.clone(),
            context.alerts.clone(),
            duties.stopping(),
        ),
    );
    duties.spawn(
        "lease watcher",
        recoverer::run(
            context.store.clone(),
            context.claimant.queues.clone(),
            context.claimant.lease,
            context.metrics.clone(),
            duties.stopping(),
        ),
    );
    if let Some(listener) = metrics_listener {
        duties.spawn(
            "metrics server",
            metrics::serve(listener, context.metrics.clone(), context.store.clone(), duties.stopping()),
        );
    }
    duties.spawn(
        "wake-up listener",
        wakeup::listen(
            context.store.clone(),
            context.settings.redis.subscriber_urls(),
            wake.clone(),
            context.cancels.clone(),
            duties.stopping(),
        ),
    );

    let jobs = TaskTracker::new();
    claim_loop(&context, &jobs, &wake, &stop).await;
    // No claim takes ends any more: the jobs still running send theirs on their own.
    context.finisher.claim_loop_active(false);

    // Shutdown order: claiming has stopped; running jobs get the grace period to finish; the rest hand
    // their leases back (so another worker runs them at once instead of after the lease); only then do
    // heartbeats stop, so the worker is listed for as long as it holds jobs.
    jobs.close();
    let grace = context.settings.shutdown_grace;
    tracing::info!(running = jobs.len(), "shutting down: waiting up to {grace:?} for {} running jobs", jobs.len());
    if tokio::time::timeout(grace, jobs.wait()).await.is_err() {
        tracing::warn!("grace period over: handing back the leases of unfinished jobs");
        context.hand_back.cancel();
        jobs.wait().await;
    }
    if let Some(failure) = duties.stop().await {
        anyhow::bail!("{failure}");
    }
    tracing::info!(worker.id = %context.settings.worker_id, "worker stopped");
    Ok(())
}

/// How many claims a busy worker keeps in flight. With one, this process and Redis take turns (Redis idles
/// while the worker reads a reply and sends the next claim); with two, Redis works on the next claim then.
const CLAIMS_IN_FLIGHT: usize = 2;

/// A claim on its way, with the permits of the jobs it may start.
type ClaimInFlight<'a> =
    Pin<Box<dyn Future<Output = (recur_common::Result<Claim>, Vec<OwnedSemaphorePermit>)> + Send + 'a>>;

/// What the claim loop waits for when it cannot send a claim.
enum Event {
    Answered(recur_common::Result<Claim>, Vec<OwnedSemaphorePermit>),
    Permit(OwnedSemaphorePermit),
    Shutdown,
}

/// Claims and starts as many jobs as permits are free in one call, and runs each in a task of its own;
/// sleeps until the earliest due time (or a wake-up) when none is due.
///
/// A busy worker keeps claims in flight while jobs run (up to [`CLAIMS_IN_FLIGHT`], each taking at most half
/// the permits), and each claim carries the ends of the jobs that completed since the last one, so a batch
/// of jobs costs one round trip for its end and the start of the next.
async fn claim_loop(context: &Arc<Context>, jobs: &TaskTracker, wake: &Notify, shutdown: &CancellationToken) {
    let permits = Arc::new(Semaphore::new(context.settings.concurrency));
    let settings = &context.settings;
    let claim_at_most = settings.concurrency.div_ceil(2).min(BATCH);
    let mut in_flight: FuturesOrdered<ClaimInFlight<'_>> = FuturesOrdered::new();
    // Jobs a claim started, run once the next claim is on its way.
    let mut in_hand: Vec<(JobId, Start, OwnedSemaphorePermit)> = Vec::new();
    // A permit the loop waited for, that the next claim takes.
    let mut waited: Option<OwnedSemaphorePermit> = None;
    let mut error_backoff = Duration::from_millis(50);
    // Whether the last claim handed a job back for a handler this worker lacks.
    let mut handed_back = false;
    // Whether a claim failed, so that Redis may hold jobs claimed for this worker that it never saw.
    let mut unseen_claims = false;
    // Whether the last claim took as many jobs as it asked for, so that more are likely due: only then does
    // a claim go out while another is in flight (an idle or failing worker sends one claim at a time).
    let mut more_due = false;
    let finisher = &context.finisher;
    finisher.claim_loop_active(true);
    loop {
        if shutdown.is_cancelled() {
            // The claims in flight took their jobs in Redis: run them rather than leave them to their leases.
            while let Some((answer, held)) = in_flight.next().await {
                if let Ok(Claim::Claimed(claimed)) = answer {
                    in_hand.extend(claimed.into_iter().zip(held).map(|((job, start), permit)| (job, start, permit)));
                }
            }
            run_all_started(context, jobs, &mut in_hand);
            return;
        }
        // Only with no claim in flight or in hand: those jobs are held in Redis and not yet here.
        if unseen_claims && in_flight.is_empty() && in_hand.is_empty() {
            let held = context.held.lock().map(|held| held.clone()).unwrap_or_default();
            match context.store.hand_back_unseen_claims(&context.claimant, &held).await {
                Ok(_) => unseen_claims = false,
                Err(error) => tracing::warn!(error = %error, "could not check for claims whose reply was lost"),
            }
        }
        let first = match waited.take() {
            Some(permit) => Some(permit),
            None if room_for_claim(in_flight.len(), more_due) => permits.clone().try_acquire_owned().ok(),
            None => None,
        };
        if let Some(first) = first {
            // A permit per job claimed: every free one up to `claim_at_most`, so a busy worker claims in
            // batches and keeps permits for the claim after this one. Yielding once first lets jobs that are
            // ending right now hand their permits and their ends on to this claim (microseconds, not a timer).
            tokio::task::yield_now().await;
            let mut held = vec![first];
            while held.len() < claim_at_most {
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => held.push(permit),
                    Err(_) => break,
                }
            }
            let taken = finisher.take_for_claim();
            let context = context.clone();
            let mut claim: ClaimInFlight<'_> = Box::pin(async move {
                let answer = context.store.finish_and_claim(&context.claimant, held.len(), taken.ends()).await;
                (taken.answer(answer), held)
            });
            // Polled once, the claim is queued on the connection before the jobs in hand run.
            if let Poll::Ready(answered) = futures_util::poll!(claim.as_mut()) {
                claim = Box::pin(std::future::ready(answered));
            }
            in_flight.push_back(claim);
            continue;
        }
        run_all_started(context, jobs, &mut in_hand);
        let event = if in_flight.is_empty() {
            // Waiting for a job to end, the claim loop takes no ends: a long job must not hold up another's.
            finisher.claim_loop_active(false);
            let event = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => Event::Permit(permit),
                    Err(_) => return,
                },
                () = shutdown.cancelled() => Event::Shutdown,
            };
            finisher.claim_loop_active(true);
            event
        } else {
            let room = room_for_claim(in_flight.len(), more_due);
            tokio::select! {
                Some((answer, held)) = in_flight.next() => Event::Answered(answer, held),
                permit = permits.clone().acquire_owned(), if room => match permit {
                    Ok(permit) => Event::Permit(permit),
                    Err(_) => return,
                },
            }
        };
        let (answer, held) = match event {
            Event::Permit(permit) => {
                waited = Some(permit);
                continue;
            }
            Event::Shutdown => continue,
            Event::Answered(answer, held) => (answer, held),
        };
        let idle_until = match answer {
            Ok(Claim::Claimed(claimed)) => {
                more_due = claimed.len() == held.len();
                error_backoff = Duration::from_millis(50);
                handed_back = claimed.iter().any(|(_, start)| matches!(start, Start::MissingHandler(_)));
                in_hand.extend(claimed.into_iter().zip(held).map(|((job, start), permit)| (job, start, permit)));
                continue;
            }
            Ok(Claim::Empty { next_due }) => {
                let now = context.store.clock().now();
                let until_due = next_due.map_or(settings.reconcile_every, |due| {
                    Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO)
                });
                // Lose the race for a job handed back to a worker that offers its handler.
                let yield_to_others = if handed_back { HANDED_BACK_DELAY } else { Duration::ZERO };
                until_due.min(settings.reconcile_every) + yield_to_others
            }
            Err(error) => {
                context.metrics.redis_error("claim");
                tracing::warn!(error = %error, "claim failed; retrying in {error_backoff:?}");
                unseen_claims = true;
                error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                error_backoff
            }
        };
        drop(held);
        more_due = false;
        // The claim still in flight says whether to sleep.
        if !in_flight.is_empty() {
            continue;
        }
        finisher.claim_loop_active(false);
        tokio::select! {
            () = tokio::time::sleep(idle_until) => {}
            () = wake.notified() => {}
            () = shutdown.cancelled() => {}
        }
        finisher.claim_loop_active(true);
    }
}

/// Whether another claim may go out with `in_flight` claims on their way: the first always; a second only
/// while the last claim found as many jobs due as it asked for.
fn room_for_claim(in_flight: usize, more_due: bool) -> bool {
    in_flight == 0 || (in_flight < CLAIMS_IN_FLIGHT && more_due)
}

/// Runs the jobs a claim started (see [`run_started`]).
fn run_all_started(
    context: &Arc<Context>,
    jobs: &TaskTracker,
    in_hand: &mut Vec<(JobId, Start, OwnedSemaphorePermit)>,
) {
    for (job, start, permit) in in_hand.drain(..) {
        run_started(context, jobs, job, start, permit);
    }
}

/// Runs a job the claim started, with its permit, in a task of its own; says why one did not start.
fn run_started(context: &Arc<Context>, jobs: &TaskTracker, job: JobId, start: Start, permit: OwnedSemaphorePermit) {
    match start {
        Start::Started(started) => {
            if let Ok(mut held) = context.held.lock() {
                held.insert(job);
            }
            let context = context.clone();
            // Boxed: the job's future is large, and the runtime would copy it whole as it spawns, polls to
            // the end and drops the task (a few per cent of the worker's CPU per job).
            jobs.spawn(Box::pin(async move {
                admit_and_run(context.clone(), *started, permit).await;
                if let Ok(mut held) = context.held.lock() {
                    held.remove(&job);
                }
            }));
        }
        other => not_run(job, other),
    }
}

/// Says why a claimed job does not run here.
fn not_run(job: JobId, start: Start) {
    match start {
        Start::Started(_) => {}
        Start::WaitingForSlot => tracing::debug!(job.id = %job, "job {job} waits for a free slot of its workflow"),
        Start::MissingHandler(handler) => tracing::info!(job.id = %job,
            "job {job} needs the handler {handler:?}, which this worker lacks; left for another worker"),
        Start::Dropped => {
            tracing::info!(job.id = %job, "job {job} dropped: its schedule or its record no longer exists")
        }
        Start::Lost => tracing::warn!(job.id = %job, "job {job} was taken over before it started"),
        Start::Skipped(reason) => tracing::info!(job.id = %job, "job {job} not run: {reason}"),
        Start::Unreadable { key, detail } => tracing::error!(job.id = %job, record.key = %key,
            "job {job} not run: {key} does not decode ({detail}); it is handed back when its lease expires"),
    }
}

/// Runs a started job once its schedule's rules admit it (see [`Store::admit`]).
async fn admit_and_run(context: Arc<Context>, started: StartedJob, permit: OwnedSemaphorePermit) {
    let (job, queue) = (started.job, started.queue.clone());
    match context.store.admit(started).await {
        Ok(Start::Started(started)) => run_job(context, *started, permit).await,
        Ok(other) => {
            if matches!(other, Start::Skipped(_)) {
                context.metrics.run_finished(queue.as_str(), "skipped", None);
            }
            not_run(job, other);
        }
        Err(error) => tracing::warn!(job.id = %job, error = %error,
            "could not admit job {job}; it runs again when its lease expires"),
    }
}

/// How a run ended from the worker's point of view.
enum RunEnd {
    /// The workflow finished (or failed, or timed out): record it.
    Ended(Result<Option<Value>, String>),
    /// Another worker holds the job now: record nothing.
    LeaseLost,
    /// Shutdown grace is over: hand the job back.
    HandBack,
    /// The user cancelled the run.
    Cancelled { count_as_failure: bool },
}

async fn run_job(context: Arc<Context>, started: StartedJob, permit: OwnedSemaphorePermit) {
    let job = started.job;
    tracing::debug!(job.id = %job, attempt = started.execution.attempt, "job {job} started");
    let (queue, planned) = (started.queue.as_str(), started.execution.scheduled_for);
    let lateness = started.started_at.duration_since(planned);
    context.metrics.run_started(queue, Duration::try_from(lateness).unwrap_or(Duration::ZERO));
    let mut steps = Vec::new();
    let mut execution = started.execution.clone();
    let end = execute(&context, &started, &mut execution.workflow_version, &mut steps).await;
    let clock = context.store.clock();
    close_open_steps(&mut steps, clock.now(), &end);
    execution.steps = steps;
    let outcome = match end {
        RunEnd::LeaseLost => {
            return tracing::warn!(job.id = %job, "lease of job {job} lost while running; recording nothing");
        }
        RunEnd::HandBack => {
            if let Err(error) = context.store.requeue_job(&started, "worker shut down before the job finished").await {
                tracing::warn!(job.id = %job, error = %error, "could not hand job {job} back; its lease will expire");
            }
            return;
        }
        RunEnd::Ended(Ok(output)) => {
            execution.output = output;
            execution.close(ExecutionState::Succeeded, clock.now(), None);
            Outcome::Succeeded
        }
        RunEnd::Ended(Err(error)) => {
            execution.close(ExecutionState::Failed, clock.now(), Some(error.clone()));
            Outcome::Failed(error)
        }
        RunEnd::Cancelled { count_as_failure } => {
            execution.close(ExecutionState::Cancelled, clock.now(), Some(CANCELLED.to_string()));
            if count_as_failure { Outcome::Failed(CANCELLED.to_string()) } else { Outcome::Cancelled }
        }
    };
    // The job no longer runs: its permit goes to the next claim while the end is recorded, so recording
    // is off the path from one job to the next. A bounded number of ends wait to be recorded (`recording`).
    let _recording = context.recording.clone().acquire_owned().await;
    drop(permit);
    let duration_ms = execution.duration_ms.unwrap_or(0);
    let mut retry_in = Duration::from_millis(100);
    let deadline = tokio::time::Instant::now() + FINISH_RETRY_FOR;
    let mut retried = false;
    loop {
        let end = JobEnd { started: started.clone(), execution: execution.clone(), outcome: outcome.clone() };
        let mut answer = context.finisher.finish(end).await;
        // A failed call may have recorded the end before its reply was lost: the retry then finds the job gone.
        if retried && matches!(answer, Ok(FinishOutcome::Gone)) && recorded_before(&context, &execution).await {
            answer = Ok(FinishOutcome::Recorded);
        }
        match answer {
            Ok(FinishOutcome::Recorded | FinishOutcome::RecordedWithoutSchedule) => {
                let duration = Duration::from_millis(duration_ms);
                context.metrics.run_finished(queue, execution.state.as_str(), Some(duration));
                context.alerts.on_end(&started, &outcome);
                if let Some(error) = execution.error.as_deref().filter(|_| execution.state == ExecutionState::Failed) {
                    return tracing::warn!(job.id = %job, execution.state = "failed", duration_ms, error,
                        "job {job} failed in {duration_ms} ms: {error}");
                }
                return tracing::info!(job.id = %job, execution.state = execution.state.as_str(), duration_ms,
                    "job {job} {} in {duration_ms} ms", execution.state.as_str());
            }
            Ok(FinishOutcome::Lost) => {
                return tracing::warn!(job.id = %job,
                    "job {job} was taken over by another worker (its lease had expired); its result is not recorded");
            }
            Ok(FinishOutcome::Gone) => {
                return tracing::warn!(job.id = %job, "job {job} no longer exists in Redis (its schedule was \
                    deleted, or Redis lost its data); its result is not recorded");
            }
            Err(error) if tokio::time::Instant::now() < deadline => {
                context.metrics.redis_error("finish");
                tracing::warn!(job.id = %job, error = %error, "could not record job {job}; retrying in {retry_in:?}");
                retried = true;
                tokio::time::sleep(retry_in).await;
                retry_in = (retry_in * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                return tracing::error!(job.id = %job, error = %error, "gave up recording job {job}; the reconciler will rerun it");
            }
        }
    }
}

/// Whether an earlier call recorded `execution` although its reply was lost; when Redis cannot say, no.
async fn recorded_before(context: &Context, execution: &Execution) -> bool {
    context.store.holds_end(execution).await.unwrap_or_else(|error| {
        tracing::warn!(execution.id = %execution.id, error = %error, "could not check whether execution {} was recorded", execution.id);
        false
    })
}

/// Runs the workflow under the schedule's timeout while renewing the lease every third of it, until it
/// ends, the user cancels it, or shutdown hands it back. Records the workflow version it loaded.
async fn execute(
    context: &Context,
    started: &StartedJob,
    version: &mut Option<u32>,
    steps: &mut Vec<StepRecord>,
) -> RunEnd {
    let store = &context.store;
    let schedule = &started.schedule;
    let timeout = Duration::from_secs(schedule.timeout_seconds);
    let trigger = trigger(started, store.clock().as_ref());
    let execution_id = started.execution.id.to_string();
    let cancel = context.cancels.watch(&execution_id);
    let work = async {
        // Loaded once: an edit of the workflow while this runs does not touch this run.
        let workflow =
            context.workflows.load(store, schedule.workflow_id, started.workflow_version).await.map_err(|error| {
                match error {
                    // Deleting a workflow is refused while schedules use it; an ad-hoc run queued before is not held.
                    recur_common::Error::NotFound { .. } => {
                        format!(
                            "workflow {} no longer exists: it was deleted after this run was queued",
                            schedule.workflow_id
                        )
                    }
                    error => format!("cannot load workflow {}: {error}", schedule.workflow_id),
                }
            })?;
        *version = Some(workflow.version);
        match tokio::time::timeout(
            timeout,
            context.executor.run(&workflow, &started.job, &trigger, store.clock().as_ref(), steps),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {} s", schedule.timeout_seconds)),
        }
    };
    tokio::pin!(work);
    let lease = started.lease;
    let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + lease / 3, lease / 3);
    let end = loop {
        tokio::select! {
            result = &mut work => break RunEnd::Ended(result),
            count_as_failure = cancel.requested() => break RunEnd::Cancelled { count_as_failure },
            _ = renewals.tick() => {
                match store.renew_lease(started).await {
                    Ok(Renewal::Held) => {}
                    Ok(Renewal::CancelRequested { count_as_failure }) => cancel.request(count_as_failure),
                    Ok(Renewal::Lost) => break RunEnd::LeaseLost,
                    // Keep running: the next renewal may succeed well before the lease ends.
                    Err(error) => {
                        context.metrics.redis_error("renew");
                        tracing::warn!(job.id = %started.job, error = %error, "lease renewal failed");
                    }
                }
            }
            () = context.hand_back.cancelled() => break RunEnd::HandBack,
        }
    };
    context.cancels.forget(&execution_id);
    end
}

/// The trigger object a run receives (`docs/workflows.md`).
fn trigger(started: &StartedJob, clock: &dyn Clock) -> Value {
    let schedule = &started.schedule;
    let (repeat, retry) = match started.job {
        JobId::Regular { repeat, retry, .. } => (repeat, retry),
        JobId::Manual { .. } | JobId::Backfill { .. } => (schedule.current_repeat, 0),
    };
    json!({
        // An ad-hoc run has no schedule: its id is the run's, and it has no name.
        "schedule_id": schedule.id,
        "schedule_name": (!schedule.ad_hoc).then_some(&schedule.name),
        "node_id": schedule.trigger_node_id,
        "repeat_number": repeat,
        "retry_number": retry,
        "scheduled_for": rfc3339(started.execution.scheduled_for),
        "timestamp": rfc3339(clock.now()),
        "payload": schedule.payload,
    })
}

/// Closes the step that was cut short: cancelled on request, failed on a timeout.
fn close_open_steps(steps: &mut [StepRecord], now: jiff::Timestamp, end: &RunEnd) {
    let (state, error) = match end {
        RunEnd::Cancelled { .. } => (ExecutionState::Cancelled, "aborted: the execution was cancelled"),
        _ => (ExecutionState::Failed, "aborted: the execution timed out"),
    };
    for step in steps.iter_mut().filter(|step| step.state == ExecutionState::Running) {
        step.state = state;
        step.finished_at = Some(now);
        step.error = Some(error.to_string());
    }
}
