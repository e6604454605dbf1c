//! Store tests for what a workflow asks of the runs: concurrency slots, handlers, cancel, versions.

use std::time::Duration;

use serde_json::json;

use super::{tests::*, *};
use crate::inspect::HandlerWait;

impl Fixture {
    async fn workflow_from(&self, body: serde_json::Value) -> Result<Workflow> {
        self.store.create_workflow(serde_json::from_value(body).unwrap()).await
    }

    async fn schedule_of(&self, workflow: &Workflow, body: serde_json::Value) -> Schedule {
        let mut body = body;
        body["workflow_id"] = json!(workflow.id);
        self.store.create_schedule(serde_json::from_value(body).unwrap()).await.unwrap()
    }

    async fn claim_and_start(&self, claimant: &Claimant) -> (JobId, Start) {
        let Some(claimed) = self.claim_for(claimant).await else { panic!("nothing to claim at {}", self.now()) };
        claimed
    }

    async fn due_ms(&self, job: &JobId) -> Option<i64> {
        self.redis
            .zset(&self.keys.delayed(&self.queue))
            .await
            .into_iter()
            .find(|(id, _)| *id == job.to_string())
            .map(|(_, ms)| ms)
    }
}

fn limited(name: &str) -> serde_json::Value {
    json!({"name": name, "max_concurrency": 1, "steps": [{"kind": "log", "message": "hi"}]})
}

#[tokio::test]
async fn max_concurrency_holds_a_second_run_until_the_first_frees_its_slot() {
    let f = Fixture::new().await;
    let workflow = f.workflow_from(limited("limited")).await.unwrap();
    for _ in 0..2 {
        f.schedule_of(&workflow, json!({"interval_seconds": 10})).await;
    }
    f.advance(10);
    let (first, start) = f.claim_and_start(&claimant()).await;
    let Start::Started(first_run) = start else { panic!("{start:?}") };
    let (second, start) = f.claim_and_start(&claimant()).await;
    assert!(matches!(start, Start::WaitingForSlot), "{start:?}");
    // Waiting is no delivery: the job is back in its delayed set until the slot's lease could end.
    assert_eq!(f.store.inspect().job_attempt(&second).await.unwrap(), 0);
    assert_eq!(f.due_ms(&second).await, Some(millis(f.now()) + 30_000));
    let waiting = f.redis.zset(&f.keys.workflow_waiting(workflow.id)).await;
    assert_eq!(waiting.iter().map(|(member, _)| member.clone()).collect::<Vec<_>>(), [format!("default/{second}")]);
    assert_eq!(f.redis.zset(&f.keys.workflow_slots(workflow.id)).await.len(), 1);

    f.advance(1);
    f.finish(&first_run, Outcome::Succeeded).await;
    assert_eq!(f.due_ms(&second).await, Some(millis(f.now())), "a freed slot makes the waiting job due now");
    let (job, start) = f.claim_and_start(&claimant()).await;
    assert_eq!(job, second);
    assert!(matches!(start, Start::Started(_)), "{start:?}");
    assert!(f.redis.zset(&f.keys.workflow_waiting(workflow.id)).await.is_empty());
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_crashed_workers_slot_frees_itself_when_its_lease_passes() {
    let f = Fixture::new().await;
    let workflow = f.workflow_from(limited("crashy")).await.unwrap();
    for _ in 0..2 {
        f.schedule_of(&workflow, json!({"interval_seconds": 10})).await;
    }
    f.advance(10);
    let (_, start) = f.claim_and_start(&claimant()).await;
    assert!(matches!(start, Start::Started(_)));
    let (second, start) = f.claim_and_start(&claimant()).await;
    assert!(matches!(start, Start::WaitingForSlot));
    // The first worker dies: no renewal, no finish. After its lease the waiting job is due and starts.
    f.advance(29);
    assert!(matches!(f.claim().await, Claim::Empty { .. }));
    f.advance(2);
    let (job, start) = f.claim_and_start(&claimant()).await;
    assert_eq!(job, second);
    assert!(matches!(start, Start::Started(_)), "{start:?}");
}

#[tokio::test]
async fn a_job_calling_a_handler_the_worker_lacks_waits_visibly_for_another_worker() {
    let f = Fixture::new().await;
    let body = json!({"name": "thumbs", "steps": [{"kind": "handler", "name": "resize", "input": {"w": 10}}]});
    // Saved although no worker offers the handler yet; the API warns.
    let workflow = f.workflow_from(body).await.unwrap();
    let waits = f.store.inspect().run_waits([(workflow.id, None)]).await.unwrap();
    assert_eq!(
        (waits[0].unserved_queue, waits[0].unoffered_handlers.as_slice()),
        (false, ["resize".to_string()].as_slice())
    );
    let schedule = f.schedule_of(&workflow, json!({"interval_seconds": 10})).await;
    f.advance(10);
    let (job, start) = f.claim_and_start(&claimant()).await;
    assert!(matches!(&start, Start::MissingHandler(name) if name == "resize"), "{start:?}");
    assert_eq!(f.store.inspect().job_attempt(&job).await.unwrap(), 0);
    assert_eq!(f.due_ms(&job).await, Some(millis(f.now()) + 2_000));
    let waiting = f.store.inspect().execution(&format!("{job}-a1")).await.unwrap();
    assert_eq!((waiting.state, waiting.workflow_id), (ExecutionState::WaitingForHandler, schedule.workflow_id));
    let since = f.now();
    let waits = f.store.inspect().handler_waits(10).await.unwrap();
    let wait = HandlerWait { job_id: job.to_string(), queue: "default".into(), handler: "resize".into(), since };
    assert_eq!(waits, std::slice::from_ref(&wait));

    // Offered again after 2 s, and refused again by the same worker: still one wait, since the first time.
    f.advance(2);
    assert!(matches!(f.claim_and_start(&claimant()).await.1, Start::MissingHandler(_)));
    assert_eq!(f.store.inspect().handler_waits(10).await.unwrap(), std::slice::from_ref(&wait));
    assert_eq!(f.store.review_handler_waits(Duration::from_secs(60)).await.unwrap(), [], "not overdue yet");
    f.advance(60);
    assert_eq!(f.store.review_handler_waits(Duration::from_secs(60)).await.unwrap(), [wait]);
    assert_eq!(f.store.review_handler_waits(Duration::from_secs(60)).await.unwrap(), [], "reported once");

    let description = [("queues", "default".to_string()), ("handlers", "resize,crop".to_string())];
    f.store.record_worker_heartbeat("image-worker", &description, Duration::from_secs(60)).await.unwrap();
    let default = QueueName::parse("default").unwrap();
    let waits = f.store.inspect().run_waits([(workflow.id, None), (workflow.id, Some(default))]).await.unwrap();
    assert!(waits.iter().all(|wait| !wait.unserved_queue && wait.unoffered_handlers.is_empty()), "{waits:?}");
    let mail = f.store.inspect().run_waits([(workflow.id, Some(QueueName::parse("mail").unwrap()))]).await.unwrap();
    assert!(mail[0].unserved_queue && mail[0].unoffered_handlers == ["resize"], "{mail:?}");
    let image_worker = Claimant { handlers: vec!["crop".into(), "resize".into()], ..claimant() };
    let (again, start) = f.claim_and_start(&image_worker).await;
    assert_eq!(again, job);
    assert!(matches!(start, Start::Started(_)), "{start:?}");
    assert!(f.store.inspect().handler_waits(10).await.unwrap().is_empty(), "a started job no longer waits");
    assert!(f.redis.zset(&f.keys.handler_waits()).await.is_empty());
}

#[tokio::test]
async fn a_bare_run_waiting_for_a_handler_reads_as_waiting_and_starts_as_its_workflow_where_the_handler_is() {
    let f = Fixture::new().await;
    let body = json!({"name": "thumbs", "steps": [{"kind": "handler", "name": "resize", "input": {"w": 10}}]});
    let workflow = f.workflow_from(body).await.unwrap();
    let run = f.store.run_workflow(workflow.id, serde_json::from_value(json!({})).unwrap()).await.unwrap();
    assert!(crate::model::BareRun::of(&run.job).is_some(), "{}", run.job);
    let (job, start) = f.claim_and_start(&claimant()).await;
    assert!(matches!(&start, Start::MissingHandler(name) if name == "resize"), "{start:?}");
    // Its only record is the mark of its wait; its id and its shard say the rest.
    let marks: Vec<String> = f.redis.hash(&f.keys.job(&job)).await.into_keys().collect();
    assert_eq!(marks, ["waiting_for_handler"]);
    let waiting = f.store.inspect().execution(&format!("{job}-a1")).await.unwrap();
    assert_eq!((waiting.state, waiting.workflow_id), (ExecutionState::WaitingForHandler, workflow.id));
    f.advance(2);
    let image_worker = Claimant { handlers: vec!["resize".into()], ..claimant() };
    let (again, start) = f.claim_and_start(&image_worker).await;
    let Start::Started(started) = start else { panic!("not started: {start:?}") };
    assert_eq!((again, started.schedule.workflow_id), (run.job, workflow.id));
    assert_eq!(f.redis.hash(&f.keys.job(&job)).await.get("workflow_id"), Some(&workflow.id.to_string()));
}

#[tokio::test]
async fn cancel_reaches_the_running_worker_through_its_lease_renewal() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    f.advance(10);
    let started = f.start_next().await;
    let id = started.execution.id.to_string();
    assert_eq!(f.store.renew_lease(&started).await.unwrap(), Renewal::Held);
    f.store.cancel_execution(&id, true).await.unwrap();
    assert_eq!(f.store.renew_lease(&started).await.unwrap(), Renewal::CancelRequested { count_as_failure: true });
    f.finish(&started, Outcome::Failed(CANCELLED_ERROR.to_string())).await;
    assert!(matches!(f.store.cancel_execution(&id, false).await, Err(Error::Conflict(_))));
    let unknown = format!("{}-a1", JobId::regular(schedule.id, 9, 0));
    assert!(matches!(f.store.cancel_execution(&unknown, false).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_queued_run_a_worker_takes_while_it_is_being_cancelled_is_cancelled_where_it_runs() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    let run = f.store.run_workflow(workflow.id, serde_json::from_value(json!({})).unwrap()).await.unwrap();
    let id = crate::model::ExecutionId { job: run.job, attempt: 1 };
    // What `cancel_execution` read while the run was queued; a worker takes it before the queued run ends.
    let (queued_run, queued) = f.store.inspect().queued_run(&id).await.unwrap().expect("a queued run");
    let Some((_, Start::Started(started))) = f.claim_for(&claimant()).await else { panic!("the run did not start") };
    assert_eq!(f.store.cancel_queued_run(queued_run, queued).await.unwrap(), FinishOutcome::Lost);
    let running = f.store.inspect().execution(&id.to_string()).await.unwrap();
    let left_to_its_worker = (ExecutionState::Running, claimant().id);
    assert_eq!((running.state, running.worker_id), left_to_its_worker);
    // The cancel then goes to the worker, which hears it at its next lease renewal.
    assert_eq!(f.store.cancel_execution(&id.to_string(), false).await.unwrap(), Cancelled::Requested);
    assert_eq!(f.store.renew_lease(&started).await.unwrap(), Renewal::CancelRequested { count_as_failure: false });
}

const CANCELLED_ERROR: &str = crate::model::CANCELLED;

#[tokio::test]
async fn a_new_version_keeps_the_old_one_readable() {
    let f = Fixture::new().await;
    let workflow = f.workflow().await;
    assert_eq!(workflow.version, 1);
    let new =
        serde_json::from_value(json!({"name": workflow.name, "steps": [{"kind": "sleep", "seconds": 1}]})).unwrap();
    let edited = f.store.update_workflow(workflow.id, new).await.unwrap();
    assert_eq!(edited.version, 2);
    assert_eq!(f.store.inspect().workflow_version(workflow.id, 1).await.unwrap(), workflow);
    assert_eq!(f.store.inspect().workflow_version(workflow.id, 2).await.unwrap(), edited);
    assert_eq!(f.store.inspect().workflow(workflow.id).await.unwrap(), edited);
}

#[tokio::test]
async fn a_selective_history_filter_answers_a_short_page_with_a_cursor_instead_of_walking_everything() {
    let f = Fixture::new().await;
    let schedule = f.schedule(json!({"interval_seconds": 10})).await;
    // 6,000 index entries whose records were trimmed: none matches, and no request reads them all.
    let members: Vec<(i64, String)> =
        (0..6_000).map(|n| (n, format!("{}-a1", JobId::regular(schedule.id, n as u64, 0)))).collect();
    let mut conn = f.redis.connection().await;
    let _: () = redis::AsyncCommands::zadd_multiple(&mut conn, f.keys.execution_index(), &members).await.unwrap();
    let filter = crate::inspect::ExecutionFilter { state: Some(ExecutionState::Failed), ..Default::default() };
    let first = f.store.inspect().history(&filter, 10, None).await.unwrap();
    assert!(first.items.is_empty());
    let cursor = first.next_cursor.expect("a cursor to resume from");
    let second = f.store.inspect().history(&filter, 10, Some(&cursor)).await.unwrap();
    assert!(second.items.is_empty());
    assert_eq!(second.next_cursor, None, "the rest of the index fits the budget");
}
