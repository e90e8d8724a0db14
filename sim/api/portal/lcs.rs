//! `/_portal/lcs`: what the LCS pages can do and the public API cannot: projects and members,
//! deploying environments, deallocate and delete, database import, point-in-time restore, the
//! portal's database refresh, and environment details.

use crate::api::caller::Caller;
use crate::api::extract::{ApiJson, ApiPath};
use crate::api::routes::{Routes, Surface, get, post};
use crate::api::views::{EnvironmentSummary, OperationDto, ProjectSummary};
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::input::lcs::EnvironmentBody;
use crate::ops::OperationId;
use crate::state::AppState;
use crate::world::identity::ObjectId;
use crate::world::integration::views::AddinView;
use crate::world::integration::{ADDINS, SetupRequest};
use crate::world::lcs::{
    Activity, AssetId, DataOrigin, EnvironmentId, FoEnvironment, Project, ProjectId, ProjectRole,
    Via,
};
use crate::world::ppac::{PackageState, PpEnvId};
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The LCS portal routes.
pub fn router() -> Routes {
    const ENV: &str = "/projects/{project}/environments/{env}";
    let env = |path: &str| format!("{ENV}{path}");
    Routes::new(Surface::Portal)
        .route(
            "/projects",
            get(projects_list, "The caller's LCS projects")
                .post(projects_create, "Create an LCS project"),
        )
        .route(
            "/projects/{project}",
            get(project_get, "One project with its members"),
        )
        .route(
            "/projects/{project}/members",
            post(members_set, "Set a project's members and their roles"),
        )
        .route(
            "/projects/{project}/environments",
            get(
                environments_list,
                "The project's environments (portal view)",
            )
            .post(
                environments_deploy,
                "Deploy an environment (202 with the operation)",
            ),
        )
        .route(
            ENV,
            get(
                environment_get,
                "Environment details, with the Power Platform integration section",
            )
            .patch(
                environment_patch,
                "Refused: LCS cannot change an environment's type",
            )
            .delete(
                environment_delete,
                "Delete the environment (frees a Power Platform link)",
            ),
        )
        .route(
            &env("/deallocate"),
            post(environment_deallocate, "Deallocate the environment"),
        )
        .route(
            &env("/refresh"),
            post(
                environment_refresh,
                "Database refresh from another environment, as the portal does it",
            ),
        )
        .route(
            &env("/import"),
            post(environment_import, "Import a database backup (sandbox)"),
        )
        .route(
            &env("/point-in-time-restore"),
            post(environment_pitr, "Point-in-time restore"),
        )
        .route(
            &env("/power-platform-integration"),
            get(integration_get, "The Power Platform integration section").post(
                integration_setup,
                "Set up Power Platform integration (new or existing Dataverse environment)",
            ),
        )
        .route(
            &env("/power-platform-integration/resume"),
            post(
                integration_resume,
                "Resume a failed setup from its failed stage",
            ),
        )
        .route(
            &env("/addins"),
            get(addins_list, "Installed add-ins")
                .post(addins_install, "Install an add-in (after integration)"),
        )
        .route(
            &env("/dual-write"),
            post(
                dual_write_enable,
                "Enable the dual-write application (after integration)",
            ),
        )
}

// ---- responses ----

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectDto {
    id: u64,
    name: String,
    created_at: Timestamp,
    members: Vec<MemberDto>,
    environments: Vec<EnvironmentSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberDto {
    upn: String,
    object_id: ObjectId,
    role: &'static str,
}

fn project_dto(tenant: &Tenant, p: &Project) -> ProjectDto {
    ProjectDto {
        id: p.id.0,
        name: p.name.clone(),
        created_at: p.created,
        members: p
            .members
            .iter()
            .map(|m| MemberDto {
                upn: tenant
                    .state
                    .user_by_id(m.user)
                    .map_or_else(String::new, |u| u.upn.to_string()),
                object_id: m.user,
                role: m.role.as_str(),
            })
            .collect(),
        environments: ProjectSummary::new(tenant, p).environments,
    }
}

/// An environment as its details page shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentDto {
    id: EnvironmentId,
    project_id: u64,
    name: String,
    #[serde(rename = "type")]
    env_type: &'static str,
    infrastructure: &'static str,
    topology: String,
    region: &'static str,
    disaster_recovery_region: &'static str,
    application_release: String,
    application_build: String,
    platform_release: String,
    platform_version: String,
    administrator: Option<String>,
    url: String,
    state: &'static str,
    status: &'static str,
    created_at: Timestamp,
    deployed_on: Option<Timestamp>,
    database: DatabaseDto,
    can_start: bool,
    can_stop: bool,
    running_operation: Option<OperationDto>,
    packages: Vec<String>,
    power_platform_integration: IntegrationDto,
    history: Vec<HistoryDto>,
}

/// The "Power Platform integration" section of the details page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationDto {
    state: &'static str,
    status_message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<IntegrationError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataverse_environment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataverse_environment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataverse_environment_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataverse_environment_type: Option<&'static str>,
    dual_write: &'static str,
    addins: Vec<AddinDto>,
    actions: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<OperationDto>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationError {
    code: String,
    message: String,
    stage: String,
}

/// An add-in as the details page lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddinDto {
    name: &'static str,
    unique_name: &'static str,
    state: &'static str,
    settings: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_id: Option<OperationId>,
    requested_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<&AddinView<'_>> for AddinDto {
    fn from(a: &AddinView<'_>) -> Self {
        let p = a.package;
        AddinDto {
            name: a.addin.name,
            unique_name: a.addin.package,
            state: match a.state {
                PackageState::Installed => "Installed",
                PackageState::InstallFailed => "Failed",
                PackageState::None => "NotInstalled",
                PackageState::InstallRequested | PackageState::Installing => "Installing",
            },
            settings: p
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            operation_id: p.operation,
            requested_at: p.requested_at,
            error: a.error.map(str::to_string),
        }
    }
}

fn integration_dto(tenant: &Tenant, e: &FoEnvironment, now: Timestamp) -> IntegrationDto {
    let v = tenant.integration_of(e);
    let error = v.setup.and_then(|op| {
        let err = op.error()?;
        Some(IntegrationError {
            code: err.code.clone(),
            message: err.message.clone(),
            stage: op
                .current_stage()
                .and_then(|i| op.stage_name(i))
                .unwrap_or_default()
                .to_string(),
        })
    });
    IntegrationDto {
        state: v.state.as_str(),
        status_message: v.status_message,
        error,
        dataverse_environment_id: v.dataverse_id.map(|d| d.to_string()),
        dataverse_environment_name: v.dataverse.map(|d| d.display_name.clone()),
        dataverse_environment_url: v.dataverse.and_then(|d| d.instance_url()),
        dataverse_environment_type: v.dataverse.map(|d| d.sku.as_str()),
        dual_write: v.dual_write.as_str(),
        addins: v.addins.iter().map(AddinDto::from).collect(),
        actions: v.actions,
        unavailable_reason: v.unavailable,
        operation: v.setup.map(|op| OperationDto::new(tenant.id(), op, now)),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseDto {
    size_gb: u64,
    application_release: String,
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_environment_id: Option<EnvironmentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_environment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_id: Option<AssetId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    point_in_time: Option<Timestamp>,
    as_of: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryDto {
    activity_id: OperationId,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    type_display: &'static str,
    status: &'static str,
    started_at: Timestamp,
    ended_at: Option<Timestamp>,
    via: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl<P> From<Activity<'_, P>> for HistoryDto {
    fn from(a: Activity<'_, P>) -> Self {
        let h = a.entry;
        HistoryDto {
            activity_id: h.activity,
            name: h.name.clone(),
            kind: h.kind.as_str(),
            type_display: h.kind.display(),
            status: a.status().as_str(),
            started_at: h.started,
            ended_at: a.ended(),
            via: if h.via_api { "api" } else { "portal" },
            error: a.error().map(str::to_string),
        }
    }
}

fn environment_dto(
    tenant: &Tenant,
    project: ProjectId,
    e: &FoEnvironment,
    now: Timestamp,
) -> EnvironmentDto {
    let fo = tenant.fo(e);
    let d = &e.database;
    let (origin, source_id, source_name, backup, point) = match &d.origin {
        DataOrigin::Deployment => ("deployment", None, None, None, None),
        DataOrigin::Refresh {
            source,
            source_name,
        } => (
            "refresh",
            Some(*source),
            Some(source_name.clone()),
            None,
            None,
        ),
        DataOrigin::Import {
            backup,
            backup_name,
        } => (
            "import",
            None,
            Some(backup_name.clone()),
            Some(*backup),
            None,
        ),
        DataOrigin::PointInTimeRestore {
            source,
            source_name,
            point_in_time,
        } => (
            "pointInTimeRestore",
            Some(*source),
            Some(source_name.clone()),
            None,
            Some(*point_in_time),
        ),
    };
    EnvironmentDto {
        id: e.id,
        project_id: project.0,
        name: e.name.clone(),
        env_type: e.env_type.as_str(),
        infrastructure: e.infrastructure.as_str(),
        topology: e.topology_label(),
        region: e.region.name,
        disaster_recovery_region: e.region.pair,
        application_release: e.release.to_string(),
        application_build: e.release.application_build(),
        platform_release: e.release.platform_release_name(),
        platform_version: e.release.platform_version(),
        administrator: tenant
            .state
            .user_by_id(e.administrator)
            .map(|u| u.upn.to_string()),
        url: e.url.clone(),
        state: e.state.as_str(),
        status: fo.status_display(),
        created_at: e.created,
        deployed_on: e.deployed_on,
        database: DatabaseDto {
            size_gb: d.size_mb / 1024,
            application_release: d.release.to_string(),
            origin,
            source_environment_id: source_id,
            source_environment_name: source_name,
            backup_id: backup,
            point_in_time: point,
            as_of: d.as_of,
        },
        can_start: fo.can_start(),
        can_stop: fo.can_stop(),
        running_operation: fo
            .running()
            .and_then(|h| tenant.operation(h.activity).ok())
            .map(|op| OperationDto::new(tenant.id(), op, now)),
        packages: e.packages.clone(),
        power_platform_integration: integration_dto(tenant, e, now),
        history: fo.history().map(HistoryDto::from).collect(),
    }
}

// ---- handlers ----

fn project_id(text: &str) -> Result<ProjectId, SimError> {
    ProjectId::parse(text).map_err(|e| e.at("project"))
}

fn environment_id(text: &str) -> Result<EnvironmentId, SimError> {
    EnvironmentId::parse(text).map_err(|e| e.at("env"))
}

/// 202 with the started operation and its location in the control plane.
fn accepted(tenant: &Tenant, id: OperationId, now: Timestamp) -> Result<Response, SimError> {
    let op = OperationDto::new(tenant.id(), tenant.operation(id)?, now);
    let location = format!("/_sim/tenants/{}/operations/{id}", tenant.id());
    Ok((StatusCode::ACCEPTED, [(LOCATION, location)], Json(op)).into_response())
}

#[derive(Serialize)]
struct ProjectList {
    projects: Vec<ProjectDto>,
}

async fn projects_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<ProjectList>, SimError> {
    let user = caller.user()?;
    let tenant = caller.tenant.settled(state.clock.now());
    let projects = tenant
        .projects_of(user)
        .into_iter()
        .map(|p| project_dto(&tenant, p))
        .collect();
    Ok(Json(ProjectList { projects }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
}

async fn projects_create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateProject>,
) -> Result<Response, SimError> {
    let user = caller.user()?;
    let mut tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let id = tenant.create_project(&body.name, user, now)?;
    let dto = project_dto(&tenant, tenant.state.lcs.project(id)?);
    let location = format!("/_portal/lcs/projects/{id}");
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(dto)).into_response())
}

async fn project_get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<ProjectDto>, SimError> {
    let user = caller.user()?;
    let project = project_id(&project)?;
    let tenant = caller.tenant.settled(state.clock.now());
    let p = tenant.project_for(project, user)?;
    Ok(Json(project_dto(&tenant, p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMember {
    upn: String,
    role: String,
}

async fn members_set(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<SetMember>,
) -> Result<Json<ProjectDto>, SimError> {
    let user = caller.user()?;
    let project = project_id(&project)?;
    let role = ProjectRole::parse(&body.role).map_err(|e| e.at("role"))?;
    let mut tenant = caller.tenant.settled(state.clock.now());
    tenant.set_project_member(project, user, &body.upn, role)?;
    let p = tenant.state.lcs.project(project)?;
    Ok(Json(project_dto(&tenant, p)))
}

#[derive(Serialize)]
struct EnvironmentList {
    environments: Vec<EnvironmentDto>,
}

async fn environments_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<EnvironmentList>, SimError> {
    let user = caller.user()?;
    let project = project_id(&project)?;
    let tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let p = tenant.project_for(project, user)?;
    let environments = p
        .environments()
        .iter()
        .map(|e| environment_dto(&tenant, project, e, now))
        .collect();
    Ok(Json(EnvironmentList { environments }))
}

async fn environments_deploy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<EnvironmentBody>,
) -> Result<Response, SimError> {
    let user = caller.user()?;
    let project = project_id(&project)?;
    let spec = body.parse()?;
    if spec.state.is_some() {
        return Err(SimError::new(
            ErrorCode::InvalidEnvironmentSpec,
            "a deployment starts in state Deploying; leave out 'state'",
        )
        .at("state"));
    }
    let mut tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let (_, op) = tenant.deploy_environment(project, user, &spec, now)?;
    accepted(&tenant, op, now)
}

async fn environment_get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<EnvironmentDto>, SimError> {
    let user = caller.user()?;
    let (project, env) = (project_id(&project)?, environment_id(&env)?);
    let tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let e = tenant.project_for(project, user)?.environment(env)?;
    Ok(Json(environment_dto(&tenant, project, e, now)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchEnvironment {
    #[serde(rename = "type")]
    env_type: Option<String>,
}

async fn environment_patch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PatchEnvironment>,
) -> Result<Json<EnvironmentDto>, SimError> {
    let user = caller.user()?;
    let (project, env) = (project_id(&project)?, environment_id(&env)?);
    let tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    if let Some(wanted) = &body.env_type {
        tenant.change_environment_type(project, user, env, wanted)?;
    }
    let e = tenant.project_for(project, user)?.environment(env)?;
    Ok(Json(environment_dto(&tenant, project, e, now)))
}

/// Runs one portal action on an environment and answers 202 with its operation.
fn act(
    state: &AppState,
    caller: &Caller,
    project: &str,
    env: &str,
    action: impl FnOnce(
        &mut Tenant,
        ProjectId,
        ObjectId,
        EnvironmentId,
        Timestamp,
    ) -> Result<OperationId, SimError>,
) -> Result<Response, SimError> {
    let user = caller.user()?;
    let (project, env) = (project_id(project)?, environment_id(env)?);
    let mut tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let op = action(&mut tenant, project, user, env, now)?;
    accepted(&tenant, op, now)
}

async fn environment_delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Response, SimError> {
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.delete_environment(p, u, e, now)
    })
}

async fn environment_deallocate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Response, SimError> {
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.deallocate_environment(p, u, e, now)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    source_environment_id: String,
}

async fn environment_refresh(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Response, SimError> {
    let source = EnvironmentId::parse(&body.source_environment_id)
        .map_err(|e| e.at("sourceEnvironmentId"))?;
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.database_refresh(p, u, source, e, Via::Portal, now)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImportBody {
    backup_id: String,
}

async fn environment_import(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<Response, SimError> {
    let backup = AssetId::parse(&body.backup_id).map_err(|e| e.at("backupId"))?;
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.import_database(p, u, e, backup, now)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PitrBody {
    source_environment_id: Option<String>,
    point_in_time: String,
}

async fn environment_pitr(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PitrBody>,
) -> Result<Response, SimError> {
    let source = body
        .source_environment_id
        .as_deref()
        .map(|s| EnvironmentId::parse(s).map_err(|e| e.at("sourceEnvironmentId")))
        .transpose()?;
    let point = clock::parse_timestamp(&body.point_in_time).map_err(|e| e.at("pointInTime"))?;
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.point_in_time_restore(p, u, e, source, point, now)
    })
}

async fn integration_get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<IntegrationDto>, SimError> {
    let user = caller.user()?;
    let (project, env) = (project_id(&project)?, environment_id(&env)?);
    let tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    let e = tenant.project_for(project, user)?.environment(env)?;
    Ok(Json(integration_dto(&tenant, e, now)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetupBody {
    #[serde(default)]
    accept_terms: bool,
    existing_dataverse_environment_id: Option<String>,
}

async fn integration_setup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetupBody>,
) -> Result<Response, SimError> {
    let existing = body
        .existing_dataverse_environment_id
        .as_deref()
        .map(|id| PpEnvId::parse(id).map_err(|e| e.at("existingDataverseEnvironmentId")))
        .transpose()?;
    let request = SetupRequest {
        accept_terms: body.accept_terms,
        existing: existing.clone(),
    };
    let owner = caller.tenant_id;
    let answer = act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.setup_integration(p, u, e, request, now)
    });
    match (answer, existing) {
        (Err(err), Some(id)) if err.code == ErrorCode::EnvironmentNotFound => {
            if state
                .world
                .ppac_environment_elsewhere(&id, owner, state.clock.now())
            {
                Err(crate::world::integration::foreign_dataverse(&id))
            } else {
                Err(err)
            }
        }
        (answer, _) => answer,
    }
}

async fn integration_resume(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Response, SimError> {
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.resume_integration(p, u, e, now)
    })
}

/// Installed and available add-ins of an environment.
#[derive(Serialize)]
struct AddinList {
    installed: Vec<AddinDto>,
    available: Vec<AvailableAddin>,
}

#[derive(Serialize)]
struct AvailableAddin {
    name: &'static str,
    #[serde(rename = "uniqueName")]
    unique_name: &'static str,
    settings: Vec<AvailableSetting>,
}

#[derive(Serialize)]
struct AvailableSetting {
    key: &'static str,
    label: &'static str,
}

async fn addins_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<AddinList>, SimError> {
    let user = caller.user()?;
    let (project, env) = (project_id(&project)?, environment_id(&env)?);
    let tenant = caller.tenant.settled(state.clock.now());
    let e = tenant.project_for(project, user)?.environment(env)?;
    let installed = tenant
        .integration_of(e)
        .addins
        .iter()
        .map(AddinDto::from)
        .collect();
    let available = ADDINS
        .iter()
        .map(|a| AvailableAddin {
            name: a.name,
            unique_name: a.package,
            settings: a
                .settings
                .iter()
                .map(|s| AvailableSetting {
                    key: s.key,
                    label: s.label,
                })
                .collect(),
        })
        .collect();
    Ok(Json(AddinList {
        installed,
        available,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AddinBody {
    name: String,
    #[serde(default)]
    settings: serde_json::Map<String, serde_json::Value>,
}

async fn addins_install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AddinBody>,
) -> Result<Response, SimError> {
    let settings = body
        .settings
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            _ => Err(SimError::new(
                ErrorCode::InvalidAddin,
                format!("setting '{k}' must be a string"),
            )
            .at(format!("settings.{k}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.install_addin(p, u, e, &body.name, settings, now)
    })
}

async fn dual_write_enable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Response, SimError> {
    act(&state, &caller, &project, &env, |t, p, u, e, now| {
        t.enable_dual_write(p, u, e, now)
    })
}
