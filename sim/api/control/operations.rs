//! Operations as the control plane and the portal pages show them (one shape for both portals).

use crate::api::extract::{ApiPath, TenantPath};
use crate::api::views::OperationDto;
use crate::error::SimError;
use crate::ops::OperationId;
use crate::state::AppState;
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

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
