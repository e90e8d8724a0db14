//! `/appmanagement`: the application package catalogue, an environment's packages with their
//! install state, and installs as operations.

use super::render::{op_url, parse_op};
use crate::api::caller::Caller;
use crate::api::extract::BaseUrl;
use crate::api::pp::{self, Answer, PpJson, PpQuery, env_id, open, ts};
use crate::error::SimError;
use crate::ops::RunState;
use crate::state::AppState;
use crate::world::ppac::{self, InstalledPackage, PACKAGES, PackageState};
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

fn catalogue_entry(p: &ppac::CatalogPackage) -> Value {
    json!({
        "uniqueName": p.unique_name,
        "localizedName": p.name,
        "localizedDescription": p.description,
        "applicationId": p.application_id,
        "applicationName": p.name,
        "applicationDescription": p.description,
        "publisherName": "Microsoft Dynamics 365",
        "publisherId": "00000000-0000-0000-0000-000000000001",
        "learnMoreUrl": "https://learn.microsoft.com/dynamics365/",
        "applicationVisibility": "All",
        "catalogVisibility": "None",
        "lastError": null,
    })
}

pub(super) async fn catalogue(_: Caller) -> Answer {
    let value: Vec<Value> = PACKAGES.iter().map(catalogue_entry).collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

fn package_json(
    t: &Tenant,
    p: &ppac::CatalogPackage,
    installed: Option<&InstalledPackage>,
) -> Value {
    let mut v = catalogue_entry(p);
    v["id"] = json!(installed.map_or(Uuid::nil(), |i| i.instance_id));
    v["version"] = json!(p.version);
    v["instancePackageId"] = json!(installed.map(|i| i.instance_id));
    v["state"] = json!(
        installed
            .map_or(PackageState::None, |i| i.state(t.ops()))
            .as_str()
    );
    v["singlePageApplicationUrl"] = json!(null);
    v["customHandleUpgrade"] = json!(false);
    v["platformMinVersion"] = json!("9.1");
    v["platformMaxVersion"] = json!(null);
    v["startDateUtc"] = json!(null);
    v["endDateUtc"] = json!(null);
    v["supportedCountries"] = json!([]);
    v["lastError"] = json!(
        installed
            .and_then(|i| i.error(t.ops()))
            .map(|m| json!({"message": m}))
    );
    v
}

pub(super) async fn env_packages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, _) = open(&state, &caller)?;
    let e = t.ppac(&actor).environment(&id)?;
    let filter = q
        .get("appinstallstate")
        .unwrap_or("All")
        .to_ascii_lowercase();
    let value: Vec<Value> = PACKAGES
        .iter()
        .map(|p| {
            (
                p,
                e.packages
                    .iter()
                    .find(|i| i.unique_name.eq_ignore_ascii_case(p.unique_name)),
            )
        })
        .filter(|(_, i)| match filter.as_str() {
            "installed" => i.is_some_and(|i| i.state(t.ops()) == PackageState::Installed),
            "notinstalled" => i.is_none_or(|i| i.state(t.ops()) != PackageState::Installed),
            _ => true,
        })
        .map(|(p, i)| package_json(&t, p, i))
        .collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

fn install_state(s: RunState) -> &'static str {
    match s {
        RunState::Pending => "NotStarted",
        RunState::Running => "Running",
        RunState::Succeeded => "Succeeded",
        RunState::Failed => "Failed",
    }
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct InstallBody {
    #[serde(rename = "payloadvalue")]
    _payloadvalue: Option<Value>,
}

pub(super) async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path((env, name)): Path<(String, String)>,
    PpJson(_b): PpJson<InstallBody>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let (op, record) = t.ppac_mut(&actor).install(&id, &name, now)?;
    let p = ppac::package(&record.unique_name)
        .ok_or_else(|| SimError::internal("installed package left the catalogue"))?;
    let body = json!({
        "id": record.instance_id,
        "packageId": p.application_id,
        "packageUniqueName": p.unique_name,
        "packageVersion": p.version,
        "applicationId": p.application_id,
        "applicationName": p.name,
        "applicationDescription": p.description,
        "localizedName": p.name,
        "localizedDescription": p.description,
        "publisherName": "Microsoft Dynamics 365",
        "publisherId": "00000000-0000-0000-0000-000000000001",
        "learnMoreUrl": "https://learn.microsoft.com/dynamics365/",
        "singlePageApplicationUrl": null,
        "applicationVisibility": "All",
        "customHandleUpgrade": false,
        "termsOfServiceBlobUris": [],
        "lastOperation": {
            "operationId": op.0,
            "state": "InstallRequested",
            "createdOn": ts(now),
            "modifiedOn": ts(now),
            "statusMessage": "",
            "errorDetails": null,
            "instancePackageId": record.instance_id,
        },
    });
    let url = op_url(&base, "appmanagement", &id, op, &q);
    Ok(pp::accepted(&state, &t, &url, op, now, Some(body)))
}

pub(super) async fn install_status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path((env, op)): Path<(String, String)>,
) -> Answer {
    let id = env_id(&env)?;
    let op = parse_op(&op)?;
    let (actor, t, now) = open(&state, &caller)?;
    let (p, o) = t.ppac(&actor).install_operation(&id, op)?;
    let error = o.error().map(|e| {
        json!({
            "errorName": e.code, "errorCode": 0, "message": e.message,
            "type": "Validation", "statusCode": 400, "source": p.unique_name,
        })
    });
    let body = json!({
        "operationId": op.0,
        "createdDateTime": ts(o.started_at()),
        "lastActionDateTime": ts(o.finished_at().unwrap_or(now)),
        "status": install_state(o.state()),
        "statusMessage": o.error().map_or(String::new(), |e| e.message.clone()),
        "error": error,
    });
    Ok(pp::poll_answer(&state, &q, o, now, body))
}
