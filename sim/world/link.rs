//! Power Platform integration: the link between an F&O environment (LCS) and a Dataverse
//! environment (PPAC), which makes the pair one conceptual environment.
//!
//! Setup runs from the LCS side as one long-running operation in named stages. Its prerequisites
//! are checked *when their stage ends*, so a setup fails part-way with a message naming the cause,
//! and Resume re-runs only the failed stage and the ones after it. The link itself lives on the
//! Dataverse side (`linkedAppMetadata` type `Linked`), add-ins and the dual-write application are
//! application packages of the linked Dataverse environment, and the F&O environment records which
//! setup it ran. Deleting the F&O environment in LCS is the only way to remove a link.

use super::identity::{Role, UNIFIED_OPERATIONS_PLAN, User, random_uuid};
use super::lcs::{EnvironmentId, EnvironmentType, FoEnvironment, Integration, Project, ProjectId};
use super::operations::{Effect, Portal, Target, Work};
use super::ppac::{
    self, Actor, Dataverse, InstalledPackage, LcsOrigin, LinkedApp, LinkedAppKind, PackageState,
    PpEnvId, PpEnvironment, ProvisioningState, REQUIRED_FREE_MB, Sku,
};
use super::tenant::{Tenant, TenantState};
use super::wire::wire_enum;
use crate::error::{ErrorCode, SimError};
use crate::ops::{OpError, Operation, OperationId, RunState, StageSpec};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use uuid::Uuid;

/// Engine kind of the setup operation.
pub const SETUP_KIND: &str = "powerPlatformIntegration.setup";
/// Engine kind of an add-in install started from LCS.
pub const ADDIN_KIND: &str = "powerPlatformIntegration.installAddin";
/// Engine kind of enabling the dual-write application from LCS.
pub const DUAL_WRITE_KIND: &str = "powerPlatformIntegration.dualWrite";

/// Every engine kind of this module, for duration overrides.
pub fn operation_kinds() -> impl Iterator<Item = &'static str> {
    [SETUP_KIND, ADDIN_KIND, DUAL_WRITE_KIND].into_iter()
}

/// The application package that is the dual-write application.
pub const DUAL_WRITE_PACKAGE: &str = "msdyn_DualWriteAppCoreAnchor";
/// Packages setup installs: the dual-write platform components and virtual entities.
pub const PLATFORM_COMPONENTS: &[&str] = &["DualWriteCoreAnchor", "MicrosoftOperationsVEAnchor"];

/// A setting an add-in asks for when it is installed.
#[derive(Debug, Clone, Copy)]
pub struct AddinSetting {
    /// Key in the install request's `settings`.
    pub key: &'static str,
    /// What the install dialog calls it.
    pub label: &'static str,
}

/// An LCS add-in: installed from the F&O environment details, recorded in Dataverse.
#[derive(Debug, Clone, Copy)]
pub struct Addin {
    /// Name shown in LCS (and accepted in requests, case-insensitively).
    pub name: &'static str,
    /// The application package it installs into the linked Dataverse environment.
    pub package: &'static str,
    /// Settings it requires (each a GUID).
    pub settings: &'static [AddinSetting],
}

/// The add-in catalogue.
pub const ADDINS: &[Addin] = &[
    Addin {
        name: "Planning Optimization",
        package: "msdyn_PlanningOptimizationAnchor",
        settings: &[],
    },
    Addin {
        name: "Inventory Visibility",
        package: "msdyn_InventoryVisibilityAnchor",
        settings: &[
            AddinSetting {
                key: "applicationId",
                label: "Microsoft Entra application (client) ID",
            },
            AddinSetting {
                key: "tenantId",
                label: "Microsoft Entra tenant ID",
            },
        ],
    },
    Addin {
        name: "Finance insights",
        package: "msdyn_FinanceInsightsAnchor",
        settings: &[],
    },
];

fn addin(name: &str) -> Result<&'static Addin, SimError> {
    ADDINS
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidAddin,
                format!(
                    "'{name}' is not an add-in; use one of: {}",
                    ADDINS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
                ),
            )
            .at("name")
        })
}

/// One stage of a setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Validate,
    ReserveCapacity,
    Provision,
    CheckDataverse,
    InstallPlatform,
    Link,
}

/// A new Dataverse environment: 60 to 90 minutes in all (each stage's range adds up to that).
const NEW_STEPS: &[Step] = &[
    Step::Validate,
    Step::ReserveCapacity,
    Step::Provision,
    Step::InstallPlatform,
    Step::Link,
];
/// An existing Dataverse environment: no provisioning.
const EXISTING_STEPS: &[Step] = &[
    Step::Validate,
    Step::CheckDataverse,
    Step::InstallPlatform,
    Step::Link,
];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Validate => "Validate prerequisites",
            Step::ReserveCapacity => "Reserve capacity",
            Step::Provision => "Provision the Dataverse environment",
            Step::CheckDataverse => "Check the Dataverse environment",
            Step::InstallPlatform => "Install dual-write platform components",
            Step::Link => "Link the environments",
        }
    }

    fn minutes(self) -> (i64, i64) {
        match self {
            Step::Validate => (2, 4),
            Step::ReserveCapacity | Step::CheckDataverse => (1, 2),
            Step::Provision => (40, 55),
            Step::InstallPlatform => (12, 20),
            Step::Link => (5, 9),
        }
    }

    fn spec(self) -> StageSpec {
        let (lo, hi) = self.minutes();
        StageSpec::between(
            self.name(),
            SignedDuration::from_mins(lo),
            SignedDuration::from_mins(hi),
        )
    }
}

fn steps(existing: bool) -> &'static [Step] {
    if existing { EXISTING_STEPS } else { NEW_STEPS }
}

wire_enum! {
    /// Where an F&O environment's integration stands.
    IntegrationState {
        /// Never set up.
        NotSetUp => "NotSetUp",
        /// Setup started; the Power Platform environment is being provisioned (first minutes).
        Provisioning => "Provisioning",
        /// "Environment setup is in progress".
        InProgress => "InProgress",
        /// Setup failed at a stage; Resume continues from there.
        Failed => "Failed",
        /// Linked.
        Completed => "Completed",
    }
}

wire_enum! {
    /// The dual-write application's state, as both portals show it.
    DualWriteState {
        /// No completed integration.
        NotAvailable => "NotAvailable",
        /// Platform components installed, application not enabled.
        NotEnabled => "NotEnabled",
        /// Being enabled.
        Enabling => "Enabling",
        /// Enabled.
        Enabled => "Enabled",
        /// The last attempt failed.
        Failed => "Failed",
    }
}

impl DualWriteState {
    fn of(package: Option<&InstalledPackage>) -> DualWriteState {
        match package.map(|p| p.state) {
            None | Some(PackageState::None) => DualWriteState::NotEnabled,
            Some(PackageState::InstallRequested | PackageState::Installing) => {
                DualWriteState::Enabling
            }
            Some(PackageState::Installed) => DualWriteState::Enabled,
            Some(PackageState::InstallFailed) => DualWriteState::Failed,
        }
    }
}

/// An add-in of a linked environment with its package record in Dataverse.
#[derive(Debug, Clone)]
pub struct AddinView<'a> {
    /// The catalogue entry.
    pub addin: &'static Addin,
    /// Its package in the linked Dataverse environment (state, settings, operation).
    pub package: &'a InstalledPackage,
}

/// The "Power Platform integration" section of an F&O environment's details.
#[derive(Debug, Clone)]
pub struct IntegrationView<'a> {
    /// Where it stands.
    pub state: IntegrationState,
    /// What the section's Status says.
    pub status_message: String,
    /// The setup operation, once started.
    pub setup: Option<&'a Operation<Work>>,
    /// The Dataverse environment's id, once known.
    pub dataverse_id: Option<PpEnvId>,
    /// The Dataverse environment, while it exists.
    pub dataverse: Option<&'a PpEnvironment>,
    /// The dual-write application.
    pub dual_write: DualWriteState,
    /// Installed (or installing) add-ins.
    pub addins: Vec<AddinView<'a>>,
    /// What the page offers now: `setup`, `resume`, `installAddin`, `dualWriteApplication`.
    pub actions: Vec<&'static str>,
    /// Why Setup is not offered, when it is not.
    pub unavailable: Option<String>,
}

/// A setup request.
#[derive(Debug, Clone, Default)]
pub struct SetupRequest {
    /// The terms and conditions were accepted.
    pub accept_terms: bool,
    /// Connect to this existing Dataverse environment instead of provisioning one.
    pub existing: Option<PpEnvId>,
}

/// The refusal while a lifecycle operation runs on the Dataverse environment; `then` says what
/// to do once it has finished (`retry`, `resume`).
fn dataverse_busy(id: &PpEnvId, then: &str) -> SimError {
    SimError::new(
        ErrorCode::OperationNotStartable,
        format!(
            "There is an active lifecycle operation on the Power Platform environment {id}; {then} \
             when it has finished"
        ),
    )
}

/// The refusal when the Dataverse environment named for linking belongs to another tenant.
pub fn foreign_dataverse(id: &PpEnvId) -> SimError {
    SimError::new(
        ErrorCode::DataverseEnvironmentNotLinkable,
        format!(
            "The Power Platform environment {id} belongs to another tenant. Power Platform \
             integration links environments of the same tenant only; pick an environment of this \
             tenant or set up a new one"
        ),
    )
    .at("existingDataverseEnvironmentId")
}

/// The effect of a setup operation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupEffect {
    project: ProjectId,
    env: EnvironmentId,
    existing: bool,
}

fn fo_mut(
    state: &mut TenantState,
    project: ProjectId,
    env: EnvironmentId,
) -> Result<&mut FoEnvironment, OpError> {
    state
        .lcs
        .project_mut(project)
        .ok()
        .and_then(|p| p.environment_mut(env).ok())
        .ok_or_else(|| {
            OpError::new(
                ErrorCode::EnvironmentNotFound.as_str(),
                format!("The finance and operations environment {env} no longer exists."),
            )
        })
}

fn live_dv<'a>(state: &'a TenantState, id: &PpEnvId) -> Option<&'a PpEnvironment> {
    state
        .ppac
        .environments
        .iter()
        .find(|e| &e.id == id && e.live())
}

fn dv_mut<'a>(state: &'a mut TenantState, id: &PpEnvId) -> Option<&'a mut PpEnvironment> {
    state
        .ppac
        .environments
        .iter_mut()
        .find(|e| &e.id == id && e.live())
}

fn op_error(code: ErrorCode, message: String) -> OpError {
    OpError::new(code.as_str(), message)
}

/// The Power Platform geography and Azure region an LCS region's environments link into.
fn geography_of(region: &str) -> (&'static ppac::Location, String) {
    let azure: String = region
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(l) = ppac::LOCATIONS
        .iter()
        .find(|l| l.regions.contains(&azure.as_str()))
    {
        return (l, azure);
    }
    let name = match region {
        r if r.contains("Canada") => "canada",
        r if r.contains("UK") => "unitedkingdom",
        r if r.contains("France") => "france",
        r if r.contains("Germany") => "germany",
        r if r.contains("Europe") || r.contains("Switzerland") || r.contains("Norway") => "europe",
        r if r.contains("Australia") => "australia",
        r if r.contains("Japan") => "japan",
        r if r.contains("India") => "india",
        r if r.contains("Asia") || r.contains("UAE") => "asia",
        _ => "unitedstates",
    };
    let l = ppac::location(name).unwrap_or(&ppac::LOCATIONS[0]);
    (l, l.regions[0].to_string())
}

impl SetupEffect {
    fn validate(&self, state: &TenantState) -> Result<(), OpError> {
        let fo = state
            .lcs
            .project(self.project)
            .ok()
            .and_then(|p| p.environment(self.env).ok())
            .ok_or_else(|| {
                op_error(
                    ErrorCode::EnvironmentNotFound,
                    format!(
                        "The finance and operations environment {} no longer exists.",
                        self.env
                    ),
                )
            })?;
        let admin = state.user_by_id(fo.administrator).ok_or_else(|| {
            op_error(
                ErrorCode::UserNotFound,
                format!(
                    "The environment administrator of {} no longer exists in the tenant. Make an \
                     existing user the administrator, then select Resume.",
                    fo.name
                ),
            )
        })?;
        if !admin.has_license(UNIFIED_OPERATIONS_PLAN) {
            return Err(op_error(
                ErrorCode::AdministratorNotLicensed,
                format!(
                    "The environment administrator {} does not have the {UNIFIED_OPERATIONS_PLAN} \
                     license. Everyone who creates Power Platform environments must be licensed: \
                     assign the license to {} in the Microsoft 365 admin center (here: PATCH \
                     /_sim/tenants/{}/users/{} with its licenses), then select Resume.",
                    admin.upn, admin.upn, state.id, admin.upn
                ),
            ));
        }
        if !self.existing
            && state.governance.restrict_environment_creation_to_admins
            && !is_admin(admin)
        {
            return Err(op_error(
                ErrorCode::AdministratorRoleRequired,
                format!(
                    "The tenant allows only admins to create production environments, and the \
                     environment administrator {} holds none of the roles Global admin, Dynamics \
                     365 admin or Power Platform admin. A Global admin must assign one of them to \
                     {} (here: PATCH /_sim/tenants/{}/users/{} with its roles), or allow everyone \
                     to create environments; then select Resume.",
                    admin.upn, admin.upn, state.id, admin.upn
                ),
            ));
        }
        Ok(())
    }

    fn reserve(
        &self,
        state: &mut TenantState,
        op: OperationId,
        at: Timestamp,
    ) -> Result<(), OpError> {
        let free =
            state.capacity.database_mb as f64 - ppac::capacity::consumption(state).database_mb;
        if free < REQUIRED_FREE_MB {
            return Err(op_error(
                ErrorCode::InsufficientCapacity,
                format!(
                    "The tenant needs at least 1 GB (1024 MB) of free Dataverse database capacity \
                     to provision the Power Platform environment; {:.0} MB of {} MB is free. Free \
                     some capacity by deleting environments, or add capacity (here: PATCH \
                     /_sim/tenants/{}/capacity), then select Resume.",
                    free.max(0.0),
                    state.capacity.database_mb,
                    state.id
                ),
            ));
        }
        let fo = fo_mut(state, self.project, self.env)?;
        if fo
            .integration
            .as_ref()
            .is_some_and(|i| i.dataverse.is_some())
        {
            return Ok(());
        }
        let (name, env_type, region, admin) = (
            fo.name.clone(),
            fo.env_type,
            fo.region.name,
            fo.administrator,
        );
        let creator = state.user_by_id(admin).map(|u| Actor {
            id: u.object_id,
            display_name: u.display_name.clone(),
            upn: Some(u.upn.to_string()),
            admin: is_admin(u),
        });
        let creator = creator.ok_or_else(|| {
            op_error(
                ErrorCode::UserNotFound,
                format!("The environment administrator of {name} no longer exists."),
            )
        })?;
        let (location, azure_region) = geography_of(region);
        let domain = ppac::capacity::free_domain(state, &name, at);
        let id = PpEnvId::from_uuid(random_uuid(&mut state.rng));
        let org_id = random_uuid(&mut state.rng);
        state.ppac.environments.push(PpEnvironment {
            id: id.clone(),
            display_name: name,
            description: String::new(),
            sku: if env_type == EnvironmentType::Production {
                Sku::Production
            } else {
                Sku::Sandbox
            },
            location: location.name.into(),
            azure_region,
            created_at: at,
            created_by: creator.clone(),
            modified_at: at,
            modified_by: creator,
            provisioning: ProvisioningState::Creating,
            admin_mode: false,
            managed: false,
            cadence: "Moderate".into(),
            dataverse: Some(Dataverse::fresh(
                org_id,
                format!("unq{}", org_id.simple()),
                domain,
                at,
            )),
            linked_app: None,
            backups: Vec::new(),
            packages: Vec::new(),
            busy: Some(op),
            deleted_at: None,
        });
        if let Some(i) = fo_mut(state, self.project, self.env)?.integration.as_mut() {
            i.dataverse = Some(id);
        }
        Ok(())
    }

    fn dataverse<'a>(&self, state: &'a mut TenantState) -> Result<&'a mut PpEnvironment, OpError> {
        let id = fo_mut(state, self.project, self.env)?
            .integration
            .as_ref()
            .and_then(|i| i.dataverse.clone());
        let missing = || {
            op_error(
                ErrorCode::EnvironmentNotFound,
                "The Power Platform environment of this setup no longer exists. Delete this \
                 finance and operations environment in LCS and deploy it again, or contact support."
                    .to_string(),
            )
        };
        let id = id.ok_or_else(missing)?;
        dv_mut(state, &id).ok_or_else(missing)
    }
}

fn is_admin(user: &User) -> bool {
    Role::ALL.iter().any(|r| user.has_role(*r))
}

impl SetupEffect {
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        op: &Operation<Work>,
        stage: usize,
        at: Timestamp,
    ) -> Result<(), OpError> {
        let Some(&step) = steps(self.existing).get(stage) else {
            return Ok(());
        };
        match step {
            Step::Validate => self.validate(tenant),
            Step::ReserveCapacity => self.reserve(tenant, op.id(), at),
            Step::Provision => {
                let dv = self.dataverse(tenant)?;
                dv.provisioning = ProvisioningState::Succeeded;
                dv.modified_at = at;
                Ok(())
            }
            Step::CheckDataverse => {
                let dv = self.dataverse(tenant)?;
                if let Some(link) = &dv.linked_app
                    && link.id != self.env.0
                {
                    return Err(op_error(
                        ErrorCode::DataverseEnvironmentNotLinkable,
                        format!(
                            "The Power Platform environment {} is now linked to the finance and \
                             operations environment {}; a Dataverse environment links to one \
                             finance and operations environment only.",
                            dv.id, link.id
                        ),
                    ));
                }
                Ok(())
            }
            Step::InstallPlatform => {
                let ids: Vec<Uuid> = PLATFORM_COMPONENTS
                    .iter()
                    .map(|_| random_uuid(&mut tenant.rng))
                    .collect();
                let dv = self.dataverse(tenant)?;
                dv.packages
                    .retain(|p| !PLATFORM_COMPONENTS.contains(&p.unique_name.as_str()));
                for (name, instance_id) in PLATFORM_COMPONENTS.iter().zip(ids) {
                    dv.packages.push(InstalledPackage {
                        unique_name: (*name).into(),
                        instance_id,
                        state: PackageState::Installed,
                        operation: op.id(),
                        requested_at: at,
                        error: None,
                        settings: Vec::new(),
                    });
                }
                dv.modified_at = at;
                Ok(())
            }
            Step::Link => {
                let url = fo_mut(tenant, self.project, self.env)?.url.clone();
                let dv = self.dataverse(tenant)?;
                dv.linked_app = Some(LinkedApp {
                    kind: LinkedAppKind::Linked,
                    id: self.env.0,
                    url,
                });
                dv.provisioning = ProvisioningState::Succeeded;
                dv.busy = None;
                dv.modified_at = at;
                Ok(())
            }
        }
    }

    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, _at: Timestamp) {
        if op.state() != RunState::Failed {
            return;
        }
        // A failed setup holds nothing: the Dataverse environment is free until Resume.
        if let Ok(dv) = self.dataverse(tenant)
            && dv.busy == Some(op.id())
        {
            dv.busy = None;
            if dv.provisioning == ProvisioningState::Creating {
                dv.provisioning = ProvisioningState::Failed;
            }
        }
    }
}

/// Removes the link of a deleted F&O environment: its Dataverse environment stays, unlinked.
pub(crate) fn unlink(state: &mut TenantState, env: EnvironmentId, at: Timestamp) {
    for dv in state.ppac.environments.iter_mut() {
        if dv
            .linked_app
            .as_ref()
            .is_some_and(|l| l.kind == LinkedAppKind::Linked && l.id == env.0)
        {
            dv.linked_app = None;
            dv.modified_at = at;
        }
    }
}

/// A warning on a conceptual environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Stable code.
    pub code: &'static str,
    /// What it means and what to do.
    pub message: String,
}

wire_enum! {
    /// How the two halves of a conceptual environment are joined.
    LinkState {
        /// One half only.
        None => "none",
        /// Power Platform integration setup is running.
        SettingUp => "settingUp",
        /// Setup failed; Resume continues it.
        SetupFailed => "setupFailed",
        /// Linked by Power Platform integration (irreversible).
        Linked => "linked",
        /// A unified environment: F&O provisioned from PPAC.
        Unified => "unified",
    }
}

/// One conceptual environment: both halves, however they are joined.
#[derive(Debug, Clone)]
pub struct Conceptual<'a> {
    /// The F&O half in LCS.
    pub fo: Option<(&'a Project, &'a FoEnvironment)>,
    /// The Dataverse half in PPAC.
    pub dv: Option<&'a PpEnvironment>,
    /// The join.
    pub link: LinkState,
    /// Running operations on either half, oldest first.
    pub operations: Vec<&'a Operation<Work>>,
    /// What an admin should know.
    pub warnings: Vec<Warning>,
}

/// One operation in both portals' words.
#[derive(Debug, Clone, Copy)]
pub struct Term {
    /// Our name.
    pub operation: &'static str,
    /// What LCS calls it (`None`: LCS has no such operation).
    pub lcs: Option<&'static str>,
    /// What PPAC calls it.
    pub ppac: Option<&'static str>,
    /// The rule when the environments are linked.
    pub when_linked: &'static str,
    /// Engine kinds of this operation.
    pub kinds: &'static [&'static str],
}

/// The operation terminology of both portals.
pub const TERMINOLOGY: &[Term] = &[
    Term {
        operation: "Create",
        lcs: Some("Deploy"),
        ppac: Some("Provision"),
        when_linked: "Set up Power Platform integration from LCS to create the Dataverse half.",
        kinds: &[
            "lcs.deploy",
            "ppac.create",
            "ppac.provisionInstance",
            SETUP_KIND,
        ],
    },
    Term {
        operation: "Copy",
        lcs: Some("Database refresh"),
        ppac: Some("Copy"),
        when_linked: "Each portal copies its own half only; run both and align code afterwards.",
        kinds: &["lcs.databaseRefresh", "ppac.copy"],
    },
    Term {
        operation: "Backup",
        lcs: Some("Database export"),
        ppac: Some("Backup"),
        when_linked: "Each portal backs up its own half only.",
        kinds: &["lcs.databaseExport"],
    },
    Term {
        operation: "Restore",
        lcs: Some("Point-in-time restore"),
        ppac: Some("Restore"),
        when_linked: "Each portal restores its own half only.",
        kinds: &[
            "lcs.pointInTimeRestore",
            "lcs.databaseImport",
            "ppac.restore",
        ],
    },
    Term {
        operation: "Reset",
        lcs: None,
        ppac: Some("Reset"),
        when_linked: "Blocked on a Dataverse environment linked to F&O: F&O has no equivalent.",
        kinds: &["ppac.reset"],
    },
    Term {
        operation: "Convert",
        lcs: None,
        ppac: Some("Convert to production / Convert to sandbox"),
        when_linked: "Allowed but not recommended: the F&O half keeps its type.",
        kinds: &["ppac.convert"],
    },
    Term {
        operation: "Delete",
        lcs: Some("Deallocate / Delete"),
        ppac: Some("Delete"),
        when_linked: "Blocked in PPAC until the F&O environment is deleted in LCS, which removes \
                      the link.",
        kinds: &["lcs.deallocate", "lcs.delete", "ppac.delete"],
    },
];

/// The terminology entry of an engine kind, if it is one of the shared operations.
pub fn term_of(kind: &str) -> Option<&'static Term> {
    TERMINOLOGY.iter().find(|t| t.kinds.contains(&kind))
}

fn sku_name(env_type: EnvironmentType) -> Option<Sku> {
    match env_type {
        EnvironmentType::Production => Some(Sku::Production),
        EnvironmentType::Sandbox => Some(Sku::Sandbox),
        _ => None,
    }
}

/// Warnings about a pair's types.
fn type_warnings(fo: &FoEnvironment, dv: &PpEnvironment) -> Vec<Warning> {
    let mut out = Vec::new();
    let Some(expected) = sku_name(fo.env_type) else {
        return out;
    };
    if dv.sku == expected {
        return out;
    }
    out.push(Warning {
        code: "TypeMismatch",
        message: format!(
            "The halves have different types: {} is a {} finance and operations environment, {} \
             a {} Dataverse environment. PPAC converted the Dataverse half; LCS cannot change the \
             F&O type.",
            fo.name,
            fo.env_type.as_str(),
            dv.display_name,
            dv.sku.as_str()
        ),
    });
    let (sandbox_half, which) = if fo.env_type == EnvironmentType::Sandbox {
        (fo.name.as_str(), "finance and operations")
    } else {
        (dv.display_name.as_str(), "Dataverse")
    };
    out.push(Warning {
        code: "ProductionWorkloadOnSandbox",
        message: format!(
            "One half is production while its {which} half {sandbox_half} is a sandbox, which has \
             a lower SLA; do not run production workloads on it."
        ),
    });
    if fo.env_type == EnvironmentType::Sandbox {
        out.push(Warning {
            code: "RelinkToProduction",
            message: format!(
                "To get a production F&O environment linked to {}: deploy F&O production without \
                 Power Platform integration, refresh its database from {}, delete {} in LCS (that \
                 removes the link), then link production to {} as an existing Dataverse \
                 environment.",
                dv.display_name, fo.name, fo.name, dv.display_name
            ),
        });
    } else {
        out.push(Warning {
            code: "ProductionLinkedToSandbox",
            message: format!(
                "{} is production and linked to the sandbox Dataverse environment {}. The link is \
                 irreversible: {} can never be linked to another production Dataverse environment \
                 without deleting environments.",
                fo.name, dv.display_name, fo.name
            ),
        });
    }
    out
}

impl Tenant {
    fn fo_for(
        &self,
        project: ProjectId,
        actor: super::identity::ObjectId,
        env: EnvironmentId,
    ) -> Result<&FoEnvironment, SimError> {
        self.lcs_project_for(project, actor)?.environment(env)
    }

    /// The live Dataverse environment linked to `fo`, if any.
    pub(crate) fn linked_dataverse(&self, fo: &FoEnvironment) -> Option<&PpEnvironment> {
        let id = fo.integration.as_ref()?.dataverse.as_ref()?;
        live_dv(&self.state, id)
    }

    /// Why Setup is not offered for `fo`, or `None` when it is.
    fn setup_refusal(&self, fo: &FoEnvironment) -> Option<SimError> {
        if let Some(i) = &fo.integration {
            let message = match self.operation(i.setup).map(|op| op.state()).ok() {
                Some(RunState::Failed) => format!(
                    "Power Platform integration setup of {} failed; fix the cause and Resume it \
                     (POST .../power-platform-integration/resume) instead of starting again",
                    fo.name
                ),
                Some(RunState::Running | RunState::Pending) => format!(
                    "Power Platform integration setup of {} is already in progress",
                    fo.name
                ),
                _ => format!(
                    "{} is already linked to the Power Platform environment {}. The link is \
                     irreversible: it cannot be removed or pointed elsewhere; deleting the \
                     environment in LCS is the only way to break it",
                    fo.name,
                    i.dataverse.as_ref().map_or("(unknown)", PpEnvId::as_str)
                ),
            };
            return Some(SimError::new(
                ErrorCode::PowerPlatformIntegrationExists,
                message,
            ));
        }
        if sku_name(fo.env_type).is_none() {
            return Some(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment. Power Platform integration is set up after \
                     deployment for sandbox and production environments only; cloud-hosted \
                     development environments connect during their deployment",
                    fo.name,
                    fo.env_type.as_str()
                ),
            ));
        }
        Self::check_ready(fo).err()
    }

    /// The "Power Platform integration" section of an environment's details.
    pub fn integration_of<'a>(&'a self, fo: &'a FoEnvironment) -> IntegrationView<'a> {
        let setup = fo
            .integration
            .as_ref()
            .and_then(|i| self.operation(i.setup).ok());
        let dataverse = self.linked_dataverse(fo);
        let state = match setup {
            None => IntegrationState::NotSetUp,
            Some(op) => match op.state() {
                RunState::Succeeded => IntegrationState::Completed,
                RunState::Failed => IntegrationState::Failed,
                _ => {
                    let existing = fo.integration.as_ref().is_some_and(|i| i.existing);
                    let stage = op.current_stage().unwrap_or(0);
                    if !existing && stage < 2 {
                        IntegrationState::Provisioning
                    } else {
                        IntegrationState::InProgress
                    }
                }
            },
        };
        let dv_name = dataverse.map_or_else(String::new, |d| d.display_name.clone());
        let status_message = match state {
            IntegrationState::NotSetUp => "Power Platform integration is not set up. Select \
                                           Setup to connect this environment to a new or an \
                                           existing Power Platform environment."
                .to_string(),
            IntegrationState::Provisioning => "The Power Platform environment is being \
                                               provisioned. This takes a few minutes; then the \
                                               status reads \"Environment setup is in progress\"."
                .to_string(),
            IntegrationState::InProgress => "Environment setup is in progress".to_string(),
            IntegrationState::Failed => {
                let (stage, message) = setup
                    .and_then(|op| {
                        let stage = op.current_stage().and_then(|i| op.stage_name(i))?;
                        Some((stage, op.error()?.message.as_str()))
                    })
                    .unwrap_or(("setup", ""));
                format!("Environment setup failed at stage '{stage}'. {message}")
            }
            IntegrationState::Completed => format!(
                "Environment setup is complete: linked to the Power Platform environment \
                 {dv_name}. Dual-write platform components are installed."
            ),
        };
        let completed = state == IntegrationState::Completed;
        let dual_write = if completed {
            DualWriteState::of(dataverse.and_then(|d| {
                d.packages
                    .iter()
                    .find(|p| p.unique_name.eq_ignore_ascii_case(DUAL_WRITE_PACKAGE))
            }))
        } else {
            DualWriteState::NotAvailable
        };
        let addins = dataverse
            .map(|d| {
                d.packages
                    .iter()
                    .filter_map(|p| {
                        ADDINS
                            .iter()
                            .find(|a| a.package.eq_ignore_ascii_case(&p.unique_name))
                            .map(|addin| AddinView { addin, package: p })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let unavailable = if state == IntegrationState::NotSetUp {
            self.setup_refusal(fo).map(|e| e.message)
        } else {
            None
        };
        let actions = match state {
            IntegrationState::NotSetUp if unavailable.is_none() => vec!["setup"],
            IntegrationState::Failed => vec!["resume"],
            IntegrationState::Completed => vec!["installAddin", "dualWriteApplication"],
            _ => Vec::new(),
        };
        IntegrationView {
            state,
            status_message,
            setup,
            dataverse_id: fo.integration.as_ref().and_then(|i| i.dataverse.clone()),
            dataverse,
            dual_write,
            addins,
            actions,
            unavailable,
        }
    }

    /// Starts Power Platform integration setup from an F&O environment's details.
    pub fn setup_integration(
        &mut self,
        project: ProjectId,
        actor: super::identity::ObjectId,
        env: EnvironmentId,
        request: SetupRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let fo = self.fo_for(project, actor, env)?;
        if !request.accept_terms {
            return Err(SimError::new(
                ErrorCode::TermsNotAccepted,
                "Accept the terms and conditions to set up Power Platform integration: send \
                 \"acceptTerms\": true",
            )
            .at("acceptTerms"));
        }
        if let Some(e) = self.setup_refusal(fo) {
            return Err(e);
        }
        let existing = match &request.existing {
            Some(id) => Some(self.linkable(fo, id)?),
            None => None,
        };
        let work = Work {
            kind: SETUP_KIND.into(),
            portal: Portal::Lcs,
            target: Target {
                kind: "lcsEnvironment".into(),
                id: env.to_string(),
            },
            effect: Effect::Integration(SetupEffect {
                project,
                env,
                existing: existing.is_some(),
            }),
        };
        let specs: Vec<StageSpec> = steps(existing.is_some()).iter().map(|s| s.spec()).collect();
        let op = self.start_operation(work, &specs, None, now)?;
        if let Some(id) = &existing
            && let Some(dv) = dv_mut(&mut self.state, id)
        {
            dv.busy = Some(op);
        }
        self.state
            .lcs
            .project_mut(project)?
            .environment_mut(env)?
            .integration = Some(Integration {
            setup: op,
            dataverse: existing,
            existing: request.existing.is_some(),
        });
        Ok(op)
    }

    /// Checks that the Dataverse environment `id` can be linked to `fo`.
    fn linkable(&self, fo: &FoEnvironment, id: &PpEnvId) -> Result<PpEnvId, SimError> {
        let dv = live_dv(&self.state, id).ok_or_else(|| {
            SimError::new(
                ErrorCode::EnvironmentNotFound,
                format!(
                    "The Power Platform environment {id} could not be found in the tenant {}; \
                         list them with GET /providers/Microsoft.BusinessAppPlatform/scopes/admin/\
                         environments",
                    self.state.id
                ),
            )
            .at("existingDataverseEnvironmentId")
        })?;
        let refuse = |message: String| {
            Err(
                SimError::new(ErrorCode::DataverseEnvironmentNotLinkable, message)
                    .at("existingDataverseEnvironmentId"),
            )
        };
        if let Some(link) = &dv.linked_app {
            return match link.kind {
                LinkedAppKind::Linked => {
                    let other = self
                        .state
                        .lcs
                        .find_environment(EnvironmentId(link.id))
                        .map_or_else(
                            || link.id.to_string(),
                            |(_, e)| format!("{} ({})", e.name, e.id),
                        );
                    refuse(format!(
                        "The Power Platform environment {} is already linked to the finance and \
                         operations environment {other}. The link is irreversible; delete {other} \
                         in LCS to free {}, then link it again",
                        dv.display_name, dv.display_name
                    ))
                }
                LinkedAppKind::Internal => refuse(format!(
                    "The Power Platform environment {} hosts its own finance and operations apps \
                     (a unified environment); it cannot be linked to an LCS environment",
                    dv.display_name
                )),
            };
        }
        if dv.dataverse.is_none() {
            return refuse(format!(
                "The Power Platform environment {} has no Dataverse database; add one first",
                dv.display_name
            ));
        }
        let wanted = sku_name(fo.env_type);
        if Some(dv.sku) != wanted {
            return refuse(format!(
                "{} is a {} environment and {} a {} one: Power Platform integration links \
                 environments of the same type (sandbox to sandbox, production to production)",
                fo.name,
                fo.env_type.as_str(),
                dv.display_name,
                dv.sku.as_str()
            ));
        }
        if dv.busy.is_some() || dv.provisioning != ProvisioningState::Succeeded {
            return Err(dataverse_busy(&dv.id, "retry"));
        }
        Ok(dv.id.clone())
    }

    /// Resumes a failed setup from its failed stage.
    pub fn resume_integration(
        &mut self,
        project: ProjectId,
        actor: super::identity::ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let fo = self.fo_for(project, actor, env)?;
        let Some(i) = fo.integration.clone() else {
            return Err(SimError::new(
                ErrorCode::OperationNotResumable,
                format!(
                    "Power Platform integration was never set up for {}; there is nothing to \
                     resume. Start it with POST .../power-platform-integration",
                    fo.name
                ),
            ));
        };
        let name = fo.name.clone();
        let state = self.operation(i.setup)?.state();
        if state != RunState::Failed {
            return Err(SimError::new(
                ErrorCode::OperationNotResumable,
                format!(
                    "Power Platform integration setup of {name} {}; only a failed setup can be \
                     resumed",
                    if state == RunState::Succeeded {
                        "has completed"
                    } else {
                        "is still in progress"
                    }
                ),
            ));
        }
        if let Some(id) = &i.dataverse
            && let Some(dv) = live_dv(&self.state, id)
            && (dv.busy.is_some() || dv.provisioning == ProvisioningState::Deleting)
        {
            return Err(dataverse_busy(&dv.id, "resume"));
        }
        self.resume_operation(i.setup, now)?;
        if let Some(id) = &i.dataverse
            && let Some(dv) = dv_mut(&mut self.state, id)
        {
            dv.busy = Some(i.setup);
            if dv.provisioning == ProvisioningState::Failed {
                dv.provisioning = ProvisioningState::Creating;
            }
        }
        Ok(i.setup)
    }

    /// The linked Dataverse environment of a completed integration, and the actor of `user`.
    fn completed_link(
        &self,
        project: ProjectId,
        user: super::identity::ObjectId,
        env: EnvironmentId,
        what: &str,
    ) -> Result<(PpEnvId, Actor), SimError> {
        let fo = self.fo_for(project, user, env)?;
        let view = self.integration_of(fo);
        let id = match (view.state, view.dataverse) {
            (IntegrationState::Completed, Some(dv)) => dv.id.clone(),
            _ => {
                return Err(SimError::new(
                    ErrorCode::PowerPlatformIntegrationRequired,
                    format!(
                        "{what} needs Power Platform integration, and {} is {}. Set up the \
                         integration first and wait for it to complete",
                        fo.name,
                        match view.state {
                            IntegrationState::NotSetUp => "not integrated",
                            IntegrationState::Failed => "integrated only partly (setup failed)",
                            _ => "still being set up",
                        }
                    ),
                ));
            }
        };
        Self::check_ready(fo)?;
        let actor = self.ppac_actor(Some(user), None)?;
        Ok((id, actor))
    }

    /// Installs an add-in from the LCS environment details.
    pub fn install_addin(
        &mut self,
        project: ProjectId,
        user: super::identity::ObjectId,
        env: EnvironmentId,
        name: &str,
        settings: Vec<(String, String)>,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let addin = addin(name)?;
        for (key, _) in &settings {
            if !addin.settings.iter().any(|s| s.key == key) {
                return Err(SimError::new(
                    ErrorCode::InvalidAddin,
                    format!(
                        "{} takes no setting '{key}'{}",
                        addin.name,
                        if addin.settings.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; it takes: {}",
                                addin
                                    .settings
                                    .iter()
                                    .map(|s| s.key)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ),
                )
                .at(format!("settings.{key}")));
            }
        }
        for s in addin.settings {
            match settings.iter().find(|(k, _)| k == s.key) {
                None => {
                    return Err(SimError::new(
                        ErrorCode::InvalidAddin,
                        format!("{} needs the {} (setting '{}')", addin.name, s.label, s.key),
                    )
                    .at(format!("settings.{}", s.key)));
                }
                Some((_, v)) if Uuid::parse_str(v.trim()).is_err() => {
                    return Err(SimError::new(
                        ErrorCode::InvalidAddin,
                        format!("The {} must be a GUID, not '{v}'", s.label),
                    )
                    .at(format!("settings.{}", s.key)));
                }
                Some(_) => {}
            }
        }
        let (dv, actor) = self.completed_link(project, user, env, "Installing an add-in")?;
        self.refuse_reinstall(&dv, addin.package, addin.name)?;
        let origin = LcsOrigin {
            kind: ADDIN_KIND.to_string(),
            env,
        };
        let record =
            self.ppac_install_from(&actor, &dv, addin.package, settings, Some(origin), now)?;
        Ok(record.operation)
    }

    /// Enables the dual-write application from the LCS environment details.
    pub fn enable_dual_write(
        &mut self,
        project: ProjectId,
        user: super::identity::ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (dv, actor) = self.completed_link(project, user, env, "The dual-write application")?;
        self.refuse_reinstall(&dv, DUAL_WRITE_PACKAGE, "The dual-write application")?;
        let origin = LcsOrigin {
            kind: DUAL_WRITE_KIND.to_string(),
            env,
        };
        let record = self.ppac_install_from(
            &actor,
            &dv,
            DUAL_WRITE_PACKAGE,
            Vec::new(),
            Some(origin),
            now,
        )?;
        Ok(record.operation)
    }

    fn refuse_reinstall(&self, dv: &PpEnvId, package: &str, what: &str) -> Result<(), SimError> {
        let state = self
            .state
            .ppac
            .environments
            .iter()
            .find(|e| &e.id == dv)
            .and_then(|e| {
                e.packages
                    .iter()
                    .find(|p| p.unique_name.eq_ignore_ascii_case(package))
            })
            .map(|p| p.state);
        match state {
            Some(PackageState::Installed) => Err(SimError::new(
                ErrorCode::AddinAlreadyInstalled,
                format!("{what} is already installed in the linked environment {dv}"),
            )),
            Some(PackageState::InstallRequested | PackageState::Installing) => Err(SimError::new(
                ErrorCode::AddinAlreadyInstalled,
                format!("{what} is being installed in the linked environment {dv}; wait for it"),
            )),
            _ => Ok(()),
        }
    }

    /// The warning PPAC gives when converting a Dataverse environment linked to F&O.
    pub fn linked_convert_warning(&self, id: &PpEnvId, to: Sku) -> Option<String> {
        let dv = self.state.ppac.environments.iter().find(|e| &e.id == id)?;
        let link = dv.linked_app.as_ref()?;
        if link.kind != LinkedAppKind::Linked {
            return None;
        }
        let (_, fo) = self.state.lcs.find_environment(EnvironmentId(link.id))?;
        let mut text = format!(
            "Converting {} to {} is not recommended: it is linked to the finance and operations \
             environment {} ({}), which stays {} because LCS cannot change an environment's type.",
            dv.display_name,
            to.as_str(),
            fo.name,
            fo.id,
            fo.env_type.as_str()
        );
        if to == Sku::Sandbox && fo.env_type == EnvironmentType::Production {
            text.push_str(&format!(
                " The link is irreversible, so {} can never be linked to another production \
                 Dataverse environment without deleting environments.",
                fo.name
            ));
        }
        Some(text)
    }

    /// Every conceptual environment of the tenant: each F&O environment with its Dataverse half,
    /// then each Power Platform environment not joined to an F&O environment.
    pub fn conceptual_environments(&self) -> Vec<Conceptual<'_>> {
        let mut running: HashMap<&str, Vec<&Operation<Work>>> = HashMap::new();
        for op in self
            .operations()
            .filter(|op| op.state() == RunState::Running)
        {
            running
                .entry(op.payload.target.id.as_str())
                .or_default()
                .push(op);
        }
        let ops_of = |ids: &[&str]| -> Vec<&Operation<Work>> {
            let mut v: Vec<&Operation<Work>> = ids
                .iter()
                .filter_map(|id| running.get(id))
                .flatten()
                .copied()
                .collect();
            v.sort_by_key(|op| op.started_at());
            v.dedup_by_key(|op| op.id());
            v
        };
        let mut out = Vec::new();
        let mut joined: Vec<&PpEnvId> = Vec::new();
        for p in &self.state.lcs.projects {
            for fo in &p.environments {
                let dv = self.linked_dataverse(fo);
                let link = match fo
                    .integration
                    .as_ref()
                    .and_then(|i| self.operation(i.setup).ok())
                    .map(|op| op.state())
                {
                    None => LinkState::None,
                    Some(RunState::Succeeded) => LinkState::Linked,
                    Some(RunState::Failed) => LinkState::SetupFailed,
                    Some(_) => LinkState::SettingUp,
                };
                if let Some(d) = dv {
                    joined.push(&d.id);
                }
                let fo_id = fo.id.to_string();
                let ids: Vec<&str> = [Some(fo_id.as_str()), dv.map(|d| d.id.as_str())]
                    .into_iter()
                    .flatten()
                    .collect();
                let warnings = match (link, dv) {
                    (LinkState::Linked, Some(d)) => type_warnings(fo, d),
                    _ => Vec::new(),
                };
                out.push(Conceptual {
                    fo: Some((p, fo)),
                    dv,
                    link,
                    operations: ops_of(&ids),
                    warnings,
                });
            }
        }
        for d in self.state.ppac.environments.iter().filter(|d| d.live()) {
            if joined.contains(&&d.id) {
                continue;
            }
            let link = if d
                .linked_app
                .as_ref()
                .is_some_and(|l| l.kind == LinkedAppKind::Internal)
            {
                LinkState::Unified
            } else {
                LinkState::None
            };
            out.push(Conceptual {
                fo: None,
                dv: Some(d),
                link,
                operations: ops_of(&[d.id.as_str()]),
                warnings: Vec::new(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_setups_take_60_to_90_minutes_and_existing_ones_skip_provisioning() {
        let total = |steps: &[Step]| {
            steps.iter().fold((0, 0), |(lo, hi), s| {
                let (a, b) = s.minutes();
                (lo + a, hi + b)
            })
        };
        assert_eq!(total(NEW_STEPS), (60, 90));
        assert!(!EXISTING_STEPS.contains(&Step::Provision));
        assert!(!EXISTING_STEPS.contains(&Step::ReserveCapacity));
        assert_eq!(EXISTING_STEPS.last(), Some(&Step::Link));
    }

    #[test]
    fn lcs_regions_map_to_power_platform_geographies() {
        assert_eq!(geography_of("East US").0.name, "unitedstates");
        assert_eq!(geography_of("West Europe").1, "westeurope");
        assert_eq!(geography_of("UK South").0.name, "unitedkingdom");
        assert_eq!(geography_of("Norway East").0.name, "europe");
        assert_eq!(geography_of("Nowhere").0.name, "unitedstates");
    }

    #[test]
    fn every_shared_operation_kind_has_one_term() {
        for t in TERMINOLOGY {
            for k in t.kinds {
                assert_eq!(term_of(k).map(|x| x.operation), Some(t.operation));
            }
        }
        assert!(term_of("ppac.edit").is_none());
    }
}
