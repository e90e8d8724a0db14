//! Tenants, their users, capacity and governance.

use crate::api::extract::{ApiJson, ApiPath, TenantPath, TenantSlot};
use crate::api::portal::lcs::{ProjectBody, ProjectSummary};
use crate::app::AppState;
use crate::error::SimError;
use crate::world::identity::{
    Application, Domain, License, ObjectId, Role, TenantId, Upn, User, dedup, parse_name,
};
use crate::world::tenant::{
    ApplicationSpec, Capacity, CapacityPatch, DurationOverride, Governance, Tenant, TenantSpec,
    UserPatch, UserSpec,
};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header::LOCATION};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

// ---- request bodies ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateTenant {
    pub(crate) id: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) users: Option<Vec<CreateUser>>,
    pub(crate) applications: Option<Vec<CreateApplication>>,
    pub(crate) capacity: Option<UpdateCapacity>,
    pub(crate) governance: Option<UpdateGovernance>,
    #[serde(default)]
    pub(crate) projects: Vec<ProjectBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateUser {
    upn: String,
    object_id: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    licenses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct UpdateUser {
    display_name: Option<String>,
    password: Option<String>,
    roles: Option<Vec<String>>,
    licenses: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateApplication {
    client_id: Option<String>,
    display_name: Option<String>,
    client_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateCapacity {
    database_mb: Option<u64>,
    file_mb: Option<u64>,
    log_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateGovernance {
    restrict_environment_creation_to_admins: Option<bool>,
}

/// Parses every item of a list, naming the item at fault (`roles[1]`).
fn parse_each<T>(
    items: &[String],
    field: &str,
    parse: impl Fn(&str) -> Result<T, SimError>,
) -> Result<Vec<T>, SimError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(item).map_err(|e| e.at(format!("{field}[{i}]"))))
        .collect()
}

/// An optional display name, password or secret.
fn optional_name(value: Option<&String>, field: &str) -> Result<Option<String>, SimError> {
    optional(value.map(String::as_str), field, |v| parse_name(v, field))
}

fn optional<T>(
    value: Option<&str>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, SimError>,
) -> Result<Option<T>, SimError> {
    value.map(|v| parse(v).map_err(|e| e.at(field))).transpose()
}

impl CreateUser {
    fn parse(&self) -> Result<UserSpec, SimError> {
        Ok(UserSpec {
            upn: Upn::parse(&self.upn).map_err(|e| e.at("upn"))?,
            object_id: optional(self.object_id.as_deref(), "objectId", ObjectId::parse)?,
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            password: optional_name(self.password.as_ref(), "password")?,
            roles: dedup(parse_each(&self.roles, "roles", Role::parse)?),
            licenses: dedup(parse_each(&self.licenses, "licenses", License::parse)?),
        })
    }
}

impl UpdateUser {
    fn parse(&self) -> Result<UserPatch, SimError> {
        Ok(UserPatch {
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            password: optional_name(self.password.as_ref(), "password")?,
            roles: self
                .roles
                .as_deref()
                .map(|r| parse_each(r, "roles", Role::parse).map(dedup))
                .transpose()?,
            licenses: self
                .licenses
                .as_deref()
                .map(|l| parse_each(l, "licenses", License::parse).map(dedup))
                .transpose()?,
        })
    }
}

impl CreateApplication {
    fn parse(&self) -> Result<ApplicationSpec, SimError> {
        Ok(ApplicationSpec {
            client_id: optional(
                self.client_id.as_deref(),
                "clientId",
                crate::world::identity::ClientId::parse,
            )?,
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            secret: optional_name(self.client_secret.as_ref(), "clientSecret")?,
        })
    }
}

impl UpdateCapacity {
    fn patch(&self) -> CapacityPatch {
        CapacityPatch {
            database_mb: self.database_mb,
            file_mb: self.file_mb,
            log_mb: self.log_mb,
        }
    }
}

impl CreateTenant {
    /// The tenant id and spec, naming the field at fault.
    pub(crate) fn parse(&self) -> Result<(Option<TenantId>, TenantSpec), SimError> {
        let id = optional(self.id.as_deref(), "id", TenantId::parse)?;
        let users = self
            .users
            .as_ref()
            .map(|users| {
                users
                    .iter()
                    .enumerate()
                    .map(|(i, u)| u.parse().map_err(|e| e.within(format!("users[{i}]"))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let applications = self
            .applications
            .as_ref()
            .map(|apps| {
                apps.iter()
                    .enumerate()
                    .map(|(i, a)| {
                        a.parse()
                            .map_err(|e| e.within(format!("applications[{i}]")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let spec = TenantSpec {
            domain: optional(self.domain.as_deref(), "domain", Domain::parse)?,
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            users,
            applications,
            capacity: self
                .capacity
                .as_ref()
                .map(UpdateCapacity::patch)
                .unwrap_or_default(),
            governance: Governance {
                restrict_environment_creation_to_admins: self
                    .governance
                    .as_ref()
                    .and_then(|g| g.restrict_environment_creation_to_admins)
                    .unwrap_or(false),
            },
            projects: self
                .projects
                .iter()
                .enumerate()
                .map(|(i, p)| p.parse().map_err(|e| e.within(format!("projects[{i}]"))))
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok((id, spec))
    }
}

// ---- responses ----

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
            let used = tenant.ppac_consumption();
            CapacityUsedDto {
                database_mb: used.database_mb,
                file_mb: used.file_mb,
                log_mb: used.log_mb,
            }
        },
        governance: s.governance.into(),
        power_platform_environments: s
            .ppac
            .environments
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
        lcs_projects: s.lcs.projects.iter().map(ProjectSummary::from).collect(),
    }
}

/// Locks, settles and renders a tenant.
fn render(state: &AppState, path: &TenantPath) -> TenantDto {
    let mut tenant = path.tenant.lock();
    let (now, _) = tenant.settle(state.clock.now());
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
    let tenant = tenant.lock();
    slot.set(tenant.id());
    let dto = tenant_dto(&tenant, tenant.now(state.clock.now()));
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
            let mut t = t.lock();
            let (now, _) = t.settle(clock_now);
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
    path.tenant.lock().reset(state.clock.now())?;
    Ok(Json(render(&state, &path)))
}

pub(super) async fn users_create(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<Response, SimError> {
    let spec = body.parse()?;
    let mut tenant = path.tenant.lock();
    tenant.settle(state.clock.now());
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
    let mut tenant = path.tenant.lock();
    tenant.settle(state.clock.now());
    Ok(Json(UserDto::from(tenant.update_user(&upn, patch)?)))
}

pub(super) async fn users_delete(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, upn)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    let mut tenant = path.tenant.lock();
    tenant.settle(state.clock.now());
    tenant.remove_user(&upn)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn capacity_update(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<UpdateCapacity>,
) -> Result<Json<CapacityDto>, SimError> {
    let mut tenant = path.tenant.lock();
    tenant.settle(state.clock.now());
    Ok(Json(tenant.set_capacity(body.patch())?.into()))
}

pub(super) async fn governance_update(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<UpdateGovernance>,
) -> Json<GovernanceDto> {
    let mut tenant = path.tenant.lock();
    tenant.settle(state.clock.now());
    let mut governance = tenant.state.governance;
    if let Some(restrict) = body.restrict_environment_creation_to_admins {
        governance.restrict_environment_creation_to_admins = restrict;
    }
    tenant.set_governance(governance);
    Json(governance.into())
}

/// A duration override: `{"duration": "75m"}` or `{"min": "1h", "max": "2h"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetDuration {
    duration: Option<String>,
    min: Option<String>,
    max: Option<String>,
}

impl SetDuration {
    /// The override this body describes, naming the field at fault.
    pub(crate) fn parse(&self) -> Result<DurationOverride, SimError> {
        let parse = |v: &str, field: &str| crate::clock::parse_duration(v).map_err(|e| e.at(field));
        let (min, max) = match (&self.duration, &self.min, &self.max) {
            (Some(d), None, None) => {
                let d = parse(d, "duration")?;
                (d, d)
            }
            (None, Some(lo), Some(hi)) => (parse(lo, "min")?, parse(hi, "max")?),
            _ => {
                return Err(SimError::new(
                    crate::error::ErrorCode::InvalidDurationOverride,
                    "give either {\"duration\": \"75m\"} or {\"min\": \"1h\", \"max\": \"2h\"}",
                ));
            }
        };
        Ok(DurationOverride { min, max })
    }
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

pub(super) async fn durations_list(path: TenantPath) -> Json<Vec<DurationDto>> {
    Json(duration_dtos(&path.tenant.lock()))
}

pub(super) async fn durations_set(
    path: TenantPath,
    ApiPath((_, kind)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetDuration>,
) -> Result<Json<Vec<DurationDto>>, SimError> {
    let duration = body.parse()?;
    let mut tenant = path.tenant.lock();
    tenant.set_duration(&kind, Some(duration))?;
    Ok(Json(duration_dtos(&tenant)))
}

pub(super) async fn durations_delete(
    path: TenantPath,
    ApiPath((_, kind)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    path.tenant.lock().set_duration(&kind, None)?;
    Ok(StatusCode::NO_CONTENT)
}
