//! The Power Platform API (`api.powerplatform.com`): `/environmentmanagement/...`,
//! `/appmanagement/...` and `/licensing/tenantCapacity`, with the shapes of Microsoft's generated
//! SDK (`powerplatform-management`, module `mspp_management`).
//!
//! Errors: 400 and 409 use the SDK's `ValidationResponse`
//! (`{"errorDetail":{"code","message","fieldErrors"}}`), other statuses `{"error":{"code",
//! "message"}}`. Mutations answer 202 with `Operation-Location` and `Location` pointing at
//! `/environmentmanagement/environments/{id}/operations/{opId}` (package installs at
//! `/appmanagement/environments/{id}/operations/{opId}`) on the simulator's own base URL.
//!
//! Here: the routes, the envelope and the environment handlers with their bodies; `render` turns
//! the domain into the SDK's JSON, `catalog` serves the reference data, `licensing` the tenant's
//! capacity, `packages` the application packages and their installs.

mod catalog;
mod licensing;
mod packages;
mod render;

use self::catalog::{currencies, languages, locations, templates};
use self::licensing::{capacity, capacity_legacy};
use self::packages::{catalogue, env_packages, install, install_status};
use self::render::{
    backup_json, env_accepted, environment, execution_result, op_url, paged, parse_op,
};
use super::caller::Caller;
use super::envelope::{Envelope, envelope, status};
use super::extract::BaseUrl;
use super::pp::{self, Answer, Currency, PpJson, PpQuery, env_id, open};
use super::pp::{copy_kind, wire_code};
use crate::api::routes::{Routes, Surface, delete, get, patch, post};
use crate::error::{ErrorClass, ErrorCode, SimError};
use crate::state::AppState;
use crate::world::ppac::{CopyRequest, NewDataverse, NewEnvironment, PpEnvId, RestoreRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
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
            get(list, "Environments of the tenant, whole or in pages").pages(),
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

/// `{"value": [...], "@odata.nextlink": ...}`: a page of environments. The key is spelled as
/// Microsoft's SDK reads it (`EnvironmentList.odata_nextlink`).
#[derive(serde::Serialize)]
struct EnvironmentPage<'a> {
    value: Vec<render::EnvironmentOut<'a>>,
    #[serde(rename = "@odata.nextlink", skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
) -> Answer {
    let page = pp::Page::of(&q)?;
    let (actor, t, now) = open(&state, &caller)?;
    let (shown, next) = page.take(t.ppac(&actor).environments_from(page.from));
    let value = shown.into_iter().map(|e| environment(&t, e, now)).collect();
    let next =
        next.map(|at| page.next_link(base.root(), "/environmentmanagement/environments", &q, at));
    Ok(Json(EnvironmentPage { value, next }).into_response())
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(env): Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, now) = open(&state, &caller)?;
    Ok(Json(environment(&t, t.ppac(&actor).environment(&id)?, now)).into_response())
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
        .ppac_mut(&actor)
        .create(spec, now)
        .map_err(|e| e.respelled(wire_field))?;
    let (lo, o) = t.ppac(&actor).operation(op)?;
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
    let op = t.ppac_mut(&actor).provision_instance(&id, spec, now)?;
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
    let op = t.ppac_mut(&actor).copy(&target, req, now)?;
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
        .ppac(&actor).copy_candidates(&id)?
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
    let op = t.ppac_mut(&actor).reset(
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
    let op = t.ppac_mut(&actor).restore(&target, req, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &target, op, now))
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
    let backup = t.ppac_mut(&actor).backup(&id, b.label, None, now)?;
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
        .ppac(&actor)
        .backups(&id, now)?
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
    t.ppac_mut(&actor).delete_backup(&id, backup)?;
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
    let op = t.ppac_mut(&actor).modify_sku(&id, target, now)?;
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
    let op = t.ppac_mut(&actor).recover(&id, now)?;
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
    let op = t.ppac_mut(&actor).delete(&id, now)?;
    Ok(env_accepted(&state, &t, &base, &q, &id, op, now))
}

async fn operation(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    Path(op): Path<String>,
) -> Answer {
    let id = parse_op(&op)?;
    let (actor, t, now) = open(&state, &caller)?;
    let (lo, o) = t.ppac(&actor).operation(id)?;
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
    let (lo, o) = t.ppac(&actor).operation(id)?;
    if *lo.env != env {
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
    let all = t.ppac(&actor).operations_of(&env)?;
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
        .map(|(lo, o)| execution_result(&t, *lo, o, now))
        .collect();
    let next = (skip + limit < all.len()).then(|| (skip + limit).to_string());
    Ok(Json(paged(page, next)).into_response())
}
