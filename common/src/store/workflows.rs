//! Workflows: create, update (a new version each time), delete.

use uuid::Uuid;

use super::{MAX_PLAN_ATTEMPTS, Store};
use crate::{
    Error, Result,
    model::{NewWorkflow, Workflow, millis},
    scripts::{
        WorkflowCreated, WorkflowDeleted, WorkflowRetired, WorkflowUpdated,
        calls::{CopyWorkflow, CreateWorkflow, DeleteWorkflow, RetireWorkflow, UpdateWorkflow},
    },
};

impl Store {
    /// Saves a new workflow as version 1. Conflict when the name is taken. A handler no live worker offers is
    /// no reason to refuse it (workflows are applied before the workers start): its runs wait for one.
    #[tracing::instrument(skip_all, fields(workflow.name = %new.name))]
    pub async fn create_workflow(&self, new: NewWorkflow) -> Result<Workflow> {
        let now = self.clock.now();
        let workflow = new.into_workflow(Uuid::now_v7(), 1, now, now)?;
        let created = self
            .run(CreateWorkflow {
                workflow: self.keys.workflow(workflow.id),
                workflows: self.keys.workflows(),
                workflow_names: self.keys.workflow_names(),
                workflow_versions: self.keys.workflow_versions(workflow.id),
                workflow_requirements: self.keys.workflow_requirements(),
                workflow_id: workflow.id.to_string(),
                name: workflow.name.clone(),
                workflow_json: serde_json::to_string(&workflow)?,
                created_ms: millis(now),
                requirements_json: requirements(&workflow),
            })
            .await?;
        match created {
            WorkflowCreated::Created => {
                self.copy_workflow(&workflow, 0..self.keys.shard_count()).await?;
                Ok(workflow)
            }
            WorkflowCreated::NameTaken => Err(name_taken(&workflow)),
        }
    }

    /// Stores a new version of a workflow (name, steps, limit). Runs under way keep the version they run.
    #[tracing::instrument(skip_all, fields(workflow.id = %id))]
    pub async fn update_workflow(&self, id: Uuid, new: NewWorkflow) -> Result<Workflow> {
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let current = self.inspect().workflow(id).await?;
            let workflow = new.clone().into_workflow(id, current.version + 1, current.created_at, self.clock.now())?;
            if current.max_concurrency.is_none() && workflow.max_concurrency.is_some() {
                self.check_limit_fits(id).await?;
            }
            let updated = self
                .run(UpdateWorkflow {
                    workflow: self.keys.workflow(id),
                    workflow_names: self.keys.workflow_names(),
                    workflow_versions: self.keys.workflow_versions(id),
                    workflow_requirements: self.keys.workflow_requirements(),
                    workflow_id: id.to_string(),
                    name: workflow.name.clone(),
                    workflow_json: serde_json::to_string(&workflow)?,
                    replaced_version: current.version,
                    version: workflow.version,
                    requirements_json: requirements(&workflow),
                })
                .await?;
            match updated {
                WorkflowUpdated::Updated => {
                    self.copy_workflow(&workflow, 0..self.keys.shard_count()).await?;
                    return Ok(workflow);
                }
                WorkflowUpdated::Missing => return Err(Error::not_found("workflow", id)),
                WorkflowUpdated::NameTaken => return Err(name_taken(&workflow)),
                WorkflowUpdated::Stale => continue,
            }
        }
        Err(Error::Conflict(format!("workflow {id} is being edited by others; try again")))
    }

    /// Deletes a workflow. Conflict while schedules use it.
    ///
    /// With several shards, each shard's copy is retired first, shard by shard, unless schedules of that
    /// shard use the workflow; if one does, the copies retired so far are put back and nothing is deleted.
    #[tracing::instrument(skip_all, fields(workflow.id = %id))]
    pub async fn delete_workflow(&self, id: Uuid) -> Result<()> {
        if self.keys.shard_count() > 1 {
            for shard in 0..self.keys.shard_count() {
                if self.retire_copy(shard, id).await? == WorkflowRetired::InUse {
                    let workflow = self.inspect().workflow(id).await?;
                    self.copy_workflow(&workflow, 0..shard).await?;
                    return Err(in_use(id));
                }
            }
        }
        let deleted = self
            .run(DeleteWorkflow {
                workflow: self.keys.workflow(id),
                workflows: self.keys.workflows(),
                workflow_names: self.keys.workflow_names(),
                workflow_uses: self.keys.workflow_uses(),
                legacy_workflow_schedules: self.keys.legacy_workflow_schedules(id),
                workflow_versions: self.keys.workflow_versions(id),
                workflow_requirements: self.keys.workflow_requirements(),
                workflow_id: id.to_string(),
            })
            .await?;
        match deleted {
            WorkflowDeleted::Deleted => Ok(()),
            WorkflowDeleted::Missing => Err(Error::not_found("workflow", id)),
            WorkflowDeleted::InUse => Err(in_use(id)),
        }
    }

    /// Takes workflow `id`'s copy away from `shard`, unless the shard's schedules use it.
    async fn retire_copy(&self, shard: usize, id: Uuid) -> Result<WorkflowRetired> {
        let keys = self.keys.shard(shard);
        self.run(RetireWorkflow {
            workflow: keys.workflow(id),
            workflow_requirements: keys.workflow_requirements(),
            workflow_uses: keys.workflow_uses(),
            legacy_workflow_schedules: keys.legacy_workflow_schedules(id),
            workflow_id: id.to_string(),
        })
        .await
    }

    /// With several shards, a concurrency limit is counted in the workflow's own shard, so it is set only
    /// while no schedule of another shard uses the workflow (their runs would escape it); conflict otherwise.
    async fn check_limit_fits(&self, id: Uuid) -> Result<()> {
        let home = self.keys.shard_of(id);
        for shard in (0..self.keys.shard_count()).filter(|shard| *shard != home) {
            if self.inspect().uses_workflow(&self.keys.shard(shard), id).await? {
                return Err(Error::Conflict(format!(
                    "workflow {id} is used by schedules in other shards than its own, and with RECUR_SHARDS={} \
                     a max_concurrency is counted in one shard; create the limited workflow anew and move its \
                     schedules to it",
                    self.keys.shard_count()
                )));
            }
        }
        Ok(())
    }

    /// Gives `shards` (with several shards) their copy of `workflow` and of its requirements; with one shard
    /// its record is its shard's.
    async fn copy_workflow(&self, workflow: &Workflow, shards: std::ops::Range<usize>) -> Result<()> {
        if self.keys.shard_count() == 1 {
            return Ok(());
        }
        let workflow_json = serde_json::to_string(workflow)?;
        for shard in shards {
            let keys = self.keys.shard(shard);
            self.run(CopyWorkflow {
                workflow: keys.workflow(workflow.id),
                workflow_requirements: keys.workflow_requirements(),
                workflow_id: workflow.id.to_string(),
                workflow_json: workflow_json.clone(),
                requirements_json: requirements(workflow),
            })
            .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Brings one shard's copies of the workflows in line with the home records (with several shards): a
    /// copy missing or behind is written again, a copy of a deleted workflow is retired unless the shard's
    /// schedules use it. Repairs what a process that died between a save and its copies left; how many
    /// copies it changed.
    pub(super) async fn sync_workflow_copies(&self, shard: usize) -> Result<u64> {
        if self.keys.shard_count() == 1 {
            return Ok(0);
        }
        let keys = self.keys.shard(shard);
        let home = self.inspect().workflow_requirements(None).await?;
        let copied = self.inspect().workflow_requirements(Some(&keys)).await?;
        let mut changed = 0;
        for (id, requirements) in &home {
            if copied.get(id) == Some(requirements) {
                continue;
            }
            let Ok(id) = id.parse::<Uuid>() else { continue };
            match self.inspect().workflow(id).await {
                Ok(workflow) => {
                    self.copy_workflow(&workflow, shard..shard + 1).await?;
                    changed += 1;
                }
                Err(Error::NotFound { .. } | Error::Corrupt { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        for id in copied.keys().filter(|id| !home.contains_key(*id)) {
            let Ok(id) = id.parse::<Uuid>() else { continue };
            changed += u64::from(self.retire_copy(shard, id).await? == WorkflowRetired::Retired);
        }
        if changed > 0 {
            tracing::warn!(shard, "reconciler repaired {changed} workflow copies of shard {shard}");
        }
        Ok(changed)
    }
}

fn in_use(id: Uuid) -> Error {
    Error::Conflict(format!(
        "workflow {id} is used by schedules (GET /schedules?workflow_id={id} lists them); delete them, or patch them \
         onto another workflow, first"
    ))
}

fn name_taken(workflow: &Workflow) -> Error {
    Error::Conflict(format!("a workflow named {:?} exists already", workflow.name))
}

/// What `claim_jobs.lua` checks and reports before a run of `workflow` may start: the version a run loads
/// (so workers cache workflows by version), its concurrency limit and the handlers it calls.
fn requirements(workflow: &Workflow) -> String {
    let mut requirements = serde_json::json!({ "version": workflow.version, "handlers": workflow.handlers() });
    if let Some(limit) = workflow.max_concurrency {
        requirements["max_concurrency"] = limit.into();
    }
    requirements.to_string()
}
