//! Workflows: create, update (a new version each time), delete.

use uuid::Uuid;

use super::{MAX_PLAN_ATTEMPTS, Store};
use crate::{
    Error, Result,
    model::{NewWorkflow, Workflow, millis},
    scripts::{
        WorkflowCreated, WorkflowDeleted, WorkflowUpdated,
        calls::{CreateWorkflow, DeleteWorkflow, UpdateWorkflow},
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
            WorkflowCreated::Created => Ok(workflow),
            WorkflowCreated::NameTaken => Err(name_taken(&workflow)),
        }
    }

    /// Stores a new version of a workflow (name, steps, limit). Runs under way keep the version they run.
    #[tracing::instrument(skip_all, fields(workflow.id = %id))]
    pub async fn update_workflow(&self, id: Uuid, new: NewWorkflow) -> Result<Workflow> {
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let current = self.inspect().workflow(id).await?;
            let workflow = new.clone().into_workflow(id, current.version + 1, current.created_at, self.clock.now())?;
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
                WorkflowUpdated::Updated => return Ok(workflow),
                WorkflowUpdated::Missing => return Err(Error::not_found("workflow", id)),
                WorkflowUpdated::NameTaken => return Err(name_taken(&workflow)),
                WorkflowUpdated::Stale => continue,
            }
        }
        Err(Error::Conflict(format!("workflow {id} is being edited by others; try again")))
    }

    /// Deletes a workflow. Conflict while schedules use it.
    #[tracing::instrument(skip_all, fields(workflow.id = %id))]
    pub async fn delete_workflow(&self, id: Uuid) -> Result<()> {
        let deleted = self
            .run(DeleteWorkflow {
                workflow: self.keys.workflow(id),
                workflows: self.keys.workflows(),
                workflow_names: self.keys.workflow_names(),
                workflow_schedules: self.keys.workflow_schedules(id),
                workflow_versions: self.keys.workflow_versions(id),
                workflow_requirements: self.keys.workflow_requirements(),
                workflow_id: id.to_string(),
            })
            .await?;
        match deleted {
            WorkflowDeleted::Deleted => Ok(()),
            WorkflowDeleted::Missing => Err(Error::not_found("workflow", id)),
            WorkflowDeleted::InUse => {
                Err(Error::Conflict(format!("workflow {id} is used by schedules; delete them first")))
            }
        }
    }
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
