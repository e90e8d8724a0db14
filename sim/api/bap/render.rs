//! BAP's renderings of the domain: an environment (with its `$expand`ed parts), its lifecycle
//! operations, backups, and the 202 that points at an operation.

use crate::api::extract::BaseUrl;
use crate::api::pp::{self, PpQuery, ts};
use crate::ops::{Operation, OperationId, RunState};
use crate::state::AppState;
use crate::world::operations::Work;
use crate::world::ppac::{self, Actor, Backup, LifecycleOp, PpEnvironment, enforcement};
use crate::world::tenant::Tenant;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{Value, json};

/// Path prefix of every BAP route.
pub(super) const PREFIX: &str = "/providers/Microsoft.BusinessAppPlatform";

fn actor_json(a: &Actor, tenant: &Tenant) -> Value {
    let mut v = json!({
        "id": a.id.0,
        "displayName": a.display_name,
        "type": a.kind(),
        "tenantId": tenant.id().0,
    });
    if let Some(upn) = &a.upn {
        v["email"] = json!(upn);
        v["userPrincipalName"] = json!(upn);
    }
    v
}

fn env_path(id: &str) -> String {
    format!("{PREFIX}/scopes/admin/environments/{id}")
}

/// An environment as BAP shows it (reference §4.1); capacity, addons and permissions only when
/// `$expand`ed.
pub(super) fn environment(t: &Tenant, e: &PpEnvironment, q: &PpQuery, now: Timestamp) -> Value {
    let geo = e.location.as_str();
    let mut props = json!({
        "tenantId": t.id().0,
        "azureRegion": e.azure_region,
        "displayName": e.display_name,
        "description": e.description,
        "createdTime": ts(e.created_at),
        "createdBy": null,
        "lastModifiedTime": ts(e.modified_at),
        "lastModifiedBy": null,
        "provisioningState": e.provisioning.as_str(),
        "creationType": if e.is_default() { "DefaultTenant" } else { "User" },
        "environmentSku": e.sku.as_str(),
        "isDefault": e.is_default(),
        "billingPolicy": null,
        "clientUris": {
            "admin": format!("https://admin.powerplatform.microsoft.com/environments/environment/{}/hub", e.id),
            "maker": format!("https://make.powerapps.com/environments/{}/home", e.id),
        },
        "runtimeEndpoints": {
            "microsoft.BusinessAppPlatform": format!("https://{geo}.api.bap.microsoft.com"),
            "microsoft.CommonDataModel": format!("https://{geo}.api.cds.microsoft.com"),
            "microsoft.PowerApps": format!("https://{geo}.api.powerapps.com"),
            "microsoft.Flow": format!("https://{geo}.api.flow.microsoft.com"),
        },
        "databaseType": if e.dataverse.is_some() { "CommonDataService" } else { "None" },
        "trialScenarioType": "None",
        "notificationMetadata": {"state": "NotSpecified", "branding": "NotSpecific"},
        "retentionPeriod": format!("P{}D", e.retention_days()),
        "lifecycleAuthority": "Environment",
        "states": {
            "management": {"id": if e.busy(t.ops()).is_some() { "Running" } else if e.dataverse.is_some() { "Ready" } else { "NotSpecified" }},
            "runtime": {
                "runtimeReasonCode": if e.admin_mode { "AdminMode" } else { "NotSpecified" },
                "requestedBy": {"displayName": "SYSTEM", "type": "NotSpecified"},
                "id": if e.admin_mode { "AdminMode" } else { "Enabled" },
            },
        },
        "updateCadence": {"id": e.cadence},
        "retentionDetails": {
            "retentionPeriod": format!("P{}D", e.retention_days()),
            "backupsAvailableFromDateTime": ts(
                crate::clock::saturating_add(now, jiff::SignedDuration::from_hours(-24 * e.retention_days()))
                    .max(e.dataverse.as_ref().map_or(e.created_at, |d| d.created_at)),
            ),
        },
        "protectionStatus": {"keyManagedBy": "Microsoft"},
        "cluster": {"category": "Prod", "environment": "Prod"},
        "connectedGroups": [],
        "lifecycleOperationsEnforcement": null,
        "governanceConfiguration": {"protectionLevel": if e.managed { "Standard" } else { "Basic" }},
    });
    pp::put(&mut props, "createdBy", actor_json(&e.created_by, t));
    pp::put(&mut props, "lastModifiedBy", actor_json(&e.modified_by, t));
    pp::put(
        &mut props,
        "lifecycleOperationsEnforcement",
        enforcement_json(e),
    );
    if let (Some(d), Some(url)) = (&e.dataverse, e.instance_url()) {
        let host = url.trim_end_matches('/').replacen(".crm", ".api.crm", 1);
        props["linkedEnvironmentMetadata"] = json!({
            "type": "Dynamics365Instance",
            "resourceId": d.org_id,
            "friendlyName": e.display_name,
            "uniqueName": d.unique_name,
            "domainName": d.domain,
            "version": d.version,
            "instanceUrl": url,
            "instanceApiUrl": host,
            "baseLanguage": d.base_language,
            "instanceState": if e.provisioning == ppac::ProvisioningState::Creating { "NotSpecified" } else { "Ready" },
            "createdTime": ts(d.created_at),
            "backgroundOperationsState": if d.background_operations { "Enabled" } else { "Disabled" },
            "scaleGroup": format!("{}CRMLIVESG1", geo.get(..3).unwrap_or("NAM").to_ascii_uppercase()),
            "platformSku": "Standard",
            "schemaType": if d.templates.is_empty() { "Standard" } else { "Full" },
            "securityGroupId": d.security_group,
            "template": d.templates,
        });
    }
    if let Some(l) = &e.linked_app {
        props["linkedAppMetadata"] = json!({"type": l.kind.as_str(), "id": l.id, "url": l.url});
    }
    if let Some(at) = e.deleted_at {
        props["deletedTime"] = json!(ts(at));
    }
    if q.expands("capacity") {
        let (db, file, log) = e
            .dataverse
            .as_ref()
            .map_or((0.0, 0.0, 0.0), |d| (d.database_mb, d.file_mb, d.log_mb));
        props["capacity"] = json!([
            {"capacityType": "Database", "actualConsumption": db, "ratedConsumption": db, "capacityUnit": "MB", "updatedOn": ts(now)},
            {"capacityType": "File", "actualConsumption": file, "ratedConsumption": file, "capacityUnit": "MB", "updatedOn": ts(now)},
            {"capacityType": "Log", "actualConsumption": log, "ratedConsumption": log, "capacityUnit": "MB", "updatedOn": ts(now)},
        ]);
    }
    if q.expands("addons") {
        props["addons"] = json!([]);
    }
    let mut v = json!({
        "id": env_path(e.id.as_str()),
        "type": "Microsoft.BusinessAppPlatform/scopes/environments",
        "location": e.location,
        "name": e.id.as_str(),
    });
    pp::put(&mut v, "properties", props);
    if q.expands("permissions") {
        v["properties"]["permissions"] = json!({
            "CreatePowerApp": {"displayName": "Create PowerApps"},
            "ReadEnvironment": {"displayName": "Read Environment"},
            "AdminReadEnvironment": {"displayName": "Admin Read Environment"},
            "UpdateEnvironment": {"displayName": "Update Environment"},
            "DeleteEnvironment": {"displayName": "Delete Environment"},
        });
    }
    v
}

/// `lifecycleOperationsEnforcement`, from the same rules that refuse requests.
fn enforcement_json(e: &PpEnvironment) -> Value {
    let (mut allowed, mut disallowed) = (Vec::new(), Vec::new());
    for (op, refusal) in enforcement(e) {
        match refusal {
            None => allowed.push(json!({"type": {"id": op.as_str()}})),
            Some(r) => disallowed.push(json!({
                "type": {"id": op.as_str()},
                "reason": {"message": r.message, "type": r.reason.as_str()},
            })),
        }
    }
    let mut v = pp::wrap("allowedOperations", allowed);
    pp::put(&mut v, "disallowedOperations", Value::Array(disallowed));
    v
}

fn stage_state(s: RunState) -> &'static str {
    match s {
        RunState::Pending => "NotStarted",
        RunState::Running => "Running",
        RunState::Succeeded => "Succeeded",
        RunState::Failed => "Failed",
    }
}

pub(super) fn lifecycle_json(
    t: &Tenant,
    lo: LifecycleOp<'_>,
    op: &Operation<Work>,
    now: Timestamp,
) -> Value {
    let progress = op.progress(now);
    let env_link = if lo.op_type == ppac::OpType::Create && op.state() == RunState::Failed {
        String::new()
    } else {
        format!("{PREFIX}/environments/{}", lo.env)
    };
    let stages: Vec<Value> = progress
        .stages
        .iter()
        .map(|s| {
            json!({
                "id": s.name, "name": s.name,
                "state": {"id": stage_state(s.state)},
                "firstActionDateTime": s.started_at.map(ts),
                "lastActionDateTime": if s.state == RunState::Running { s.started_at.map(ts) } else { s.ends_at.map(ts) },
            })
        })
        .collect();
    let mut v = json!({
        "id": lo.id.0,
        "links": {
            "self": {"path": format!("{PREFIX}/lifecycleOperations/{}", lo.id.0)},
            "environment": {"path": env_link},
        },
        "type": {"id": lo.op_type.as_str()},
        "typeDisplayName": lo.op_type.display_name(),
        "state": {"id": stage_state(op.state())},
        "createdDateTime": ts(op.started_at()),
        "lastActionDateTime": ts(op.finished_at().unwrap_or(now)),
    });
    pp::put(&mut v, "requestedBy", actor_json(lo.requested_by, t));
    pp::put(&mut v, "stages", Value::Array(stages));
    if let Some(e) = op.error() {
        v["error"] = json!({"code": e.code, "message": e.message});
    }
    v
}

fn location_url(base: &BaseUrl, op: OperationId, q: &PpQuery) -> String {
    let version = q.api_version();
    if version.is_empty() {
        format!("{}{PREFIX}/lifecycleOperations/{}", base.root(), op.0)
    } else {
        format!(
            "{}{PREFIX}/lifecycleOperations/{}?api-version={version}",
            base.root(),
            op.0
        )
    }
}

/// 202 pointing at the lifecycle operation (see [`pp::accepted`]).
pub(super) fn accepted(
    state: &AppState,
    t: &Tenant,
    base: &BaseUrl,
    q: &PpQuery,
    op: OperationId,
    now: Timestamp,
    body: Option<Value>,
) -> Response {
    pp::accepted(state, t, &location_url(base, op, q), op, now, body)
}

/// A backup as BAP lists it.
pub(super) fn backup_json(t: &Tenant, b: &Backup) -> Value {
    json!({
        "id": b.id,
        "label": b.label,
        "notes": b.notes,
        "backupPointDateTime": ts(b.point),
        "backupExpiryDateTime": ts(b.expires),
        "createdBy": actor_json(&b.created_by, t),
    })
}
