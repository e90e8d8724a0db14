//! The LCS half of a tenant: projects, F&O environments, their operations and the asset library,
//! with the documented rules of the real service. No HTTP here; `api::lcs` and `api::portal`
//! render these results in their envelopes.
//!
//! Every LCS operation (deploy, database refresh/export/import, point-in-time restore, package
//! deployment, start, stop, deallocate, delete) is an operation of the tenant's engine: its
//! status and the environment's history follow the virtual clock through `settle`. Whether an
//! environment is busy, what its status reads and how each history entry stands are read from
//! its operations (`view.rs`), never copied into the environment.

pub mod files;
pub(crate) mod model;

mod assets;
mod database;
mod effect;
mod lifecycle;
mod projects;
#[cfg(test)]
mod tests;
mod view;

pub(crate) use model::*;
pub(crate) use view::{Activity, FoView};

use super::identity::Upn;
use crate::error::{ErrorCode, SimError};
use crate::ops::StageSpec;
use jiff::{SignedDuration, Timestamp};
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
    /// Rebuilds every project's environment index (after loading a snapshot).
    pub fn reindex(&mut self) {
        self.projects.iter_mut().for_each(Project::reindex);
    }

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

    /// The environment with this id in any project (through each project's index: O(projects)).
    pub fn find_environment(&self, id: EnvironmentId) -> Option<(&Project, &FoEnvironment)> {
        self.projects
            .iter()
            .find_map(|p| p.find(id).map(|e| (p, e)))
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

/// The refusal when an environment a database refresh names belongs to another tenant.
pub fn foreign_environment(id: EnvironmentId) -> SimError {
    SimError::new(
        ErrorCode::OperationNotAllowed,
        format!(
            "Environment {id} belongs to another tenant. Database refresh between tenants is not \
             supported: both environments must be in the same tenant"
        ),
    )
}

/// LCS timestamps print like `2019-09-30T04:01:01.9999999` in throttling messages.
fn lcs_ticks(t: Timestamp) -> String {
    format!(
        "{}.{:07}",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_nanosecond() / 100
    )
}

#[cfg(test)]
mod throttle_tests {
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
