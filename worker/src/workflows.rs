//! Workflows a worker has run, by id and version: a saved version never changes, so each one is read from
//! Redis once, not once per run.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use recur_common::{Result, model::Workflow, store::Store};
use uuid::Uuid;

/// Versions kept at most; past that the cache starts afresh (deployments rarely run this many).
const MAX_CACHED: usize = 1_024;

/// The cache of one worker process.
#[derive(Default)]
pub struct WorkflowCache {
    /// Shared by every job task; held only to look up or insert, never across a Redis call.
    versions: Mutex<HashMap<(Uuid, u32), Arc<Workflow>>>,
}

impl WorkflowCache {
    /// Version `version` of workflow `id`, or its current version when the start did not name one (a
    /// workflow saved before starts reported versions).
    pub async fn load(&self, store: &Store, id: Uuid, version: Option<u32>) -> Result<Arc<Workflow>> {
        let Some(version) = version else { return Ok(Arc::new(store.inspect().workflow(id).await?)) };
        if let Some(workflow) = self.lock().get(&(id, version)) {
            return Ok(workflow.clone());
        }
        let workflow = Arc::new(store.inspect().workflow_version(id, version).await?);
        let mut versions = self.lock();
        if versions.len() >= MAX_CACHED {
            versions.clear();
        }
        versions.insert((id, version), workflow.clone());
        Ok(workflow)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, u32), Arc<Workflow>>> {
        // A poisoned map still holds valid workflows.
        self.versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
