//! The LCS vocabulary: projects, members, F&O environments, their types, regions, releases,
//! databases and history, with the names the real service uses on the wire.

use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::identity::ObjectId;
use crate::world::identity::PpEnvId;
use crate::world::wire::wire_enum;
use foldhash::{HashMap, HashMapExt};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use uuid::Uuid;

/// An LCS project id (a number, e.g. `1234567`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ProjectId(pub u64);

impl ProjectId {
    /// Parses a project id as it appears in paths.
    pub fn parse(text: &str) -> Result<ProjectId, SimError> {
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0 && *n < 1 << 31)
            .map(ProjectId)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidProjectId,
                    format!(
                        "'{text}' is not an LCS project id; project ids are positive numbers such \
                         as 1234567 (GET /_portal/lcs/projects lists yours)"
                    ),
                )
            })
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A project member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRole {
    /// Full control.
    Owner,
    /// Manages environments (the "environment administrator" of the API docs).
    EnvironmentManager,
    /// Read-only member; the public API refuses it.
    TeamMember,
}

impl ProjectRole {
    /// The portal's name for the role.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Owner => "Project owner",
            ProjectRole::EnvironmentManager => "Environment manager",
            ProjectRole::TeamMember => "Project team member",
        }
    }

    /// Parses a role name (portal wording, case-insensitive; short forms accepted).
    pub fn parse(text: &str) -> Result<ProjectRole, SimError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "project owner" | "owner" => Ok(ProjectRole::Owner),
            "environment manager" | "environment administrator" | "environment admin" => {
                Ok(ProjectRole::EnvironmentManager)
            }
            "project team member" | "team member" => Ok(ProjectRole::TeamMember),
            _ => Err(SimError::new(
                ErrorCode::InvalidProjectRole,
                format!(
                    "'{text}' is not an LCS project role; use 'Project owner', 'Environment \
                     manager' or 'Project team member'"
                ),
            )),
        }
    }

    /// Whether the role may call the public API and act on environments.
    pub fn may_manage(self) -> bool {
        matches!(self, ProjectRole::Owner | ProjectRole::EnvironmentManager)
    }
}

impl serde::Serialize for ProjectRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

crate::world::identity::deserialize_by_parse!(ProjectRole);

/// A user's membership of a project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The tenant user.
    pub user: ObjectId,
    /// What they may do.
    pub role: ProjectRole,
}

pub use crate::world::identity::EnvironmentId;

/// An asset-library file id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AssetId(pub Uuid);

impl AssetId {
    /// Parses a dashed or undashed GUID.
    pub fn parse(text: &str) -> Result<AssetId, SimError> {
        Uuid::try_parse(text.trim()).map(AssetId).map_err(|_| {
            SimError::new(
                ErrorCode::InvalidAssetId,
                format!(
                    "'{text}' is not an asset id; use the Id returned by CreateFileAsset or \
                     GetAssets"
                ),
            )
            .at("assetId")
        })
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

wire_enum! {
    /// An F&O environment's type, fixed at deployment.
    EnvironmentType {
        /// Tier-2+ production.
        Production => "Production",
        /// Tier-2+ sandbox (UAT).
        Sandbox => "Sandbox",
        /// Tier-1 development box.
        DevTestDev => "DevTestDev",
        /// Tier-1 build box.
        DevTestBuild => "DevTestBuild",
    }
}

impl EnvironmentType {
    /// Tier-1 (DevTest) environments cannot take part in database movement.
    pub fn is_tier1(self) -> bool {
        matches!(
            self,
            EnvironmentType::DevTestDev | EnvironmentType::DevTestBuild
        )
    }

    /// Largest database the environment's tier holds, in MB.
    pub fn max_database_mb(self) -> u64 {
        match self {
            EnvironmentType::Production => 4 * 1024 * 1024,
            EnvironmentType::Sandbox => 500 * 1024,
            EnvironmentType::DevTestDev | EnvironmentType::DevTestBuild => 250 * 1024,
        }
    }
}

wire_enum! {
    /// Who runs an environment's infrastructure.
    Infrastructure {
        /// Microsoft-managed (Tier-2+ and Microsoft-hosted dev boxes).
        MicrosoftManaged => "MicrosoftManaged",
        /// Self-service (containerised Tier-2+).
        SelfService => "SelfService",
        /// Cloud-hosted in the customer's Azure subscription (Tier-1).
        CustomerManaged => "CustomerManaged",
    }
}

wire_enum! {
    /// An environment's state between operations.
    EnvironmentState {
        /// Being deployed for the first time.
        Deploying => "Deploying",
        /// Deployed and running.
        Deployed => "Deployed",
        /// Stopped (customer-managed only).
        Stopped => "Stopped",
        /// Deallocated (customer-managed only).
        Deallocated => "Deallocated",
        /// The deployment failed.
        Failed => "Failed",
    }
}

wire_enum! {
    /// The LCS operation status vocabulary (`OperationStatus`, history `Status`).
    OpStatus {
        /// Queued.
        NotStarted => "NotStarted",
        /// Servicing: preparing the environment before the package is applied.
        PreparingEnvironment => "PreparingEnvironment",
        /// Running.
        InProgress => "InProgress",
        /// Done.
        Completed => "Completed",
        /// Halted.
        Failed => "Failed",
        /// Completed and signed off.
        SignedOff => "SignedOff",
        /// Cancelled without clean-up.
        Aborted => "Aborted",
        /// Being rolled back.
        RollbackInProgress => "RollbackInProgress",
        /// Rollback halted.
        RollbackFailed => "RollbackFailed",
        /// Rolled back.
        RollbackCompleted => "RollbackCompleted",
    }
}

impl OpStatus {
    /// Whether the operation is still running.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            OpStatus::NotStarted
                | OpStatus::PreparingEnvironment
                | OpStatus::InProgress
                | OpStatus::RollbackInProgress
        )
    }
}

/// An Azure region LCS deploys to, with its disaster-recovery pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Display name, e.g. `East US`.
    pub name: &'static str,
    /// Paired region.
    pub pair: &'static str,
}

/// The regions environments can be deployed to.
pub const REGIONS: &[Region] = &[
    Region {
        name: "East US",
        pair: "West US",
    },
    Region {
        name: "East US 2",
        pair: "Central US",
    },
    Region {
        name: "West US",
        pair: "East US",
    },
    Region {
        name: "West US 2",
        pair: "West Central US",
    },
    Region {
        name: "Central US",
        pair: "East US 2",
    },
    Region {
        name: "South Central US",
        pair: "North Central US",
    },
    Region {
        name: "Canada Central",
        pair: "Canada East",
    },
    Region {
        name: "Brazil South",
        pair: "South Central US",
    },
    Region {
        name: "North Europe",
        pair: "West Europe",
    },
    Region {
        name: "West Europe",
        pair: "North Europe",
    },
    Region {
        name: "UK South",
        pair: "UK West",
    },
    Region {
        name: "France Central",
        pair: "France South",
    },
    Region {
        name: "Germany West Central",
        pair: "Germany North",
    },
    Region {
        name: "Switzerland North",
        pair: "Switzerland West",
    },
    Region {
        name: "Norway East",
        pair: "Norway West",
    },
    Region {
        name: "UAE North",
        pair: "UAE Central",
    },
    Region {
        name: "South Africa North",
        pair: "South Africa West",
    },
    Region {
        name: "Australia East",
        pair: "Australia Southeast",
    },
    Region {
        name: "Japan East",
        pair: "Japan West",
    },
    Region {
        name: "Southeast Asia",
        pair: "East Asia",
    },
    Region {
        name: "Central India",
        pair: "South India",
    },
];

/// Region of environments deployed without one.
pub const DEFAULT_REGION: &str = "East US";

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        Region::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl Region {
    /// The region with this name (case- and space-insensitive: `eastus` works).
    pub fn parse(text: &str) -> Result<Region, SimError> {
        let squash = |s: &str| s.replace(' ', "").to_ascii_lowercase();
        let wanted = squash(text);
        REGIONS
            .iter()
            .copied()
            .find(|r| squash(r.name) == wanted)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidEnvironmentSpec,
                    format!(
                        "'{text}' is not a region LCS deploys to; use one of: {}",
                        REGIONS
                            .iter()
                            .map(|r| r.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .at("region")
            })
    }
}

/// An application release `10.0.N` and the platform update that ships with it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct Release(pub u32);

/// Oldest release LCS still deploys.
pub const OLDEST_RELEASE: Release = Release(38);
/// Newest release.
pub const NEWEST_RELEASE: Release = Release(46);
/// Release of environments deployed without one.
pub const DEFAULT_RELEASE: Release = Release(45);

impl Release {
    /// Parses `10.0.N` (or just `N`) within the supported range.
    pub fn parse(text: &str) -> Result<Release, SimError> {
        let t = text.trim();
        let minor = t.strip_prefix("10.0.").unwrap_or(t).parse::<u32>().ok();
        match minor.map(Release) {
            Some(r) if (OLDEST_RELEASE..=NEWEST_RELEASE).contains(&r) => Ok(r),
            _ => Err(SimError::new(
                ErrorCode::InvalidEnvironmentSpec,
                format!(
                    "'{text}' is not an application release LCS deploys; use {OLDEST_RELEASE} to \
                     {NEWEST_RELEASE}"
                ),
            )
            .at("version")),
        }
    }

    /// The platform update number (10.0.41 shipped with Platform update 65).
    pub fn platform_update(self) -> u32 {
        self.0 + 24
    }

    /// `CurrentApplicationBuildVersion`, e.g. `10.0.2095.13` for 10.0.41.
    pub fn application_build(self) -> String {
        format!("10.0.{}.{}", 1_070 + self.0 * 25, 10 + self.0 % 7)
    }

    /// `CurrentPlatformVersion`, e.g. `7.0.7367.49`.
    pub fn platform_version(self) -> String {
        format!("7.0.{}.{}", 5_315 + self.0 * 52, 20 + self.0 % 11)
    }

    /// `CurrentPlatformReleaseName`, e.g. `Update65`.
    pub fn platform_release_name(self) -> String {
        format!("Update{}", self.platform_update())
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "10.0.{}", self.0)
    }
}

/// Where an environment's data came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DataOrigin {
    /// The database created by the environment's deployment.
    Deployment,
    /// Copied from another environment by a database refresh.
    Refresh {
        /// The source environment.
        source: EnvironmentId,
        /// Its name at the time.
        source_name: String,
    },
    /// Imported from a database backup in the asset library.
    Import {
        /// The backup asset.
        backup: AssetId,
        /// Its name.
        backup_name: String,
    },
    /// Restored from a point in time of an environment (itself, or production).
    PointInTimeRestore {
        /// The environment restored from.
        source: EnvironmentId,
        /// Its name at the time.
        source_name: String,
        /// The point in time.
        point_in_time: Timestamp,
    },
}

/// An environment's database: what the data is and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    /// Allocated size in MB.
    pub size_mb: u64,
    /// The application release the data was created with.
    pub release: Release,
    /// Where the data came from.
    pub origin: DataOrigin,
    /// When the data was taken (for copies: when the copy started or the point in time).
    pub as_of: Timestamp,
}

wire_enum! {
    /// History entry types (the real `Type` names where known).
    HistoryKind {
        /// Environment deployment.
        Deploy => "Deploy",
        /// Database refresh (copy to a sandbox).
        Refresh => "SFSourceDbToSandbox",
        /// Database export to the asset library.
        Export => "SFExportSandboxDb",
        /// Import of a database backup.
        Import => "SFImportDatabase",
        /// Point-in-time restore.
        PointInTimeRestore => "SFPointInTimeRestore",
        /// Software deployable package.
        Package => "ApplicationHotfix",
        /// Start.
        Start => "Start",
        /// Stop.
        Stop => "Stop",
        /// Deallocate.
        Deallocate => "Deallocate",
        /// Delete.
        Delete => "Delete",
    }
}

impl HistoryKind {
    /// `TypeDisplay`.
    pub fn display(self) -> &'static str {
        match self {
            HistoryKind::Deploy => "Deploy environment",
            HistoryKind::Refresh => "Refresh database",
            HistoryKind::Export => "Export database",
            HistoryKind::Import => "Import database",
            HistoryKind::PointInTimeRestore => "Point-in-time restore",
            HistoryKind::Package => "Application deployable package",
            HistoryKind::Start => "Start environment",
            HistoryKind::Stop => "Stop environment",
            HistoryKind::Deallocate => "Deallocate environment",
            HistoryKind::Delete => "Delete environment",
        }
    }
}

/// One entry of an environment's history: the facts fixed when it started. Its status, end and
/// error are its operation's (see `Activity`), never copied here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The activity id (also the operation id in `/_sim`).
    pub activity: OperationId,
    /// `Name`, e.g. "Refresh database" or the package's update name.
    pub name: String,
    /// `Type`.
    pub kind: HistoryKind,
    /// When it started.
    pub started: Timestamp,
    /// Whether it was started through the public API (counts and is blocked by the 3-per-24h
    /// rule) or the portal (counts, never blocked).
    pub via_api: bool,
    /// For a database refresh: the environment copied from.
    pub source: Option<EnvironmentId>,
}

/// An F&O environment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FoEnvironment {
    /// Id.
    pub id: EnvironmentId,
    /// Name, unique in the project.
    pub name: String,
    /// Type; never changes.
    pub env_type: EnvironmentType,
    /// Infrastructure.
    pub infrastructure: Infrastructure,
    /// Primary region.
    pub region: Region,
    /// Application release installed.
    pub release: Release,
    /// The environment administrator (a tenant user).
    pub administrator: ObjectId,
    /// `EnvironmentEndpointBaseUrl`, with its trailing slash.
    pub url: String,
    /// State between operations.
    pub state: EnvironmentState,
    /// When the deployment finished.
    pub deployed_on: Option<Timestamp>,
    /// When the environment was created.
    pub created: Timestamp,
    /// The database.
    pub database: Database,
    /// Every operation, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Names of the packages applied, oldest first.
    pub packages: Vec<String>,
    /// The topology chosen at deployment, if one was named.
    pub topology: Option<String>,
    /// Power Platform integration, once set up (never removed: the link is irreversible).
    pub integration: Option<Integration>,
}

/// The Power Platform integration of an F&O environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// The setup operation.
    pub setup: OperationId,
    /// The Dataverse environment: the existing one, or the new one once setup has created it.
    pub dataverse: Option<PpEnvId>,
    /// Whether setup connects to an existing Dataverse environment.
    pub existing: bool,
}

impl FoEnvironment {
    /// Database operations started in the 24 hours before `now`, oldest first.
    pub fn database_operations_since(&self, since: Timestamp) -> Vec<&HistoryEntry> {
        self.history
            .iter()
            .filter(|h| {
                matches!(h.kind, HistoryKind::Refresh | HistoryKind::Export) && h.started > since
            })
            .collect()
    }
}

wire_enum! {
    /// Asset-library file types (`FileType`, as numbers on the wire; names here).
    FileTypeName {
        /// Model file.
        Model => "Model",
        /// Process data package.
        ProcessDataPackage => "ProcessDataPackage",
        /// Software deployable package.
        SoftwareDeployablePackage => "SoftwareDeployablePackage",
        /// GER configuration.
        GerConfiguration => "GERConfiguration",
        /// Data package.
        DataPackage => "DataPackage",
        /// Database backup (bacpac).
        DatabaseBackup => "DatabaseBackup",
        /// Power BI report model.
        PowerBiReportModel => "PowerBIReportModel",
        /// e-Commerce package.
        ECommercePackage => "ECommercePackage",
        /// NuGet package.
        NuGetPackage => "NuGetPackage",
        /// Retail self-service package.
        RetailSelfServicePackage => "RetailSelfServicePackage",
        /// Commerce Cloud Scale Unit extension.
        CommerceCloudScaleUnitExtension => "CommerceCloudScaleUnitExtension",
    }
}

/// An asset-library file type with its wire number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileType(pub FileTypeName);

impl FileType {
    /// Software deployable packages.
    pub const PACKAGE: FileType = FileType(FileTypeName::SoftwareDeployablePackage);
    /// Database backups.
    pub const BACKUP: FileType = FileType(FileTypeName::DatabaseBackup);

    /// The number clients send (`LcsAssetFileType`).
    pub fn number(self) -> u32 {
        match self.0 {
            FileTypeName::Model => 1,
            FileTypeName::ProcessDataPackage => 4,
            FileTypeName::SoftwareDeployablePackage => 10,
            FileTypeName::GerConfiguration => 12,
            FileTypeName::DataPackage => 15,
            FileTypeName::DatabaseBackup => 17,
            FileTypeName::PowerBiReportModel => 19,
            FileTypeName::ECommercePackage => 26,
            FileTypeName::NuGetPackage => 27,
            FileTypeName::RetailSelfServicePackage => 28,
            FileTypeName::CommerceCloudScaleUnitExtension => 29,
        }
    }

    /// The type with this number.
    pub fn from_number(n: u64) -> Result<FileType, SimError> {
        FileTypeName::ALL
            .iter()
            .map(|t| FileType(*t))
            .find(|t| u64::from(t.number()) == n)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidAsset,
                    format!(
                        "{n} is not an asset file type; use one of {}",
                        FileTypeName::ALL
                            .iter()
                            .map(|t| format!("{} ({})", FileType(*t).number(), t.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .at("FileType")
            })
    }

    /// Whether files of this type are zip archives that validation opens.
    pub fn is_zip(self) -> bool {
        matches!(
            self.0,
            FileTypeName::SoftwareDeployablePackage
                | FileTypeName::DataPackage
                | FileTypeName::ProcessDataPackage
                | FileTypeName::DatabaseBackup
                | FileTypeName::ECommercePackage
                | FileTypeName::CommerceCloudScaleUnitExtension
                | FileTypeName::RetailSelfServicePackage
        )
    }
}

/// Where an asset is in its life.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AssetState {
    /// Created; waiting for the upload and CommitFileAsset (expires after 24 hours).
    AwaitingUpload,
    /// Committed; validation ends at `until` with `outcome` (`Err` = why it is invalid).
    Validating {
        /// When validation ends (virtual).
        until: Timestamp,
        /// What validation will conclude.
        outcome: Result<(), String>,
    },
}

/// A file in a project's asset library.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// Id.
    pub id: AssetId,
    /// `Name`.
    pub name: String,
    /// `FileName`.
    pub file_name: String,
    /// `FileDescription`.
    pub description: Option<String>,
    /// `FileType`.
    pub file_type: FileType,
    /// Size declared at creation (`SizeByte`).
    pub declared_size: u64,
    /// Blob name in the tenant's asset container.
    pub blob: String,
    /// Created (virtual).
    pub created: Timestamp,
    /// Last modified (virtual).
    pub modified: Timestamp,
    /// Display name of the user (or operation) that created it.
    pub created_by: String,
    /// Life-cycle state.
    pub state: AssetState,
}

/// Validation status as the API shows it (`DisplayStatus`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Validation {
    /// Not committed yet.
    NotCommitted,
    /// Still validating (`Process`).
    Process,
    /// Valid.
    Valid,
    /// Invalid, with why.
    Invalid(String),
}

impl Validation {
    /// `DisplayStatus`.
    pub fn display(&self) -> &'static str {
        match self {
            Validation::NotCommitted => "NotCommitted",
            Validation::Process => "Process",
            Validation::Valid => "Valid",
            Validation::Invalid(_) => "Invalid",
        }
    }
}

impl Asset {
    /// Validation status at `now`.
    pub fn validation(&self, now: Timestamp) -> Validation {
        match &self.state {
            AssetState::AwaitingUpload => Validation::NotCommitted,
            AssetState::Validating { until, .. } if now < *until => Validation::Process,
            AssetState::Validating {
                outcome: Ok(()), ..
            } => Validation::Valid,
            AssetState::Validating {
                outcome: Err(why), ..
            } => Validation::Invalid(why.clone()),
        }
    }

    /// Whether it is committed (listed by GetAssets, usable once valid).
    pub fn is_committed(&self) -> bool {
        !matches!(self.state, AssetState::AwaitingUpload)
    }
}

/// An LCS project.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Id.
    pub id: ProjectId,
    /// Name.
    pub name: String,
    /// When it was created.
    pub created: Timestamp,
    /// Members.
    pub members: Vec<Member>,
    /// Environments, in creation order.
    environments: Vec<FoEnvironment>,
    /// Position of each environment in `environments`, by id (rebuilt when loaded).
    #[serde(skip)]
    index: HashMap<EnvironmentId, usize>,
    /// Position of each environment by its name in lower case (names are unique in a project,
    /// whatever their case; rebuilt when loaded).
    #[serde(skip)]
    names: HashMap<String, usize>,
    /// The environments' endpoint URLs (rebuilt when loaded).
    #[serde(skip)]
    urls: HashSet<String>,
    /// The asset library, in creation order.
    pub assets: Vec<Asset>,
}

impl Project {
    /// An empty project.
    pub fn new(id: ProjectId, name: String, created: Timestamp, members: Vec<Member>) -> Project {
        Project {
            id,
            name,
            created,
            members,
            environments: Vec::new(),
            index: HashMap::new(),
            names: HashMap::new(),
            urls: HashSet::new(),
            assets: Vec::new(),
        }
    }

    /// Its environments, in creation order.
    pub fn environments(&self) -> &[FoEnvironment] {
        &self.environments
    }

    /// Adds an environment (its id is new: drawn fresh or checked unique first).
    pub fn insert(&mut self, env: FoEnvironment) {
        let i = self.environments.len();
        self.index.insert(env.id, i);
        self.names.insert(env.name.to_ascii_lowercase(), i);
        self.urls.insert(env.url.clone());
        self.environments.push(env);
    }

    /// The environment with this name, in any case; O(1).
    pub fn environment_named(&self, name: &str) -> Option<&FoEnvironment> {
        self.names
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.environments[i])
    }

    /// Whether an environment of the project has this endpoint URL; O(1).
    pub fn has_url(&self, url: &str) -> bool {
        self.urls.contains(url)
    }

    /// Removes a deleted environment; O(n).
    pub fn remove(&mut self, id: EnvironmentId) {
        self.environments.retain(|e| e.id != id);
        self.reindex();
    }

    /// Rebuilds the indexes by id, name and URL (after loading a snapshot).
    pub fn reindex(&mut self) {
        let envs = self.environments.iter().enumerate();
        self.index = envs.clone().map(|(i, e)| (e.id, i)).collect();
        self.names = envs
            .map(|(i, e)| (e.name.to_ascii_lowercase(), i))
            .collect();
        self.urls = self.environments.iter().map(|e| e.url.clone()).collect();
    }

    /// The member record of a user.
    pub fn member(&self, user: ObjectId) -> Option<&Member> {
        self.members.iter().find(|m| m.user == user)
    }

    /// The environment with this id; O(1).
    pub fn find(&self, id: EnvironmentId) -> Option<&FoEnvironment> {
        self.index.get(&id).map(|&i| &self.environments[i])
    }

    /// The environment with this id; 404 `EnvironmentNotFound` otherwise.
    pub fn environment(&self, id: EnvironmentId) -> Result<&FoEnvironment, SimError> {
        self.find(id).ok_or_else(|| self.no_environment(id))
    }

    /// The environment with this id, mutably (the refusal is only written for a miss).
    pub fn environment_mut(&mut self, id: EnvironmentId) -> Result<&mut FoEnvironment, SimError> {
        match self.index.get(&id).copied() {
            Some(i) => Ok(&mut self.environments[i]),
            None => Err(self.no_environment(id)),
        }
    }

    fn no_environment(&self, id: EnvironmentId) -> SimError {
        SimError::new(
            ErrorCode::EnvironmentNotFound,
            format!(
                "Environment {id} was not found in project {}. Get the ids with \
                 environmentinfo/v1/detail/project/{}",
                self.id, self.id
            ),
        )
    }

    /// The asset with this id.
    pub fn asset(&self, id: AssetId) -> Result<&Asset, SimError> {
        self.assets.iter().find(|a| a.id == id).ok_or_else(|| {
            SimError::new(
                ErrorCode::AssetNotFound,
                format!(
                    "Asset {id} was not found in the asset library of project {}",
                    self.id
                ),
            )
            .at("assetId")
        })
    }
}
impl FoEnvironment {
    /// The topology LCS names the environment by (`EnvironmentTopology` of the metadata API):
    /// the declared one, else derived from its type, release and infrastructure.
    pub fn topology_label(&self) -> String {
        if let Some(t) = &self.topology {
            return t.clone();
        }
        if self.infrastructure == Infrastructure::SelfService {
            return "AXHA".to_string();
        }
        let kind = match self.env_type {
            EnvironmentType::Production => "Production",
            EnvironmentType::Sandbox => "Sandbox",
            EnvironmentType::DevTestDev => "Develop",
            EnvironmentType::DevTestBuild => "Build and Test",
        };
        format!(
            "Finance and Operations - {kind} ({} with Platform update {})",
            self.release,
            self.release.platform_update()
        )
    }
}
