//! The Power Platform API (`api.powerplatform.com`): `/environmentmanagement/...`,
//! `/appmanagement/...` and `/licensing/tenantCapacity`, with the shapes of Microsoft's generated
//! SDK (`powerplatform-management`, module `mspp_management`).
//!
//! Errors: 400 and 409 use the SDK's `ValidationResponse`
//! (`{"errorDetail":{"code","message","fieldErrors"}}`), other statuses `{"error":{"code",
//! "message"}}`. Mutations answer 202 with `Operation-Location` and `Location` pointing at
//! `/environmentmanagement/environments/{id}/operations/{opId}` (package installs at
//! `/appmanagement/environments/{id}/operations/{opId}`) on the simulator's own base URL.

use super::caller::Caller;
use super::envelope::{Envelope, envelope, status};
use super::extract::BaseUrl;
use super::pp::{self, Currency, PpJson, PpQuery, env_id, open, ts};
use super::pp::{copy_kind, wire_code};
use crate::api::routes::{Routes, Surface, delete, get, patch, post};
use crate::error::{ErrorClass, ErrorCode, SimError};
use crate::ops::{Operation, OperationId, RunState};
use crate::state::AppState;
use crate::world::operations::Work;
use crate::world::ppac::{
    self, Actor, Backup, CURRENCIES, CopyRequest, InstalledPackage, LANGUAGES, LOCATIONS,
    LifecycleOp, NewDataverse, NewEnvironment, PACKAGES, PackageState, PpEnvId, PpEnvironment,
    RestoreRequest, TEMPLATES,
};
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// The Power Platform API routes, with its envelope.
pub fn router(state: Arc<AppState>) -> Routes {
    const EM: &str = "/environmentmanagement";
    let em = |path: &str| format!("{EM}{path}");
    let env = |path: &str| format!("{EM}/environments/{{env}}{path}");
    let create_summary = "Create an environment (202 with the operation)";
    let candidates_summary = "Environments that can be the source of a copy or restore";
    Routes::new(Surface::PowerPlatform)
        .route(
            &em("/environments"),
            get(list, "Environments of the tenant"),
        )
        .route(
            &env(""),
            get(get_one, "One environment")
                .delete(remove, "Delete an environment (202 with the operation)"),
        )
        .route(
            &em("/provisioning/environments"),
            post(create, create_summary),
        )
        .route(&em("/provisioning/create"), post(create, create_summary))
        .route(
            &em("/provisioning/environments/{env}/link"),
            patch(
                link,
                "Link an environment to a finance and operations environment",
            ),
        )
        .route(&em("/provisioning/locations"), get(locations, "Locations"))
        .route(
            &em("/provisioning/locations/{loc}/currencies"),
            get(currencies, "Currencies of a location"),
        )
        .route(
            &em("/provisioning/locations/{loc}/languages"),
            get(languages, "Languages of a location"),
        )
        .route(
            &em("/provisioning/locations/{loc}/templates"),
            get(templates, "Templates of a location"),
        )
        .route(
            &env("/copy"),
            post(copy, "Copy an environment over this one"),
        )
        .route(&env("/copyCandidates"), get(candidates, candidates_summary))
        .route(
            &env("/restoreCandidates"),
            get(candidates, candidates_summary),
        )
        .route(&env("/reset"), post(reset, "Reset an environment"))
        .route(
            &env("/restore"),
            post(restore, "Restore a backup over this environment"),
        )
        .route(
            &env("/backups"),
            get(backups, "The environment's backups").post(backup, "Take a custom backup"),
        )
        .route(
            &env("/backups/{backup}"),
            delete(delete_backup, "Delete a custom backup"),
        )
        .route(
            &env("/modifySku"),
            post(
                modify_sku,
                "Convert the environment (sandbox <-> production)",
            ),
        )
        .route(
            &env("/recover"),
            post(recover, "Recover a deleted environment"),
        )
        .route(
            &env("/operations"),
            get(operations, "The environment's operations"),
        )
        .route(
            &env("/operations/{op}"),
            get(env_operation, "One operation of the environment"),
        )
        .route(
            &em("/operations/{op}"),
            get(operation, "Poll an operation (Retry-After while running)"),
        )
        .catch_all(&em("/{*rest}"), any(no_route))
        .route(
            "/licensing/tenantCapacity",
            get(
                capacity,
                "The tenant's capacity: database, file, log, with consumption",
            ),
        )
        .route(
            "/licensing/v0.1-alpha/tenants/{tenant}/TenantCapacity",
            get(capacity_legacy, "The tenant's capacity (legacy path)"),
        )
        .route(
            "/appmanagement/applicationPackages",
            get(catalogue, "Application packages of the tenant"),
        )
        .route(
            "/appmanagement/environments/{env}/applicationPackages",
            get(env_packages, "Application packages of an environment"),
        )
        .route(
            "/appmanagement/environments/{env}/applicationPackages/{name}/install",
            post(
                install,
                "Install an application package (202 with the operation)",
            ),
        )
        .route(
            "/appmanagement/environments/{env}/operations/{op}",
            get(install_status, "Status of a package installation"),
        )
        .catch_all("/appmanagement/{*rest}", any(no_route))
        .map(|r| r.layer(middleware::from_fn_with_state(state, envelope::<PpApi>)))
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> SimError {
    SimError::new(
        ErrorCode::RouteNotFound,
        format!(
            "No route for {method} {}. The README lists the Power Platform API routes the \
             simulator serves.",
            uri.path()
        ),
    )
}

/// The Power Platform API error envelope.
pub struct PpApi;

impl Envelope for PpApi {
    const SURFACE: Surface = Surface::PowerPlatform;

    fn render(_: &AppState, error: &SimError, _: Option<Uuid>) -> Response {
        let code = error.wire_code(wire_code(error.code));
        let body = match error.class() {
            ErrorClass::BadRequest | ErrorClass::Conflict => {
                let mut detail = json!({"code": code, "message": error.message, "fieldErrors": {}});
                if let Some(target) = &error.target {
                    detail["fieldErrors"][target] = json!({"errorMessages": [error.message]});
                }
                json!({ "errorDetail": detail })
            }
            _ => json!({"error": {"code": code, "message": error.message}}),
        };
        (status(error), Json(body)).into_response()
    }
}

// ---- rendering ----

/// `{"collection": [...], "continuationToken": ...}`.
fn paged(items: Vec<Value>, next: Option<String>) -> Value {
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

/// An environment as `EnvironmentResponse`.
pub fn environment(t: &Tenant, e: &PpEnvironment, now: Timestamp) -> Value {
    let d = e.dataverse.as_ref();
    let from = crate::clock::saturating_add(
        now,
        jiff::SignedDuration::from_hours(-24 * e.retention_days()),
    )
    .max(d.map_or(e.created_at, |d| d.created_at));
    json!({
        "id": e.id.as_str(),
        "displayName": e.display_name,
        "tenantId": t.id().0,
        "type": e.sku.as_str(),
        "geo": e.location,
        "azureRegion": e.azure_region,
        "url": e.instance_url(),
        "domainName": d.map(|d| d.domain.as_str()),
        "version": d.map(|d| d.version.as_str()),
        "dataverseId": d.map(|d| d.org_id),
        "state": state_name(e),
        "adminMode": if e.admin_mode { "Enabled" } else { "Disabled" },
        "backgroundOperationsState": d.map(|d| if d.background_operations { "Enabled" } else { "Disabled" }),
        "protectionLevel": if e.managed { "Standard" } else { "Basic" },
        "securityGroupId": d.and_then(|d| d.security_group),
        "environmentGroupId": null,
        "clusterCategory": "Prod",
        "createdDateTime": ts(e.created_at),
        "deletedDateTime": e.deleted_at.map(ts),
        "createdBy": {"id": e.created_by.id.0, "type": e.created_by.kind()},
        "retentionDetails": {"retentionPeriod": format!("P{}D", e.retention_days()), "availableFromDateTime": ts(from)},
        "finOpsMetadata": e.linked_app.as_ref().map(|l| json!({"id": l.id, "type": l.kind.as_str(), "url": l.url})),
    })
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

fn execution_result(t: &Tenant, lo: &LifecycleOp, op: &Operation<Work>, now: Timestamp) -> Value {
    let progress = op.progress(now);
    let env = t.state.ppac.environments.iter().find(|e| e.id == lo.env);
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
    pp::put(&mut v, "requestedBy", identity(&lo.requested_by, t));
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

fn op_url(base: &BaseUrl, area: &str, env: &PpEnvId, op: OperationId, q: &PpQuery) -> String {
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

fn env_accepted(
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

// ---- bodies ----

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinkedMetadata {
    baselanguagecode: Option<u32>,
    currency: Option<Currency>,
    domainname: Option<String>,
    securitygroupid: Option<String>,
    templates: Option<Vec<String>>,
    #[serde(rename = "templatemetadata")]
    _templatemetadata: Option<Value>,
}

impl LinkedMetadata {
    fn dataverse(&self) -> Result<NewDataverse, SimError> {
        Ok(NewDataverse {
            domain: self.domainname.clone(),
            language: self.baselanguagecode,
            currency: self
                .currency
                .as_ref()
                .and_then(|c| c.code.clone())
                .filter(|c| !c.is_empty()),
            templates: self.templates.clone().unwrap_or_default(),
            security_group: pp::guid_field(self.securitygroupid.as_deref(), "securityGroupId")?,
        })
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    displayname: Option<String>,
    description: Option<String>,
    environmentsku: Option<String>,
    location: Option<String>,
    #[serde(rename = "macroregion")]
    _macroregion: Option<String>,
    azureregion: Option<String>,
    databasetype: Option<String>,
    #[serde(rename = "billingpolicy")]
    _billingpolicy: Option<Value>,
    #[serde(rename = "cluster")]
    _cluster: Option<Value>,
    governanceconfiguration: Option<Value>,
    #[serde(rename = "parentenvironmentgroup")]
    _parentenvironmentgroup: Option<Value>,
    usedby: Option<Value>,
    #[serde(rename = "connectedgroupidforteamsenvironment")]
    _connectedgroupidforteamsenvironment: Option<Value>,
    #[serde(rename = "finopsmetadata")]
    _finopsmetadata: Option<Value>,
    linkedenvironmentmetadata: Option<LinkedMetadata>,
}

/// The domain's request for a create body; field errors name fields neutrally.
fn new_environment(b: CreateBody) -> Result<NewEnvironment, SimError> {
    let wants_dataverse = b.linkedenvironmentmetadata.is_some()
        || b.databasetype
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("CommonDataService"));
    Ok(NewEnvironment {
        display_name: b.displayname.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        sku: pp::sku(b.environmentsku.as_deref(), "environmentSku")?,
        location: b.location.unwrap_or_default(),
        azure_region: b.azureregion,
        cadence: None,
        used_by: b.usedby.as_ref().is_some_and(|u| !u.is_null()),
        managed: b
            .governanceconfiguration
            .as_ref()
            .and_then(|g| g.get("protectionlevel"))
            .and_then(Value::as_str)
            .is_some_and(|l| l.eq_ignore_ascii_case("Standard")),
        dataverse: if wants_dataverse {
            Some(
                b.linkedenvironmentmetadata
                    .unwrap_or_default()
                    .dataverse()?,
            )
        } else {
            None
        },
    })
}

/// How a create body spells a field the domain names neutrally: the Dataverse settings sit in
/// `linkedEnvironmentMetadata` (the language as `baseLanguageCode`), the rest at the top.
fn wire_field(field: &str) -> String {
    match pp::field_head(field) {
        ("baseLanguage", rest, _) => format!("linkedEnvironmentMetadata.baseLanguageCode{rest}"),
        (_, _, true) => format!("linkedEnvironmentMetadata.{field}"),
        _ => field.to_string(),
    }
}

// ---- handlers ----

type Answer = Result<Response, SimError>;

async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Answer {
    let (actor, t, now) = open(&state, &caller)?;
    let value: Vec<Value> = t
        .ppac_environments(&actor)
        .map(|e| environment(&t, e, now))
        .collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, now) = open(&state, &caller)?;
    Ok(Json(environment(&t, t.ppac_environment(&actor, &id)?, now)).into_response())
}

async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    PpJson(b): PpJson<CreateBody>,
) -> Answer {
    let spec = new_environment(b).map_err(|e| e.respelled(wire_field))?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let (id, op) = t
        .ppac_create(&actor, spec, now)
        .map_err(|e| e.respelled(wire_field))?;
    let (lo, o) = t.ppac_operation(&actor, op)?;
    let body = execution_result(&t, lo, o, now);
    let url = op_url(&base, "environmentmanagement", &id, op, &q);
    Ok(pp::accepted(&state, &t, &url, op, now, Some(body)))
}

async fn link(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
    PpJson(b): PpJson<LinkedMetadata>,
) -> Answer {
    let id = env_id(&env)?;
    let spec = b.dataverse()?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_provision_instance(&actor, &id, spec, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &id, op, now))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CopyOptions {
    environmentnametooverride: Option<String>,
    securitygroupidtooverride: Option<String>,
    #[serde(rename = "skipauditdata")]
    _skipauditdata: Option<Value>,
    #[serde(rename = "executeadvancedcopyforfinanceandoperations")]
    _executeadvancedcopyforfinanceandoperations: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyBody {
    sourceenvironmentid: Option<String>,
    copytype: Option<String>,
    copyoptions: Option<CopyOptions>,
}

fn source(text: Option<String>) -> Result<PpEnvId, SimError> {
    let text = text.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        SimError::new(ErrorCode::InvalidBody, "sourceEnvironmentId is required.")
            .at("sourceEnvironmentId")
    })?;
    env_id(&text).map_err(|e| e.at("sourceEnvironmentId"))
}

async fn copy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
    PpJson(b): PpJson<CopyBody>,
) -> Answer {
    let target = env_id(&env)?;
    let options = b.copyoptions.unwrap_or_default();
    let req = CopyRequest {
        source: source(b.sourceenvironmentid)?,
        full: copy_kind(b.copytype.as_deref())?,
        name: options
            .environmentnametooverride
            .filter(|n| !n.trim().is_empty()),
        security_group: pp::guid_field(
            options.securitygroupidtooverride.as_deref(),
            "copyOptions.securityGroupIdToOverride",
        )?,
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_copy(&actor, &target, req, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &target, op, now))
}

/// Copy and restore candidates: the environments this one can take a copy or restore from.
async fn candidates(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, _) = open(&state, &caller)?;
    let list: Vec<Value> = t
        .ppac_copy_candidates(&actor, &id)?
        .map(|e| json!({"environmentId": e.id.as_str(), "displayName": e.display_name, "dataverseOrganizationUrl": e.instance_url()}))
        .collect();
    Ok(Json(paged(list, None)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    displayname: Option<String>,
    #[serde(rename = "description")]
    _description: Option<String>,
    domainname: Option<String>,
    baselanguagecode: Option<u32>,
    currency: Option<Currency>,
    securitygroupid: Option<String>,
    templates: Option<Vec<String>>,
}

async fn reset(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
    PpJson(b): PpJson<ResetBody>,
) -> Answer {
    let id = env_id(&env)?;
    let spec = NewDataverse {
        domain: b.domainname,
        language: b.baselanguagecode,
        currency: b.currency.and_then(|c| c.code).filter(|c| !c.is_empty()),
        templates: b.templates.unwrap_or_default(),
        security_group: pp::guid_field(b.securitygroupid.as_deref(), "securityGroupId")?,
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_reset(
        &actor,
        &id,
        b.displayname.filter(|n| !n.trim().is_empty()),
        spec,
        now,
    )?;
    Ok(env_accepted(&state, &t, &base, &q, &id, op, now))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RestoreOptions {
    environmentnametooverride: Option<String>,
    securitygroupidtooverride: Option<String>,
    #[serde(rename = "skipauditdata")]
    _skipauditdata: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    sourceenvironmentid: Option<String>,
    restorepointdatetime: Option<String>,
    restoreoptions: Option<RestoreOptions>,
}

async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
    PpJson(b): PpJson<RestoreBody>,
) -> Answer {
    let target = env_id(&env)?;
    let options = b.restoreoptions.unwrap_or_default();
    let req = RestoreRequest {
        source: source(b.sourceenvironmentid)?,
        point: b
            .restorepointdatetime
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| pp::time_field(p, "restorePointDateTime"))
            .transpose()?,
        backup: None,
        name: options
            .environmentnametooverride
            .filter(|n| !n.trim().is_empty()),
        security_group: pp::guid_field(
            options.securitygroupidtooverride.as_deref(),
            "restoreOptions.securityGroupIdToOverride",
        )?,
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_restore(&actor, &target, req, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &target, op, now))
}

fn backup_json(t: &Tenant, b: &Backup) -> Value {
    json!({
        "id": b.id,
        "label": b.label,
        "backupPointDateTime": ts(b.point),
        "backupExpiryDateTime": ts(b.expires),
        "createdBy": identity(&b.created_by, t),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    label: Option<String>,
}

async fn backup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(env): Path<String>,
    PpJson(b): PpJson<BackupBody>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let backup = t.ppac_backup(&actor, &id, b.label, None, now)?;
    Ok((StatusCode::CREATED, Json(backup_json(&t, &backup))).into_response())
}

async fn backups(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, now) = open(&state, &caller)?;
    let list: Vec<Value> = t
        .ppac_backups(&actor, &id, now)?
        .into_iter()
        .map(|b| backup_json(&t, b))
        .collect();
    Ok(Json(paged(list, None)).into_response())
}

async fn delete_backup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((env, backup)): Path<(String, String)>,
) -> Answer {
    let id = env_id(&env)?;
    let backup = pp::backup_id(&backup)?;
    let (actor, mut t, _) = open(&state, &caller)?;
    t.ppac_delete_backup(&actor, &id, backup)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuBody {
    environmentsku: Option<String>,
}

async fn modify_sku(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
    PpJson(b): PpJson<SkuBody>,
) -> Answer {
    let id = env_id(&env)?;
    let Some(target) = pp::sku(b.environmentsku.as_deref(), "environmentSku")? else {
        return Err(SimError::new(
            ErrorCode::InvalidEnvironmentRequest,
            "environmentSku is required: Production or Sandbox.",
        )
        .at("environmentSku"));
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let warning = t.linked_convert_warning(&id, target);
    let op = t.ppac_modify_sku(&actor, &id, target, now)?;
    Ok(pp::with_warning(
        env_accepted(&state, &t, &base, &q, &id, op, now),
        warning,
    ))
}

async fn recover(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_recover(&actor, &id, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &id, op, now))
}

async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_delete(&actor, &id, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &id, op, now))
}

fn parse_op(op: &str) -> Result<OperationId, SimError> {
    OperationId::parse(op).map_err(|_| {
        SimError::new(
            ErrorCode::OperationNotFound,
            format!("The operation '{op}' could not be found."),
        )
    })
}

async fn operation(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path(op): Path<String>,
) -> Answer {
    let id = parse_op(&op)?;
    let (actor, t, now) = open(&state, &caller)?;
    let (lo, o) = t.ppac_operation(&actor, id)?;
    Ok(pp::poll_answer(
        &state,
        &q,
        o,
        now,
        execution_result(&t, lo, o, now),
    ))
}

async fn env_operation(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path((env, op)): Path<(String, String)>,
) -> Answer {
    let env = env_id(&env)?;
    let id = parse_op(&op)?;
    let (actor, t, now) = open(&state, &caller)?;
    let (lo, o) = t.ppac_operation(&actor, id)?;
    if lo.env != env {
        return Err(SimError::new(
            ErrorCode::OperationNotFound,
            format!("The operation '{op}' does not belong to environment {env}."),
        ));
    }
    Ok(pp::poll_answer(
        &state,
        &q,
        o,
        now,
        execution_result(&t, lo, o, now),
    ))
}

async fn operations(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path(env): Path<String>,
) -> Answer {
    let env = env_id(&env)?;
    let (actor, t, now) = open(&state, &caller)?;
    let all = t.ppac_operations_of(&actor, &env)?;
    let skip: usize = q
        .get("continuationtoken")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|c| c.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(50);
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(limit)
        .map(|(lo, o)| execution_result(&t, lo, o, now))
        .collect();
    let next = (skip + limit < all.len()).then(|| (skip + limit).to_string());
    Ok(Json(paged(page, next)).into_response())
}

async fn locations(_: Caller) -> Answer {
    let list: Vec<Value> = LOCATIONS
        .iter()
        .map(|l| json!({"name": l.name, "displayName": l.display_name, "code": l.code, "isDefault": l.name == "unitedstates", "isDisabled": false, "canProvisionDatabase": true, "hasFirstReleaseIslandAvailableForProvisioning": false}))
        .collect();
    Ok(
        Json(json!({"collection": list, "locationSelectionMode": "Location", "macroRegions": []}))
            .into_response(),
    )
}

async fn currencies(_: Caller, Path(loc): Path<String>) -> Answer {
    ppac::find_location(&loc)?;
    let list: Vec<Value> = CURRENCIES
        .iter()
        .map(|(c, s, _)| json!({"code": c, "symbol": s, "isTenantDefault": *c == "USD"}))
        .collect();
    Ok(Json(pp::wrap("collection", list)).into_response())
}

async fn languages(_: Caller, Path(loc): Path<String>) -> Answer {
    ppac::find_location(&loc)?;
    let list: Vec<Value> = LANGUAGES
        .iter()
        .map(|(l, n)| json!({"localeId": l, "localizedName": n, "isTenantDefault": *l == 1033}))
        .collect();
    Ok(Json(pp::wrap("collection", list)).into_response())
}

async fn templates(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(loc): Path<String>,
) -> Answer {
    ppac::find_location(&loc)?;
    let (_, t, _) = open(&state, &caller)?;
    let list: Vec<Value> = TEMPLATES
        .iter()
        .map(|tp| {
            let entitled = t.ppac_entitled(tp);
            json!({
                "name": tp.name,
                "displayName": tp.display_name,
                "isCustomerEngagement": !tp.fin_ops,
                "isSupportedForResetOperation": !tp.fin_ops,
                "availability": tp.skus.iter().map(|s| json!({
                    "environmentSku": s.as_str(),
                    "isDisabled": !entitled,
                    "disabledReason": (!entitled).then(|| json!({
                        "code": "DynamicsEntitlementMissing",
                        "message": format!("You do not have the required Dynamics 365 licenses to create databases with the '{}' Dynamics app.", tp.display_name),
                    })),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(pp::wrap("collection", list)).into_response())
}

fn capacity_body(t: &Tenant, now: Timestamp) -> Value {
    let used = t.ppac_consumption();
    let cap = t.state.capacity;
    let entry = |kind: &str, total: u64, actual: f64| {
        let available = (total as f64) > actual;
        json!({
            "capacityType": kind,
            "capacityUnits": "MB",
            "totalCapacity": total as f64,
            "maxCapacity": 0.0,
            "status": if available { "Available" } else { "Overflow" },
            "consumption": {"actual": actual, "rated": actual, "actualUpdatedOn": ts(now), "ratedUpdatedOn": ts(now)},
            "overflowCapacity": [],
            "capacityEntitlements": [{
                "capacityType": kind,
                "capacitySubType": format!("{kind}Base"),
                "totalCapacity": total as f64,
                "licenses": [],
            }],
        })
    };
    let over = [
        (cap.database_mb, used.database_mb),
        (cap.file_mb, used.file_mb),
        (cap.log_mb, used.log_mb),
    ]
    .iter()
    .any(|(total, actual)| *actual > *total as f64);
    json!({
        "tenantId": t.id().0,
        "licenseModelType": "StorageDriven",
        "capacitySummary": {
            "status": if over { "Overflow" } else { "Available" },
            "statusMessage": if over { "You are over your storage capacity. Free up or buy more capacity." } else { "You have available capacity across all storage types." },
            "statusMessageCode": if over { "CapacityOverflow" } else { "AllCapacityAvailable" },
            "finOpsStatus": "None",
            "finOpsStatusMessage": "Finance and Operations Storage Capacity Usage reporting is in preview and for information only.",
            "finOpsStatusMessageCode": "FinOpsNotAvailable",
        },
        "tenantCapacities": [
            entry("Database", cap.database_mb, used.database_mb),
            entry("File", cap.file_mb, used.file_mb),
            entry("Log", cap.log_mb, used.log_mb),
        ],
        "legacyModelCapacity": null,
        "temporaryLicenseInfo": {"hasTemporaryLicense": false, "temporaryLicenseExpiryDate": null},
    })
}

async fn capacity(State(state): State<Arc<AppState>>, caller: Caller) -> Answer {
    let (_, t, now) = open(&state, &caller)?;
    Ok(Json(capacity_body(&t, now)).into_response())
}

async fn capacity_legacy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Answer {
    let (_, t, now) = open(&state, &caller)?;
    if !tenant.eq_ignore_ascii_case(&t.id().0.to_string()) {
        return Err(SimError::new(
            ErrorCode::Forbidden,
            format!(
                "The caller's token is for tenant {}, not {tenant}.",
                t.id().0
            ),
        ));
    }
    Ok(Json(capacity_body(&t, now)).into_response())
}

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

async fn catalogue(_: Caller) -> Answer {
    let value: Vec<Value> = PACKAGES.iter().map(catalogue_entry).collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

fn package_json(p: &ppac::CatalogPackage, installed: Option<&InstalledPackage>) -> Value {
    let mut v = catalogue_entry(p);
    v["id"] = json!(installed.map_or(Uuid::nil(), |i| i.instance_id));
    v["version"] = json!(p.version);
    v["instancePackageId"] = json!(installed.map(|i| i.instance_id));
    v["state"] = json!(installed.map_or(PackageState::None, |i| i.state).as_str());
    v["singlePageApplicationUrl"] = json!(null);
    v["customHandleUpgrade"] = json!(false);
    v["platformMinVersion"] = json!("9.1");
    v["platformMaxVersion"] = json!(null);
    v["startDateUtc"] = json!(null);
    v["endDateUtc"] = json!(null);
    v["supportedCountries"] = json!([]);
    v["lastError"] = json!(
        installed
            .and_then(|i| i.error.as_ref())
            .map(|m| json!({"message": m}))
    );
    v
}

async fn env_packages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, _) = open(&state, &caller)?;
    let e = t.ppac_environment(&actor, &id)?;
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
            "installed" => i.is_some_and(|i| i.state == PackageState::Installed),
            "notinstalled" => i.is_none_or(|i| i.state != PackageState::Installed),
            _ => true,
        })
        .map(|(p, i)| package_json(p, i))
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
struct InstallBody {
    #[serde(rename = "payloadvalue")]
    _payloadvalue: Option<Value>,
}

async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    Path((env, name)): Path<(String, String)>,
    PpJson(_b): PpJson<InstallBody>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let record = t.ppac_install(&actor, &id, &name, now)?;
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
            "operationId": record.operation.0,
            "state": "InstallRequested",
            "createdOn": ts(now),
            "modifiedOn": ts(now),
            "statusMessage": "",
            "errorDetails": null,
            "instancePackageId": record.instance_id,
        },
    });
    let url = op_url(&base, "appmanagement", &id, record.operation, &q);
    Ok(pp::accepted(
        &state,
        &t,
        &url,
        record.operation,
        now,
        Some(body),
    ))
}

async fn install_status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path((env, op)): Path<(String, String)>,
) -> Answer {
    let id = env_id(&env)?;
    let op = parse_op(&op)?;
    let (actor, t, now) = open(&state, &caller)?;
    let (p, o) = t.ppac_install_operation(&actor, &id, op)?;
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
