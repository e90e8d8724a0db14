//! The BAP admin API (`api.bap.microsoft.com`, `/providers/Microsoft.BusinessAppPlatform/...`):
//! environments and their lifecycle as Terraform's power-platform provider, the
//! Microsoft.PowerApps.Administration.PowerShell module and the pac CLI call it.
//!
//! Errors use `{"error":{"code","message"}}`; a DELETE that conflicts with a running operation
//! gets 409 with an empty body. Mutations answer 202 with absolute `Location` and
//! `Operation-Location` headers pointing at `lifecycleOperations/{id}` on the simulator's own base
//! URL; a poll answers 200 with `Retry-After` while running (202 in the PowerShell style, see
//! `--pp-polling`) and 200 without it once terminal; 404 once the environment is gone.
//!
//! Here: the routes, the envelope and the handlers with their bodies; `render` turns the domain
//! into BAP's JSON, `catalog` serves the reference data (locations, currencies, languages,
//! templates).

mod catalog;
mod render;

use self::catalog::{currencies, languages, locations, templates};
use self::render::{PREFIX, accepted, backup_json, environment, lifecycle_json};
use crate::api::caller::Caller;
use crate::api::envelope::{Envelope, envelope, status};
use crate::api::extract::BaseUrl;
use crate::api::pp::{self, Answer, Currency, PpJson, PpQuery, copy_kind, env_id, open, wire_code};
use crate::api::routes::{Routes, Surface, delete, get, post};
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::state::AppState;
use crate::world::ppac::{
    self, CopyRequest, EnvironmentPatch, NewDataverse, NewEnvironment, RestoreRequest,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// The BAP routes, with the BAP envelope.
pub fn router(state: Arc<AppState>) -> Routes {
    let p = |path: &str| format!("{PREFIX}{path}");
    let admin = |path: &str| format!("{PREFIX}/scopes/admin{path}");
    // Every environment route exists twice: under /scopes/admin (the admin view) and plain.
    let mut routes = Routes::new(Surface::Bap);
    for base in [admin("/environments"), p("/environments")] {
        routes = routes
            .route(
                &format!("{base}/{{env}}"),
                get(
                    get_one,
                    "One environment ($expand=properties.capacity, ...)",
                )
                .patch(
                    update,
                    "Change an environment's display name, description or settings",
                )
                .delete(
                    remove,
                    "Delete an environment (202 with the lifecycle operation)",
                ),
            )
            .route(
                &format!("{base}/{{env}}/validateDelete"),
                post(validate_delete, "Whether the environment can be deleted"),
            )
            .route(
                &format!("{base}/{{env}}/modifySku"),
                post(
                    modify_sku,
                    "Convert the environment (sandbox <-> production)",
                ),
            );
    }
    routes
        .route(
            &admin("/environments"),
            get(list, "Every environment of the tenant (admin view)"),
        )
        .route(
            &p("/environments"),
            get(list, "The caller's environments").post(
                create,
                "Create an environment (202 with the lifecycle operation)",
            ),
        )
        .route(
            &p("/validateEnvironmentDetails"),
            post(validate_details, "Check a new environment's details"),
        )
        .route(
            &p("/environments/{env}/provisionInstance"),
            post(
                provision_instance,
                "Add a Dataverse database to an environment",
            ),
        )
        .route(
            &p("/environments/{env}/copyTo"),
            post(copy_to, "Copy an environment over a target environment"),
        )
        .route(
            &p("/environments/{env}/backups"),
            get(backups, "The environment's backups").post(backup, "Take a custom backup"),
        )
        .route(
            &p("/environments/{env}/backups/{backup}"),
            delete(delete_backup, "Delete a custom backup"),
        )
        .route(
            &p("/environments/{env}/restoreTo"),
            post(restore_to, "Restore a backup over a target environment"),
        )
        .route(
            &p("/environments/{env}/reset"),
            post(reset, "Reset an environment"),
        )
        .route(
            &p("/lifecycleOperations"),
            get(operations, "Lifecycle operations of the tenant"),
        )
        .route(
            &p("/lifecycleOperations/{op}"),
            get(
                operation,
                "Poll a lifecycle operation (202/200 with Retry-After while running)",
            ),
        )
        .route(
            &admin("/deletedEnvironments"),
            get(deleted, "Recently deleted environments"),
        )
        .route(
            &admin("/deletedEnvironments/{env}/recover"),
            post(recover, "Recover a deleted environment"),
        )
        .route(&p("/tenant"), get(tenant, "The tenant"))
        .route(
            &p("/listTenantSettings"),
            post(settings, "The tenant's Power Platform settings"),
        )
        .route(
            &admin("/updateTenantSettings"),
            post(
                update_settings,
                "Change tenant settings (e.g. disableEnvironmentCreationByNonAdminUsers)",
            ),
        )
        .route(&p("/locations"), get(locations, "Locations"))
        .route(
            &p("/locations/{loc}/environmentCurrencies"),
            get(currencies, "Currencies of a location"),
        )
        .route(
            &p("/locations/{loc}/environmentLanguages"),
            get(languages, "Languages of a location"),
        )
        .route(
            &p("/locations/{loc}/templates"),
            get(templates, "Templates of a location"),
        )
        .catch_all(&p("/{*rest}"), any(no_route))
        .map(|r| r.layer(middleware::from_fn_with_state(state, envelope::<Bap>)))
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> SimError {
    SimError::new(
        ErrorCode::RouteNotFound,
        format!(
            "No route for {method} {}. The README lists the BAP routes the simulator serves.",
            uri.path()
        ),
    )
}

/// The BAP error envelope.
pub struct Bap;

impl Envelope for Bap {
    const SURFACE: Surface = Surface::Bap;

    fn render(_: &AppState, error: &SimError, _: Option<Uuid>) -> Response {
        let code = error.wire_code(wire_code(error.code));
        let body = json!({"error": {"code": code, "message": error.message}});
        (status(error), Json(body)).into_response()
    }
}

// ---- bodies ----

#[derive(Debug, Deserialize, Default)]
struct IdObj {
    id: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinkedMeta {
    baselanguage: Option<Value>,
    domainname: Option<String>,
    currency: Option<Currency>,
    securitygroupid: Option<String>,
    templates: Option<Vec<String>>,
    #[serde(rename = "templatemetadata")]
    _templatemetadata: Option<Value>,
    #[serde(rename = "backgroundoperationsstate")]
    _backgroundoperationsstate: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateProps {
    displayname: Option<String>,
    description: Option<String>,
    environmentsku: Option<String>,
    azureregion: Option<String>,
    databasetype: Option<String>,
    #[serde(rename = "billingpolicy")]
    _billingpolicy: Option<Value>,
    updatecadence: Option<IdObj>,
    #[serde(rename = "cluster")]
    _cluster: Option<Value>,
    #[serde(rename = "parentenvironmentgroup")]
    _parentenvironmentgroup: Option<Value>,
    usedby: Option<Value>,
    #[serde(rename = "bingchatenabled")]
    _bingchatenabled: Option<Value>,
    #[serde(rename = "copilotpolicies")]
    _copilotpolicies: Option<Value>,
    governanceconfiguration: Option<Value>,
    linkedenvironmentmetadata: Option<LinkedMeta>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    location: Option<String>,
    #[serde(default)]
    properties: CreateProps,
}

fn language(v: &Option<Value>) -> Result<Option<u32>, SimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad_language(s)),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad_language(&n.to_string())),
        Some(other) => Err(bad_language(&other.to_string())),
    }
}

fn bad_language(v: &str) -> SimError {
    SimError::new(
        ErrorCode::InvalidBody,
        format!("The request content was invalid: baseLanguage must be a language id such as 1033, not {v}."),
    )
    .at("baseLanguage")
}

fn new_dataverse(m: &LinkedMeta) -> Result<NewDataverse, SimError> {
    Ok(NewDataverse {
        domain: m.domainname.clone(),
        language: language(&m.baselanguage)?,
        currency: Currency::code_of(m.currency.as_ref()),
        templates: m.templates.clone().unwrap_or_default(),
        security_group: pp::guid_field(m.securitygroupid.as_deref(), "securityGroupId")?,
    })
}

/// The domain's request for a create body; field errors name fields neutrally.
fn new_environment(body: &CreateBody) -> Result<NewEnvironment, SimError> {
    let p = &body.properties;
    let wants_dataverse = p.linkedenvironmentmetadata.is_some()
        || p.databasetype
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("CommonDataService"));
    Ok(NewEnvironment {
        display_name: p.displayname.clone().unwrap_or_default(),
        description: p.description.clone().unwrap_or_default(),
        sku: pp::sku(p.environmentsku.as_deref(), "environmentSku")?,
        location: body.location.clone().unwrap_or_default(),
        azure_region: p.azureregion.clone(),
        cadence: p.updatecadence.as_ref().and_then(|c| c.id.clone()),
        used_by: p.usedby.as_ref().is_some_and(|u| !u.is_null()),
        managed: p
            .governanceconfiguration
            .as_ref()
            .and_then(|g| g.get("protectionlevel"))
            .and_then(Value::as_str)
            .is_some_and(|l| l.eq_ignore_ascii_case("Standard")),
        dataverse: if wants_dataverse {
            Some(new_dataverse(
                p.linkedenvironmentmetadata
                    .as_ref()
                    .unwrap_or(&LinkedMeta::default()),
            )?)
        } else {
            None
        },
    })
}

/// How a create or update body spells a field the domain names neutrally: `location` at the top,
/// the Dataverse settings in `properties.linkedEnvironmentMetadata`, the rest in `properties`.
fn wire_field(field: &str) -> String {
    match pp::field_head(field) {
        ("location", _, _) => field.to_string(),
        (_, _, true) => format!("properties.linkedEnvironmentMetadata.{field}"),
        _ => format!("properties.{field}"),
    }
}

// ---- handlers ----

/// The whole list, as the real service answers it (no `nextLink`), in parts of
/// [`render::LIST_PART`] environments: each part takes the tenant's lock, renders and lets go, so
/// a list of 100,000 neither holds the tenant for its whole serialisation nor sits in memory
/// whole. A list that fits one part answers with a `Content-Length`; a longer one is chunked.
/// Environments created while a long list streams appear in it if they come after its place;
/// those deleted are left out.
async fn list(State(state): State<Arc<AppState>>, caller: Caller, q: PpQuery) -> Answer {
    let (first, next) = {
        let (actor, t, now) = open(&state, &caller)?;
        render::list_part(&t, &actor, &q, now, 0)
    };
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    let Some(next) = next else {
        return Ok((json, first).into_response());
    };
    let rest = futures_util::stream::unfold(Some(next), move |from| {
        let (state, caller, q) = (state.clone(), caller.clone(), q.clone());
        async move {
            let from = from?;
            let part = match open(&state, &caller) {
                Ok((actor, t, now)) => render::list_part(&t, &actor, &q, now, from),
                // The caller is gone (deleted mid-list): close the list where it stands.
                Err(_) => (b"]}".to_vec(), None),
            };
            Some((Ok::<_, std::convert::Infallible>(part.0), part.1))
        }
    });
    let first = futures_util::stream::once(std::future::ready(Ok(first)));
    let body = axum::body::Body::from_stream(futures_util::StreamExt::chain(first, rest));
    Ok((json, body).into_response())
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(env): axum::extract::Path<String>,
    q: PpQuery,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, now) = open(&state, &caller)?;
    let e = t.ppac(&actor).environment(&id)?;
    let mut out = Vec::with_capacity(4096);
    render::write_environment(&mut out, &t, e, &q, now);
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    Ok((json, out).into_response())
}

async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    PpJson(body): PpJson<CreateBody>,
) -> Answer {
    let spec = new_environment(&body).map_err(|e| e.respelled(wire_field))?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let (id, op) = t
        .ppac_mut(&actor)
        .create(spec, now)
        .map_err(|e| e.respelled(wire_field))?;
    let body = t
        .ppac(&actor)
        .environment(&id)
        .map(|e| environment(&t, e, &q, now).value())
        .ok();
    Ok(accepted(&state, &t, &base, &q, op, now, body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateDetails {
    domainname: Option<String>,
    #[serde(rename = "environmentlocation")]
    _environmentlocation: Option<String>,
    environmentname: Option<String>,
}

async fn validate_details(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PpJson(body): PpJson<ValidateDetails>,
) -> Answer {
    let (_, t, now) = open(&state, &caller)?;
    let except = body.environmentname.as_deref().map(env_id).transpose()?;
    crate::world::ppac::capacity::check_domain(
        &t.state,
        body.domainname.as_deref().unwrap_or(""),
        except.as_ref(),
        now,
    )?;
    Ok(StatusCode::OK.into_response())
}

async fn provision_instance(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<LinkedMeta>,
) -> Answer {
    let id = env_id(&env)?;
    let spec = new_dataverse(&body)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_mut(&actor).provision_instance(&id, spec, now)?;
    let body = t
        .ppac(&actor)
        .environment(&id)
        .map(|e| environment(&t, e, &q, now).value())
        .ok();
    Ok(accepted(&state, &t, &base, &q, op, now, body))
}

#[derive(Debug, Deserialize, Default)]
struct RuntimeState {
    id: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct States {
    runtime: Option<RuntimeState>,
}

#[derive(Debug, Deserialize, Default)]
struct PatchMeta {
    backgroundoperationsstate: Option<String>,
    domainname: Option<String>,
}

/// PATCH takes the whole environment object back (Terraform sends its full DTO), so members it
/// does not change are accepted and ignored.
#[derive(Debug, Deserialize, Default)]
struct PatchProps {
    displayname: Option<String>,
    description: Option<String>,
    states: Option<States>,
    linkedenvironmentmetadata: Option<PatchMeta>,
    updatecadence: Option<IdObj>,
}

#[derive(Debug, Deserialize, Default)]
struct PatchBody {
    #[serde(default)]
    properties: PatchProps,
}

fn enabled(text: &str, field: &str, on: &str, off: &str) -> Result<bool, SimError> {
    if text.eq_ignore_ascii_case(on) {
        Ok(true)
    } else if text.eq_ignore_ascii_case(off) {
        Ok(false)
    } else {
        Err(SimError::new(
            ErrorCode::InvalidBody,
            format!(
                "The request content was invalid: {field} must be {on} or {off}, not '{text}'."
            ),
        )
        .at(field))
    }
}

async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<PatchBody>,
) -> Answer {
    let id = env_id(&env)?;
    let p = body.properties;
    let meta = p.linkedenvironmentmetadata.unwrap_or_default();
    let patch = EnvironmentPatch {
        display_name: p.displayname,
        description: p.description,
        admin_mode: p
            .states
            .and_then(|s| s.runtime)
            .and_then(|r| r.id)
            .map(|id| enabled(&id, "properties.states.runtime.id", "AdminMode", "Enabled"))
            .transpose()?,
        background_operations: meta
            .backgroundoperationsstate
            .map(|s| {
                enabled(
                    &s,
                    "properties.linkedEnvironmentMetadata.backgroundOperationsState",
                    "Enabled",
                    "Disabled",
                )
            })
            .transpose()?,
        domain: meta.domainname,
        cadence: p.updatecadence.and_then(|c| c.id),
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    match t
        .ppac_mut(&actor)
        .update(&id, patch, now)
        .map_err(|e| e.respelled(wire_field))?
    {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(op) => Ok(accepted(&state, &t, &base, &q, op, now, None)),
    }
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
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<SkuBody>,
) -> Answer {
    let id = env_id(&env)?;
    let Some(target) = pp::sku(body.environmentsku.as_deref(), "environmentSku")? else {
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
        accepted(&state, &t, &base, &q, op, now, None),
        warning,
    ))
}

async fn validate_delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(env): axum::extract::Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, _) = open(&state, &caller)?;
    let check = t.ppac(&actor).validate_delete(&id)?;
    let mut v = json!({
        "canInitiateDelete": check.can_delete,
        "resourcesToBeDeleted": check.resources.iter().map(|(k, n)| json!({"type": k, "name": n})).collect::<Vec<_>>(),
    });
    if let Some(r) = check.refusal {
        v["errors"] = json!([{"code": wire_code(r.code), "message": r.message, "reasonType": r.reason.as_str()}]);
    }
    Ok(Json(v).into_response())
}

#[derive(Debug, Deserialize, Default)]
struct DeleteBody {
    #[serde(rename = "code")]
    _code: Option<Value>,
    #[serde(rename = "message")]
    _message: Option<Value>,
}

async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(_body): PpJson<DeleteBody>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    match t.ppac_mut(&actor).delete(&id, now) {
        Ok(op) => Ok(accepted(&state, &t, &base, &q, op, now, None)),
        // The real service answers a conflicting DELETE with 409 and no body at all.
        Err(e) if e.code == ErrorCode::OperationNotStartable => Ok(e.bodiless()),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyBody {
    sourceenvironmentid: Option<String>,
    targetenvironmentname: Option<String>,
    targetsecuritygroupid: Option<String>,
    copytype: Option<String>,
    #[serde(rename = "skipauditdata")]
    _skipauditdata: Option<Value>,
    #[serde(rename = "executeadvancedcopyforfinanceandoperations")]
    _executeadvancedcopyforfinanceandoperations: Option<Value>,
}

fn required(text: Option<String>, field: &str) -> Result<String, SimError> {
    text.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        SimError::new(
            ErrorCode::InvalidBody,
            format!("The request content was invalid: '{field}' is required."),
        )
        .at(field)
    })
}

async fn copy_to(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<CopyBody>,
) -> Answer {
    let target = env_id(&env)?;
    let req = CopyRequest {
        source: env_id(&required(body.sourceenvironmentid, "SourceEnvironmentId")?)?,
        full: copy_kind(body.copytype.as_deref())?,
        name: body.targetenvironmentname.filter(|n| !n.trim().is_empty()),
        security_group: pp::guid_field(
            body.targetsecuritygroupid.as_deref(),
            "TargetSecurityGroupId",
        )?,
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_mut(&actor).copy(&target, req, now)?;
    Ok(accepted(&state, &t, &base, &q, op, now, None))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    label: Option<String>,
    notes: Option<String>,
}

async fn backup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<BackupBody>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let b = t
        .ppac_mut(&actor)
        .backup(&id, body.label, body.notes, now)?;
    Ok(Json(backup_json(&t, &b)).into_response())
}

async fn backups(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(env): axum::extract::Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, t, now) = open(&state, &caller)?;
    let list: Vec<Value> = t
        .ppac(&actor)
        .backups(&id, now)?
        .into_iter()
        .map(|b| backup_json(&t, b))
        .collect();
    Ok(Json(pp::wrap("value", list)).into_response())
}

async fn delete_backup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path((env, backup)): axum::extract::Path<(String, String)>,
) -> Answer {
    let id = env_id(&env)?;
    let backup = pp::backup_id(&backup)?;
    let (actor, mut t, _) = open(&state, &caller)?;
    t.ppac_mut(&actor).delete_backup(&id, backup)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    sourceenvironmentid: Option<String>,
    targetenvironmentname: Option<String>,
    targetsecuritygroupid: Option<String>,
    restorepointdatetime: Option<String>,
    backupid: Option<String>,
    #[serde(rename = "skipauditdata")]
    _skipauditdata: Option<Value>,
}

async fn restore_to(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<RestoreBody>,
) -> Answer {
    let target = env_id(&env)?;
    let req = RestoreRequest {
        source: env_id(&required(body.sourceenvironmentid, "SourceEnvironmentId")?)?,
        point: body
            .restorepointdatetime
            .as_deref()
            .filter(|p| !p.trim().is_empty() && !p.eq_ignore_ascii_case("latest"))
            .map(|p| pp::time_field(p, "RestorePointDateTime"))
            .transpose()?,
        backup: pp::guid_field(body.backupid.as_deref(), "BackupId")?,
        name: body.targetenvironmentname.filter(|n| !n.trim().is_empty()),
        security_group: pp::guid_field(
            body.targetsecuritygroupid.as_deref(),
            "TargetSecurityGroupId",
        )?,
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_mut(&actor).restore(&target, req, now)?;
    Ok(accepted(&state, &t, &base, &q, op, now, None))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    friendlyname: Option<String>,
    domainname: Option<String>,
    #[serde(rename = "purpose")]
    _purpose: Option<Value>,
    baselanguagecode: Option<Value>,
    currency: Option<Currency>,
    securitygroupid: Option<String>,
    templates: Option<Vec<String>>,
}

async fn reset(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
    PpJson(body): PpJson<ResetBody>,
) -> Answer {
    let id = env_id(&env)?;
    let spec = NewDataverse {
        domain: body.domainname,
        language: language(&body.baselanguagecode)?,
        currency: Currency::code_of(body.currency.as_ref()),
        templates: body.templates.unwrap_or_default(),
        security_group: pp::guid_field(body.securitygroupid.as_deref(), "SecurityGroupId")?,
    };
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_mut(&actor).reset(
        &id,
        body.friendlyname.filter(|n| !n.trim().is_empty()),
        spec,
        now,
    )?;
    Ok(accepted(&state, &t, &base, &q, op, now, None))
}

async fn operation(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    q: PpQuery,
    axum::extract::Path(op): axum::extract::Path<String>,
) -> Answer {
    let id = OperationId::parse(&op).map_err(|_| {
        SimError::new(
            ErrorCode::OperationNotFound,
            format!("The lifecycle operation '{op}' could not be found."),
        )
    })?;
    let (actor, t, now) = open(&state, &caller)?;
    let (lo, o) = t.ppac(&actor).operation(id)?;
    let mut body = lifecycle_json(&t, lo, o, now);
    if lo.op_type == ppac::OpType::Provision
        && let Ok(e) = t.ppac(&actor).environment(lo.env)
    {
        // Terraform polls provisionInstance's Location expecting the environment itself.
        let mut env = environment(&t, e, &q, now).value();
        body["name"] = env["name"].take();
        body["properties"] = env["properties"].take();
    }
    Ok(pp::poll_answer(&state, &q, o, now, body))
}

async fn operations(State(state): State<Arc<AppState>>, caller: Caller, q: PpQuery) -> Answer {
    let (actor, t, now) = open(&state, &caller)?;
    let filter = q
        .get("$filter")
        .and_then(|f| f.split('\'').nth(1))
        .map(env_id)
        .transpose()?;
    let list: Vec<Value> = match filter {
        Some(env) => t
            .ppac(&actor)
            .operations_of(&env)?
            .into_iter()
            .map(|(lo, o)| lifecycle_json(&t, lo, o, now))
            .collect(),
        None => t
            .ppac(&actor)
            .all_operations()
            .map(|(lo, o)| lifecycle_json(&t, lo, o, now))
            .collect(),
    };
    Ok(Json(pp::wrap("value", list)).into_response())
}

async fn deleted(State(state): State<Arc<AppState>>, caller: Caller, q: PpQuery) -> Answer {
    let (actor, t, now) = open(&state, &caller)?;
    let value: Vec<_> = t
        .ppac(&actor)
        .deleted(now)
        .map(|e| environment(&t, e, &q, now))
        .collect();
    Ok(Json(pp::Listed { value }).into_response())
}

async fn recover(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base: BaseUrl,
    q: PpQuery,
    axum::extract::Path(env): axum::extract::Path<String>,
) -> Answer {
    let id = env_id(&env)?;
    let (actor, mut t, now) = open(&state, &caller)?;
    let op = t.ppac_mut(&actor).recover(&id, now)?;
    Ok(accepted(&state, &t, &base, &q, op, now, None))
}

async fn tenant(State(state): State<Arc<AppState>>, caller: Caller) -> Answer {
    let (_, t, _) = open(&state, &caller)?;
    Ok(Json(json!({
        "tenantId": t.id().0,
        "state": "Enabled",
        "location": "unitedstates",
        "aadCountryGeo": "unitedstates",
        "dataStorageGeo": "unitedstates",
        "defaultEnvironmentGeo": "unitedstates",
        "aadDataBoundary": "none",
        "fedRAMPHighCertificationRequired": false,
    }))
    .into_response())
}

async fn settings(State(state): State<Arc<AppState>>, caller: Caller) -> Answer {
    let (_, t, _) = open(&state, &caller)?;
    Ok(Json(crate::world::ppac::tenancy::settings(&t.state)).into_response())
}

async fn update_settings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Answer {
    let patch: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            SimError::new(
                ErrorCode::InvalidJson,
                format!("The request content was invalid and could not be deserialized: '{e}'."),
            )
        })?
    };
    let (actor, mut t, _) = open(&state, &caller)?;
    if !actor.admin {
        return Err(SimError::new(
            ErrorCode::Forbidden,
            "Only Global admins, Dynamics 365 admins and Power Platform admins can change tenant settings.",
        ));
    }
    Ok(Json(crate::world::ppac::tenancy::update_settings(
        &mut t.state,
        &patch,
    )?)
    .into_response())
}
