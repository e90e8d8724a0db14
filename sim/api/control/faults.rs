//! `/_sim/tenants/{t}/faults`: planned failures of long-running operations.

use crate::api::extract::{ApiJson, ApiPath, TenantPath};
use crate::error::SimError;
use crate::faults::{OperationFault, StageRef};
use axum::Json;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A fault rule as the control plane takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultBody {
    #[serde(default)]
    name: String,
    operation: OperationBody,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperationBody {
    kind: String,
    target: Option<String>,
    stage: StageBody,
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StageBody {
    Index(usize),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorBody {
    code: String,
    message: String,
}

impl FaultBody {
    /// The domain rule.
    pub fn parse(self) -> OperationFault {
        OperationFault {
            name: self.name,
            kind: self.operation.kind,
            target: self.operation.target,
            stage: match self.operation.stage {
                StageBody::Index(i) => StageRef::Index(i),
                StageBody::Name(n) => StageRef::Name(n),
            },
            code: self.operation.error.code,
            message: self.operation.error.message,
            remaining: self.count,
        }
    }
}

/// A rule as the control plane shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDto {
    name: String,
    operation: Value,
    remaining: u32,
}

impl From<&OperationFault> for FaultDto {
    fn from(r: &OperationFault) -> Self {
        let stage = match &r.stage {
            StageRef::Index(i) => json!(i),
            StageRef::Name(n) => json!(n),
        };
        FaultDto {
            name: r.name.clone(),
            operation: json!({"kind": r.kind, "target": r.target, "stage": stage,
                              "error": {"code": r.code, "message": r.message}}),
            remaining: r.remaining,
        }
    }
}

#[derive(Serialize)]
pub(super) struct FaultList {
    operations: Vec<FaultDto>,
}

pub(super) async fn faults_list(path: TenantPath) -> Json<FaultList> {
    let tenant = path.tenant.lock();
    Json(FaultList {
        operations: tenant
            .state
            .operation_faults
            .list()
            .iter()
            .map(FaultDto::from)
            .collect(),
    })
}

pub(super) async fn faults_add(
    path: TenantPath,
    ApiJson(body): ApiJson<FaultBody>,
) -> Result<Response, SimError> {
    let mut tenant = path.tenant.lock();
    let rule = FaultDto::from(tenant.add_operation_fault(body.parse())?);
    let location = format!("/_sim/tenants/{}/faults/{}", path.id, rule.name);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(rule)).into_response())
}

pub(super) async fn faults_clear(path: TenantPath) -> StatusCode {
    path.tenant.lock().state.operation_faults.clear();
    StatusCode::NO_CONTENT
}

pub(super) async fn faults_remove(
    path: TenantPath,
    ApiPath((_, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    path.tenant.lock().state.operation_faults.remove(&name)?;
    Ok(StatusCode::NO_CONTENT)
}
