//! Operations as the control plane and the portal pages show them (one shape for both portals).

use crate::api::extract::{ApiPath, TenantPath};
use crate::api::views::OperationDto;
use crate::error::SimError;
use crate::ops::OperationId;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
pub(super) struct OperationList {
    operations: Vec<OperationDto>,
}

pub(super) async fn operations_list(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<OperationList> {
    let tenant = path.tenant.settled(state.clock.now());
    let now = tenant.now();
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
    let tenant = path.tenant.settled(state.clock.now());
    let now = tenant.now();
    let op = tenant.operation(id)?;
    Ok(Json(OperationDto::new(path.id, op, now)))
}
