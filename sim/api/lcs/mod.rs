//! The LCS public API (`lcsapi.*` hosts): database movement, environment info, start/stop,
//! package deployment and the asset library, with the paths, PascalCase fields, envelope and
//! status vocabulary real clients (d365fo.tools, Azure DevOps tasks) depend on.
//!
//! Every answer carries the base envelope `IsSuccess`, `OperationActivityId`, `ErrorMessage`,
//! `VersionEOL`. Business failures are HTTP 200 with `IsSuccess: false` (as documented: "always
//! 200 unless you aren't correctly authenticated"); a missing or bad token is 401; throttled calls
//! are 429 with `Retry-After` in whole seconds. Paths tolerate double slashes and a trailing slash
//! before the query (normalised before routing).
//!
//! Here: the routes, the error envelope and the handlers of database movement, environment info,
//! start/stop and package deployment; `assets` is the asset library, `wire` the success envelope,
//! dates and the plumbing the handlers share.

mod assets;
mod wire;

use self::assets::{
    commit_asset, create_asset, delete_asset, get_asset, list_assets, shared_assets,
    validation_status,
};
use self::wire::{Page, asset_sas, base, budget, env_id, lcs_date, ok, open, throttle, us_date};
use super::caller::Caller;
use super::envelope::{Envelope, envelope, status};
use super::extract::{ApiPath, ApiQuery, BaseUrl};
use super::sas::Access;
use crate::api::routes::{Routes, Surface, get, post};
use crate::clock;
use crate::error::{ErrorClass, ErrorCode, SimError};
use crate::state::AppState;
use crate::world::identity::ObjectId;
use crate::world::lcs::files::{self};
use crate::world::lcs::{
    Activity, AssetId, Budget, EnvironmentId, FileType, FoEnvironment, FoView, ProjectId,
    Validation, Via,
};
use crate::world::operations::Work;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::SignedDuration;
use rand::RngExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Items per page of the environment-info listings.
const PAGE_SIZE: usize = 20;

/// The LCS routes, with the LCS envelope.
pub fn router(state: Arc<AppState>) -> Routes {
    const DB: &str = "/databasemovement/v1";
    const INFO: &str = "/environmentinfo/v1";
    const ENV: &str = "project/{project}/environment/{env}";
    const BOX: &str = "/box/fileasset";
    let fetch = "Status of a database movement or package deployment operation";
    Routes::new(Surface::Lcs)
        .route(
            &format!("{DB}/databases/project/{{project}}"),
            get(backups, "The project's database backups (asset library)"),
        )
        .route(
            &format!("{DB}/refresh/project/{{project}}/source/{{source}}/target/{{target}}"),
            post(
                refresh,
                "Refresh a sandbox's database from another environment",
            ),
        )
        .route(
            &format!("{DB}/export/{ENV}/backupName/{{name}}"),
            post(
                export,
                "Export an environment's database to a bacpac in the asset library",
            ),
        )
        .route(
            &format!("{DB}/fetchstatus/{ENV}/operationactivity/{{activity}}"),
            get(fetch_status, fetch),
        )
        .route(
            &format!("{INFO}/detail/project/{{project}}"),
            get(metadata, "Environment metadata of a project (paged)"),
        )
        .route(
            &format!("{INFO}/history/{ENV}"),
            get(history, "An environment's operation history (paged)"),
        )
        .route(
            &format!("{INFO}/rsatdownload/{ENV}"),
            get(rsat, "The RSAT certificate of an environment"),
        )
        .route(
            &format!("/environment/v1/start/{ENV}"),
            post(start, "Start a customer-managed environment"),
        )
        .route(
            &format!("/environment/v1/stop/{ENV}"),
            post(stop, "Stop a customer-managed environment"),
        )
        .route(
            &format!("/environment/v2/applyupdate/{ENV}/asset/{{asset}}"),
            post(
                apply_update,
                "Deploy a software deployable package from the asset library",
            ),
        )
        .route(
            &format!("/environment/v2/fetchstatus/{ENV}/operationactivity/{{activity}}"),
            get(fetch_status, fetch),
        )
        .route(
            &format!("{BOX}/CreateFileAsset/{{project}}"),
            post(
                create_asset,
                "Create a file asset; answers a SAS URL to upload it to",
            ),
        )
        .route(
            &format!("{BOX}/CommitFileAsset/{{project}}"),
            post(commit_asset, "Commit an uploaded file asset"),
        )
        .route(
            &format!("{BOX}/GetFileAssetValidationStatus/{{project}}"),
            get(
                validation_status,
                "Validation status of a committed file asset",
            ),
        )
        .route(
            &format!("{BOX}/GetAssets/{{project}}"),
            get(list_assets, "The project's assets of a type"),
        )
        .route(
            &format!("{BOX}/GetSharedAssets"),
            get(shared_assets, "Shared assets of a type"),
        )
        .route(
            &format!("{BOX}/GetFileAsset/{{project}}"),
            get(get_asset, "One asset with its download URL"),
        )
        .route(
            &format!("{BOX}/DeleteFileAsset/{{project}}"),
            post(delete_asset, "Delete an asset"),
        )
        .catch_all("/databasemovement/{*rest}", any(no_resource))
        .catch_all("/environmentinfo/{*rest}", any(no_resource))
        .catch_all("/environment/{*rest}", any(no_resource))
        .catch_all("/box/{*rest}", any(no_resource))
        .map(|r| {
            r.method_not_allowed_fallback(not_this_method)
                .layer(middleware::from_fn_with_state(state, envelope::<LcsApi>))
        })
}

async fn no_resource(uri: axum::http::Uri) -> SimError {
    SimError::new(
        ErrorCode::RouteNotFound,
        format!(
            "No HTTP resource was found that matches the request URI '{}'. Check the path against \
             the LCS API reference (the README lists the routes the simulator serves)",
            uri.path()
        ),
    )
}

async fn not_this_method(method: axum::http::Method) -> SimError {
    SimError::new(
        ErrorCode::MethodNotAllowed,
        format!("The requested resource does not support http method '{method}'."),
    )
}

// ---- envelope ----
/// LCS's envelope for errors.
pub struct LcsApi;

impl Envelope for LcsApi {
    const SURFACE: Surface = Surface::Lcs;

    /// By class, as LCS answers: a 401 challenge; `{"Message"}` for an unknown route, a method not
    /// allowed and a body too large; a 5xx with `ExceptionMessage`; every other refusal, injected
    /// ones included, as `200 {"IsSuccess": false, "ErrorMessage"}` (429 keeps its status).
    fn render(state: &AppState, error: &SimError, _correlation: Option<Uuid>) -> Response {
        let activity = state.trace_id();
        let mut response = match error.class() {
            ErrorClass::Unauthorized => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({
                        "Message": "Authorization has been denied for this request.",
                        "MessageDetail": error.message,
                    })),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ErrorClass::NotFound if error.code == ErrorCode::RouteNotFound => (
                StatusCode::NOT_FOUND,
                Json(json!({ "Message": error.message })),
            )
                .into_response(),
            ErrorClass::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({ "Message": error.message })),
            )
                .into_response(),
            ErrorClass::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({ "Message": error.message })),
            )
                .into_response(),
            ErrorClass::Internal => (
                status(error),
                Json(json!({ "Message": "An error has occurred.", "ExceptionMessage": error.message })),
            )
                .into_response(),
            class => {
                let mut body = base(activity);
                body.insert("IsSuccess".into(), json!(false));
                body.insert("ErrorMessage".into(), json!(error.message));
                let status = if class == ErrorClass::TooManyRequests {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::OK
                };
                (status, Json(Value::Object(body))).into_response()
            }
        };
        if let Ok(v) = HeaderValue::from_str(&activity.to_string()) {
            response.headers_mut().insert("activity-id", v);
        }
        response
    }
}

// ---- database movement ----

async fn backups(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    base_url: BaseUrl,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let (user, tenant, now) = open(&state, &caller)?;
    let p = tenant.project_for(project, user)?;
    let assets: Vec<Value> = p
        .assets
        .iter()
        .filter(|a| a.file_type == FileType::BACKUP && a.validation(now) == Validation::Valid)
        .map(|a| {
            json!({
                "Id": a.id,
                "ProjectId": project.0,
                "OrganizationId": 1,
                "Name": a.name,
                "FileName": a.file_name,
                "FileDescription": a.description.clone().unwrap_or_default(),
                "FileLocation": asset_sas(&state, &base_url, &tenant, a, Access::Read, now),
                "ModifiedDateTime": lcs_date(a.modified),
                "CreatedDateTime": lcs_date(a.created),
                "CreatedByName": a.created_by,
                "ModifiedByName": a.created_by,
            })
        })
        .collect();
    Ok(ok(state.trace_id(), json!({ "DatabaseAssets": assets })))
}

async fn refresh(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, source, target)): ApiPath<(String, String, String)>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let (source, target) = (env_id(&source)?, env_id(&target)?);
    let refused = {
        let (user, mut tenant, now) = open(&state, &caller)?;
        match tenant.database_refresh(project, user, source, target, Via::Api, now) {
            Ok(id) => return Ok(ok(id.0, json!({}))),
            Err(e) if e.code == ErrorCode::EnvironmentNotFound => e,
            Err(e) => return Err(e),
        }
    };
    // Released the caller's tenant first: the cross-tenant rule looks at every other tenant.
    for env in [source, target] {
        if state
            .world
            .lcs_environment_elsewhere(env, caller.tenant_id, state.clock.now())
        {
            return Err(crate::world::lcs::foreign_environment(env));
        }
    }
    Err(refused)
}

async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env, name)): ApiPath<(String, String, String)>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    let id = tenant.database_export(project, user, env, &name, now)?;
    Ok(ok(id.0, json!({})))
}

fn status_fields<P>(
    project: ProjectId,
    env: EnvironmentId,
    a: Activity<'_, P>,
) -> (Value, Option<String>) {
    (
        json!({
            "ProjectId": project.0,
            "EnvironmentId": env,
            "ActivityId": a.entry.activity,
            "CompletionDate": a.ended().map(lcs_date),
            "OperationStatus": a.status().as_str(),
        }),
        a.error().map(str::to_string),
    )
}

async fn fetch_status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env, activity)): ApiPath<(String, String, String)>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let (user, tenant, _) = open(&state, &caller)?;
    let h = tenant.activity(project, user, env, &activity)?;
    let (fields, error) = status_fields(project, env, h);
    let mut answer = ok(state.trace_id(), fields);
    if let Some(error) = error {
        answer.0["ErrorMessage"] = json!(error);
    }
    Ok(answer)
}

// ---- environment info ----

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    page: Option<String>,
    #[serde(rename = "environmentId")]
    environment_id: Option<String>,
    #[serde(rename = "environmentName")]
    environment_name: Option<String>,
}

fn page_number(page: Option<&str>) -> Result<usize, SimError> {
    match page.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(1),
        Some(p) => p.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidQuery,
                format!("page must be a whole number from 1, not '{p}'"),
            )
            .at("page")
        }),
    }
}

/// One page of `items`, rendering only the items on it.
fn paged<T, R: serde::Serialize>(
    items: impl Iterator<Item = T>,
    page: usize,
    render: impl Fn(T) -> R,
    activity: Uuid,
) -> Json<Page<R>> {
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let mut rest = items.skip(start);
    let data: Vec<R> = rest.by_ref().take(PAGE_SIZE).map(render).collect();
    let more = rest.next().is_some();
    Json(Page::new(activity, page, more, data))
}

/// An environment as the environment metadata (detail) list shows it.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataItem<'a> {
    environment_id: Uuid,
    environment_name: &'a str,
    project_id: u64,
    environment_infrastructure: &'static str,
    environment_type: &'static str,
    environment_group: &'static str,
    environment_product: &'static str,
    environment_endpoint_base_url: &'a str,
    deployment_state: &'static str,
    topology_display_name: String,
    current_application_build_version: String,
    current_application_release_name: String,
    current_platform_release_name: String,
    current_platform_version: String,
    #[serde(rename = "DeployedOnUTC")]
    deployed_on_utc: Option<String>,
    cloud_storage_location: &'a str,
    disaster_recovery_location: &'a str,
    deployment_status_display: &'static str,
    can_start: bool,
    can_stop: bool,
}

fn metadata_item<'a, P>(project: ProjectId, e: FoView<'a, P>) -> MetadataItem<'a> {
    let env: &'a FoEnvironment = e.env();
    MetadataItem {
        environment_id: env.id.0,
        environment_name: &env.name,
        project_id: project.0,
        environment_infrastructure: env.infrastructure.as_str(),
        environment_type: env.env_type.as_str(),
        environment_group: "Primary",
        environment_product: "Finance and Operations",
        environment_endpoint_base_url: &env.url,
        deployment_state: e.deployment_state(),
        topology_display_name: env.topology_label(),
        current_application_build_version: env.release.application_build(),
        current_application_release_name: env.release.to_string(),
        current_platform_release_name: env.release.platform_release_name(),
        current_platform_version: env.release.platform_version(),
        deployed_on_utc: env.deployed_on.map(us_date),
        cloud_storage_location: env.region.name,
        disaster_recovery_location: env.region.pair,
        deployment_status_display: e.status_display(),
        can_start: e.can_start(),
        can_stop: e.can_stop(),
    }
}

async fn metadata(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<DetailQuery>,
) -> Result<Response, SimError> {
    let project = ProjectId::parse(&project)?;
    let page = page_number(query.page.as_deref())?;
    let wanted_id = query
        .environment_id
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(|v| env_id(v).map_err(|e| e.at("environmentId")))
        .transpose()?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.project_for(project, user)?;
    throttle(
        &state,
        &mut tenant,
        &[budget(
            format!("detail:{project}"),
            6,
            60,
            "6 calls per project per minute",
        )],
        "environmentinfo/v1/detail",
        now,
    )?;
    let p = tenant.project_for(project, user)?;
    let name = query
        .environment_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    // An id or a name picks one environment through the project's indexes; neither lists all.
    let one = match (wanted_id, name) {
        (Some(id), _) => Some(p.environment(id).ok()),
        (None, Some(n)) => Some(p.environment_named(n)),
        (None, None) => None,
    };
    let items: Box<dyn Iterator<Item = &FoEnvironment>> = match one {
        Some(found) => Box::new(
            found
                .filter(|e| name.is_none_or(|n| e.name.eq_ignore_ascii_case(n)))
                .into_iter(),
        ),
        None => Box::new(p.environments().iter()),
    };
    Ok(paged(
        items,
        page,
        |e| metadata_item(project, tenant.fo(e)),
        state.trace_id(),
    )
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    page: Option<String>,
}

async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let page = page_number(query.page.as_deref())?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.project_for(project, user)?.environment(env)?;
    throttle(
        &state,
        &mut tenant,
        &[
            budget(
                format!("history-env:{env}"),
                6,
                30,
                "6 calls per environment per 30 seconds",
            ),
            budget(
                format!("history:{project}"),
                6,
                60,
                "6 calls per project per minute",
            ),
        ],
        "environmentinfo/v1/history",
        now,
    )?;
    let e = tenant.project_for(project, user)?.environment(env)?;
    let render = |a: Activity<'_, Work>| {
        let h = a.entry;
        json!({
            "Name": h.name,
            "Type": h.kind.as_str(),
            "TypeDisplay": h.kind.display(),
            "StartDateTimeUTC": lcs_date(h.started),
            "EndDateTimeUTC": a.ended().map(lcs_date),
            "Status": a.status().as_str(),
            "ActivityId": h.activity.0.simple().to_string(),
            "EnvironmentId": env.simple(),
            "ProjectId": project.0,
        })
    };
    Ok(paged(tenant.fo(e).history(), page, render, state.trace_id()).into_response())
}

async fn rsat(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.project_for(project, user)?.environment(env)?;
    throttle(
        &state,
        &mut tenant,
        &[budget(
            format!("rsat:{env}"),
            1,
            60,
            "1 call per environment per minute",
        )],
        "environmentinfo/v1/rsatdownload",
        now,
    )?;
    let password: String = {
        let rng = &mut tenant.state.rng;
        (0..24)
            .map(|_| {
                const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
                CHARS[rng.random_range(0..CHARS.len())] as char
            })
            .collect()
    };
    let e = tenant.project_for(project, user)?.environment(env)?;
    let thumbprint: String = format!(
        "{:032X}{:08X}",
        e.id.0.as_u128() ^ 0x5a5a,
        e.id.0.as_u128() as u32 ^ 0xA5A5_A5A5
    );
    let bundle = files::rsat_bundle(&e.name, &thumbprint, &password, now);
    let expires = clock::saturating_add(now, SignedDuration::from_hours(365 * 24));
    Ok(ok(
        state.trace_id(),
        json!({
            "ResultPageCurrent": 1,
            "ResultHasMorePages": false,
            "Data": {
                "CertificateZipEncoded": BASE64.encode(&bundle.zip),
                "CertificateSecretEncoded": BASE64.encode(bundle.password.as_bytes()),
                "CertificateThumbprint": bundle.thumbprint,
                "ExpirationDateTimeUTC": expires.strftime("%A, %B %-d, %Y %-I:%M:%S %p").to_string(),
                "ExpirationISODateTimeUTC": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "Filename": bundle.file_name,
            }
        }),
    ))
}

// ---- start / stop / package deployment ----

fn start_stop_budgets(action: &str, env: EnvironmentId, user: ObjectId) -> [Budget; 2] {
    [
        budget(
            format!("{action}:{env}"),
            1,
            300,
            "1 call per environment per 5 minutes",
        ),
        budget(
            format!("{action}-user:{user}"),
            30,
            1800,
            "30 calls per user per 30 minutes",
        ),
    ]
}

async fn start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.project_for(project, user)?.environment(env)?;
    throttle(
        &state,
        &mut tenant,
        &start_stop_budgets("start", env, user),
        "environment/v1/start",
        now,
    )?;
    let id = tenant.start_environment(project, user, env, now)?;
    Ok(ok(
        id.map_or_else(|| state.trace_id(), |id| id.0),
        json!({}),
    ))
}

async fn stop(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    tenant.project_for(project, user)?.environment(env)?;
    throttle(
        &state,
        &mut tenant,
        &start_stop_budgets("stop", env, user),
        "environment/v1/stop",
        now,
    )?;
    let id = tenant.stop_environment(project, user, env, now)?;
    Ok(ok(id.0, json!({})))
}

#[derive(Debug, Default, Deserialize)]
struct UpdateQuery {
    #[serde(rename = "updateName")]
    update_name: Option<String>,
}

async fn apply_update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env, asset)): ApiPath<(String, String, String)>,
    ApiQuery(query): ApiQuery<UpdateQuery>,
) -> Result<Json<Value>, SimError> {
    let project = ProjectId::parse(&project)?;
    let env = env_id(&env)?;
    let asset = AssetId::parse(&asset)?;
    let (user, mut tenant, now) = open(&state, &caller)?;
    let id = tenant.apply_package(project, user, env, asset, query.update_name.as_deref(), now)?;
    Ok(ok(id.0, json!({})))
}
