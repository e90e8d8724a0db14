//! Tenants, their users, capacity and governance.

use crate::api::extract::{ApiJson, ApiPath, TenantPath, TenantSlot};
use crate::api::views::ProjectSummary;
use crate::error::SimError;
use crate::input::tenant::{
    CreateTenant, CreateUser, SetDuration, UpdateCapacity, UpdateGovernance, UpdateUser,
};
use crate::state::AppState;
use crate::world::identity::{
    Application, License, ObjectId, Role, TenantId, UNIFIED_OPERATIONS_PLAN, User,
};
use crate::world::ppac::REQUIRED_FREE_MB;
use crate::world::tenant::{Capacity, Governance, Tenant};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header::LOCATION};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantDto {
    pub(super) id: TenantId,
    domain: String,
    display_name: String,
    created_at: Timestamp,
    /// The tenant's virtual now (shared clock plus its offset).
    now: Timestamp,
    users: Vec<UserDto>,
    applications: Vec<ApplicationDto>,
    capacity: CapacityDto,
    /// What the tenant's live Power Platform environments consume, MB.
    capacity_used: CapacityUsedDto,
    governance: GovernanceDto,
    /// Live Power Platform environments (ids to use with the BAP and Power Platform APIs).
    power_platform_environments: Vec<PpEnvironmentSummary>,
    /// LCS projects with their environments (ids to use with the LCS API).
    lcs_projects: Vec<ProjectSummary>,
    /// What Power Platform integration setup checks, as its stages check it.
    integration_prerequisites: PrerequisitesDto,
}

/// The setup prerequisites of `domain.md`, from the rules that check them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PrerequisitesDto {
    /// Free Dataverse database capacity setup needs, MB.
    free_database_mb: f64,
    /// The license the F&O environment administrator must hold.
    license: &'static str,
    /// Under restricted governance, a new Dataverse environment needs its administrator to hold
    /// one of these roles.
    admin_roles: [Role; 3],
}

impl PrerequisitesDto {
    fn new() -> Self {
        PrerequisitesDto {
            free_database_mb: REQUIRED_FREE_MB,
            license: UNIFIED_OPERATIONS_PLAN,
            admin_roles: Role::ALL,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserDto {
    upn: String,
    object_id: ObjectId,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    roles: Vec<Role>,
    licenses: Vec<License>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApplicationDto {
    client_id: String,
    object_id: ObjectId,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CapacityDto {
    database_mb: u64,
    file_mb: u64,
    log_mb: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CapacityUsedDto {
    database_mb: f64,
    file_mb: f64,
    log_mb: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PpEnvironmentSummary {
    id: String,
    display_name: String,
    #[serde(rename = "type")]
    sku: &'static str,
    provisioning_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GovernanceDto {
    restrict_environment_creation_to_admins: bool,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        UserDto {
            upn: u.upn.to_string(),
            object_id: u.object_id,
            display_name: u.display_name.clone(),
            password: u.password.clone(),
            roles: u.roles.clone(),
            licenses: u.licenses.clone(),
        }
    }
}

impl From<&Application> for ApplicationDto {
    fn from(a: &Application) -> Self {
        ApplicationDto {
            client_id: a.client_id.to_string(),
            object_id: a.object_id,
            display_name: a.display_name.clone(),
            client_secret: a.secret.clone(),
        }
    }
}

impl From<Capacity> for CapacityDto {
    fn from(c: Capacity) -> Self {
        CapacityDto {
            database_mb: c.database_mb,
            file_mb: c.file_mb,
            log_mb: c.log_mb,
        }
    }
}

impl From<Governance> for GovernanceDto {
    fn from(g: Governance) -> Self {
        GovernanceDto {
            restrict_environment_creation_to_admins: g.restrict_environment_creation_to_admins,
        }
    }
}

pub(super) fn tenant_dto(tenant: &Tenant, now: Timestamp) -> TenantDto {
    let s = &tenant.state;
    TenantDto {
        id: s.id,
        domain: s.domain.to_string(),
        display_name: s.display_name.clone(),
        created_at: s.created_at,
        now,
        users: s.users.iter().map(UserDto::from).collect(),
        applications: s.applications.iter().map(ApplicationDto::from).collect(),
        capacity: s.capacity.into(),
        capacity_used: {
            let used = tenant.state.ppac.consumption();
            CapacityUsedDto {
                database_mb: used.database_mb,
                file_mb: used.file_mb,
                log_mb: used.log_mb,
            }
        },
        governance: s.governance.into(),
        power_platform_environments: s
            .ppac
            .environments()
            .iter()
            .filter(|e| e.live())
            .map(|e| PpEnvironmentSummary {
                id: e.id.to_string(),
                display_name: e.display_name.clone(),
                sku: e.sku.as_str(),
                provisioning_state: e.provisioning.as_str(),
                domain_name: e.dataverse.as_ref().map(|d| d.domain.clone()),
            })
            .collect(),
        lcs_projects: s
            .lcs
            .projects
            .iter()
            .map(|p| ProjectSummary::new(tenant, p))
            .collect(),
        integration_prerequisites: PrerequisitesDto::new(),
    }
}

/// Locks, settles and renders a tenant.
fn render(state: &AppState, path: &TenantPath) -> TenantDto {
    let tenant = path.tenant.settled(state.clock.now());
    let now = tenant.now();
    tenant_dto(&tenant, now)
}

// ---- handlers ----

#[derive(Serialize)]
pub(super) struct TenantList {
    tenants: Vec<TenantDto>,
}

pub(super) async fn tenants_create(
    State(state): State<Arc<AppState>>,
    slot: TenantSlot,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<Response, SimError> {
    let (id, spec) = body.parse()?;
    let tenant = state.world.create_tenant(id, spec, state.clock.now())?;
    let tenant = tenant.settled(state.clock.now());
    slot.set(tenant.id());
    let dto = tenant_dto(&tenant, tenant.now());
    let location = format!("/_sim/tenants/{}", dto.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(dto)).into_response())
}

pub(super) async fn tenants_list(State(state): State<Arc<AppState>>) -> Json<TenantList> {
    let clock_now = state.clock.now();
    let tenants = state
        .world
        .tenants()
        .iter()
        .map(|t| {
            let t = t.settled(clock_now);
            let now = t.now();
            tenant_dto(&t, now)
        })
        .collect();
    Json(TenantList { tenants })
}

pub(super) async fn tenants_get(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<TenantDto> {
    Json(render(&state, &path))
}

pub(super) async fn tenants_delete(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Result<StatusCode, SimError> {
    state.world.delete_tenant(path.id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn tenants_reset(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Result<Json<TenantDto>, SimError> {
    let clock_now = state.clock.now();
    path.tenant.settled(clock_now).reset(clock_now)?;
    Ok(Json(render(&state, &path)))
}

pub(super) async fn users_create(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<Response, SimError> {
    let spec = body.parse()?;
    let mut tenant = path.tenant.settled(state.clock.now());
    let user = UserDto::from(tenant.add_user(spec)?);
    let location = format!("/_sim/tenants/{}/users/{}", path.id, user.upn);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(user)).into_response())
}

pub(super) async fn users_update(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, upn)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<UserDto>, SimError> {
    let patch = body.parse()?;
    let mut tenant = path.tenant.settled(state.clock.now());
    Ok(Json(UserDto::from(tenant.update_user(&upn, patch)?)))
}

pub(super) async fn users_delete(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, upn)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    let mut tenant = path.tenant.settled(state.clock.now());
    tenant.remove_user(&upn)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn capacity_update(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<UpdateCapacity>,
) -> Result<Json<CapacityDto>, SimError> {
    let mut tenant = path.tenant.settled(state.clock.now());
    Ok(Json(tenant.set_capacity(body.patch())?.into()))
}

pub(super) async fn governance_update(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<UpdateGovernance>,
) -> Json<GovernanceDto> {
    let mut tenant = path.tenant.settled(state.clock.now());
    let mut governance = tenant.state.governance;
    if let Some(restrict) = body.restrict_environment_creation_to_admins {
        governance.restrict_environment_creation_to_admins = restrict;
    }
    tenant.set_governance(governance);
    Json(governance.into())
}

#[derive(Debug, Serialize)]
pub(super) struct DurationDto {
    kind: String,
    min: String,
    max: String,
}

fn duration_dtos(tenant: &Tenant) -> Vec<DurationDto> {
    tenant
        .state
        .durations
        .iter()
        .map(|(kind, d)| DurationDto {
            kind: kind.clone(),
            min: format!("{:#}", d.min),
            max: format!("{:#}", d.max),
        })
        .collect()
}

pub(super) async fn durations_list(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<Vec<DurationDto>> {
    Json(duration_dtos(&path.tenant.settled(state.clock.now())))
}

pub(super) async fn durations_set(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, kind)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetDuration>,
) -> Result<Json<Vec<DurationDto>>, SimError> {
    let duration = body.parse()?;
    let mut tenant = path.tenant.settled(state.clock.now());
    tenant.set_duration(&kind, Some(duration))?;
    Ok(Json(duration_dtos(&tenant)))
}

pub(super) async fn durations_delete(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, kind)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    path.tenant
        .settled(state.clock.now())
        .set_duration(&kind, None)?;
    Ok(StatusCode::NO_CONTENT)
}
