//! Renderings that the simulator's own surfaces share: an operation as the control plane and the
//! portal routes show it (one shape for both portals), and a project with its environments.

use crate::ops::{OpError, Operation, OperationId, RunState, StageView};
use crate::world::identity::TenantId;
use crate::world::lcs::{EnvironmentId, Project};
use crate::world::operations::{Portal, Target, Work};
use crate::world::tenant::Tenant;
use jiff::Timestamp;
use serde::Serialize;

/// An operation at a virtual moment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationDto {
    id: OperationId,
    kind: String,
    portal: Portal,
    tenant_id: TenantId,
    target: Target,
    state: RunState,
    started_at: Timestamp,
    /// When it finishes (running: planned, assuming no failure) or finished.
    ends_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<Timestamp>,
    progress: u8,
    attempts: u32,
    stages: Vec<StageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<FailureDto>,
}

#[derive(Debug, Clone, Serialize)]
struct FailureDto {
    #[serde(flatten)]
    error: OpError,
    stage: String,
}

impl OperationDto {
    /// Renders `op` of tenant `tenant` as seen at `now` (the tenant's, already settled).
    pub fn new(tenant: TenantId, op: &Operation<Work>, now: Timestamp) -> OperationDto {
        let progress = op.progress(now);
        OperationDto {
            id: op.id(),
            kind: op.payload.kind.clone(),
            portal: op.payload.portal,
            tenant_id: tenant,
            target: op.payload.target.clone(),
            state: op.state(),
            started_at: op.started_at(),
            ends_at: op.ends_at(),
            finished_at: op.finished_at(),
            progress: progress.percent,
            attempts: op.attempts(),
            stages: progress.stages,
            error: op.error().map(|error| FailureDto {
                error: error.clone(),
                stage: op
                    .current_stage()
                    .and_then(|i| op.stage_name(i))
                    .unwrap_or_default()
                    .to_string(),
            }),
        }
    }

    /// When it finished, for ordering.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }
}

/// A project with its environments' ids, for the tenant view.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    id: u64,
    name: String,
    pub(crate) environments: Vec<EnvironmentSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentSummary {
    id: EnvironmentId,
    name: String,
    #[serde(rename = "type")]
    env_type: &'static str,
    status: &'static str,
}

impl ProjectSummary {
    /// A project of `tenant` with its environments' status.
    pub fn new(tenant: &Tenant, p: &Project) -> Self {
        ProjectSummary {
            id: p.id.0,
            name: p.name.clone(),
            environments: p
                .environments()
                .iter()
                .map(|e| EnvironmentSummary {
                    id: e.id,
                    name: e.name.clone(),
                    env_type: e.env_type.as_str(),
                    status: tenant.fo(e).status_display(),
                })
                .collect(),
        }
    }
}
