//! The Power Platform half: environments, their Dataverse databases, lifecycle operations
//! (create, add Dataverse, edit, convert, delete, copy, backup, restore, reset, recover),
//! application packages, capacity accounting and tenant settings. Both the BAP admin API and the
//! Power Platform API render this one model.
//!
//! Rules live in one place, [`refusal`], which both enforces them and feeds
//! `lifecycleOperationsEnforcement`, so a client can see *why* an operation is not allowed before
//! trying it.

pub mod model;

pub use model::*;

use super::identity::{ObjectId, Role, random_uuid};
use super::operations::{Effect, Portal, Target, Work};
use super::tenant::{Tenant, TenantState};
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::{OpError, Operation, OperationId, RunState, StageSpec};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// How long a deleted environment stays recoverable.
pub const RECOVERY_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How long a deleted environment's domain stays blocked (7 days for unified F&O environments).
pub const DOMAIN_BLOCK: SignedDuration = SignedDuration::from_hours(24);

/// The Power Platform state of a tenant.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ppac {
    /// Environments, live and soft-deleted, in creation order.
    pub environments: Vec<PpEnvironment>,
    /// Lifecycle operations, oldest first.
    pub operations: Vec<LifecycleOp>,
    /// Domains of deleted environments and until when they stay blocked.
    pub blocked_domains: Vec<(String, Timestamp)>,
    /// Tenant settings other than the governance switch (which lives in the tenant).
    pub settings: Value,
}

/// A lifecycle operation as the Power Platform APIs list it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleOp {
    /// Id (the engine operation's id).
    pub id: OperationId,
    /// The environment it acts on.
    pub env: PpEnvId,
    /// What it does.
    pub op_type: OpType,
    /// Who asked.
    pub requested_by: Actor,
}

/// Why an operation is not allowed on an environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `reason.type` in `lifecycleOperationsEnforcement`.
    pub reason: ReasonType,
    /// The error code a request gets.
    pub code: ErrorCode,
    /// What the message says.
    pub message: String,
}

impl Refusal {
    fn error(&self) -> SimError {
        SimError::new(self.code, self.message.clone())
    }
}

/// The operations `lifecycleOperationsEnforcement` reports on.
pub const ENFORCED: &[OpType] = &[
    OpType::Backup,
    OpType::Convert,
    OpType::Copy,
    OpType::Delete,
    OpType::Edit,
    OpType::Promote,
    OpType::Provision,
    OpType::Reset,
    OpType::Restore,
];

/// Why `op` is not allowed on `env` now, or `None` if it is. The single source of the rules.
pub fn refusal(env: &PpEnvironment, op: OpType) -> Option<Refusal> {
    let sku = env.sku.as_str();
    let refuse = |reason, code, message: String| {
        Some(Refusal {
            reason,
            code,
            message,
        })
    };
    let linked = env
        .linked_app
        .as_ref()
        .filter(|l| l.kind == LinkedAppKind::Linked);
    match op {
        OpType::Delete if env.is_default() => refuse(
            ReasonType::EnvironmentSkuType,
            ErrorCode::LifecycleOperationNotAllowed,
            "Delete cannot be performed on the default environment of a tenant.".into(),
        ),
        OpType::Delete | OpType::Reset if linked.is_some() => {
            let lcs = linked.map(|l| l.id).unwrap_or_default();
            refuse(
                ReasonType::FinOpsLinked,
                ErrorCode::OperationNotSupportedForLinkedFinOpsEnvironment,
                format!(
                    "{op} cannot be performed because the environment is linked to the finance \
                     and operations environment {lcs} in Lifecycle Services. {}",
                    if op == OpType::Delete {
                        "Delete the finance and operations environment in LCS first; that removes \
                         the link and leaves this environment, which can then be deleted."
                    } else {
                        "Finance and operations environments have no reset; refresh the F&O \
                         database in LCS instead."
                    },
                    op = op.as_str()
                ),
            )
        }
        OpType::Reset
            if env
                .linked_app
                .as_ref()
                .is_some_and(|l| l.kind == LinkedAppKind::Internal) =>
        {
            refuse(
                ReasonType::FinOpsLinked,
                ErrorCode::LifecycleOperationNotAllowed,
                "Reset is not available for environments with finance and operations apps \
                 (the Provisioning App is installed); copy or restore into them instead."
                    .into(),
            )
        }
        OpType::Reset if env.sku != Sku::Sandbox => refuse(
            ReasonType::EnvironmentSkuType,
            ErrorCode::LifecycleOperationNotAllowed,
            format!(
                "Reset cannot be performed on environment of type {sku}. Only sandbox \
                 environments can be reset; convert it to a sandbox first."
            ),
        ),
        OpType::Copy | OpType::Restore if env.sku != Sku::Sandbox => refuse(
            ReasonType::EnvironmentSkuType,
            ErrorCode::TargetEnvironmentMustBeSandbox,
            format!(
                "{} cannot be performed on environment of type {sku}: only a sandbox can be the \
                 target. Convert the environment to a sandbox first.",
                op.as_str()
            ),
        ),
        OpType::Backup if matches!(env.sku, Sku::Default | Sku::Trial) => refuse(
            ReasonType::EnvironmentSkuType,
            ErrorCode::LifecycleOperationNotAllowed,
            format!("Backup cannot be performed on environment of type {sku}."),
        ),
        OpType::Convert if !matches!(env.sku, Sku::Production | Sku::Sandbox) => refuse(
            ReasonType::EnvironmentSkuType,
            ErrorCode::LifecycleOperationNotAllowed,
            format!(
                "Convert cannot be performed on environment of type {sku}; only production and \
                 sandbox environments convert into each other."
            ),
        ),
        OpType::Promote if !matches!(env.sku, Sku::Trial | Sku::SubscriptionBasedTrial) => refuse(
            ReasonType::EnvironmentSkuType,
            ErrorCode::LifecycleOperationNotAllowed,
            format!("Promote cannot be performed on environment of type {sku}."),
        ),
        OpType::Provision if env.dataverse.is_some() => refuse(
            ReasonType::CdsLink,
            ErrorCode::LifecycleOperationNotAllowed,
            "Provision cannot be performed because the environment already has a Dataverse \
             database."
                .into(),
        ),
        OpType::Backup | OpType::Copy | OpType::Restore | OpType::Reset
            if env.dataverse.is_none() =>
        {
            refuse(
                ReasonType::CdsLink,
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "{} cannot be performed because the environment has no Dataverse database; \
                     add one with provisionInstance first.",
                    op.as_str()
                ),
            )
        }
        _ => None,
    }
}

/// What an environment allows now: every enforced operation with its refusal, if any.
pub fn enforcement(env: &PpEnvironment) -> Vec<(OpType, Option<Refusal>)> {
    ENFORCED.iter().map(|&op| (op, refusal(env, op))).collect()
}

/// A new environment, as both APIs' create bodies describe it.
#[derive(Debug, Clone, Default)]
pub struct NewEnvironment {
    /// Display name (required).
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Type; `None` is refused.
    pub sku: Option<Sku>,
    /// Geography, e.g. `europe`.
    pub location: String,
    /// Azure region; defaults to the geography's first.
    pub azure_region: Option<String>,
    /// Update cadence.
    pub cadence: Option<String>,
    /// Whether `usedBy` was sent.
    pub used_by: bool,
    /// Managed environment.
    pub managed: bool,
    /// The Dataverse database to create with it.
    pub dataverse: Option<NewDataverse>,
}

/// A Dataverse database to create (create, add Dataverse, reset).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDataverse {
    /// Domain; derived from the display name when absent.
    pub domain: Option<String>,
    /// Base language LCID (default 1033).
    pub language: Option<u32>,
    /// Currency code (default USD).
    pub currency: Option<String>,
    /// Templates.
    pub templates: Vec<String>,
    /// Security group.
    pub security_group: Option<Uuid>,
}

/// Changes of a PATCH; `None` leaves a property alone.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Admin mode on or off.
    pub admin_mode: Option<bool>,
    /// Background operations on or off.
    pub background_operations: Option<bool>,
    /// New domain.
    pub domain: Option<String>,
    /// New update cadence.
    pub cadence: Option<String>,
}

/// Copy into a sandbox.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// The environment copied from.
    pub source: PpEnvId,
    /// Full (data) or minimal (customizations only).
    pub full: bool,
    /// New display name of the target.
    pub name: Option<String>,
    /// New security group of the target.
    pub security_group: Option<Uuid>,
}

/// Restore into a sandbox.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The environment whose backup is restored.
    pub source: PpEnvId,
    /// Restore point; `None` is the latest.
    pub point: Option<Timestamp>,
    /// A manual backup to restore, by id.
    pub backup: Option<Uuid>,
    /// New display name of the target.
    pub name: Option<String>,
    /// New security group of the target.
    pub security_group: Option<Uuid>,
}

/// What deleting an environment would remove, or why it cannot be deleted.
#[derive(Debug, Clone)]
pub struct DeleteCheck {
    /// `canInitiateDelete`.
    pub can_delete: bool,
    /// `(type, name)` of each resource that goes with it.
    pub resources: Vec<(&'static str, String)>,
    /// Why not, when it cannot.
    pub refusal: Option<Refusal>,
}

/// Database, file and log consumption of a tenant's environments, MB.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Consumption {
    /// Database.
    pub database_mb: f64,
    /// File.
    pub file_mb: f64,
    /// Log.
    pub log_mb: f64,
}

/// Every engine kind of Power Platform operations, for duration overrides.
pub fn operation_kinds() -> impl Iterator<Item = &'static str> {
    OpType::ALL
        .iter()
        .filter(|t| !matches!(t, OpType::Backup | OpType::Promote))
        .map(|t| t.engine_kind())
        .chain(std::iter::once(INSTALL_KIND))
}

/// Engine kind of application package installs.
pub const INSTALL_KIND: &str = "ppac.installPackage";

fn secs(lo: i64, hi: i64) -> (SignedDuration, SignedDuration) {
    (SignedDuration::from_secs(lo), SignedDuration::from_secs(hi))
}

/// Validate / Prepare / Run / Finalize with the given ranges (seconds).
fn four_stages(ranges: [(i64, i64); 4]) -> Vec<StageSpec> {
    ["Validate", "Prepare", "Run", "Finalize"]
        .into_iter()
        .zip(ranges)
        .map(|(name, (lo, hi))| {
            let (min, max) = secs(lo, hi);
            StageSpec::between(name, min, max)
        })
        .collect()
}

/// Realistic virtual durations of each operation (reference: create without Dataverse ~20 s,
/// with Dataverse minutes, F&O templates about an hour, copy/restore hours).
fn stages_for(action: &Action) -> Vec<StageSpec> {
    match action {
        Action::Create { fin_ops: true, .. } => {
            four_stages([(5, 10), (60, 120), (2700, 4500), (60, 120)])
        }
        Action::Create {
            dataverse: true, ..
        } => four_stages([(5, 10), (30, 60), (180, 420), (30, 60)]),
        Action::Create { .. } => four_stages([(2, 3), (3, 5), (10, 14), (2, 3)]),
        Action::Provision { .. } => four_stages([(5, 10), (20, 40), (180, 360), (20, 40)]),
        Action::Edit(_) => four_stages([(1, 1), (1, 1), (2, 4), (1, 1)]),
        Action::Convert(_) => four_stages([(5, 5), (10, 20), (30, 90), (5, 10)]),
        Action::Delete => four_stages([(5, 5), (10, 20), (60, 180), (5, 10)]),
        Action::Copy { .. } | Action::Restore { .. } => {
            four_stages([(30, 60), (300, 600), (3600, 10800), (300, 600)])
        }
        Action::Reset { .. } => four_stages([(10, 10), (60, 120), (900, 1800), (60, 120)]),
        Action::Recover => four_stages([(5, 5), (10, 20), (120, 300), (10, 20)]),
        Action::Install { unique_name, .. } if unique_name == PROVISIONING_APP => {
            four_stages([(10, 20), (60, 120), (3000, 4200), (60, 120)])
        }
        Action::Install { .. } => four_stages([(5, 5), (10, 20), (120, 600), (10, 20)]),
    }
}

/// What a Power Platform operation does when it finishes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
enum Action {
    Create {
        dataverse: bool,
        fin_ops: bool,
    },
    Provision {
        data: Box<Dataverse>,
    },
    Edit(EnvironmentPatch),
    Convert(Sku),
    Delete,
    Copy {
        data: Box<Dataverse>,
        name: Option<String>,
    },
    Restore {
        data: Box<Dataverse>,
        name: Option<String>,
    },
    Reset {
        data: Box<Dataverse>,
        name: Option<String>,
    },
    Recover,
    Install {
        unique_name: String,
        origin: Option<LcsOrigin>,
    },
}

/// An install started from the LCS environment details (an add-in or the dual-write application)
/// rather than from PPAC: the operation belongs to LCS and targets the F&O environment.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LcsOrigin {
    /// Engine kind, e.g. `powerPlatformIntegration.installAddin`.
    pub kind: &'static str,
    /// The F&O environment.
    pub env: crate::world::lcs::EnvironmentId,
}

/// [`LcsOrigin`] as read from a snapshot, before its kind is looked up.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LcsOriginData {
    kind: String,
    env: crate::world::lcs::EnvironmentId,
}

impl<'de> serde::Deserialize<'de> for LcsOrigin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let data = LcsOriginData::deserialize(d)?;
        let kind = crate::world::tenant::operation_kinds()
            .find(|k| *k == data.kind)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("'{}' is not an operation kind", data.kind))
            })?;
        Ok(LcsOrigin {
            kind,
            env: data.env,
        })
    }
}

impl Action {
    fn op_type(&self) -> OpType {
        match self {
            Action::Create { .. } => OpType::Create,
            Action::Provision { .. } => OpType::Provision,
            Action::Edit(_) => OpType::Edit,
            Action::Convert(_) => OpType::Convert,
            Action::Delete => OpType::Delete,
            Action::Copy { .. } => OpType::Copy,
            Action::Restore { .. } => OpType::Restore,
            Action::Reset { .. } => OpType::Reset,
            Action::Recover => OpType::Recover,
            Action::Install { .. } => OpType::Edit,
        }
    }
}

/// The effect of a Power Platform operation on its environment.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PpacEffect {
    env: PpEnvId,
    action: Action,
}

fn env_mut<'a>(state: &'a mut TenantState, id: &PpEnvId) -> Option<&'a mut PpEnvironment> {
    state.ppac.environments.iter_mut().find(|e| &e.id == id)
}

impl PpacEffect {
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        op: &Operation<Work>,
        stage: usize,
        _at: Timestamp,
    ) -> Result<(), OpError> {
        let Some(env) = env_mut(tenant, &self.env) else {
            return Err(OpError::new(
                ErrorCode::EnvironmentNotFound.as_str(),
                format!("The environment '{}' no longer exists.", self.env),
            ));
        };
        if let (Action::Install { unique_name, .. }, 0) = (&self.action, stage) {
            let check = install_check(env, unique_name);
            if let Some(p) = env.packages.iter_mut().find(|p| p.operation == op.id()) {
                p.state = if check.is_ok() {
                    PackageState::Installing
                } else {
                    PackageState::InstallFailed
                };
            }
            check.map_err(|m| OpError::new("InstallFailed", m))?;
        }
        Ok(())
    }

    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, at: Timestamp) {
        let ok = op.state() == RunState::Succeeded;
        let mut blocked = None;
        if let Some(env) = env_mut(tenant, &self.env) {
            if env.busy == Some(op.id()) {
                env.busy = None;
            }
            env.modified_at = at;
            match (&self.action, ok) {
                (Action::Create { .. }, true) => env.provisioning = ProvisioningState::Succeeded,
                (Action::Create { .. }, false) => env.provisioning = ProvisioningState::Failed,
                (Action::Provision { data }, true) => {
                    env.provisioning = ProvisioningState::Succeeded;
                    env.dataverse = Some((**data).clone());
                }
                (Action::Provision { .. }, false) => {
                    env.provisioning = ProvisioningState::Succeeded;
                }
                (Action::Edit(patch), true) => apply_patch(env, patch),
                (Action::Convert(sku), true) => env.sku = *sku,
                (Action::Delete, true) => {
                    env.deleted_at = Some(at);
                    env.provisioning = ProvisioningState::Succeeded;
                    if let Some(d) = &env.dataverse {
                        let block = if env
                            .linked_app
                            .as_ref()
                            .is_some_and(|l| l.kind == LinkedAppKind::Internal)
                        {
                            RECOVERY_WINDOW
                        } else {
                            DOMAIN_BLOCK
                        };
                        blocked = Some((d.domain.clone(), clock::saturating_add(at, block)));
                    }
                }
                (Action::Delete, false) => env.provisioning = ProvisioningState::Succeeded,
                (
                    Action::Copy { data, name }
                    | Action::Restore { data, name }
                    | Action::Reset { data, name },
                    true,
                ) => {
                    env.dataverse = Some((**data).clone());
                    if let Some(name) = name {
                        env.display_name = name.clone();
                    }
                    if matches!(self.action, Action::Reset { .. }) {
                        env.backups.clear();
                        env.packages.clear();
                    } else {
                        // Copy and restore leave the target in admin mode with background
                        // operations disabled.
                        env.admin_mode = true;
                        if let Some(d) = env.dataverse.as_mut() {
                            d.background_operations = false;
                        }
                    }
                }
                (Action::Recover, true) => {
                    env.deleted_at = None;
                    env.provisioning = ProvisioningState::Succeeded;
                }
                (Action::Recover, false) => {
                    env.deleted_at = Some(op.started_at());
                    env.provisioning = ProvisioningState::Succeeded;
                }
                (Action::Install { .. }, _) => {
                    if let Some(p) = env.packages.iter_mut().find(|p| p.operation == op.id()) {
                        p.state = if ok {
                            PackageState::Installed
                        } else {
                            PackageState::InstallFailed
                        };
                        p.error = op.error().map(|e| e.message.clone());
                    }
                }
                _ => {}
            }
        }
        if let Some(b) = blocked {
            tenant.ppac.blocked_domains.push(b);
        }
    }
}

fn apply_patch(env: &mut PpEnvironment, patch: &EnvironmentPatch) {
    if let Some(v) = &patch.display_name {
        env.display_name = v.clone();
    }
    if let Some(v) = &patch.description {
        env.description = v.clone();
    }
    if let Some(v) = patch.admin_mode {
        env.admin_mode = v;
    }
    if let Some(v) = &patch.cadence {
        env.cadence = v.clone();
    }
    if let Some(d) = env.dataverse.as_mut() {
        if let Some(v) = patch.background_operations {
            d.background_operations = v;
        }
        if let Some(v) = &patch.domain {
            d.domain = v.clone();
        }
    }
}

/// Whether `unique_name` can be installed into `env` now; the message says why not.
fn install_check(env: &PpEnvironment, unique_name: &str) -> Result<(), String> {
    let Some(pkg) = package(unique_name) else {
        return Err(format!(
            "The application package '{unique_name}' does not exist."
        ));
    };
    let installed = |name: &str| {
        env.packages
            .iter()
            .any(|p| p.unique_name.eq_ignore_ascii_case(name) && p.state == PackageState::Installed)
    };
    if pkg.unique_name == PROVISIONING_APP {
        if !installed(PLATFORM_TOOLS) {
            return Err(
                "Please install the Dynamics 365 Finance and Operations Platform Tools \
                        application before installing the Dynamics 365 Finance and Operations \
                        Provisioning app."
                    .into(),
            );
        }
        if env
            .linked_app
            .as_ref()
            .is_some_and(|l| l.kind == LinkedAppKind::Linked)
        {
            return Err(
                "This Dataverse organization is already linked to a finance and \
                        operations environment in Lifecycle Services; the Provisioning App \
                        cannot be installed on it."
                    .into(),
            );
        }
        if env.sku == Sku::Production {
            return Err(
                "The Dynamics 365 Finance and Operations Provisioning App can only be \
                        installed on sandbox or subscription-based trial environments."
                    .into(),
            );
        }
        if env.dataverse.as_ref().is_some_and(|d| d.domain.len() > 19) {
            return Err(
                "The Dataverse host name is longer than 19 characters; finance and \
                        operations environments need a shorter one."
                    .into(),
            );
        }
    }
    let lcs_link = env
        .linked_app
        .as_ref()
        .filter(|l| l.kind == LinkedAppKind::Linked);
    if pkg.fin_ops_addin && lcs_link.is_none() {
        return Err(format!(
            "{} is a finance and operations add-in: it installs only into a Dataverse environment \
             linked to a finance and operations environment by Power Platform integration. Set up \
             the integration in LCS, then install the add-in from the LCS environment details.",
            pkg.name
        ));
    }
    for dep in pkg.requires {
        if !installed(dep) {
            let name = package(dep).map_or(*dep, |p| p.name);
            return Err(format!(
                "Please install the {name} application before installing {}.",
                pkg.name
            ));
        }
    }
    if pkg.needs_d365_apps
        && env
            .dataverse
            .as_ref()
            .is_some_and(|d| d.templates.is_empty())
    {
        return Err(format!(
            "{} isn't supported on SchemaType: Standard. Create the environment with Dynamics \
             365 apps enabled (a Dynamics 365 template).",
            pkg.name
        ));
    }
    Ok(())
}

/// The geography with this name, or a 400 that lists them.
pub fn find_location(name: &str) -> Result<&'static Location, SimError> {
    location(name).ok_or_else(|| {
        SimError::new(
            ErrorCode::InvalidEnvironmentRequest,
            format!(
                "The location '{name}' is not available; use one of: {}",
                LOCATIONS
                    .iter()
                    .map(|l| l.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .at("location")
    })
}

/// Checks a domain name's form: a letter first, then letters, digits and hyphens, at most 32
/// characters, not ending in a hyphen. Returns it lower-cased.
pub fn check_domain_form(domain: &str) -> Result<String, SimError> {
    let d = domain.trim().to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 32
        && d.starts_with(|c: char| c.is_ascii_lowercase())
        && !d.ends_with('-')
        && d.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(d)
    } else {
        Err(SimError::new(
            ErrorCode::InvalidDomainName,
            format!(
                "The specified domain name with a value of '{domain}' is invalid. Use 1 to 32 \
                 letters, digits and hyphens, starting with a letter and not ending with a \
                 hyphen."
            ),
        )
        .at("domainName"))
    }
}

impl Tenant {
    /// Creates the tenant's default environment while the tenant is built.
    pub(super) fn build_ppac(state: &mut TenantState, now: Timestamp) {
        let system = Actor {
            id: ObjectId(Uuid::nil()),
            display_name: "SYSTEM".into(),
            upn: None,
            admin: true,
        };
        let domain = format!("org{}", &state.id.0.simple().to_string()[..8]);
        let org_id = random_uuid(&mut state.rng);
        let unique_name = format!("unq{}", random_uuid(&mut state.rng).simple());
        let dataverse = Dataverse::fresh(org_id, unique_name, domain, now);
        state.ppac.environments.push(PpEnvironment {
            id: PpEnvId::default_for(state.id.0),
            display_name: format!("{} (default)", state.display_name),
            description: String::new(),
            sku: Sku::Default,
            location: "unitedstates".into(),
            azure_region: "eastus".into(),
            created_at: now,
            created_by: system.clone(),
            modified_at: now,
            modified_by: system,
            provisioning: ProvisioningState::Succeeded,
            admin_mode: false,
            managed: false,
            cadence: "Moderate".into(),
            dataverse: Some(dataverse),
            linked_app: None,
            backups: Vec::new(),
            packages: Vec::new(),
            busy: None,
            deleted_at: None,
        });
        state.ppac.settings = default_settings();
    }

    /// The actor behind a user or service principal of this tenant.
    pub fn ppac_actor(
        &self,
        user: Option<ObjectId>,
        app: Option<ObjectId>,
    ) -> Result<Actor, SimError> {
        if let Some(id) = user {
            let u = self.state.user_by_id(id).ok_or_else(|| {
                SimError::new(
                    ErrorCode::UserNotFound,
                    format!("user {id} no longer exists"),
                )
            })?;
            return Ok(Actor {
                id,
                display_name: u.display_name.clone(),
                upn: Some(u.upn.to_string()),
                admin: Role::ALL.iter().any(|r| u.has_role(*r)),
            });
        }
        let id =
            app.ok_or_else(|| SimError::internal("an actor needs a user or an application"))?;
        let a = self.state.application_by_id(id).ok_or_else(|| {
            SimError::new(
                ErrorCode::ApplicationNotFound,
                format!("application {id} no longer exists"),
            )
        })?;
        Ok(Actor {
            id,
            display_name: a.display_name.clone(),
            upn: None,
            admin: true,
        })
    }

    fn ppac_may_see(actor: &Actor, env: &PpEnvironment) -> bool {
        actor.admin || env.is_default() || env.created_by.id == actor.id
    }

    /// Live environments the actor may see, in creation order.
    pub fn ppac_environments<'a>(
        &'a self,
        actor: &'a Actor,
    ) -> impl Iterator<Item = &'a PpEnvironment> {
        self.state
            .ppac
            .environments
            .iter()
            .filter(move |e| e.live() && Self::ppac_may_see(actor, e))
    }

    fn ppac_not_found(&self, id: &str) -> SimError {
        SimError::new(
            ErrorCode::EnvironmentNotFound,
            format!(
                "The environment '{id}' could not be found in the tenant '{}'.",
                self.state.id
            ),
        )
    }

    /// A live environment the actor may see; 404 otherwise.
    pub fn ppac_environment(
        &self,
        actor: &Actor,
        id: &PpEnvId,
    ) -> Result<&PpEnvironment, SimError> {
        self.state
            .ppac
            .environments
            .iter()
            .find(|e| &e.id == id && e.live() && Self::ppac_may_see(actor, e))
            .ok_or_else(|| self.ppac_not_found(id.as_str()))
    }

    fn ppac_env_mut(&mut self, id: &PpEnvId) -> Result<&mut PpEnvironment, SimError> {
        let err = self.ppac_not_found(id.as_str());
        self.state
            .ppac
            .environments
            .iter_mut()
            .find(|e| &e.id == id)
            .ok_or(err)
    }

    /// Environments deleted within the recovery window.
    pub fn ppac_deleted<'a>(
        &'a self,
        actor: &'a Actor,
        now: Timestamp,
    ) -> impl Iterator<Item = &'a PpEnvironment> {
        self.state.ppac.environments.iter().filter(move |e| {
            Self::ppac_may_see(actor, e)
                && e.deleted_at
                    .is_some_and(|d| clock::saturating_add(d, RECOVERY_WINDOW) > now)
        })
    }

    /// What the tenant's live environments consume.
    pub fn ppac_consumption(&self) -> Consumption {
        consumption(&self.state)
    }

    /// Free database capacity, MB (negative when over).
    pub fn ppac_free_database_mb(&self) -> f64 {
        self.state.capacity.database_mb as f64 - self.ppac_consumption().database_mb
    }

    fn ppac_require_capacity(&self, what: &str) -> Result<(), SimError> {
        let free = self.ppac_free_database_mb();
        if free < REQUIRED_FREE_MB {
            return Err(SimError::new(
                ErrorCode::InsufficientCapacity,
                format!(
                    "This environment can't be {what} because your org (tenant) needs at least 1 \
                     GB of database capacity. Free database capacity is {:.0} MB of {} MB; free \
                     some by deleting environments, or add capacity.",
                    free.max(0.0),
                    self.state.capacity.database_mb
                ),
            ));
        }
        Ok(())
    }

    fn ppac_check_idle(&self, env: &PpEnvironment) -> Result<(), SimError> {
        if env.busy.is_some() || env.provisioning != ProvisioningState::Succeeded {
            return Err(SimError::new(
                ErrorCode::OperationNotStartable,
                format!(
                    "This operation cannot be performed because there is an active lifecycle \
                     operation on the environment {}. Retry when it has finished.",
                    env.id
                ),
            ));
        }
        Ok(())
    }

    fn ppac_check_allowed(&self, env: &PpEnvironment, op: OpType) -> Result<(), SimError> {
        self.ppac_check_idle(env)?;
        match refusal(env, op) {
            Some(r) => Err(r.error()),
            None => Ok(()),
        }
    }

    /// Whether the tenant holds a licence for the template.
    pub fn ppac_entitled(&self, t: &Template) -> bool {
        t.licenses.is_empty()
            || self
                .state
                .users
                .iter()
                .any(|u| t.licenses.iter().any(|l| u.has_license(l)))
    }

    /// Checks a domain's form and that no live environment uses it and no recent delete blocks
    /// it. `except` is the environment that may keep its own domain.
    pub fn ppac_check_domain(
        &self,
        domain: &str,
        except: Option<&PpEnvId>,
        now: Timestamp,
    ) -> Result<String, SimError> {
        check_domain(&self.state, domain, except, now)
    }

    fn ppac_new_dataverse(
        &mut self,
        spec: &NewDataverse,
        display_name: &str,
        sku: Sku,
        except: Option<&PpEnvId>,
        now: Timestamp,
    ) -> Result<(Dataverse, bool), SimError> {
        let domain = match &spec.domain {
            Some(d) if !d.trim().is_empty() => self.ppac_check_domain(d, except, now)?,
            _ => free_domain(&self.state, display_name, now),
        };
        let language = spec.language.unwrap_or(1033);
        if !LANGUAGES.iter().any(|(l, _)| *l == language) {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "The language {language} is not available; list the languages with GET \
                     /providers/Microsoft.BusinessAppPlatform/locations/{{location}}/environmentLanguages"
                ),
            )
            .at("baseLanguage"));
        }
        let currency = spec
            .currency
            .clone()
            .unwrap_or_else(|| "USD".into())
            .to_ascii_uppercase();
        if !CURRENCIES.iter().any(|(c, _, _)| *c == currency) {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "The currency '{currency}' is not available; list the currencies with GET \
                     /providers/Microsoft.BusinessAppPlatform/locations/{{location}}/environmentCurrencies"
                ),
            )
            .at("currency"));
        }
        let mut fin_ops = false;
        let mut templates = Vec::new();
        for name in &spec.templates {
            let t = template(name).ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!(
                        "The template '{name}' does not exist; list the templates with GET \
                         /providers/Microsoft.BusinessAppPlatform/locations/{{location}}/templates"
                    ),
                )
                .at("templates")
            })?;
            if !self.ppac_entitled(t) {
                return Err(SimError::new(
                    ErrorCode::DynamicsEntitlementMissing,
                    format!(
                        "You do not have the required Dynamics 365 licenses to create databases \
                         with the '{}' Dynamics app. Assign one of: {}.",
                        t.display_name,
                        t.licenses.join(", ")
                    ),
                ));
            }
            if !t.skus.contains(&sku) {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!(
                        "The template '{}' cannot be used for a {} environment.",
                        t.name,
                        sku.as_str()
                    ),
                )
                .at("templates"));
            }
            fin_ops |= t.fin_ops;
            templates.push(t.name.to_string());
        }
        let org_id = random_uuid(&mut self.state.rng);
        Ok((
            Dataverse {
                base_language: language,
                currency,
                database_mb: NEW_DATABASE_MB + 512.0 * templates.len() as f64,
                templates,
                security_group: spec.security_group,
                ..Dataverse::fresh(org_id, format!("unq{}", org_id.simple()), domain, now)
            },
            fin_ops,
        ))
    }

    fn ppac_start(
        &mut self,
        env: &PpEnvId,
        action: Action,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let op_type = action.op_type();
        let (kind, portal, target) = match &action {
            Action::Install {
                origin: Some(o), ..
            } => (
                o.kind,
                Portal::Lcs,
                Target {
                    kind: "lcsEnvironment".into(),
                    id: o.env.to_string(),
                },
            ),
            other => (
                match other {
                    Action::Install { .. } => INSTALL_KIND,
                    _ => op_type.engine_kind(),
                },
                Portal::Ppac,
                Target {
                    kind: "dataverseEnvironment".into(),
                    id: env.to_string(),
                },
            ),
        };
        let stages = stages_for(&action);
        let work = Work {
            kind: kind.to_string(),
            portal,
            target,
            effect: Effect::Ppac(PpacEffect {
                env: env.clone(),
                action: action.clone(),
            }),
        };
        let id = self.start_operation(work, &stages, None, now)?;
        let is_install = matches!(action, Action::Install { .. });
        let e = self.ppac_env_mut(env)?;
        e.modified_at = now;
        e.modified_by = actor.clone();
        if !is_install {
            e.busy = Some(id);
            self.state.ppac.operations.push(LifecycleOp {
                id,
                env: env.clone(),
                op_type,
                requested_by: actor.clone(),
            });
        }
        Ok(id)
    }

    /// Creates an environment (with a Dataverse database when asked).
    pub fn ppac_create(
        &mut self,
        actor: &Actor,
        spec: NewEnvironment,
        now: Timestamp,
    ) -> Result<(PpEnvId, OperationId), SimError> {
        if self
            .state
            .governance
            .restrict_environment_creation_to_admins
            && !actor.admin
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentCreationRestricted,
                format!(
                    "Environment creation is restricted to admins in tenant {}: only Global \
                     admins, Dynamics 365 admins and Power Platform admins can create \
                     environments. Ask an admin to create it, or to assign you one of those \
                     roles.",
                    self.state.id
                ),
            ));
        }
        let name = spec.display_name.trim().to_string();
        if name.is_empty() || name.len() > 100 {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                "displayName is required (1 to 100 characters).",
            )
            .at("properties.displayName"));
        }
        let sku = match spec.sku {
            None => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!("environmentSku is required; one of: {}", creatable_skus()),
                )
                .at("properties.environmentSku"));
            }
            Some(Sku::Default) => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!(
                        "A tenant has exactly one default environment; create one of: {}",
                        creatable_skus()
                    ),
                )
                .at("properties.environmentSku"));
            }
            Some(s) => s,
        };
        if spec.used_by && sku != Sku::Developer {
            return Err(SimError::new(
                ErrorCode::UsedByInvalidInRequest,
                "The provisioning request included a used by field which is improperly formed or \
                 restricted in this context.",
            )
            .at("properties.usedBy"));
        }
        let loc = find_location(&spec.location)?;
        let region = match &spec.azure_region {
            Some(r) if !r.trim().is_empty() => {
                let r = r.trim().to_ascii_lowercase();
                if !loc.regions.contains(&r.as_str()) {
                    return Err(SimError::new(
                        ErrorCode::InvalidEnvironmentRequest,
                        format!(
                            "The Azure region '{r}' is not in location '{}'; use one of: {}",
                            loc.name,
                            loc.regions.join(", ")
                        ),
                    )
                    .at("properties.azureRegion"));
                }
                r
            }
            _ => loc.regions[0].to_string(),
        };
        self.ppac_require_capacity("created")?;
        let id = PpEnvId::from_uuid(random_uuid(&mut self.state.rng));
        let (dataverse, fin_ops) = match &spec.dataverse {
            Some(d) => {
                let (data, fin_ops) = self.ppac_new_dataverse(d, &name, sku, None, now)?;
                (Some(data), fin_ops)
            }
            None => (None, false),
        };
        let linked_app = fin_ops.then(|| {
            let domain = dataverse.as_ref().map_or("", |d| d.domain.as_str());
            LinkedApp {
                kind: LinkedAppKind::Internal,
                id: random_uuid(&mut self.state.rng),
                url: format!("https://{domain}.operations.{}.dynamics.com/", loc.fno_geo),
            }
        });
        let has_dataverse = dataverse.is_some();
        let mut packages = Vec::new();
        if fin_ops {
            for name in [PLATFORM_TOOLS, PROVISIONING_APP] {
                packages.push(InstalledPackage {
                    unique_name: name.into(),
                    instance_id: random_uuid(&mut self.state.rng),
                    state: PackageState::Installed,
                    operation: OperationId(Uuid::nil()),
                    requested_at: now,
                    error: None,
                    settings: Vec::new(),
                });
            }
        }
        self.state.ppac.environments.push(PpEnvironment {
            id: id.clone(),
            display_name: name,
            description: spec.description,
            sku,
            location: loc.name.into(),
            azure_region: region,
            created_at: now,
            created_by: actor.clone(),
            modified_at: now,
            modified_by: actor.clone(),
            provisioning: ProvisioningState::Creating,
            admin_mode: false,
            managed: spec.managed,
            cadence: spec.cadence.unwrap_or_else(|| "Moderate".into()),
            dataverse,
            linked_app,
            backups: Vec::new(),
            packages,
            busy: None,
            deleted_at: None,
        });
        let action = Action::Create {
            dataverse: has_dataverse,
            fin_ops,
        };
        match self.ppac_start(&id, action, actor, now) {
            Ok(op) => Ok((id, op)),
            Err(e) => {
                self.state.ppac.environments.retain(|x| x.id != id);
                Err(e)
            }
        }
    }

    /// Adds a Dataverse database to an environment without one.
    pub fn ppac_provision_instance(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        spec: NewDataverse,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.ppac_environment(actor, id)?;
        self.ppac_check_allowed(env, OpType::Provision)?;
        let (name, sku) = (env.display_name.clone(), env.sku);
        self.ppac_require_capacity("provisioned")?;
        let (data, _) = self.ppac_new_dataverse(&spec, &name, sku, Some(id), now)?;
        let op = self.ppac_start(
            id,
            Action::Provision {
                data: Box::new(data),
            },
            actor,
            now,
        )?;
        self.ppac_env_mut(id)?.provisioning = ProvisioningState::LinkedDatabaseProvisioning;
        Ok(op)
    }

    /// Changes properties; `None` when nothing would change (the API answers 204).
    pub fn ppac_update(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        mut patch: EnvironmentPatch,
        now: Timestamp,
    ) -> Result<Option<OperationId>, SimError> {
        let env = self.ppac_environment(actor, id)?;
        if let Some(name) = &patch.display_name
            && (name.trim().is_empty() || name.len() > 100)
        {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                "displayName must be 1 to 100 characters.",
            )
            .at("properties.displayName"));
        }
        // Drop what already matches.
        let d = env.dataverse.as_ref();
        if patch.display_name.as_deref() == Some(env.display_name.as_str()) {
            patch.display_name = None;
        }
        if patch.description.as_deref() == Some(env.description.as_str()) {
            patch.description = None;
        }
        if patch.admin_mode == Some(env.admin_mode) {
            patch.admin_mode = None;
        }
        if patch.cadence.as_deref() == Some(env.cadence.as_str()) {
            patch.cadence = None;
        }
        if patch.background_operations.is_some()
            && patch.background_operations == d.map(|d| d.background_operations)
        {
            patch.background_operations = None;
        }
        if let Some(domain) = &patch.domain
            && d.is_some_and(|d| d.domain.eq_ignore_ascii_case(domain.trim()))
        {
            patch.domain = None;
        }
        if patch == EnvironmentPatch::default() {
            return Ok(None);
        }
        self.ppac_check_allowed(env, OpType::Edit)?;
        if patch.background_operations.is_some() && d.is_none() {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                "Background operations belong to the Dataverse database; this environment has \
                 none.",
            ));
        }
        if let Some(domain) = &patch.domain {
            if d.is_none() {
                return Err(SimError::new(
                    ErrorCode::LifecycleOperationNotAllowed,
                    "The domain name belongs to the Dataverse database; this environment has none.",
                ));
            }
            if let Some(link) = &env.linked_app {
                let whose = match link.kind {
                    LinkedAppKind::Linked => format!(
                        "This environment is linked to the finance and operations environment {} \
                         in Lifecycle Services, and the link is irreversible",
                        link.id
                    ),
                    LinkedAppKind::Internal => {
                        "This environment hosts finance and operations apps".to_string()
                    }
                };
                return Err(SimError::new(
                    ErrorCode::OperationNotSupportedForLinkedFinOpsEnvironment,
                    format!(
                        "The finance and operations environment does not support domain name \
                         changes. {whose}; keep the domain {}.",
                        d.map_or("", |d| d.domain.as_str())
                    ),
                )
                .at("properties.linkedEnvironmentMetadata.domainName"));
            }
            patch.domain = Some(self.ppac_check_domain(domain, Some(id), now)?);
        }
        self.ppac_start(id, Action::Edit(patch), actor, now)
            .map(Some)
    }

    /// Converts between production and sandbox.
    pub fn ppac_modify_sku(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        sku: Sku,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.ppac_environment(actor, id)?;
        self.ppac_check_allowed(env, OpType::Convert)?;
        if !matches!(sku, Sku::Production | Sku::Sandbox) {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "An environment can be converted to Production or Sandbox, not {}.",
                    sku.as_str()
                ),
            )
            .at("environmentSku"));
        }
        if sku == env.sku {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!("The environment is already of type {}.", sku.as_str()),
            )
            .at("environmentSku"));
        }
        self.ppac_start(id, Action::Convert(sku), actor, now)
    }

    /// Whether the environment can be deleted, and what goes with it.
    pub fn ppac_validate_delete(
        &self,
        actor: &Actor,
        id: &PpEnvId,
    ) -> Result<DeleteCheck, SimError> {
        let env = self.ppac_environment(actor, id)?;
        let refusal = refusal(env, OpType::Delete).or_else(|| {
            env.busy.map(|_| Refusal {
                reason: ReasonType::OperationInProgress,
                code: ErrorCode::OperationNotStartable,
                message: format!(
                    "There is an active lifecycle operation on the environment {}; retry when it \
                     has finished.",
                    env.id
                ),
            })
        });
        let mut resources = vec![(
            "Microsoft.BusinessAppPlatform/environments",
            env.display_name.clone(),
        )];
        if let Some(d) = &env.dataverse {
            resources.push((
                "Microsoft.CommonDataService/instances",
                d.unique_name.clone(),
            ));
        }
        Ok(DeleteCheck {
            can_delete: refusal.is_none(),
            resources,
            refusal,
        })
    }

    /// Deletes an environment (soft: recoverable for 7 days).
    pub fn ppac_delete(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.ppac_environment(actor, id)?;
        self.ppac_check_allowed(env, OpType::Delete)?;
        let op = self.ppac_start(id, Action::Delete, actor, now)?;
        self.ppac_env_mut(id)?.provisioning = ProvisioningState::Deleting;
        Ok(op)
    }

    /// Recovers a deleted environment.
    pub fn ppac_recover(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let found = self
            .ppac_deleted(actor, now)
            .find(|e| &e.id == id)
            .map(|e| e.dataverse.as_ref().map(|d| d.domain.clone()));
        let Some(domain) = found else {
            return Err(SimError::new(
                ErrorCode::EnvironmentNotFound,
                format!(
                    "No deleted environment '{id}' can be recovered in tenant '{}': environments \
                     are recoverable for 7 days after deletion. List them with GET \
                     /providers/Microsoft.BusinessAppPlatform/scopes/admin/deletedEnvironments",
                    self.state.id
                ),
            ));
        };
        self.ppac_require_capacity("recovered")?;
        if let Some(d) = &domain {
            let taken = self
                .state
                .ppac
                .environments
                .iter()
                .any(|e| e.live() && e.dataverse.as_ref().is_some_and(|x| &x.domain == d));
            if taken {
                return Err(SimError::new(
                    ErrorCode::DomainNameInUse,
                    format!(
                        "The domain name '{d}' is now used by another environment; it cannot be recovered."
                    ),
                ));
            }
            self.state.ppac.blocked_domains.retain(|(b, _)| b != d);
        }
        // Recovery runs on a live record so that polling works; it shows Creating meanwhile.
        let op = self.ppac_start(id, Action::Recover, actor, now)?;
        let e = self.ppac_env_mut(id)?;
        e.deleted_at = None;
        e.provisioning = ProvisioningState::Creating;
        Ok(op)
    }

    fn ppac_copy_source(
        &self,
        actor: &Actor,
        source: &PpEnvId,
        target: &PpEnvId,
    ) -> Result<(&PpEnvironment, &PpEnvironment), SimError> {
        let s = self.ppac_environment(actor, source)?;
        let t = self.ppac_environment(actor, target)?;
        if s.id == t.id {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                "The source and target environments are the same.",
            )
            .at("sourceEnvironmentId"));
        }
        if matches!(s.sku, Sku::Default | Sku::Trial) {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "Environment {} is of type {}, which cannot be copied or restored from.",
                    s.display_name,
                    s.sku.as_str()
                ),
            )
            .at("sourceEnvironmentId"));
        }
        if s.dataverse.is_none() {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "Environment {} has no Dataverse database to copy.",
                    s.display_name
                ),
            )
            .at("sourceEnvironmentId"));
        }
        if s.location != t.location {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "Copy and restore work within one region: {} is in {}, {} is in {}.",
                    s.display_name, s.location, t.display_name, t.location
                ),
            ));
        }
        Ok((s, t))
    }

    /// Copies `req.source` over `target` (a sandbox).
    pub fn ppac_copy(
        &mut self,
        actor: &Actor,
        target: &PpEnvId,
        req: CopyRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (s, t) = self.ppac_copy_source(actor, &req.source, target)?;
        self.ppac_check_allowed(t, OpType::Copy)?;
        self.ppac_require_capacity("copied")?;
        let (Some(src), Some(dst)) = (&s.dataverse, &t.dataverse) else {
            return Err(SimError::internal(
                "copy between environments without Dataverse",
            ));
        };
        let mut data = src.clone();
        data.org_id = dst.org_id;
        data.unique_name = dst.unique_name.clone();
        data.domain = dst.domain.clone();
        data.security_group = req.security_group.or(dst.security_group);
        data.content = Content::CopyOf {
            source: s.id.clone(),
            at: now,
        };
        if !req.full {
            data.database_mb = NEW_DATABASE_MB.min(src.database_mb);
        }
        self.ppac_start(
            target,
            Action::Copy {
                data: Box::new(data),
                name: req.name,
            },
            actor,
            now,
        )
    }

    /// Takes a manual backup (immediate; does not consume capacity).
    pub fn ppac_backup(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        label: Option<String>,
        notes: Option<String>,
        now: Timestamp,
    ) -> Result<Backup, SimError> {
        let env = self.ppac_environment(actor, id)?;
        if let Some(r) = refusal(env, OpType::Backup) {
            return Err(r.error());
        }
        let Some(data) = env.dataverse.clone() else {
            return Err(SimError::internal("backup without Dataverse"));
        };
        let expires =
            clock::saturating_add(now, SignedDuration::from_hours(24 * env.retention_days()));
        let backup = Backup {
            id: random_uuid(&mut self.state.rng),
            label: label.filter(|l| !l.trim().is_empty()),
            notes,
            point: now,
            expires,
            created_by: actor.clone(),
            data,
        };
        self.ppac_env_mut(id)?.backups.push(backup.clone());
        Ok(backup)
    }

    /// Unexpired manual backups, newest first.
    pub fn ppac_backups(
        &self,
        actor: &Actor,
        id: &PpEnvId,
        now: Timestamp,
    ) -> Result<Vec<&Backup>, SimError> {
        let env = self.ppac_environment(actor, id)?;
        let mut list: Vec<&Backup> = env.backups.iter().filter(|b| b.expires > now).collect();
        list.reverse();
        Ok(list)
    }

    /// Deletes a manual backup.
    pub fn ppac_delete_backup(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        backup: Uuid,
    ) -> Result<(), SimError> {
        self.ppac_environment(actor, id)?;
        let env = self.ppac_env_mut(id)?;
        let before = env.backups.len();
        env.backups.retain(|b| b.id != backup);
        if env.backups.len() == before {
            return Err(SimError::new(
                ErrorCode::BackupNotFound,
                format!(
                    "No backup {backup} exists for environment {id}; list them with GET …/backups"
                ),
            ));
        }
        Ok(())
    }

    /// Restores a backup (or a point in time within retention) of `req.source` over `target`.
    pub fn ppac_restore(
        &mut self,
        actor: &Actor,
        target: &PpEnvId,
        req: RestoreRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (s, t) = if req.source == *target {
            let t = self.ppac_environment(actor, target)?;
            (t, t)
        } else {
            self.ppac_copy_source(actor, &req.source, target)?
        };
        self.ppac_check_allowed(t, OpType::Restore)?;
        let Some(dst) = t.dataverse.clone() else {
            return Err(SimError::internal(
                "restore into an environment without Dataverse",
            ));
        };
        let from_backup = match (req.backup, req.point) {
            (Some(b), _) => Some(
                s.backups
                    .iter()
                    .find(|x| x.id == b && x.expires > now)
                    .ok_or_else(|| {
                        SimError::new(
                            ErrorCode::BackupNotFound,
                            format!("No backup {b} exists for environment {}.", s.id),
                        )
                    })?,
            ),
            (None, Some(p)) => s.backups.iter().find(|x| x.point == p && x.expires > now),
            (None, None) => s
                .backups
                .iter()
                .filter(|x| x.expires > now)
                .max_by_key(|x| x.point),
        };
        let data = match (from_backup, req.point) {
            (Some(b), _) => b.data.clone(),
            (None, point) => {
                let point = point.unwrap_or(now);
                let src = s
                    .dataverse
                    .as_ref()
                    .ok_or_else(|| SimError::internal("no Dataverse"))?;
                let earliest = clock::saturating_add(
                    now,
                    SignedDuration::from_hours(-24 * s.retention_days()),
                )
                .max(src.created_at);
                if point < earliest || point > now {
                    return Err(SimError::new(
                        ErrorCode::BackupNotFound,
                        format!(
                            "No restore point at {point} for environment {}: system backups cover \
                             {earliest} to {now} ({} days of retention).",
                            s.id,
                            s.retention_days()
                        ),
                    )
                    .at("restorePointDateTime"));
                }
                let mut d = src.clone();
                d.content = Content::RestoredFrom {
                    source: s.id.clone(),
                    point,
                };
                d
            }
        };
        if req.source != *target {
            self.ppac_require_capacity("restored")?;
        }
        let mut data = data;
        data.org_id = dst.org_id;
        data.unique_name = dst.unique_name.clone();
        data.domain = dst.domain.clone();
        data.security_group = req.security_group.or(dst.security_group);
        self.ppac_start(
            target,
            Action::Restore {
                data: Box::new(data),
                name: req.name,
            },
            actor,
            now,
        )
    }

    /// Resets a sandbox to a fresh database.
    pub fn ppac_reset(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        name: Option<String>,
        spec: NewDataverse,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.ppac_environment(actor, id)?;
        self.ppac_check_allowed(env, OpType::Reset)?;
        let (display, sku) = (
            name.clone().unwrap_or_else(|| env.display_name.clone()),
            env.sku,
        );
        let keep_domain = env.dataverse.as_ref().map(|d| d.domain.clone());
        let mut spec = spec;
        if spec.domain.as_deref().is_none_or(|d| d.trim().is_empty()) {
            spec.domain = keep_domain;
        }
        let (data, _) = self.ppac_new_dataverse(&spec, &display, sku, Some(id), now)?;
        self.ppac_start(
            id,
            Action::Reset {
                data: Box::new(data),
                name,
            },
            actor,
            now,
        )
    }

    /// A lifecycle operation and its engine record; 404 when it or its environment is gone.
    pub fn ppac_operation(
        &self,
        actor: &Actor,
        id: OperationId,
    ) -> Result<(&LifecycleOp, &Operation<Work>), SimError> {
        let gone = || {
            SimError::new(
                ErrorCode::OperationNotFound,
                format!(
                    "The lifecycle operation '{id}' could not be found (or its environment no longer exists)."
                ),
            )
        };
        let op = self
            .state
            .ppac
            .operations
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(gone)?;
        let visible = self
            .state
            .ppac
            .environments
            .iter()
            .any(|e| e.id == op.env && e.live() && Self::ppac_may_see(actor, e));
        if !visible {
            return Err(gone());
        }
        Ok((op, self.operation(id).map_err(|_| gone())?))
    }

    /// Lifecycle operations of an environment, newest first.
    pub fn ppac_operations_of(
        &self,
        actor: &Actor,
        env: &PpEnvId,
    ) -> Result<Vec<(&LifecycleOp, &Operation<Work>)>, SimError> {
        self.ppac_environment(actor, env)?;
        let mut list: Vec<_> = self
            .state
            .ppac
            .operations
            .iter()
            .filter(|o| &o.env == env)
            .filter_map(|o| self.operation(o.id).ok().map(|x| (o, x)))
            .collect();
        list.reverse();
        Ok(list)
    }

    /// Lifecycle operations of every environment the actor may see, newest first.
    pub fn ppac_all_operations<'a>(
        &'a self,
        actor: &'a Actor,
    ) -> impl Iterator<Item = (&'a LifecycleOp, &'a Operation<Work>)> {
        self.state
            .ppac
            .operations
            .iter()
            .rev()
            .filter_map(move |o| {
                let visible = self
                    .state
                    .ppac
                    .environments
                    .iter()
                    .any(|e| e.id == o.env && e.live() && Self::ppac_may_see(actor, e));
                visible
                    .then(|| self.operation(o.id).ok().map(|x| (o, x)))
                    .flatten()
            })
    }

    /// Environments `target` can be copied or restored from (same rules as a copy).
    pub fn ppac_copy_candidates<'a>(
        &'a self,
        actor: &'a Actor,
        target: &'a PpEnvId,
    ) -> Result<impl Iterator<Item = &'a PpEnvironment>, SimError> {
        self.ppac_environment(actor, target)?;
        Ok(self
            .ppac_environments(actor)
            .filter(move |e| self.ppac_copy_source(actor, &e.id, target).is_ok()))
    }

    /// Starts installing an application package.
    pub fn ppac_install(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        unique_name: &str,
        now: Timestamp,
    ) -> Result<InstalledPackage, SimError> {
        self.ppac_install_from(actor, id, unique_name, Vec::new(), None, now)
    }

    /// Starts installing an application package, from PPAC or (with `origin`) from LCS, recording
    /// the settings given with it.
    pub(crate) fn ppac_install_from(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        unique_name: &str,
        settings: Vec<(String, String)>,
        origin: Option<LcsOrigin>,
        now: Timestamp,
    ) -> Result<InstalledPackage, SimError> {
        let env = self.ppac_environment(actor, id)?;
        let pkg = package(unique_name).ok_or_else(|| {
            SimError::new(
                ErrorCode::PackageNotFound,
                format!(
                    "The application package '{unique_name}' is not in the tenant catalogue; list \
                     it with GET /appmanagement/applicationPackages"
                ),
            )
        })?;
        if env.dataverse.is_none() {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                "Application packages install into Dataverse; this environment has none.",
            ));
        }
        if env.provisioning != ProvisioningState::Succeeded {
            self.ppac_check_idle(env)?;
        }
        if env.packages.iter().any(|p| {
            p.unique_name.eq_ignore_ascii_case(pkg.unique_name)
                && matches!(
                    p.state,
                    PackageState::InstallRequested | PackageState::Installing
                )
        }) {
            return Err(SimError::new(
                ErrorCode::OperationNotStartable,
                format!(
                    "{} is already being installed in environment {id}.",
                    pkg.name
                ),
            ));
        }
        let op = self.ppac_start(
            id,
            Action::Install {
                unique_name: pkg.unique_name.into(),
                origin,
            },
            actor,
            now,
        )?;
        let instance_id = random_uuid(&mut self.state.rng);
        let record = InstalledPackage {
            unique_name: pkg.unique_name.into(),
            instance_id,
            state: PackageState::InstallRequested,
            operation: op,
            requested_at: now,
            error: None,
            settings,
        };
        let env = self.ppac_env_mut(id)?;
        env.packages
            .retain(|p| !p.unique_name.eq_ignore_ascii_case(pkg.unique_name));
        env.packages.push(record.clone());
        Ok(record)
    }

    /// The package install with this operation id in an environment.
    pub fn ppac_install_operation(
        &self,
        actor: &Actor,
        id: &PpEnvId,
        op: OperationId,
    ) -> Result<(&InstalledPackage, &Operation<Work>), SimError> {
        let env = self.ppac_environment(actor, id)?;
        let p = env
            .packages
            .iter()
            .find(|p| p.operation == op)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::OperationNotFound,
                    format!("No application package operation '{op}' in environment {id}."),
                )
            })?;
        Ok((p, self.operation(op)?))
    }

    /// Tenant settings as `listTenantSettings` answers them.
    pub fn ppac_settings(&self) -> Value {
        let mut s = self.state.ppac.settings.clone();
        s["disableEnvironmentCreationByNonAdminUsers"] = json!(
            self.state
                .governance
                .restrict_environment_creation_to_admins
        );
        s
    }

    /// Merges a partial settings object (keys matched case-insensitively); answers the result.
    pub fn ppac_update_settings(&mut self, patch: &Value) -> Result<Value, SimError> {
        let mut merged = self.ppac_settings();
        merge(&mut merged, patch, "")?;
        if let Some(v) = merged
            .get("disableEnvironmentCreationByNonAdminUsers")
            .and_then(Value::as_bool)
        {
            self.state
                .governance
                .restrict_environment_creation_to_admins = v;
        }
        if let Some(m) = merged.as_object_mut() {
            m.remove("disableEnvironmentCreationByNonAdminUsers");
        }
        self.state.ppac.settings = merged;
        Ok(self.ppac_settings())
    }
}

/// What the tenant's live environments consume.
pub(crate) fn consumption(state: &TenantState) -> Consumption {
    let mut c = Consumption::default();
    for d in state
        .ppac
        .environments
        .iter()
        .filter(|e| e.live())
        .filter_map(|e| e.dataverse.as_ref())
    {
        c.database_mb += d.database_mb;
        c.file_mb += d.file_mb;
        c.log_mb += d.log_mb;
    }
    c
}

/// Checks a domain's form and that no live environment uses it and no recent delete blocks
/// it. `except` is the environment that may keep its own domain.
pub(crate) fn check_domain(
    state: &TenantState,
    domain: &str,
    except: Option<&PpEnvId>,
    now: Timestamp,
) -> Result<String, SimError> {
    let d = check_domain_form(domain)?;
    let taken = state.ppac.environments.iter().any(|e| {
        e.live() && Some(&e.id) != except && e.dataverse.as_ref().is_some_and(|x| x.domain == d)
    });
    let blocked = state
        .ppac
        .blocked_domains
        .iter()
        .find(|(b, until)| *b == d && *until > now);
    if taken {
        return Err(SimError::new(
            ErrorCode::DomainNameInUse,
            format!("The domain name '{d}' is already in use by another environment. Choose another one."),
        )
        .at("domainName"));
    }
    if let Some((_, until)) = blocked {
        return Err(SimError::new(
            ErrorCode::DomainNameInUse,
            format!(
                "The domain name '{d}' belonged to a recently deleted environment and can be \
                 reused from {until}. Choose another one."
            ),
        )
        .at("domainName"));
    }
    Ok(d)
}

/// A free domain derived from `name` (its first 20 letters and digits, then a number if taken).
pub(crate) fn free_domain(state: &TenantState, name: &str, now: Timestamp) -> String {
    let mut base: String = name
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert_str(0, "org");
    }
    (0..)
        .map(|i| {
            if i == 0 {
                base.clone()
            } else {
                format!("{base}{i}")
            }
        })
        .find(|d| check_domain(state, d, None, now).is_ok())
        .unwrap_or(base)
}

fn creatable_skus() -> String {
    Sku::ALL
        .iter()
        .filter(|s| **s != Sku::Default)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deep-merges `patch` into `into`. Keys match case-insensitively; a key unknown to a settings
/// group that has a fixed set of members is refused; a value must keep its JSON type.
fn merge(into: &mut Value, patch: &Value, path: &str) -> Result<(), SimError> {
    let (Some(target), Some(patch)) = (into.as_object_mut(), patch.as_object()) else {
        return Err(SimError::new(
            ErrorCode::InvalidBody,
            format!("The request content was invalid: '{path}' must be an object."),
        ));
    };
    for (key, value) in patch {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let existing = target.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
        match existing {
            None if target.is_empty() || path.split('.').count() >= 2 => {
                target.insert(key.clone(), value.clone());
            }
            None => {
                return Err(SimError::new(
                    ErrorCode::InvalidBody,
                    format!("The request content was invalid and could not be deserialized: 'Could not find member '{key}'. Path '{here}'.'"),
                )
                .at(here));
            }
            Some(k) => {
                let slot = target
                    .get_mut(&k)
                    .ok_or_else(|| SimError::internal("settings key vanished"))?;
                match (slot.is_object(), value.is_object()) {
                    (true, true) => merge(slot, value, &here)?,
                    _ if same_kind(slot, value) => *slot = value.clone(),
                    _ => {
                        return Err(SimError::new(
                            ErrorCode::InvalidBody,
                            format!(
                                "The request content was invalid: '{here}' must be {}.",
                                kind_name(slot)
                            ),
                        )
                        .at(here));
                    }
                }
            }
        }
    }
    Ok(())
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b) || a.is_null() || b.is_null()
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Null => "null",
    }
}

fn default_settings() -> Value {
    let mut m = Map::new();
    for key in [
        "walkMeOptOut",
        "disableNPSCommentsReachout",
        "disableNewsletterSendout",
        "disableEnvironmentCreationByNonAdminUsers",
        "disablePortalsCreationByNonAdminUsers",
        "disableSurveyFeedback",
        "disableTrialEnvironmentCreationByNonAdminUsers",
        "disableCapacityAllocationByEnvironmentAdmins",
        "disableSupportTicketsVisibleByAllUsers",
    ] {
        m.insert(key.into(), json!(false));
    }
    m.insert(
        "powerPlatform".into(),
        json!({
            "governance": {"disableAdminDigest": false,
                           "disableDeveloperEnvironmentCreationByNonAdminUsers": false,
                           "enableDefaultEnvironmentRouting": false,
                           "policy": {"enableDesktopFlowDataPolicyManagement": false}},
            "environments": {"disablePreferredDataLocationForTeamsEnvironment": false},
            "licensing": {"disableBillingPolicyCreationByNonAdminUsers": false,
                          "storageCapacityConsumptionWarningThreshold": 85},
            "search": {}, "teamsIntegration": {}, "powerApps": {}, "powerAutomate": {},
            "powerPages": {}, "champions": {}, "intelligence": {}, "modelExperimentation": {},
            "catalogSettings": {}, "userManagementSettings": {}
        }),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> PpEnvironment {
        let actor = Actor {
            id: ObjectId(Uuid::nil()),
            display_name: "a".into(),
            upn: None,
            admin: true,
        };
        PpEnvironment {
            id: PpEnvId::from_uuid(Uuid::nil()),
            display_name: "S".into(),
            description: String::new(),
            sku: Sku::Sandbox,
            location: "europe".into(),
            azure_region: "westeurope".into(),
            created_at: Timestamp::UNIX_EPOCH,
            created_by: actor.clone(),
            modified_at: Timestamp::UNIX_EPOCH,
            modified_by: actor,
            provisioning: ProvisioningState::Succeeded,
            admin_mode: false,
            managed: false,
            cadence: "Moderate".into(),
            dataverse: None,
            linked_app: None,
            backups: Vec::new(),
            packages: Vec::new(),
            busy: None,
            deleted_at: None,
        }
    }

    #[test]
    fn an_lcs_link_disallows_delete_and_reset_with_its_own_reason_and_names_the_lcs_environment() {
        let mut env = sandbox();
        assert!(refusal(&env, OpType::Delete).is_none());
        let lcs = Uuid::from_u128(7);
        env.linked_app = Some(LinkedApp {
            kind: LinkedAppKind::Linked,
            id: lcs,
            url: "https://s.sandbox.operations.dynamics.com/".into(),
        });
        for op in [OpType::Delete, OpType::Reset] {
            let r = refusal(&env, op);
            assert_eq!(r.as_ref().map(|r| r.reason), Some(ReasonType::FinOpsLinked));
            assert!(r.is_some_and(|r| r.message.contains(&lcs.to_string())));
        }
        assert!(
            refusal(&env, OpType::Convert).is_none(),
            "convert stays allowed"
        );
        let listed = enforcement(&env);
        assert!(
            listed
                .iter()
                .any(|(op, r)| *op == OpType::Delete && r.is_some())
        );
    }

    #[test]
    fn domain_form_rules() {
        assert_eq!(
            check_domain_form(" Contoso-UAT ").ok().as_deref(),
            Some("contoso-uat")
        );
        for bad in ["", "1abc", "abc-", "a b", "a.b", &"a".repeat(33)] {
            assert_eq!(
                check_domain_form(bad).err().map(|e| e.code),
                Some(ErrorCode::InvalidDomainName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn settings_merge_is_case_insensitive_typed_and_refuses_unknown_members() {
        let mut s = default_settings();
        assert!(merge(&mut s, &json!({"WalkMeOptOut": true}), "").is_ok());
        assert_eq!(s["walkMeOptOut"], json!(true));
        assert!(merge(&mut s, &json!({"powerPlatform": {"Search": {"x": 1}}}), "").is_ok());
        assert_eq!(s["powerPlatform"]["search"]["x"], json!(1));
        assert!(merge(&mut s, &json!({"nope": true}), "").is_err());
        assert!(merge(&mut s, &json!({"walkMeOptOut": "yes"}), "").is_err());
    }
}
