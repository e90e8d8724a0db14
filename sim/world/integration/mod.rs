//! Power Platform integration: the link between an F&O environment (LCS) and a Dataverse
//! environment (PPAC), which makes the pair one conceptual environment.
//!
//! Setup runs from the LCS side as one long-running operation in named stages. Its prerequisites
//! are checked *when their stage ends*, so a setup fails part-way with a message naming the cause,
//! and Resume re-runs only the failed stage and the ones after it. The link itself lives on the
//! Dataverse side (`linkedAppMetadata` type `Linked`), add-ins and the dual-write application are
//! application packages of the linked Dataverse environment, and the F&O environment records which
//! setup it ran. Deleting the F&O environment in LCS is the only way to remove a link.

use super::wire::wire_enum;
use crate::error::{ErrorCode, SimError};
use crate::ops::StageSpec;
use crate::world::lcs::{EnvironmentId, EnvironmentType, FoEnvironment, Project, ProjectId};
use crate::world::ppac::{InstalledPackage, PackageState, PpEnvId, PpEnvironment, Sku};
use jiff::SignedDuration;

mod addins;
pub(crate) mod effect;
mod setup;
#[cfg(test)]
mod tests;
pub mod views;

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
    fn of(package: Option<PackageState>) -> DualWriteState {
        match package {
            None | Some(PackageState::None) => DualWriteState::NotEnabled,
            Some(PackageState::InstallRequested | PackageState::Installing) => {
                DualWriteState::Enabling
            }
            Some(PackageState::Installed) => DualWriteState::Enabled,
            Some(PackageState::InstallFailed) => DualWriteState::Failed,
        }
    }
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

#[cfg(test)]
mod term_tests {
    use super::effect::geography_of;
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
