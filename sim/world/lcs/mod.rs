//! The LCS half of a tenant: projects, F&O environments, their operations and the asset library,
//! with the documented rules of the real service. No HTTP here; `api::lcs` and `api::portal`
//! render these results in their envelopes.
//!
//! Every LCS operation (deploy, database refresh/export/import, point-in-time restore, package
//! deployment, start, stop, deallocate, delete) is an operation of the tenant's engine: its
//! status and the environment's history follow the virtual clock through `settle`.

pub mod files;
pub mod model;

pub use model::*;

use super::identity::{ObjectId, Upn, random_uuid};
use super::operations::{Effect, Portal, Target, Work};
use super::tenant::{Tenant, TenantState};
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::{OpError, Operation, OperationId, RunState, StageSpec};
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use rand::RngExt;
use std::collections::{BTreeMap, VecDeque};

/// The container of a tenant's blob storage that holds asset-library files.
pub const ASSET_CONTAINER: &str = "assets";
/// Largest database the export API takes (50 GB).
pub const MAX_EXPORT_MB: u64 = 50 * 1024;
/// Database operations per environment per 24 hours the API allows.
pub const DATABASE_OPERATIONS_PER_DAY: usize = 3;
/// How long an asset created but never committed stays around.
pub const PENDING_ASSET_LIFETIME: SignedDuration = SignedDuration::from_hours(24);
/// How far back a sandbox can be restored to a point in time.
pub const SANDBOX_PITR_RETENTION: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How far back production can be restored to a point in time.
pub const PRODUCTION_PITR_RETENTION: SignedDuration = SignedDuration::from_hours(28 * 24);
/// Database size of environments deployed without one (GB).
pub const DEFAULT_DATABASE_GB: u64 = 20;

/// The LCS state of a tenant.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lcs {
    /// Projects, in creation order.
    pub projects: Vec<Project>,
    /// Call logs of the throttled endpoints.
    pub throttles: Throttles,
}

impl Lcs {
    /// The project with this id.
    pub fn project(&self, id: ProjectId) -> Result<&Project, SimError> {
        self.projects
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| no_project(id))
    }

    /// The project with this id, mutably.
    pub fn project_mut(&mut self, id: ProjectId) -> Result<&mut Project, SimError> {
        self.projects
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| no_project(id))
    }

    /// The environment with this id in any project.
    pub fn find_environment(&self, id: EnvironmentId) -> Option<(&Project, &FoEnvironment)> {
        self.projects
            .iter()
            .find_map(|p| p.environments.iter().find(|e| e.id == id).map(|e| (p, e)))
    }
}

fn no_project(id: ProjectId) -> SimError {
    SimError::new(
        ErrorCode::ProjectNotFound,
        format!(
            "Project {id} was not found. Check the project id in LCS (GET /_portal/lcs/projects \
             lists yours) and that the API base URL is the project's LCS geography"
        ),
    )
}

/// Sliding-window call logs for the throttled endpoints, on the virtual clock.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttles {
    log: BTreeMap<String, VecDeque<Timestamp>>,
}

/// One request budget: at most `limit` calls per `window` for `key`.
#[derive(Debug, Clone)]
pub struct Budget {
    /// What is counted, e.g. `detail:1234567`.
    pub key: String,
    /// Calls allowed per window.
    pub limit: usize,
    /// The window.
    pub window: SignedDuration,
    /// How the limit reads in messages, e.g. "6 calls per project per minute".
    pub rule: &'static str,
}

impl Throttles {
    /// Admits a call at `now` if every budget has room, recording it against all of them;
    /// otherwise refuses with the seconds until the tightest budget frees up.
    pub fn admit(&mut self, budgets: &[Budget], api: &str, now: Timestamp) -> Result<(), SimError> {
        let mut wait: Option<(i64, &Budget)> = None;
        for budget in budgets {
            let calls = self.log.entry(budget.key.clone()).or_default();
            let floor = now.checked_sub(budget.window).unwrap_or(Timestamp::MIN);
            while calls.front().is_some_and(|t| *t <= floor) {
                calls.pop_front();
            }
            if calls.len() >= budget.limit {
                let oldest = calls.front().copied().unwrap_or(now);
                let free_at = oldest.checked_add(budget.window).unwrap_or(now);
                let secs = free_at.duration_since(now).as_secs_f64().ceil().max(1.0) as i64;
                if wait.is_none_or(|(w, _)| secs > w) {
                    wait = Some((secs, budget));
                }
            }
        }
        if let Some((secs, budget)) = wait {
            let secs = u64::try_from(secs).unwrap_or(1);
            return Err(SimError::new(
                ErrorCode::Throttled,
                format!(
                    "Too many requests: {api} allows {}. Retry after {secs} seconds.",
                    budget.rule
                ),
            )
            .retry_after(secs));
        }
        for budget in budgets {
            self.log
                .entry(budget.key.clone())
                .or_default()
                .push_back(now);
        }
        Ok(())
    }
}

/// Whether an action comes through the public API or the portal (the 3-per-24h rule blocks only
/// the API; the portal allows a few things the API does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `lcsapi.*`.
    Api,
    /// `/_portal/lcs`.
    Portal,
}

/// A project as described in a tenant spec or created in the portal.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSpec {
    /// Id; drawn from the tenant RNG when absent.
    pub id: Option<ProjectId>,
    /// Name.
    pub name: String,
    /// Members; default: the tenant's first user as project owner.
    pub members: Option<Vec<(Upn, ProjectRole)>>,
    /// Environments, already deployed.
    pub environments: Vec<EnvironmentSpec>,
}

/// An environment as described in a spec or a deploy request.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentSpec {
    /// Id; drawn from the tenant RNG when absent.
    pub id: Option<EnvironmentId>,
    /// Name, unique in the project.
    pub name: String,
    /// Type.
    pub env_type: EnvironmentType,
    /// Infrastructure; default: customer-managed for DevTest, Microsoft-managed otherwise.
    pub infrastructure: Option<Infrastructure>,
    /// Region; default East US.
    pub region: Option<Region>,
    /// Application release; default [`DEFAULT_RELEASE`].
    pub release: Option<Release>,
    /// Environment administrator; default: the deploying user (or the project's first owner).
    pub administrator: Option<Upn>,
    /// State for environments declared in a spec (deployed, stopped or deallocated).
    pub state: Option<EnvironmentState>,
    /// Database size in GB; default [`DEFAULT_DATABASE_GB`].
    pub database_size_gb: Option<u64>,
    /// Topology name shown as `TopologyDisplayName`; derived from type and release when absent.
    pub topology: Option<String>,
}

impl EnvironmentSpec {
    /// An environment spec with defaults for everything but name and type.
    pub fn new(name: impl Into<String>, env_type: EnvironmentType) -> EnvironmentSpec {
        EnvironmentSpec {
            id: None,
            name: name.into(),
            env_type,
            infrastructure: None,
            region: None,
            release: None,
            administrator: None,
            state: None,
            database_size_gb: None,
            topology: None,
        }
    }
}

/// What an LCS operation does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
enum Action {
    Deploy,
    Refresh { data: Database },
    Export { backup_name: String, data: Database },
    Import { data: Database },
    PointInTimeRestore { data: Database },
    Package { name: String },
    Start,
    Stop,
    Deallocate,
    Delete,
}

fn mins(lo: i64, hi: i64) -> (SignedDuration, SignedDuration) {
    (SignedDuration::from_mins(lo), SignedDuration::from_mins(hi))
}

fn stage(name: &str, (lo, hi): (SignedDuration, SignedDuration)) -> StageSpec {
    StageSpec::between(name, lo, hi)
}

impl Action {
    fn kind(&self) -> HistoryKind {
        match self {
            Action::Deploy => HistoryKind::Deploy,
            Action::Refresh { .. } => HistoryKind::Refresh,
            Action::Export { .. } => HistoryKind::Export,
            Action::Import { .. } => HistoryKind::Import,
            Action::PointInTimeRestore { .. } => HistoryKind::PointInTimeRestore,
            Action::Package { .. } => HistoryKind::Package,
            Action::Start => HistoryKind::Start,
            Action::Stop => HistoryKind::Stop,
            Action::Deallocate => HistoryKind::Deallocate,
            Action::Delete => HistoryKind::Delete,
        }
    }

    /// The engine's kind (used by `/_sim` and by duration overrides).
    fn engine_kind(&self) -> &'static str {
        operation_kind(self.kind())
    }

    /// Realistic stages; every plan starts with a short queue (`NotStarted`).
    fn stages(&self) -> Vec<StageSpec> {
        let queued = stage("Queued", mins(1, 3));
        let rest = match self {
            Action::Deploy => vec![
                stage("Validating deployment", mins(2, 5)),
                stage("Provisioning Azure resources", mins(40, 90)),
                stage("Deploying application", mins(90, 180)),
                stage("Configuring environment", mins(20, 40)),
            ],
            Action::Refresh { .. } => vec![
                stage("Validating environments", mins(3, 8)),
                stage("Copying database", mins(60, 150)),
                stage("Bringing the target online", mins(20, 40)),
            ],
            Action::Export { .. } => vec![
                stage("Exporting database to bacpac", mins(60, 180)),
                stage("Uploading to the asset library", mins(10, 30)),
            ],
            Action::Import { .. } => vec![
                stage("Downloading backup", mins(10, 30)),
                stage("Importing database", mins(60, 180)),
                stage("Bringing the environment online", mins(20, 40)),
            ],
            Action::PointInTimeRestore { .. } => vec![
                stage("Restoring database", mins(60, 150)),
                stage("Bringing the environment online", mins(20, 40)),
            ],
            Action::Package { .. } => vec![
                stage("Preparing environment", mins(20, 40)),
                stage("Applying package", mins(60, 120)),
                stage("Validating environment", mins(10, 20)),
            ],
            Action::Start => vec![stage("Starting", mins(8, 15))],
            Action::Stop => vec![stage("Stopping", mins(5, 10))],
            Action::Deallocate => vec![stage("Deallocating", mins(10, 20))],
            Action::Delete => vec![stage("Deleting resources", mins(30, 60))],
        };
        std::iter::once(queued).chain(rest).collect()
    }

    /// The status while stage `i` runs.
    fn status_in_stage(&self, i: usize) -> OpStatus {
        match (self, i) {
            (_, 0) => OpStatus::NotStarted,
            (Action::Package { .. }, 1) => OpStatus::PreparingEnvironment,
            _ => OpStatus::InProgress,
        }
    }
}

/// The engine kind of each LCS operation (e.g. `lcs.databaseRefresh`).
pub fn operation_kind(kind: HistoryKind) -> &'static str {
    match kind {
        HistoryKind::Deploy => "lcs.deploy",
        HistoryKind::Refresh => "lcs.databaseRefresh",
        HistoryKind::Export => "lcs.databaseExport",
        HistoryKind::Import => "lcs.databaseImport",
        HistoryKind::PointInTimeRestore => "lcs.pointInTimeRestore",
        HistoryKind::Package => "lcs.packageDeployment",
        HistoryKind::Start => "lcs.start",
        HistoryKind::Stop => "lcs.stop",
        HistoryKind::Deallocate => "lcs.deallocate",
        HistoryKind::Delete => "lcs.delete",
    }
}

/// Every LCS operation kind, for duration overrides.
pub fn operation_kinds() -> impl Iterator<Item = &'static str> {
    HistoryKind::ALL.iter().map(|k| operation_kind(*k))
}

/// The effect of an LCS operation on its environment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LcsEffect {
    project: ProjectId,
    env: EnvironmentId,
    action: Action,
}

impl LcsEffect {
    fn environment<'a>(&self, state: &'a mut TenantState) -> Option<&'a mut FoEnvironment> {
        state
            .lcs
            .project_mut(self.project)
            .ok()?
            .environment_mut(self.env)
            .ok()
    }
}

impl LcsEffect {
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        op: &Operation<Work>,
        stage: usize,
        _at: Timestamp,
    ) -> Result<(), OpError> {
        let env = self.environment(tenant).ok_or_else(|| {
            OpError::new(
                ErrorCode::EnvironmentNotFound.as_str(),
                format!("environment {} no longer exists", self.env),
            )
        })?;
        let status = self.action.status_in_stage(stage + 1);
        if let Some(entry) = env.history.iter_mut().rev().find(|h| h.activity == op.id()) {
            entry.status = status;
        }
        Ok(())
    }

    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, at: Timestamp) {
        let succeeded = op.state() == RunState::Succeeded;
        let mut new_asset = None;
        if let Some(env) = self.environment(tenant) {
            env.busy = None;
            if let Some(entry) = env.history.iter_mut().rev().find(|h| h.activity == op.id()) {
                entry.ended = Some(at);
                entry.status = if succeeded {
                    OpStatus::Completed
                } else {
                    OpStatus::Failed
                };
                entry.error = op.error().map(|e| e.message.clone());
            }
            match (&self.action, succeeded) {
                (Action::Deploy, true) => {
                    env.state = EnvironmentState::Deployed;
                    env.deployed_on = Some(at);
                    env.database.as_of = at;
                }
                (Action::Deploy, false) => env.state = EnvironmentState::Failed,
                (
                    Action::Refresh { data }
                    | Action::Import { data }
                    | Action::PointInTimeRestore { data },
                    true,
                ) => {
                    env.database = data.clone();
                    env.release = data.release;
                }
                (Action::Export { backup_name, data }, true) => {
                    new_asset = Some((backup_name.clone(), env.name.clone(), data.clone()));
                }
                (Action::Package { name }, true) => env.packages.push(name.clone()),
                (Action::Start, true) => env.state = EnvironmentState::Deployed,
                (Action::Stop, true) => env.state = EnvironmentState::Stopped,
                (Action::Deallocate, true) => env.state = EnvironmentState::Deallocated,
                _ => {}
            }
        }
        if succeeded
            && matches!(self.action, Action::Delete)
            && let Ok(project) = tenant.lcs.project_mut(self.project)
        {
            project.environments.retain(|e| e.id != self.env);
            super::link::unlink(tenant, self.env, at);
        }
        if let Some((backup_name, source, data)) = new_asset {
            let id = AssetId(random_uuid(&mut tenant.rng));
            let content = Bytes::from(files::bacpac(&source, &data, at));
            let blob = id.0.simple().to_string();
            tenant
                .blobs
                .put(ASSET_CONTAINER, &blob, content.clone(), None, at);
            if let Ok(project) = tenant.lcs.project_mut(self.project) {
                project.assets.push(Asset {
                    id,
                    name: backup_name.clone(),
                    file_name: format!("{backup_name}.bacpac"),
                    description: Some(format!("Database export of {source}")),
                    file_type: FileType::BACKUP,
                    declared_size: content.len() as u64,
                    blob,
                    created: at,
                    modified: at,
                    created_by: "Lifecycle Services".to_string(),
                    state: AssetState::Validating {
                        until: at,
                        outcome: Ok(()),
                    },
                });
            }
        }
    }
}

/// A new asset-library file, as CreateFileAsset describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetSpec {
    /// `Name`.
    pub name: String,
    /// `FileName`.
    pub file_name: String,
    /// `FileDescription`.
    pub description: Option<String>,
    /// `FileType`.
    pub file_type: FileType,
    /// `SizeByte`.
    pub size: u64,
}

fn check_name(name: &str, what: &str, max: usize) -> Result<(), SimError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SimError::new(
            ErrorCode::InvalidEnvironmentSpec,
            format!(
                "'{name}' is not a valid {what}: use 1 to {max} letters, digits, hyphens or \
                 underscores"
            ),
        )
        .at("name"))
    }
}

/// LCS timestamps print like `2019-09-30T04:01:01.9999999` in throttling messages.
fn lcs_ticks(t: Timestamp) -> String {
    format!(
        "{}.{:07}",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_nanosecond() / 100
    )
}

impl Tenant {
    /// Builds projects from a spec while the tenant is being created (no operations; the
    /// environments are already deployed).
    pub(super) fn build_projects(
        state: &mut TenantState,
        specs: &[ProjectSpec],
        now: Timestamp,
    ) -> Result<(), SimError> {
        for (i, spec) in specs.iter().enumerate() {
            Self::build_project(state, spec, now)
                .map_err(|e| e.within(format!("projects[{i}]")))?;
        }
        Ok(())
    }

    fn build_project(
        state: &mut TenantState,
        spec: &ProjectSpec,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let members = match &spec.members {
            Some(list) => {
                let mut members: Vec<Member> = Vec::new();
                for (i, (upn, role)) in list.iter().enumerate() {
                    let user = state
                        .user(upn.as_str())
                        .map_err(|e| e.at(format!("members[{i}].upn")))?
                        .object_id;
                    if members.iter().any(|m| m.user == user) {
                        return Err(SimError::new(
                            ErrorCode::MemberExists,
                            format!("{upn} is listed twice"),
                        )
                        .at(format!("members[{i}].upn")));
                    }
                    members.push(Member { user, role: *role });
                }
                members
            }
            None => state
                .users
                .first()
                .map(|u| Member {
                    user: u.object_id,
                    role: ProjectRole::Owner,
                })
                .into_iter()
                .collect(),
        };
        let id = Self::new_project_id(state, spec.id)?;
        let fallback_admin = members
            .iter()
            .find(|m| m.role == ProjectRole::Owner)
            .or(members.first())
            .map(|m| m.user);
        state.lcs.projects.push(Project {
            id,
            name: spec.name.clone(),
            created: now,
            members,
            environments: Vec::new(),
            assets: Vec::new(),
        });
        for (i, env) in spec.environments.iter().enumerate() {
            let mut environment = Self::new_environment(state, id, env, fallback_admin, now)
                .map_err(|e| e.within(format!("environments[{i}]")))?;
            environment.state = match env.state {
                None | Some(EnvironmentState::Deployed) => EnvironmentState::Deployed,
                Some(s @ (EnvironmentState::Stopped | EnvironmentState::Deallocated))
                    if environment.infrastructure == Infrastructure::CustomerManaged =>
                {
                    s
                }
                Some(s) => {
                    return Err(SimError::new(
                        ErrorCode::InvalidEnvironmentSpec,
                        format!(
                            "a declared environment can be Deployed, or Stopped/Deallocated when \
                             customer-managed; not {}",
                            s.as_str()
                        ),
                    )
                    .at(format!("environments[{i}].state")));
                }
            };
            environment.deployed_on = Some(now);
            state.lcs.project_mut(id)?.environments.push(environment);
        }
        Ok(())
    }

    fn new_project_id(
        state: &mut TenantState,
        wanted: Option<ProjectId>,
    ) -> Result<ProjectId, SimError> {
        let taken =
            |state: &TenantState, id: ProjectId| state.lcs.projects.iter().any(|p| p.id == id);
        match wanted {
            Some(id) if taken(state, id) => Err(SimError::new(
                ErrorCode::InvalidProjectId,
                format!("project {id} already exists"),
            )
            .at("id")),
            Some(id) => Ok(id),
            None => loop {
                let id = ProjectId(state.rng.random_range(1_000_000..10_000_000));
                if !taken(state, id) {
                    break Ok(id);
                }
            },
        }
    }

    /// A new environment (state `Deploying`) validated against the project and tenant.
    fn new_environment(
        state: &mut TenantState,
        project: ProjectId,
        spec: &EnvironmentSpec,
        fallback_admin: Option<ObjectId>,
        now: Timestamp,
    ) -> Result<FoEnvironment, SimError> {
        check_name(&spec.name, "environment name", 50)?;
        let p = state.lcs.project(project)?;
        if p.environments
            .iter()
            .any(|e| e.name.eq_ignore_ascii_case(&spec.name))
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentExists,
                format!(
                    "project {project} already has an environment named '{}'; pick another name",
                    spec.name
                ),
            )
            .at("name"));
        }
        let infrastructure = spec.infrastructure.unwrap_or(if spec.env_type.is_tier1() {
            Infrastructure::CustomerManaged
        } else {
            Infrastructure::MicrosoftManaged
        });
        match (spec.env_type.is_tier1(), infrastructure) {
            (false, Infrastructure::CustomerManaged) | (true, Infrastructure::SelfService) => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    format!(
                        "{} environments cannot be {}: Tier-1 (DevTest) environments are \
                         customer- or Microsoft-managed, Sandbox and Production are \
                         Microsoft-managed or self-service",
                        spec.env_type.as_str(),
                        infrastructure.as_str()
                    ),
                )
                .at("infrastructure"));
            }
            _ => {}
        }
        let administrator = match &spec.administrator {
            Some(upn) => {
                state
                    .user(upn.as_str())
                    .map_err(|e| e.at("administrator"))?
                    .object_id
            }
            None => fallback_admin.ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    "name the environment's administrator (a user of the tenant)",
                )
                .at("administrator")
            })?,
        };
        let id = match spec.id {
            Some(id) if state.lcs.find_environment(id).is_some() => {
                return Err(SimError::new(
                    ErrorCode::EnvironmentExists,
                    format!("an environment with id {id} already exists"),
                )
                .at("id"));
            }
            Some(id) => id,
            None => EnvironmentId(random_uuid(&mut state.rng)),
        };
        let size_gb = spec.database_size_gb.unwrap_or(DEFAULT_DATABASE_GB);
        if size_gb == 0 || size_gb * 1024 > spec.env_type.max_database_mb() {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentSpec,
                format!(
                    "databaseSizeGb must be between 1 and {} for a {} environment",
                    spec.env_type.max_database_mb() / 1024,
                    spec.env_type.as_str()
                ),
            )
            .at("databaseSizeGb"));
        }
        let release = spec.release.unwrap_or(DEFAULT_RELEASE);
        let topology = match spec.topology.as_deref().map(str::trim) {
            Some(t) if t.is_empty() || t.chars().count() > 200 => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    "a topology name has 1 to 200 characters",
                )
                .at("topology"));
            }
            t => t.map(str::to_string),
        };
        let url = Self::endpoint_url(state, &spec.name, spec.env_type, infrastructure);
        Ok(FoEnvironment {
            id,
            name: spec.name.clone(),
            env_type: spec.env_type,
            infrastructure,
            region: spec.region.unwrap_or(Region::parse(DEFAULT_REGION)?),
            release,
            administrator,
            url,
            state: EnvironmentState::Deploying,
            deployed_on: None,
            created: now,
            database: Database {
                size_mb: size_gb * 1024,
                release,
                origin: DataOrigin::Deployment,
                as_of: now,
            },
            busy: None,
            history: Vec::new(),
            packages: Vec::new(),
            topology,
            integration: None,
        })
    }

    /// The endpoint in the real naming patterns, unique in the tenant.
    fn endpoint_url(
        state: &mut TenantState,
        name: &str,
        env_type: EnvironmentType,
        infrastructure: Infrastructure,
    ) -> String {
        let host: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '_' { '-' } else { c })
            .collect();
        loop {
            let tag: u32 = state.rng.random();
            let url = match (env_type, infrastructure) {
                (t, Infrastructure::CustomerManaged) if t.is_tier1() => {
                    format!("https://{host}{:08x}devaos.cloudax.dynamics.com/", tag)
                }
                (t, _) if t.is_tier1() => {
                    format!("https://{host}{:08x}.axcloud.dynamics.com/", tag)
                }
                (EnvironmentType::Production, _) => {
                    format!("https://{host}.operations.dynamics.com/")
                }
                _ => format!("https://{host}.sandbox.operations.dynamics.com/"),
            };
            let taken = state
                .lcs
                .projects
                .iter()
                .flat_map(|p| &p.environments)
                .any(|e| e.url == url);
            if !taken {
                return url;
            }
            // Same name in another project: fall back to a tagged host.
            let tagged = format!("{host}{:04x}", tag & 0xffff);
            if tagged != host {
                return match env_type {
                    EnvironmentType::Production => {
                        format!("https://{tagged}.operations.dynamics.com/")
                    }
                    t if t.is_tier1() => format!("https://{tagged}devaos.cloudax.dynamics.com/"),
                    _ => format!("https://{tagged}.sandbox.operations.dynamics.com/"),
                };
            }
        }
    }

    /// The projects a user is a member of.
    pub fn lcs_projects_of(&self, user: ObjectId) -> Vec<&Project> {
        self.state
            .lcs
            .projects
            .iter()
            .filter(|p| p.member(user).is_some())
            .collect()
    }

    /// The project, if `user` may act in it (project owner or environment manager).
    pub fn lcs_project_for(
        &self,
        project: ProjectId,
        user: ObjectId,
    ) -> Result<&Project, SimError> {
        let p = self.state.lcs.project(project)?;
        match p.member(user) {
            Some(m) if m.role.may_manage() => Ok(p),
            Some(m) => Err(SimError::new(
                ErrorCode::ProjectAccessDenied,
                format!(
                    "You are a {} of project {project}; this needs the Project owner or \
                     Environment manager role. Ask a project owner to change your role",
                    m.role.as_str()
                ),
            )),
            None => Err(SimError::new(
                ErrorCode::ProjectAccessDenied,
                format!(
                    "You are not a member of project {project}, or have not accepted the \
                     invitation. Ask a project owner to add you"
                ),
            )),
        }
    }

    /// Records a call against throttled budgets (see [`Throttles::admit`]).
    pub fn lcs_throttle(
        &mut self,
        budgets: &[Budget],
        api: &str,
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.state.lcs.throttles.admit(budgets, api, now)
    }

    /// Creates a project with `owner` as its project owner.
    pub fn create_project(
        &mut self,
        name: &str,
        owner: ObjectId,
        now: Timestamp,
    ) -> Result<ProjectId, SimError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(SimError::new(
                ErrorCode::InvalidName,
                "a project name has 1 to 100 characters",
            )
            .at("name"));
        }
        let id = Self::new_project_id(&mut self.state, None)?;
        self.state.lcs.projects.push(Project {
            id,
            name: name.to_string(),
            created: now,
            members: vec![Member {
                user: owner,
                role: ProjectRole::Owner,
            }],
            environments: Vec::new(),
            assets: Vec::new(),
        });
        Ok(id)
    }

    /// Adds a tenant user to a project (or changes their role); only project owners may.
    pub fn set_project_member(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        upn: &str,
        role: ProjectRole,
    ) -> Result<(), SimError> {
        let p = self.lcs_project_for(project, actor)?;
        if p.member(actor).map(|m| m.role) != Some(ProjectRole::Owner) {
            return Err(SimError::new(
                ErrorCode::ProjectAccessDenied,
                "Only a project owner can add members or change roles",
            ));
        }
        let user = self.state.user(upn).map_err(|e| e.at("upn"))?.object_id;
        let p = self.state.lcs.project_mut(project)?;
        match p.members.iter_mut().find(|m| m.user == user) {
            Some(m) => m.role = role,
            None => p.members.push(Member { user, role }),
        }
        Ok(())
    }

    /// Starts deploying a new environment (portal only).
    pub fn deploy_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        spec: &EnvironmentSpec,
        now: Timestamp,
    ) -> Result<(EnvironmentId, OperationId), SimError> {
        self.lcs_project_for(project, actor)?;
        let env = Self::new_environment(&mut self.state, project, spec, Some(actor), now)?;
        let id = env.id;
        self.state.lcs.project_mut(project)?.environments.push(env);
        let op = self.begin(
            project,
            id,
            Action::Deploy,
            "Deploy environment".into(),
            Via::Portal,
            now,
        )?;
        Ok((id, op))
    }

    /// Refreshes `target`'s database from `source` (API: sandbox targets only; portal: also the
    /// sandbox → production copy before go-live).
    pub fn database_refresh(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        source: EnvironmentId,
        target: EnvironmentId,
        via: Via,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.lcs_project_for(project, actor)?;
        if source == target {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                "The source and target environments are the same; a refresh copies one \
                 environment's database over another's",
            ));
        }
        let s = p.environment(source)?;
        let t = p.environment(target)?;
        match (s.env_type, t.env_type, via) {
            (_, EnvironmentType::Production, Via::Api) => {
                return Err(SimError::new(
                    ErrorCode::OperationNotAllowed,
                    format!(
                        "{} is a production environment. The API refreshes sandbox environments \
                         only; copying a sandbox to production before go-live is done in LCS",
                        t.name
                    ),
                ));
            }
            (EnvironmentType::Sandbox, EnvironmentType::Production, Via::Portal) => {}
            (_, EnvironmentType::Production, Via::Portal) => {
                return Err(SimError::new(
                    ErrorCode::OperationNotAllowed,
                    "Only a sandbox can be copied to production",
                ));
            }
            (st, tt, _) if st.is_tier1() || tt.is_tier1() => {
                let tier1 = if st.is_tier1() { s } else { t };
                return Err(SimError::new(
                    ErrorCode::OperationNotAllowed,
                    format!(
                        "{} is a Tier-1 ({}) environment. Database refresh is supported between \
                         Production and Sandbox (Tier-2+) environments only; move Tier-1 data \
                         with an export and a bacpac import",
                        tier1.name,
                        tier1.env_type.as_str()
                    ),
                ));
            }
            _ => {}
        }
        Self::check_ready(s)?;
        Self::check_ready(t)?;
        if s.region.name != t.region.name {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "The databases must be in the same Azure region: {} is in {}, {} is in {}",
                    s.name, s.region.name, t.name, t.region.name
                ),
            ));
        }
        if s.release != t.release {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "The application releases differ: {} runs {}, {} runs {}. Update one so \
                     that both run the same release, then refresh",
                    s.name, s.release, t.name, t.release
                ),
            ));
        }
        if s.database.size_mb > t.env_type.max_database_mb() {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{}'s database ({} GB) exceeds what {} can hold ({} GB)",
                    s.name,
                    s.database.size_mb / 1024,
                    t.name,
                    t.env_type.max_database_mb() / 1024
                ),
            ));
        }
        Self::check_budget(t, via, now)?;
        let data = Database {
            origin: DataOrigin::Refresh {
                source,
                source_name: s.name.clone(),
            },
            as_of: now,
            ..s.database.clone()
        };
        self.begin(
            project,
            target,
            Action::Refresh { data },
            "Refresh database".into(),
            via,
            now,
        )
    }

    /// Exports a sandbox's database to the project's asset library as `backup_name`.
    pub fn database_export(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        backup_name: &str,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let e = p.environment(env)?;
        let name = backup_name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.contains(['/', '\\']) {
            return Err(SimError::new(
                ErrorCode::InvalidAsset,
                "The backup name must have 1 to 100 characters and no slashes",
            ));
        }
        if e.env_type != EnvironmentType::Sandbox {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment; databases can be exported only from sandbox (UAT) \
                     environments",
                    e.name,
                    e.env_type.as_str()
                ),
            ));
        }
        Self::check_ready(e)?;
        if e.database.size_mb > MAX_EXPORT_MB {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{}'s database is {} GB; exports are limited to 50 GB. Clean up data \
                     before exporting",
                    e.name,
                    e.database.size_mb / 1024
                ),
            ));
        }
        Self::check_budget(e, Via::Api, now)?;
        let action = Action::Export {
            backup_name: name.to_string(),
            data: e.database.clone(),
        };
        self.begin(
            project,
            env,
            action,
            "Export database".into(),
            Via::Api,
            now,
        )
    }

    /// Starts a customer-managed environment; `None` when it is already running (which the
    /// API reports as success).
    pub fn start_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<Option<OperationId>, SimError> {
        let e = self.lcs_project_for(project, actor)?.environment(env)?;
        Self::check_start_stop(e, "started")?;
        match e.state {
            EnvironmentState::Deployed => Ok(None),
            EnvironmentState::Stopped | EnvironmentState::Deallocated => self
                .begin(
                    project,
                    env,
                    Action::Start,
                    "Start environment".into(),
                    Via::Api,
                    now,
                )
                .map(Some),
            _ => Err(Self::not_ready(e)),
        }
    }

    /// Stops a running customer-managed environment.
    pub fn stop_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let e = self.lcs_project_for(project, actor)?.environment(env)?;
        Self::check_start_stop(e, "stopped")?;
        match e.state {
            EnvironmentState::Deployed => self.begin(
                project,
                env,
                Action::Stop,
                "Stop environment".into(),
                Via::Api,
                now,
            ),
            EnvironmentState::Stopped | EnvironmentState::Deallocated => Err(SimError::new(
                ErrorCode::EnvironmentNotReady,
                format!("{} is already stopped", e.name),
            )),
            _ => Err(Self::not_ready(e)),
        }
    }

    fn check_start_stop(e: &FoEnvironment, verb: &str) -> Result<(), SimError> {
        if e.infrastructure != Infrastructure::CustomerManaged {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is {}; only customer-managed environments can be {verb} through the API",
                    e.name,
                    e.infrastructure.as_str()
                ),
            ));
        }
        Self::check_idle(e)
    }

    /// Deploys a validated software deployable package from the asset library.
    pub fn apply_package(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        asset: AssetId,
        update_name: Option<&str>,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let e = p.environment(env)?;
        let a = Self::live_asset(p, asset, now)?;
        if a.file_type != FileType::PACKAGE {
            return Err(SimError::new(
                ErrorCode::AssetNotReady,
                format!(
                    "Asset '{}' is a {}; only software deployable packages can be deployed",
                    a.name,
                    a.file_type.0.as_str()
                ),
            ));
        }
        match a.validation(now) {
            Validation::Valid => {}
            Validation::Process => {
                return Err(SimError::new(
                    ErrorCode::AssetNotReady,
                    format!(
                        "Asset '{}' is still being validated; wait until its status is Valid",
                        a.name
                    ),
                ));
            }
            Validation::NotCommitted => {
                return Err(SimError::new(
                    ErrorCode::AssetNotReady,
                    format!(
                        "Asset '{}' has not been committed; upload and commit it first",
                        a.name
                    ),
                ));
            }
            Validation::Invalid(why) => {
                return Err(SimError::new(
                    ErrorCode::AssetNotReady,
                    format!("Asset '{}' failed validation: {why}", a.name),
                ));
            }
        }
        if e.env_type == EnvironmentType::Production {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a production environment; package deployment to production cannot be \
                     automated. Schedule it in LCS",
                    e.name
                ),
            ));
        }
        let update_name = update_name.map(str::trim).filter(|n| !n.is_empty());
        if e.infrastructure == Infrastructure::SelfService && update_name.is_none() {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is self-service; name the update with ?updateName=",
                    e.name
                ),
            ));
        }
        Self::check_ready(e)?;
        let name = update_name.unwrap_or(&a.name).to_string();
        self.begin(
            project,
            env,
            Action::Package { name: name.clone() },
            name,
            Via::Api,
            now,
        )
    }

    /// Deallocates a customer-managed environment (portal only).
    pub fn deallocate_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let e = self.lcs_project_for(project, actor)?.environment(env)?;
        if e.infrastructure != Infrastructure::CustomerManaged {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is {}; only customer-managed (cloud-hosted) environments can be \
                     deallocated. Delete it instead",
                    e.name,
                    e.infrastructure.as_str()
                ),
            ));
        }
        Self::check_idle(e)?;
        match e.state {
            EnvironmentState::Deployed | EnvironmentState::Stopped => self.begin(
                project,
                env,
                Action::Deallocate,
                "Deallocate environment".into(),
                Via::Portal,
                now,
            ),
            _ => Err(Self::not_ready(e)),
        }
    }

    /// Deletes an environment (portal only); it disappears when the operation finishes.
    pub fn delete_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let e = p.environment(env)?;
        Self::check_idle(e)?;
        if let Some(target) = p.environments.iter().find(|t| {
            t.busy.is_some_and(|(id, kind)| {
                kind == HistoryKind::Refresh && t.entry(id).is_some_and(|h| h.source == Some(env))
            })
        }) {
            return Err(SimError::new(
                ErrorCode::EnvironmentBusy,
                format!(
                    "{} is the source of the database refresh running on {}; wait for the refresh \
                     to finish before deleting it",
                    e.name, target.name
                ),
            ));
        }
        if let Some(i) = &e.integration
            && self
                .operation(i.setup)
                .is_ok_and(|op| op.state() == RunState::Running)
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentBusy,
                format!(
                    "Power Platform integration setup is running on {}; wait until it has \
                     finished or failed before deleting the environment",
                    e.name
                ),
            ));
        }
        if e.env_type == EnvironmentType::Production && e.state != EnvironmentState::Failed {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a production environment; LCS does not delete production \
                     environments. Submit a support request",
                    e.name
                ),
            ));
        }
        if e.infrastructure == Infrastructure::CustomerManaged
            && e.state == EnvironmentState::Deployed
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentNotReady,
                format!(
                    "{} is running; stop or deallocate it before deleting it",
                    e.name
                ),
            ));
        }
        self.begin(
            project,
            env,
            Action::Delete,
            "Delete environment".into(),
            Via::Portal,
            now,
        )
    }

    /// Imports a database backup from the asset library into a sandbox (portal only).
    pub fn import_database(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        backup: AssetId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let e = p.environment(env)?;
        let a = Self::live_asset(p, backup, now)?;
        if a.file_type != FileType::BACKUP || a.validation(now) != Validation::Valid {
            return Err(SimError::new(
                ErrorCode::AssetNotReady,
                format!("Asset '{}' is not a valid database backup", a.name),
            ));
        }
        if e.env_type != EnvironmentType::Sandbox {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment; backups can be imported into sandbox environments only",
                    e.name,
                    e.env_type.as_str()
                ),
            ));
        }
        Self::check_ready(e)?;
        Self::check_budget(e, Via::Portal, now)?;
        let data = Database {
            size_mb: e.database.size_mb,
            release: e.release,
            origin: DataOrigin::Import {
                backup,
                backup_name: a.name.clone(),
            },
            as_of: a.created,
        };
        self.begin(
            project,
            env,
            Action::Import { data },
            "Import database".into(),
            Via::Portal,
            now,
        )
    }

    /// Point-in-time restore (portal only): a sandbox in place, or production into a sandbox.
    pub fn point_in_time_restore(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        source: Option<EnvironmentId>,
        point: Timestamp,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let e = p.environment(env)?;
        let s = match source {
            Some(id) if id != env => p.environment(id)?,
            _ => e,
        };
        if e.env_type != EnvironmentType::Sandbox {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment; point-in-time restore targets sandbox environments \
                     only",
                    e.name,
                    e.env_type.as_str()
                ),
            ));
        }
        if s.id != e.id && s.env_type != EnvironmentType::Production {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "Point-in-time restore into a sandbox comes from production or from the \
                     sandbox itself; {} is a {}",
                    s.name,
                    s.env_type.as_str()
                ),
            ));
        }
        let retention = if s.env_type == EnvironmentType::Production {
            PRODUCTION_PITR_RETENTION
        } else {
            SANDBOX_PITR_RETENTION
        };
        let oldest = now
            .checked_sub(retention)
            .unwrap_or(Timestamp::MIN)
            .max(s.created);
        if point > now || point < oldest {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "The point in time must be between {oldest} and {now} ({} keeps {} days of \
                     backups)",
                    s.name,
                    retention.as_hours() / 24
                ),
            )
            .at("pointInTime"));
        }
        Self::check_ready(e)?;
        Self::check_budget(e, Via::Portal, now)?;
        let data = Database {
            origin: DataOrigin::PointInTimeRestore {
                source: s.id,
                source_name: s.name.clone(),
                point_in_time: point,
            },
            as_of: point,
            ..s.database.clone()
        };
        self.begin(
            project,
            env,
            Action::PointInTimeRestore { data },
            "Point-in-time restore".into(),
            Via::Portal,
            now,
        )
    }

    /// LCS cannot change an environment's type.
    pub fn change_environment_type(
        &self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        wanted: &str,
    ) -> Result<(), SimError> {
        let e = self.lcs_project_for(project, actor)?.environment(env)?;
        Err(SimError::new(
            ErrorCode::EnvironmentTypeImmutable,
            format!(
                "{} is a {} environment and LCS cannot change an environment's type (asked for \
                 '{wanted}'). Deploy a new environment of the type you need",
                e.name,
                e.env_type.as_str()
            ),
        ))
    }

    /// The history entry of an activity on an environment.
    pub fn lcs_activity(
        &self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        activity: &str,
    ) -> Result<&HistoryEntry, SimError> {
        let e = self.lcs_project_for(project, actor)?.environment(env)?;
        OperationId::parse(activity)
            .ok()
            .and_then(|id| e.entry(id))
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::ActivityNotFound,
                    format!(
                        "Operation activity '{activity}' was not found for environment {env}. \
                         For a refresh pass the target environment, for an export the source"
                    ),
                )
            })
    }

    /// Creates an asset slot awaiting its upload.
    pub fn create_asset(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        spec: AssetSpec,
        now: Timestamp,
    ) -> Result<&Asset, SimError> {
        self.lcs_project_for(project, actor)?;
        for (field, value, max) in [
            ("Name", &spec.name, 200),
            ("FileName", &spec.file_name, 250),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(SimError::new(
                    ErrorCode::InvalidAsset,
                    format!("{field} must have 1 to {max} characters"),
                )
                .at(field));
            }
        }
        let created_by = self
            .state
            .user_by_id(actor)
            .map_or_else(String::new, |u| u.display_name.clone());
        let id = AssetId(random_uuid(&mut self.state.rng));
        let p = self.state.lcs.project_mut(project)?;
        p.assets.retain(|a| {
            a.is_committed() || clock::saturating_add(a.created, PENDING_ASSET_LIFETIME) > now
        });
        p.assets.push(Asset {
            id,
            name: spec.name.trim().to_string(),
            file_name: spec.file_name.trim().to_string(),
            description: spec.description.filter(|d| !d.trim().is_empty()),
            file_type: spec.file_type,
            declared_size: spec.size,
            blob: id.0.simple().to_string(),
            created: now,
            modified: now,
            created_by,
            state: AssetState::AwaitingUpload,
        });
        let last = p.assets.len() - 1;
        Ok(&p.assets[last])
    }

    /// Commits an uploaded asset: validation starts and ends a few virtual minutes later.
    pub fn commit_asset(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        asset: AssetId,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let a = Self::live_asset(p, asset, now)?;
        if a.is_committed() {
            return Ok(());
        }
        let blob = self
            .state
            .blobs
            .get(ASSET_CONTAINER, &a.blob)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::AssetNotReady,
                    format!(
                        "Nothing has been uploaded for asset {asset}; PUT the file to its \
                     FileLocation before committing"
                    ),
                )
            })?;
        let outcome = files::validate(a.file_type, &blob.data);
        let secs = self.state.rng.random_range(60..=180);
        let until = clock::saturating_add(now, SignedDuration::from_secs(secs));
        let a = self
            .state
            .lcs
            .project_mut(project)?
            .assets
            .iter_mut()
            .find(|a| a.id == asset)
            .ok_or_else(|| SimError::internal("asset vanished"))?;
        a.state = AssetState::Validating { until, outcome };
        a.modified = now;
        Ok(())
    }

    /// Deletes an asset and its file.
    pub fn delete_asset(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        asset: AssetId,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let p = self.lcs_project_for(project, actor)?;
        let blob = Self::live_asset(p, asset, now)?.blob.clone();
        self.state.blobs.delete(ASSET_CONTAINER, &blob);
        self.state
            .lcs
            .project_mut(project)?
            .assets
            .retain(|a| a.id != asset);
        Ok(())
    }

    /// An asset that has not expired unfinished.
    pub fn live_asset(p: &Project, asset: AssetId, now: Timestamp) -> Result<&Asset, SimError> {
        let a = p.asset(asset)?;
        if !a.is_committed() && clock::saturating_add(a.created, PENDING_ASSET_LIFETIME) <= now {
            return Err(SimError::new(
                ErrorCode::AssetNotFound,
                format!(
                    "Asset {asset} was created at {} and never committed; pending assets expire \
                     after 24 hours. Create it again",
                    a.created
                ),
            ));
        }
        Ok(a)
    }

    fn check_idle(e: &FoEnvironment) -> Result<(), SimError> {
        match e.busy {
            Some((activity, kind)) => Err(SimError::new(
                ErrorCode::EnvironmentBusy,
                format!(
                    "{} is undergoing another operation ({}, activity {activity}); wait for it \
                     to finish",
                    e.name,
                    kind.display()
                ),
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn check_ready(e: &FoEnvironment) -> Result<(), SimError> {
        Self::check_idle(e)?;
        if e.state != EnvironmentState::Deployed {
            return Err(Self::not_ready(e));
        }
        Ok(())
    }

    fn not_ready(e: &FoEnvironment) -> SimError {
        SimError::new(
            ErrorCode::EnvironmentNotReady,
            format!(
                "{} is {}; this needs a deployed, running environment",
                e.name,
                e.state.as_str().to_ascii_lowercase()
            ),
        )
    }

    /// The documented budget: 3 database operations per environment per 24 hours (portal
    /// operations count; only the API is refused).
    fn check_budget(e: &FoEnvironment, via: Via, now: Timestamp) -> Result<(), SimError> {
        let since = clock::saturating_add(now, SignedDuration::from_hours(-24));
        if via == Via::Api
            && e.database_operations_since(since).len() >= DATABASE_OPERATIONS_PER_DAY
        {
            return Err(SimError::new(
                ErrorCode::DatabaseOperationLimit,
                format!(
                    "Maximum allowed API operations are {DATABASE_OPERATIONS_PER_DAY} from {}",
                    lcs_ticks(since)
                ),
            ));
        }
        Ok(())
    }

    /// Starts an LCS operation on an environment and records it in the history.
    fn begin(
        &mut self,
        project: ProjectId,
        env: EnvironmentId,
        action: Action,
        name: String,
        via: Via,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let kind = action.kind();
        let stages = action.stages();
        let source = match &action {
            Action::Refresh { data } => match data.origin {
                DataOrigin::Refresh { source, .. } => Some(source),
                _ => None,
            },
            _ => None,
        };
        let work = Work {
            kind: action.engine_kind().to_string(),
            portal: Portal::Lcs,
            target: Target {
                kind: "lcsEnvironment".to_string(),
                id: env.to_string(),
            },
            effect: Effect::Lcs(LcsEffect {
                project,
                env,
                action,
            }),
        };
        let id = self.start_operation(work, &stages, None, now)?;
        let e = self.state.lcs.project_mut(project)?.environment_mut(env)?;
        e.busy = Some((id, kind));
        e.history.push(HistoryEntry {
            activity: id,
            name,
            kind,
            started: now,
            ended: None,
            status: OpStatus::NotStarted,
            via_api: via == Via::Api,
            error: None,
            source,
        });
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: usize, secs: i64) -> Budget {
        Budget {
            key: "k".into(),
            limit,
            window: SignedDuration::from_secs(secs),
            rule: "test",
        }
    }

    #[test]
    fn throttle_refuses_past_the_limit_and_frees_up_with_time() {
        let mut t = Throttles::default();
        let start = Timestamp::UNIX_EPOCH;
        for i in 0..6 {
            assert!(
                t.admit(
                    &[budget(6, 60)],
                    "api",
                    start + SignedDuration::from_secs(i)
                )
                .is_ok()
            );
        }
        let at = start + SignedDuration::from_secs(10);
        let err = t.admit(&[budget(6, 60)], "api", at).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(ErrorCode::Throttled));
        assert_eq!(err.and_then(|e| e.retry_after), Some(50));
        assert!(
            t.admit(
                &[budget(6, 60)],
                "api",
                start + SignedDuration::from_secs(60)
            )
            .is_ok()
        );
    }

    #[test]
    fn lcs_ticks_have_seven_fractional_digits() {
        let t = Timestamp::UNIX_EPOCH + SignedDuration::from_millis(1500);
        assert_eq!(lcs_ticks(t), "1970-01-01T00:00:01.5000000");
    }
}
