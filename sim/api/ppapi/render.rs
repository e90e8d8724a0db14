//! The Power Platform API's renderings of the domain: an environment, its operations
//! (execution results), backups, paged lists and the 202 that points at an operation.

use crate::api::extract::BaseUrl;
use crate::api::pp::{self, Days, PpQuery, Ts, ts};
use crate::error::{ErrorCode, SimError};
use crate::ops::{Operation, OperationId, RunState};
use crate::state::AppState;
use crate::world::operations::Work;
use crate::world::ppac::{self, Actor, Backup, LifecycleOp, PpEnvId, PpEnvironment};
use crate::world::tenant::Tenant;
use axum::response::Response;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// `{"collection": [...], "continuationToken": ...}`.
pub(super) fn paged(items: Vec<Value>, next: Option<String>) -> Value {
    let mut v = pp::wrap("collection", items);
    pp::put(&mut v, "continuationToken", json!(next));
    v
}

fn state_name(e: &PpEnvironment) -> &'static str {
    match e.provisioning {
        ppac::ProvisioningState::Succeeded if e.deleted_at.is_some() => "Deleted",
        ppac::ProvisioningState::Succeeded => "Ready",
        ppac::ProvisioningState::Creating | ppac::ProvisioningState::LinkedDatabaseProvisioning => {
            "Creating"
        }
        ppac::ProvisioningState::Deleting => "Deleting",
        ppac::ProvisioningState::Failed => "Failed",
    }
}

/// An environment as `EnvironmentResponse`, serialised straight from the domain (the field
/// order is the wire's).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvironmentOut<'a> {
    id: &'a str,
    display_name: &'a str,
    tenant_id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    geo: &'a str,
    azure_region: &'a str,
    url: Option<String>,
    domain_name: Option<&'a str>,
    version: Option<&'a str>,
    dataverse_id: Option<Uuid>,
    state: &'static str,
    admin_mode: &'static str,
    background_operations_state: Option<&'static str>,
    protection_level: &'static str,
    security_group_id: Option<Uuid>,
    environment_group_id: (),
    cluster_category: &'static str,
    created_date_time: Ts,
    deleted_date_time: Option<Ts>,
    created_by: CreatedBy,
    retention_details: Retention,
    fin_ops_metadata: Option<FinOps<'a>>,
}

#[derive(Serialize)]
struct CreatedBy {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Retention {
    retention_period: Days,
    available_from_date_time: Ts,
}

#[derive(Serialize)]
struct FinOps<'a> {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

/// An environment as `EnvironmentResponse`.
pub(super) fn environment<'a>(
    t: &Tenant,
    e: &'a PpEnvironment,
    now: Timestamp,
) -> EnvironmentOut<'a> {
    let d = e.dataverse.as_ref();
    let days = e.retention_days();
    let from = crate::clock::saturating_add(now, jiff::SignedDuration::from_hours(-24 * days))
        .max(d.map_or(e.created_at, |d| d.created_at));
    let enabled = |on: bool| if on { "Enabled" } else { "Disabled" };
    EnvironmentOut {
        id: e.id.as_str(),
        display_name: &e.display_name,
        tenant_id: t.id().0,
        kind: e.sku.as_str(),
        geo: &e.location,
        azure_region: &e.azure_region,
        url: e.instance_url(),
        domain_name: d.map(|d| d.domain.as_str()),
        version: d.map(|d| d.version.as_str()),
        dataverse_id: d.map(|d| d.org_id),
        state: state_name(e),
        admin_mode: enabled(e.admin_mode),
        background_operations_state: d.map(|d| enabled(d.background_operations)),
        protection_level: if e.managed { "Standard" } else { "Basic" },
        security_group_id: d.and_then(|d| d.security_group),
        environment_group_id: (),
        cluster_category: "Prod",
        created_date_time: Ts(e.created_at),
        deleted_date_time: e.deleted_at.map(Ts),
        created_by: CreatedBy {
            id: e.created_by.id.0,
            kind: e.created_by.kind(),
        },
        retention_details: Retention {
            retention_period: Days(days),
            available_from_date_time: Ts(from),
        },
        fin_ops_metadata: e.linked_app.as_ref().map(|l| FinOps {
            id: l.id,
            kind: l.kind.as_str(),
            url: &l.url,
        }),
    }
}

fn identity(a: &Actor, t: &Tenant) -> Value {
    json!({"userId": a.id.0, "displayName": a.display_name, "tenantId": t.id().0, "type": a.kind()})
}

fn step_status(s: RunState) -> &'static str {
    match s {
        RunState::Pending => "NotStarted",
        RunState::Running => "InProgress",
        RunState::Succeeded => "Succeeded",
        RunState::Failed => "Failed",
    }
}

pub(super) fn execution_result(
    t: &Tenant,
    lo: LifecycleOp<'_>,
    op: &Operation<Work>,
    now: Timestamp,
) -> Value {
    let progress = op.progress(now);
    let env = t.state.ppac.get(lo.env);
    let error = op
        .error()
        .map(|e| json!({"code": e.code, "message": e.message, "fieldErrors": {}}));
    let mut v = json!({
        "operationId": lo.id.0,
        "name": lo.op_type.as_str(),
        "status": step_status(op.state()),
        "startTime": ts(op.started_at()),
        "endTime": op.finished_at().map(ts),
    });
    let stages = progress
        .stages
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "status": step_status(s.state),
                "startTime": s.started_at.map(ts),
                "endTime": if s.state == RunState::Running { None } else { s.ends_at.map(ts) },
                "errorDetail": null,
            })
        })
        .collect();
    pp::put(&mut v, "requestedBy", identity(lo.requested_by, t));
    pp::put(&mut v, "stageStatuses", Value::Array(stages));
    pp::put(&mut v, "errorDetail", error.unwrap_or(Value::Null));
    pp::put(
        &mut v,
        "updatedEnvironment",
        env.map_or(Value::Null, |e| {
            json!({
                "environmentId": e.id.as_str(),
                "displayName": e.display_name,
                "dataverseOrganizationUrl": e.instance_url(),
            })
        }),
    );
    v
}

pub(super) fn op_url(
    base: &BaseUrl,
    area: &str,
    env: &PpEnvId,
    op: OperationId,
    q: &PpQuery,
) -> String {
    let version = q.api_version();
    let version = if version.is_empty() {
        "2022-03-01-preview"
    } else {
        version
    };
    format!(
        "{}/{area}/environments/{env}/operations/{}?api-version={version}",
        base.root(),
        op.0
    )
}

pub(super) fn env_accepted(
    state: &AppState,
    t: &Tenant,
    base: &BaseUrl,
    q: &PpQuery,
    env: &PpEnvId,
    op: OperationId,
    now: Timestamp,
) -> Response {
    pp::accepted(
        state,
        t,
        &op_url(base, "environmentmanagement", env, op, q),
        op,
        now,
        None,
    )
}

pub(super) fn backup_json(t: &Tenant, b: &Backup) -> Value {
    json!({
        "id": b.id,
        "label": b.label,
        "backupPointDateTime": ts(b.point),
        "backupExpiryDateTime": ts(b.expires),
        "createdBy": identity(&b.created_by, t),
    })
}

/// The operation id of a poll path, or the not-found refusal.
pub(super) fn parse_op(op: &str) -> Result<OperationId, SimError> {
    OperationId::parse(op).map_err(|_| {
        SimError::new(
            ErrorCode::OperationNotFound,
            format!("The operation '{op}' could not be found."),
        )
    })
}
