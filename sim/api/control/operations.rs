//! Operations as the control plane and the portal pages show them (one shape for both portals).

use crate::api::extract::{ApiPath, TenantPath};
use crate::app::AppState;
use crate::error::SimError;
use crate::ops::{OpError, Operation, OperationId, RunState, StageView};
use crate::world::identity::TenantId;
use crate::world::operations::{Portal, Target, Work};
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

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
        let stage = op
            .current_stage()
            .and_then(|i| op.stage_name(i))
            .unwrap_or_default()
            .to_string();
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
                stage,
            }),
        }
    }

    /// When it finished, for ordering.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }
}

/// Settles `tenant` to the shared clock's `clock_now`; renders the operations that finished.
pub fn settle(tenant: &mut Tenant, clock_now: Timestamp) -> Vec<OperationDto> {
    let (now, finished) = tenant.settle(clock_now);
    finished
        .into_iter()
        .filter_map(|id| tenant.operation(id).ok())
        .map(|op| OperationDto::new(tenant.id(), op, now))
        .collect()
}

#[derive(Serialize)]
pub(super) struct OperationList {
    operations: Vec<OperationDto>,
}

pub(super) async fn operations_list(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<OperationList> {
    let mut tenant = path.tenant.lock();
    let (now, _) = tenant.settle(state.clock.now());
    let operations = tenant
        .operations()
        .map(|op| OperationDto::new(path.id, op, now))
        .collect();
    Json(OperationList { operations })
}

pub(super) async fn operations_get(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, id)): ApiPath<(String, String)>,
) -> Result<Json<OperationDto>, SimError> {
    let id = OperationId::parse(&id)?;
    let mut tenant = path.tenant.lock();
    let (now, _) = tenant.settle(state.clock.now());
    let op = tenant.operation(id)?;
    Ok(Json(OperationDto::new(path.id, op, now)))
}
