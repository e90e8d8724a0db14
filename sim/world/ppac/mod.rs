//! The Power Platform half: environments, their Dataverse databases, lifecycle operations
//! (create, add Dataverse, edit, convert, delete, copy, backup, restore, reset, recover),
//! application packages, capacity accounting and tenant settings. Both the BAP admin API and the
//! Power Platform API render this one model. Callers reach it through a handle per actor
//! (`tenant.ppac(&actor)` to read, `tenant.ppac_mut(&actor)` to act; see `handle.rs`). An environment's busy state, its lifecycle
//! operations and its packages' states are read from the operations that acted on it, never
//! copied into it.
//!
//! Rules live in one place, [`refusal`], which both enforces them and feeds
//! `lifecycleOperationsEnforcement`, so a client can see *why* an operation is not allowed before
//! trying it.

pub mod model;

mod access;
pub(crate) mod capacity;
mod copies;
mod effect;
mod handle;
mod lifecycle;
mod packages;
pub(crate) mod tenancy;
#[cfg(test)]
mod tests;

pub use model::*;

use crate::error::{ErrorCode, SimError};
use crate::ops::{OperationId, Ops, StageSpec};
use foldhash::HashMap;
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
    environments: Vec<PpEnvironment>,
    /// Position of each environment in `environments`, by id (rebuilt when loaded).
    #[serde(skip)]
    index: HashMap<PpEnvId, usize>,
    /// What the live environments' databases use, in KB (database, file, log): the sum of
    /// every environment's [`share`], kept as environments change (rebuilt when loaded).
    #[serde(skip)]
    used: [i64; 3],
    /// How many live environments use each Dataverse domain (rebuilt when loaded).
    #[serde(skip)]
    domains: HashMap<String, usize>,
    /// Domains of deleted environments and until when they stay blocked.
    pub blocked_domains: Vec<(String, Timestamp)>,
    /// Tenant settings other than the governance switch (which lives in the tenant).
    pub settings: Value,
}

impl Ppac {
    /// Every environment, live and soft-deleted, in creation order.
    pub fn environments(&self) -> &[PpEnvironment] {
        &self.environments
    }

    /// Every environment, to change in place (ids stay as they are); what they use is summed
    /// again when the guard is dropped, O(n).
    pub fn environments_mut(&mut self) -> EnvsMut<'_> {
        EnvsMut { ppac: self }
    }

    /// The environment with this id, live or soft-deleted; O(1).
    pub fn get(&self, id: &PpEnvId) -> Option<&PpEnvironment> {
        self.index.get(id).map(|&i| &self.environments[i])
    }

    /// The environment with this id, to change; O(1). What it uses is counted again when the
    /// guard is dropped.
    pub fn get_mut(&mut self, id: &PpEnvId) -> Option<EnvMut<'_>> {
        let &i = self.index.get(id)?;
        let env = &mut self.environments[i];
        let (used, domains) = (&mut self.used, &mut self.domains);
        add(used, share(env), -1);
        count_domain(domains, env, false);
        Some(EnvMut { env, used, domains })
    }

    /// Adds an environment (its id is new: ids are drawn fresh or checked unique first).
    pub fn insert(&mut self, env: PpEnvironment) {
        add(&mut self.used, share(&env), 1);
        count_domain(&mut self.domains, &env, true);
        self.index.insert(env.id.clone(), self.environments.len());
        self.environments.push(env);
    }

    /// Forgets an environment entirely (a create that could not start); O(n).
    pub fn remove(&mut self, id: &PpEnvId) {
        self.environments.retain(|e| &e.id != id);
        self.reindex();
    }

    /// Rebuilds the id index and the sum of what environments use (after loading a snapshot).
    pub fn reindex(&mut self) {
        self.index = self
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        self.recount();
    }

    /// Sums again what the environments use and the domains they hold.
    fn recount(&mut self) {
        self.used = [0; 3];
        self.domains.clear();
        for e in &self.environments {
            add(&mut self.used, share(e), 1);
            count_domain(&mut self.domains, e, true);
        }
    }

    /// Whether a live environment other than `except` uses the Dataverse domain; O(1).
    pub fn domain_in_use(&self, domain: &str, except: Option<&PpEnvId>) -> bool {
        let users = self.domains.get(domain).copied().unwrap_or(0);
        let own = except
            .and_then(|id| self.get(id))
            .and_then(live_domain)
            .is_some_and(|d| d == domain);
        users > usize::from(own)
    }

    /// What the tenant's live environments consume; O(1).
    pub fn consumption(&self) -> Consumption {
        let mb = |kb: i64| kb as f64 / 1024.0;
        Consumption {
            database_mb: mb(self.used[0]),
            file_mb: mb(self.used[1]),
            log_mb: mb(self.used[2]),
        }
    }
}

/// What one environment adds to the tenant's consumption, in KB: its Dataverse database's
/// database, file and log sizes while it is live, nothing otherwise.
fn share(e: &PpEnvironment) -> [i64; 3] {
    let kb = |mb: f64| (mb * 1024.0).round() as i64;
    match (&e.dataverse, e.live()) {
        (Some(d), true) => [kb(d.database_mb), kb(d.file_mb), kb(d.log_mb)],
        _ => [0; 3],
    }
}

/// The Dataverse domain a live environment holds.
fn live_domain(e: &PpEnvironment) -> Option<&str> {
    e.dataverse
        .as_ref()
        .filter(|_| e.live())
        .map(|d| d.domain.as_str())
}

/// Counts (or, with `present` false, uncounts) the domain `e` holds.
fn count_domain(domains: &mut HashMap<String, usize>, e: &PpEnvironment, present: bool) {
    let Some(d) = live_domain(e) else {
        return;
    };
    if present {
        // Most recounts find the domain already there: only a new one allocates its key.
        match domains.get_mut(d) {
            Some(n) => *n += 1,
            None => {
                domains.insert(d.to_string(), 1);
            }
        }
    } else if let Some(n) = domains.get_mut(d) {
        *n -= 1;
        if *n == 0 {
            domains.remove(d);
        }
    }
}

fn add(used: &mut [i64; 3], share: [i64; 3], sign: i64) {
    for (u, s) in used.iter_mut().zip(share) {
        *u += sign * s;
    }
}

/// One environment being changed; its share of the consumption and its domain are counted
/// again on drop.
#[derive(Debug)]
pub struct EnvMut<'a> {
    env: &'a mut PpEnvironment,
    used: &'a mut [i64; 3],
    domains: &'a mut HashMap<String, usize>,
}

impl std::ops::Deref for EnvMut<'_> {
    type Target = PpEnvironment;

    fn deref(&self) -> &PpEnvironment {
        self.env
    }
}

impl std::ops::DerefMut for EnvMut<'_> {
    fn deref_mut(&mut self) -> &mut PpEnvironment {
        self.env
    }
}

impl Drop for EnvMut<'_> {
    fn drop(&mut self) {
        add(self.used, share(self.env), 1);
        count_domain(self.domains, self.env, true);
    }
}

/// Every environment being changed; what they use and their domains are counted again on drop.
#[derive(Debug)]
pub struct EnvsMut<'a> {
    ppac: &'a mut Ppac,
}

impl EnvsMut<'_> {
    /// The environments, to change in place.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, PpEnvironment> {
        self.ppac.environments.iter_mut()
    }
}

impl Drop for EnvsMut<'_> {
    fn drop(&mut self) {
        self.ppac.recount();
    }
}

/// A lifecycle operation as the Power Platform APIs list it, read from its operation's effect.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleOp<'a> {
    /// Id (the engine operation's id).
    pub id: OperationId,
    /// The environment it acts on.
    pub env: &'a PpEnvId,
    /// What it does.
    pub op_type: OpType,
    /// Who asked.
    pub requested_by: &'a Actor,
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LcsOrigin {
    /// Engine kind, e.g. `powerPlatformIntegration.installAddin`.
    pub kind: String,
    /// The F&O environment.
    pub env: crate::world::identity::EnvironmentId,
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
    requested_by: Actor,
}

impl PpacEffect {
    /// The lifecycle operation this is, as operation `id`; an application package install is
    /// not one.
    pub(crate) fn lifecycle(&self, id: OperationId) -> Option<LifecycleOp<'_>> {
        (!matches!(self.action, Action::Install { .. })).then(|| LifecycleOp {
            id,
            env: &self.env,
            op_type: self.action.op_type(),
            requested_by: &self.requested_by,
        })
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
fn install_check<P>(env: &PpEnvironment, ops: &Ops<P>, unique_name: &str) -> Result<(), String> {
    let Some(pkg) = package(unique_name) else {
        return Err(format!(
            "The application package '{unique_name}' does not exist."
        ));
    };
    let installed = |name: &str| {
        env.packages.iter().any(|p| {
            p.unique_name.eq_ignore_ascii_case(name) && p.state(ops) == PackageState::Installed
        })
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
mod rule_tests {
    use super::*;
    use crate::world::identity::ObjectId;

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
            operations: Vec::new(),
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
