//! The Power Platform side of an environment: what PPAC, the BAP admin API and the Power Platform
//! API show. Wire names live here (they are the vocabulary of both APIs); shapes live in the API
//! surfaces.

use crate::ops::{OperationId, Ops, RunState};
use crate::world::identity::ObjectId;
use crate::world::wire::wire_enum;
use jiff::Timestamp;
use uuid::Uuid;

/// Database consumption of a new Dataverse database (about 1 GB, as the portals say).
pub const NEW_DATABASE_MB: f64 = 1024.0;
/// File consumption of a new Dataverse database.
pub const NEW_FILE_MB: f64 = 256.0;
/// Log consumption of a new Dataverse database.
pub const NEW_LOG_MB: f64 = 32.0;
/// Free database capacity needed to create, copy or restore (1 GB).
pub const REQUIRED_FREE_MB: f64 = 1024.0;
/// Dataverse version of new databases.
pub const DATAVERSE_VERSION: &str = "9.2.25101.00193";

pub use crate::world::identity::PpEnvId;

wire_enum! {
    /// An environment's type (`environmentSku`).
    Sku {
        /// Production.
        Production => "Production",
        /// Sandbox: the only target of copy, restore and reset.
        Sandbox => "Sandbox",
        /// Trial (30 days).
        Trial => "Trial",
        /// Developer (owned by one user).
        Developer => "Developer",
        /// The tenant's default environment.
        Default => "Default",
        /// Microsoft Teams environment.
        Teams => "Teams",
        /// Subscription-based trial.
        SubscriptionBasedTrial => "SubscriptionBasedTrial",
    }
}

wire_enum! {
    /// `provisioningState` of an environment.
    ProvisioningState {
        /// Being created.
        Creating => "Creating",
        /// A Dataverse database is being added.
        LinkedDatabaseProvisioning => "LinkedDatabaseProvisioning",
        /// Ready.
        Succeeded => "Succeeded",
        /// Being deleted.
        Deleting => "Deleting",
        /// Creation failed.
        Failed => "Failed",
    }
}

wire_enum! {
    /// A lifecycle operation's type, as `type.id` of BAP lifecycle operations and of
    /// `lifecycleOperationsEnforcement`.
    OpType {
        /// Create an environment.
        Create => "Create",
        /// Add a Dataverse database (`provisionInstance`).
        Provision => "Provision",
        /// Change properties (name, description, admin mode, background operations).
        Edit => "Edit",
        /// Convert sandbox ↔ production (`modifySku`).
        Convert => "Convert",
        /// Delete (soft: recoverable for 7 days).
        Delete => "Delete",
        /// Copy another environment into this one.
        Copy => "Copy",
        /// Manual backup.
        Backup => "Backup",
        /// Restore a backup into this one.
        Restore => "Restore",
        /// Reset to a fresh database.
        Reset => "Reset",
        /// Recover a deleted environment.
        Recover => "Recover",
        /// Trial to production.
        Promote => "Promote",
    }
}

impl OpType {
    /// `typeDisplayName` of a lifecycle operation.
    pub fn display_name(self) -> &'static str {
        match self {
            OpType::Provision => "Provision Instance",
            other => other.as_str(),
        }
    }

    /// The operation kind in the engine (`ppac.*`), for duration overrides and the journal.
    pub fn engine_kind(self) -> &'static str {
        match self {
            OpType::Create => "ppac.create",
            OpType::Provision => "ppac.provisionInstance",
            OpType::Edit => "ppac.edit",
            OpType::Convert => "ppac.convert",
            OpType::Delete => "ppac.delete",
            OpType::Copy => "ppac.copy",
            OpType::Backup => "ppac.backup",
            OpType::Restore => "ppac.restore",
            OpType::Reset => "ppac.reset",
            OpType::Recover => "ppac.recover",
            OpType::Promote => "ppac.promote",
        }
    }
}

wire_enum! {
    /// Why `lifecycleOperationsEnforcement` disallows an operation (`reason.type`).
    ReasonType {
        /// The environment's type does not allow it.
        EnvironmentSkuType => "EnvironmentSkuType",
        /// It needs (or conflicts with) a Dataverse database.
        CdsLink => "CdsLink",
        /// The environment is linked to a finance and operations environment in LCS.
        FinOpsLinked => "FinOpsLinked",
        /// Another lifecycle operation is running.
        OperationInProgress => "OperationInProgress",
    }
}

/// Who did something, as both APIs show it (`createdBy`, `requestedBy`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// Object id of the user or service principal.
    pub id: ObjectId,
    /// Display name.
    pub display_name: String,
    /// UPN of a user; `None` for a service principal.
    pub upn: Option<String>,
    /// Whether it holds an admin role (or is an application registered as admin app).
    pub admin: bool,
}

impl Actor {
    /// `"User"` or `"ServicePrincipal"`.
    pub fn kind(&self) -> &'static str {
        if self.upn.is_some() {
            "User"
        } else {
            "ServicePrincipal"
        }
    }
}

/// How the F&O half is attached (`linkedAppMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedApp {
    /// `Internal` (unified, provisioned from PPAC) or `Linked` (LCS Power Platform integration).
    pub kind: LinkedAppKind,
    /// For `Linked` the LCS environment id; for `Internal` the F&O application id.
    pub id: Uuid,
    /// The F&O URL.
    pub url: String,
}

wire_enum! {
    /// `linkedAppMetadata.type`.
    LinkedAppKind {
        /// A unified environment, F&O provisioned from PPAC.
        Internal => "Internal",
        /// An LCS environment linked by Power Platform integration.
        Linked => "Linked",
    }
}

/// An environment's Dataverse database (`linkedEnvironmentMetadata`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataverse {
    /// Dataverse organization id (`resourceId`).
    pub org_id: Uuid,
    /// `uniqueName`.
    pub unique_name: String,
    /// Domain name: the host label of the instance URL.
    pub domain: String,
    /// Dataverse version.
    pub version: String,
    /// Base language LCID.
    pub base_language: u32,
    /// Base currency code.
    pub currency: String,
    /// Templates (Dynamics 365 apps) the database was created with.
    pub templates: Vec<String>,
    /// Background operations enabled.
    pub background_operations: bool,
    /// Security group restricting access.
    pub security_group: Option<Uuid>,
    /// When the database was created.
    pub created_at: Timestamp,
    /// Database consumption, MB.
    pub database_mb: f64,
    /// File consumption, MB.
    pub file_mb: f64,
    /// Log consumption, MB.
    pub log_mb: f64,
    /// The database's content as of a moment: where it came from (for copy and restore).
    pub content: Content,
}

impl Dataverse {
    /// A new, empty database: English (1033), USD, no templates, the sizes of a fresh one.
    pub fn fresh(org_id: Uuid, unique_name: String, domain: String, at: Timestamp) -> Dataverse {
        Dataverse {
            org_id,
            unique_name,
            domain,
            version: DATAVERSE_VERSION.into(),
            base_language: 1033,
            currency: "USD".into(),
            templates: Vec::new(),
            background_operations: true,
            security_group: None,
            created_at: at,
            database_mb: NEW_DATABASE_MB,
            file_mb: NEW_FILE_MB,
            log_mb: NEW_LOG_MB,
            content: Content::Fresh,
        }
    }
}

/// Where a database's data came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Content {
    /// Created empty (or reset).
    Fresh,
    /// Copied from another environment at a moment.
    CopyOf {
        /// Source environment.
        source: PpEnvId,
        /// As of.
        at: Timestamp,
    },
    /// Restored from a backup of an environment.
    RestoredFrom {
        /// Source environment.
        source: PpEnvId,
        /// Restore point.
        point: Timestamp,
    },
}

/// A backup of an environment's database.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// Backup id.
    pub id: Uuid,
    /// Label given by the user (system backups: none).
    pub label: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// The restore point.
    pub point: Timestamp,
    /// When it expires (retention).
    pub expires: Timestamp,
    /// Who took it.
    pub created_by: Actor,
    /// The database as it was at the restore point.
    pub data: Dataverse,
}

wire_enum! {
    /// An application package's state in an environment.
    PackageState {
        /// Not installed.
        None => "None",
        /// Installation requested.
        InstallRequested => "InstallRequested",
        /// Installing.
        Installing => "Installing",
        /// Installed.
        Installed => "Installed",
        /// The last installation failed.
        InstallFailed => "InstallFailed",
    }
}

/// An application package installed (or being installed) in an environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledPackage {
    /// The catalogue entry's unique name.
    pub unique_name: String,
    /// Instance package id.
    pub instance_id: Uuid,
    /// The latest install operation, whose state the package's follows; none for a package
    /// installed with its environment (at creation or by Power Platform integration setup).
    pub operation: Option<OperationId>,
    /// When the latest install was requested.
    pub requested_at: Timestamp,
    /// Settings given with the install (add-ins installed from LCS), in the order given.
    pub settings: Vec<(String, String)>,
}

impl InstalledPackage {
    /// Where it stands, read from its install operation: requested while the install is
    /// queued, installing while it runs, then installed or failed as the operation ended. A
    /// package installed with its environment (or whose operation is gone) is installed.
    pub fn state<P>(&self, ops: &Ops<P>) -> PackageState {
        let Some(op) = self.operation.and_then(|id| ops.get(id)) else {
            return PackageState::Installed;
        };
        match (op.state(), op.current_stage()) {
            (RunState::Succeeded, _) => PackageState::Installed,
            (RunState::Failed, _) => PackageState::InstallFailed,
            (_, None | Some(0)) => PackageState::InstallRequested,
            _ => PackageState::Installing,
        }
    }

    /// Why the latest install failed, while it has.
    pub fn error<'a, P>(&self, ops: &'a Ops<P>) -> Option<&'a str> {
        self.operation
            .and_then(|id| ops.get(id))
            .filter(|op| op.state() == RunState::Failed)
            .and_then(|op| op.error())
            .map(|e| e.message.as_str())
    }
}

/// A Power Platform environment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PpEnvironment {
    /// `name`.
    pub id: PpEnvId,
    /// `displayName`.
    pub display_name: String,
    /// `description`.
    pub description: String,
    /// `environmentSku`.
    pub sku: Sku,
    /// Geography (`location`), e.g. `unitedstates`, `europe`.
    pub location: String,
    /// Azure region, e.g. `westeurope`.
    pub azure_region: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it.
    pub created_by: Actor,
    /// Last change.
    pub modified_at: Timestamp,
    /// Who made the last change.
    pub modified_by: Actor,
    /// `provisioningState`.
    pub provisioning: ProvisioningState,
    /// Runtime state `AdminMode` (else `Enabled`).
    pub admin_mode: bool,
    /// Managed environment (`protectionLevel` Standard).
    pub managed: bool,
    /// `updateCadence.id`.
    pub cadence: String,
    /// The Dataverse database, if any.
    pub dataverse: Option<Dataverse>,
    /// The F&O half, if any.
    pub linked_app: Option<LinkedApp>,
    /// Manual and system backups.
    pub backups: Vec<Backup>,
    /// Application packages installed or being installed.
    pub packages: Vec<InstalledPackage>,
    /// The operations that took the environment (lifecycle operations and Power Platform
    /// integration setup), in the order they took it; whether it is busy is read from the latest.
    #[serde(default)]
    pub operations: Vec<OperationId>,
    /// When it was (soft-)deleted; recoverable for 7 days.
    pub deleted_at: Option<Timestamp>,
}

impl PpEnvironment {
    /// The operation holding the environment now, if any: the latest to take it, while it runs.
    pub fn busy<P>(&self, ops: &Ops<P>) -> Option<OperationId> {
        self.operations.last().copied().filter(|id| {
            ops.get(*id)
                .is_some_and(|op| op.state() == RunState::Running)
        })
    }

    /// Whether this is the tenant's default environment.
    pub fn is_default(&self) -> bool {
        self.sku == Sku::Default
    }

    /// Whether it is live (not soft-deleted).
    pub fn live(&self) -> bool {
        self.deleted_at.is_none()
    }

    /// Backup retention: 28 days for production with Dataverse and a Dynamics 365 app, else 7.
    pub fn retention_days(&self) -> i64 {
        let d365 = self
            .dataverse
            .as_ref()
            .is_some_and(|d| d.templates.iter().any(|t| t.starts_with("D365_")));
        if self.sku == Sku::Production && d365 {
            28
        } else {
            7
        }
    }

    /// The Dataverse instance URL.
    pub fn instance_url(&self) -> Option<String> {
        self.dataverse.as_ref().map(|d| {
            format!(
                "https://{}.{}.dynamics.com/",
                d.domain,
                crm_host(&self.location)
            )
        })
    }
}

/// The `crm{N}` label of a geography's Dataverse hosts.
pub fn crm_host(location: &str) -> &'static str {
    match location {
        "unitedstates" | "unitedstatesfirstrelease" => "crm",
        "southamerica" => "crm2",
        "canada" => "crm3",
        "europe" => "crm4",
        "asia" => "crm5",
        "australia" => "crm6",
        "japan" => "crm7",
        "india" => "crm8",
        "unitedkingdom" => "crm11",
        "france" => "crm12",
        "unitedarabemirates" => "crm15",
        "germany" => "crm16",
        "switzerland" => "crm17",
        "norway" => "crm19",
        "korea" => "crm21",
        "southafrica" => "crm14",
        "sweden" => "crm22",
        _ => "crm",
    }
}

/// A geography: name, display name, code, Azure regions.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    /// `name`, e.g. `europe`.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Short code.
    pub code: &'static str,
    /// Azure regions (first is the default).
    pub regions: &'static [&'static str],
    /// The F&O geo label in unified URLs (`operations.{geo}.dynamics.com`).
    pub fno_geo: &'static str,
}

/// The geographies environments can be created in.
pub const LOCATIONS: &[Location] = &[
    Location {
        name: "unitedstates",
        display_name: "United States",
        code: "NA",
        regions: &["eastus", "westus"],
        fno_geo: "us",
    },
    Location {
        name: "europe",
        display_name: "Europe",
        code: "EMEA",
        regions: &["westeurope", "northeurope"],
        fno_geo: "eu",
    },
    Location {
        name: "unitedkingdom",
        display_name: "United Kingdom",
        code: "GBR",
        regions: &["uksouth", "ukwest"],
        fno_geo: "gb",
    },
    Location {
        name: "asia",
        display_name: "Asia",
        code: "APJ",
        regions: &["eastasia", "southeastasia"],
        fno_geo: "as",
    },
    Location {
        name: "australia",
        display_name: "Australia",
        code: "OCE",
        regions: &["australiasoutheast", "australiaeast"],
        fno_geo: "au",
    },
    Location {
        name: "canada",
        display_name: "Canada",
        code: "CAN",
        regions: &["canadacentral", "canadaeast"],
        fno_geo: "ca",
    },
    Location {
        name: "india",
        display_name: "India",
        code: "IND",
        regions: &["centralindia", "southindia"],
        fno_geo: "in",
    },
    Location {
        name: "japan",
        display_name: "Japan",
        code: "JPN",
        regions: &["japaneast", "japanwest"],
        fno_geo: "jp",
    },
    Location {
        name: "france",
        display_name: "France",
        code: "FRA",
        regions: &["francecentral", "francesouth"],
        fno_geo: "fr",
    },
    Location {
        name: "germany",
        display_name: "Germany",
        code: "DEU",
        regions: &["germanywestcentral", "germanynorth"],
        fno_geo: "de",
    },
];

/// The geography with this name (case-insensitive).
pub fn location(name: &str) -> Option<&'static Location> {
    LOCATIONS
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(name.trim()))
}

/// A currency offered for new databases.
pub const CURRENCIES: &[(&str, &str, &str)] = &[
    ("USD", "$", "US Dollar"),
    ("EUR", "€", "Euro"),
    ("GBP", "£", "British Pound"),
    ("CAD", "$", "Canadian Dollar"),
    ("AUD", "$", "Australian Dollar"),
    ("JPY", "¥", "Japanese Yen"),
    ("INR", "₹", "Indian Rupee"),
    ("CHF", "CHF", "Swiss Franc"),
    ("DKK", "kr.", "Danish Krone"),
    ("NOK", "kr", "Norwegian Krone"),
    ("SEK", "kr", "Swedish Krona"),
];

/// A language offered for new databases: LCID and name.
pub const LANGUAGES: &[(u32, &str)] = &[
    (1033, "English (United States)"),
    (2057, "English (United Kingdom)"),
    (1031, "German (Germany)"),
    (1036, "French (France)"),
    (1043, "Dutch (Netherlands)"),
    (1030, "Danish (Denmark)"),
    (1053, "Swedish (Sweden)"),
    (1044, "Norwegian Bokmål (Norway)"),
    (1040, "Italian (Italy)"),
    (3082, "Spanish (Spain, International Sort)"),
    (1041, "Japanese (Japan)"),
];

/// A Dynamics 365 app template (`templates` of a create).
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// Template id, e.g. `D365_FinOps_Finance`.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Licences any one of which entitles the tenant to it (empty: none needed).
    pub licenses: &'static [&'static str],
    /// A finance and operations template (creates a unified environment).
    pub fin_ops: bool,
    /// SKUs it can be used with.
    pub skus: &'static [Sku],
}

const FNO_LICENSES: &[&str] = &[
    crate::world::identity::UNIFIED_OPERATIONS_PLAN,
    "Dynamics 365 Finance",
    "Dynamics 365 Supply Chain Management",
    "Dynamics 365 Project Operations",
    "Dynamics 365 Operations Application Partner Sandbox",
];
const STANDARD_SKUS: &[Sku] = &[Sku::Production, Sku::Sandbox, Sku::Trial];
const FNO_SKUS: &[Sku] = &[Sku::Production, Sku::Sandbox, Sku::SubscriptionBasedTrial];

/// The template catalogue.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "D365_CDSSampleApp",
        display_name: "Sample Apps",
        licenses: &[],
        fin_ops: false,
        skus: STANDARD_SKUS,
    },
    Template {
        name: "D365_Sales",
        display_name: "Sales Enterprise",
        licenses: &[
            "Dynamics 365 Sales Enterprise",
            "Dynamics 365 Sales Premium",
        ],
        fin_ops: false,
        skus: STANDARD_SKUS,
    },
    Template {
        name: "D365_CustomerService",
        display_name: "Customer Service Enterprise",
        licenses: &["Dynamics 365 Customer Service Enterprise"],
        fin_ops: false,
        skus: STANDARD_SKUS,
    },
    Template {
        name: "D365_FinOps_Finance",
        display_name: "Finance",
        licenses: FNO_LICENSES,
        fin_ops: true,
        skus: FNO_SKUS,
    },
    Template {
        name: "D365_FinOps_SCM",
        display_name: "Supply Chain Management",
        licenses: FNO_LICENSES,
        fin_ops: true,
        skus: FNO_SKUS,
    },
    Template {
        name: "D365_FinOps_ProjOps",
        display_name: "Project Operations Integrated",
        licenses: FNO_LICENSES,
        fin_ops: true,
        skus: FNO_SKUS,
    },
    Template {
        name: "D365_DeveloperEdition",
        display_name: "Dynamics 365 Developer Edition",
        licenses: FNO_LICENSES,
        fin_ops: true,
        skus: &[Sku::Sandbox],
    },
];

/// The template with this id (case-insensitive).
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
}

/// An application package of the tenant catalogue.
#[derive(Debug, Clone, Copy)]
pub struct CatalogPackage {
    /// `uniqueName`.
    pub unique_name: &'static str,
    /// Localized name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Version.
    pub version: &'static str,
    /// Application id.
    pub application_id: &'static str,
    /// Packages that must be installed first.
    pub requires: &'static [&'static str],
    /// Only installable on environments created with Dynamics 365 apps (a template).
    pub needs_d365_apps: bool,
    /// A finance and operations add-in: only installable on an environment linked to an LCS
    /// environment (normally from the LCS environment details).
    pub fin_ops_addin: bool,
}

/// Unique name of the Finance and Operations Platform Tools package.
pub const PLATFORM_TOOLS: &str = "msprov_fnouploadersolution";
/// Unique name of the Finance and Operations Provisioning App.
pub const PROVISIONING_APP: &str = "msdyn_FinanceAndOperationsProvisioningAppAnchor";

/// The tenant's application catalogue.
pub const PACKAGES: &[CatalogPackage] = &[
    CatalogPackage {
        unique_name: PLATFORM_TOOLS,
        name: "Dynamics 365 Finance and Operations Platform Tools",
        description: "Platform components that finance and operations apps need in Dataverse.",
        version: "1.0.0.412",
        application_id: "6dbfda4b-b7a3-4a60-9a5b-8bd0d1c0a6f1",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: PROVISIONING_APP,
        name: "Dynamics 365 Finance and Operations Provisioning App",
        description: "Provisions a finance and operations environment linked to this Dataverse \
                      environment.",
        version: "1.0.0.1034",
        application_id: "0a4c6b0e-8b5c-4f2b-9d9c-5a4b3d2e1f10",
        requires: &[PLATFORM_TOOLS],
        needs_d365_apps: true,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "DualWriteCoreAnchor",
        name: "Dual-write core solution",
        description: "Core entity maps for dual-write between finance and operations apps and \
                      Dataverse.",
        version: "1.0.24062.1",
        application_id: "8b9a1f52-3d1c-4a55-9e2f-1c0d9e8f7a61",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "msdyn_DualWriteAppCoreAnchor",
        name: "Dual-write application core",
        description: "Application core solutions for dual-write.",
        version: "1.0.24062.1",
        application_id: "2f1e8d7c-6b5a-4c3d-8e9f-0a1b2c3d4e5f",
        requires: &["DualWriteCoreAnchor"],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "MicrosoftOperationsVEAnchor",
        name: "Finance and Operations Virtual Entity",
        description: "Virtual entities for finance and operations apps in Dataverse.",
        version: "1.0.0.245",
        application_id: "4c1a2b3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "Dynamics365FinanceAndOperationsAnchor",
        name: "Dynamics 365 Finance and Operations common anchor",
        description: "Common solutions shared by finance and operations apps.",
        version: "10.0.45.12",
        application_id: "5d2b3c4e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
        requires: &[PLATFORM_TOOLS],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "msdyn_Dynamics365FinanceExtendedAnchor",
        name: "Dynamics 365 Finance extended",
        description: "Finance extensions for Dataverse.",
        version: "10.0.45.12",
        application_id: "6e3c4d5f-7a8b-4c9d-0e1f-2a3b4c5d6e7f",
        requires: &["Dynamics365FinanceAndOperationsAnchor"],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "Dynamics365GABParty_Anchor",
        name: "Dynamics 365 Global Address Book and Party",
        description: "Party and global address book model shared with finance and operations apps.",
        version: "1.0.24062.1",
        application_id: "7f4d5e6a-8b9c-4d0e-1f2a-3b4c5d6e7f80",
        requires: &["DualWriteCoreAnchor"],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "MicrosoftFormsPro",
        name: "Dynamics 365 Customer Voice",
        description: "Surveys and feedback.",
        version: "2.0.0.45",
        application_id: "b7f6c2a1-9d8e-4f3a-8c2b-1d0e9f8a7b6c",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: false,
    },
    CatalogPackage {
        unique_name: "msdyn_PlanningOptimizationAnchor",
        name: "Planning Optimization",
        description: "Master planning as a service for Supply Chain Management (an LCS add-in).",
        version: "1.0.0.9072",
        application_id: "8c1f2e3d-4b5a-4c6d-9e8f-7a6b5c4d3e21",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: true,
    },
    CatalogPackage {
        unique_name: "msdyn_InventoryVisibilityAnchor",
        name: "Inventory Visibility",
        description: "Real-time on-hand inventory across systems (an LCS add-in).",
        version: "1.2.2.67",
        application_id: "3e5d7c9b-1a2f-4e6d-8c0b-9a7f5e3d1c42",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: true,
    },
    CatalogPackage {
        unique_name: "msdyn_FinanceInsightsAnchor",
        name: "Finance insights",
        description: "Cash-flow forecasts and customer payment predictions (an LCS add-in).",
        version: "1.0.2410.3",
        application_id: "5b7c9d1e-3f4a-4b6c-8d0e-2f1a3b5c7d63",
        requires: &[],
        needs_d365_apps: false,
        fin_ops_addin: true,
    },
];

/// The catalogue entry with this unique name (case-insensitive).
pub fn package(unique_name: &str) -> Option<&'static CatalogPackage> {
    PACKAGES
        .iter()
        .find(|p| p.unique_name.eq_ignore_ascii_case(unique_name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SimError;

    #[test]
    fn environment_ids_accept_guids_and_default_names_in_any_case() -> Result<(), SimError> {
        let id = PpEnvId::parse("8F0C3A52-4D1E-4C3B-9A57-2B6F1E0D7C41")?;
        assert_eq!(id.as_str(), "8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41");
        let d = PpEnvId::parse("default-8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41")?;
        assert_eq!(d.as_str(), "Default-8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41");
        assert!(PpEnvId::parse("contoso").is_err());
        Ok(())
    }
}
