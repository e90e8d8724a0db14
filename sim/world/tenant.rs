//! A tenant: an isolated directory with users, licenses, roles, capacity, governance and its own
//! operations, clock offset and seeded RNG.
//!
//! A tenant is built from a [`TenantSpec`] by one deterministic procedure that draws every missing
//! id from the tenant's RNG (seeded from the run's seed and the tenant id). Reset replays the
//! same procedure, so a reset tenant is indistinguishable from a freshly created one.

use super::blob::BlobStore;
use super::identity::{
    Application, ClientId, Domain, License, ObjectId, PpEnvId, Role, TenantId,
    UNIFIED_OPERATIONS_PLAN, Upn, User, display_name_from, random_secret,
};
use super::lcs::Lcs;
use super::memo::Memo;
use super::operations::Work;
use super::ppac::Ppac;
use super::setup::{TenantExtras, Timeline};
pub use super::spec::*;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::{
    Hooks, OpError, Operation, OperationId, Ops, Plan, PlannedFailure, ResumeError, RunState,
    StageSpec,
};
use crate::world::faults::{OperationFault, OperationFaults};
use jiff::{SignedDuration, Timestamp};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The domain state of a tenant, which operation effects may change.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantState {
    /// Tenant id.
    pub id: TenantId,
    /// Primary domain.
    pub domain: Domain,
    /// Organisation name.
    pub display_name: String,
    /// When the tenant was created (virtual).
    pub created_at: Timestamp,
    /// Users, in creation order.
    pub users: Vec<User>,
    /// App registrations, in creation order.
    pub applications: Vec<Application>,
    /// Capacity totals.
    pub capacity: Capacity,
    /// Governance settings.
    pub governance: Governance,
    /// The tenant's own randomness: ids, durations, fault draws.
    #[serde(with = "super::serde_util::chacha")]
    pub rng: ChaCha8Rng,
    /// How far this tenant's clock runs ahead of the shared virtual clock (a snapshot records
    /// the tenant's now instead).
    #[serde(skip)]
    pub clock_offset: SignedDuration,
    /// The LCS half: projects, F&O environments, asset libraries.
    pub lcs: Lcs,
    /// Blob storage behind the asset library's SAS URLs.
    pub blobs: BlobStore,
    /// Power Platform environments, operations and settings.
    pub ppac: Ppac,
    /// Total-duration overrides by operation kind (e.g. `lcs.databaseRefresh`).
    pub durations: BTreeMap<String, DurationOverride>,
    /// Planned failures of the next matching operations.
    pub operation_faults: OperationFaults,
    /// Scripted events, fired as the tenant's clock passes them.
    pub timeline: Timeline,
}

impl TenantState {
    /// The id of the tenant's environment that `id` names, as its operations name it: an F&O
    /// environment of an LCS project (dashed or not, any case) or a live Dataverse environment.
    pub fn environment_named(&self, id: &str) -> Option<String> {
        let fo = super::lcs::EnvironmentId::parse(id)
            .ok()
            .and_then(|id| self.lcs.find_environment(id))
            .map(|(_, env)| env.id.to_string());
        fo.or_else(|| {
            PpEnvId::parse(id)
                .ok()
                .and_then(|id| self.ppac.get(&id))
                .filter(|e| e.live())
                .map(|e| e.id.as_str().to_string())
        })
    }

    /// The user with this UPN.
    pub fn user(&self, upn: &str) -> Result<&User, SimError> {
        self.users
            .iter()
            .find(|u| u.upn.matches(upn))
            .ok_or_else(|| self.no_user(upn))
    }

    /// The user with this object id, if any.
    pub fn user_by_id(&self, id: ObjectId) -> Option<&User> {
        self.users.iter().find(|u| u.object_id == id)
    }

    /// The application with this client id.
    pub fn application(&self, client_id: ClientId) -> Result<&Application, SimError> {
        self.applications
            .iter()
            .find(|a| a.client_id == client_id)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::ApplicationNotFound,
                    format!(
                        "Application with identifier '{client_id}' was not found in the directory \
                         '{}'. Use the clientId of an application listed by GET /_sim/tenants/{}",
                        self.domain, self.id
                    ),
                )
            })
    }

    /// The application whose service principal has this object id, if any.
    pub fn application_by_id(&self, id: ObjectId) -> Option<&Application> {
        self.applications.iter().find(|a| a.object_id == id)
    }

    pub(crate) fn no_user(&self, upn: &str) -> SimError {
        SimError::new(
            ErrorCode::UserNotFound,
            format!(
                "User account '{upn}' does not exist in tenant '{}' ({}). Add it with POST \
                 /_sim/tenants/{}/users",
                self.domain, self.id, self.id
            ),
        )
    }

    fn new_user(&mut self, spec: UserSpec) -> Result<User, SimError> {
        if self.users.iter().any(|u| u.upn == spec.upn) {
            return Err(SimError::new(
                ErrorCode::UserExists,
                format!("a user '{}' already exists in tenant {}", spec.upn, self.id),
            )
            .at("upn"));
        }
        let object_id = match spec.object_id {
            Some(id) if self.users.iter().any(|u| u.object_id == id) => {
                return Err(SimError::new(
                    ErrorCode::UserExists,
                    format!(
                        "object id {id} is already used by another user of tenant {}",
                        self.id
                    ),
                )
                .at("objectId"));
            }
            Some(id) => id,
            None => ObjectId::random(&mut self.rng),
        };
        Ok(User {
            display_name: spec
                .display_name
                .unwrap_or_else(|| display_name_from(&spec.upn)),
            upn: spec.upn,
            object_id,
            password: spec.password,
            roles: spec.roles,
            licenses: spec.licenses,
        })
    }

    fn new_application(&mut self, spec: ApplicationSpec) -> Result<Application, SimError> {
        let client_id = spec
            .client_id
            .unwrap_or_else(|| ClientId::random(&mut self.rng));
        if self.applications.iter().any(|a| a.client_id == client_id) {
            return Err(SimError::new(
                ErrorCode::ApplicationExists,
                format!("client id {client_id} is listed twice"),
            )
            .at("clientId"));
        }
        Ok(Application {
            client_id,
            object_id: ObjectId::random(&mut self.rng),
            display_name: spec
                .display_name
                .unwrap_or_else(|| "lifecycle-sim automation".to_string()),
            secret: Some(spec.secret.unwrap_or_else(|| random_secret(&mut self.rng))),
        })
    }
}

/// A tenant with its operations.
#[derive(Debug)]
pub struct Tenant {
    /// Domain state; operation effects change it.
    pub state: TenantState,
    /// Operations of both portals.
    ops: Ops<Work>,
    /// What the tenant was created from, replayed by reset.
    spec: TenantSpec,
    /// What a scenario added beyond the spec, replayed by reset.
    extras: TenantExtras,
    /// The clock offset it was created with (a scenario's own start time).
    initial_offset: SignedDuration,
    /// The run's seed.
    seed: u64,
    /// The snapshot it was loaded from, which reset restores (a clone, never parsed again).
    snapshot: Option<Arc<TenantSnapshot>>,
    /// What the surfaces derived from the tenant as it stands; emptied by every change.
    memo: Memo,
}

/// A tenant's whole state at one moment, as `GET /_sim/tenants/{id}/snapshot` writes it: its
/// virtual now, the domain state (including the RNG's position) and every operation, running
/// ones included. Loading it recreates the same tenant; its clock is set to `now`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSnapshot {
    /// The tenant's virtual now.
    pub now: Timestamp,
    /// Users, capacity, projects, environments, blobs, settings, RNG...
    pub state: TenantState,
    /// Operations of both portals.
    pub operations: Ops<Work>,
}

/// [`TenantSnapshot`] by reference, for writing.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRef<'a> {
    /// The tenant's virtual now.
    pub now: Timestamp,
    /// The domain state.
    pub state: &'a TenantState,
    /// Operations.
    pub operations: &'a Ops<Work>,
}

impl Tenant {
    /// Builds a tenant. Defaults: domain `tenant-{first 8 hex digits of the id}.test`; one user
    /// `admin@{domain}` holding Global admin and the Dynamics 365 Unified Operations Plan; one app
    /// registration; 10 GB database, 20 GB file, 2 GB log capacity; unrestricted governance.
    pub fn build(
        id: TenantId,
        spec: TenantSpec,
        seed: u64,
        now: Timestamp,
    ) -> Result<Tenant, SimError> {
        Self::build_with(
            id,
            spec,
            TenantExtras::default(),
            SignedDuration::ZERO,
            seed,
            now,
        )
    }

    /// Builds a tenant as a scenario describes it: the spec, then the extras at the tenant's
    /// now (`clock_now` plus `offset`, its clock's lead over the shared clock).
    pub fn build_with(
        id: TenantId,
        spec: TenantSpec,
        extras: TenantExtras,
        offset: SignedDuration,
        seed: u64,
        clock_now: Timestamp,
    ) -> Result<Tenant, SimError> {
        let now = clock::add(clock_now, offset)?;
        let mut state = Self::fresh_state(id, &spec, seed, now)?;
        state.clock_offset = offset;
        let mut tenant = Tenant {
            state,
            ops: Ops::default(),
            spec,
            extras,
            initial_offset: offset,
            seed,
            snapshot: None,
            memo: Memo::default(),
        };
        if !tenant.extras.is_empty() {
            let extras = tenant.extras.clone();
            tenant.apply_extras(&extras, now)?;
        }
        Ok(tenant)
    }

    fn fresh_state(
        id: TenantId,
        spec: &TenantSpec,
        seed: u64,
        created_at: Timestamp,
    ) -> Result<TenantState, SimError> {
        spec.capacity.validate().map_err(|e| e.within("capacity"))?;
        let domain = match &spec.domain {
            Some(d) => d.clone(),
            None => Domain::parse(&format!("tenant-{}.test", &id.0.simple().to_string()[..8]))?,
        };
        let mut capacity = Capacity::default();
        spec.capacity.apply(&mut capacity);
        let mut state = TenantState {
            id,
            display_name: spec
                .display_name
                .clone()
                .unwrap_or_else(|| domain.to_string()),
            domain,
            created_at,
            users: Vec::new(),
            applications: Vec::new(),
            capacity,
            governance: spec.governance,
            rng: seeded_rng(seed, RngStream::Tenant(id)),
            clock_offset: SignedDuration::ZERO,
            lcs: Lcs::default(),
            blobs: BlobStore::default(),
            ppac: Ppac::default(),
            durations: BTreeMap::new(),
            operation_faults: OperationFaults::default(),
            timeline: Timeline::default(),
        };
        let users = match &spec.users {
            Some(users) => users.clone(),
            None => vec![UserSpec {
                upn: Upn::parse(&format!("admin@{}", state.domain))?,
                object_id: None,
                display_name: None,
                password: None,
                roles: vec![Role::GlobalAdmin],
                licenses: vec![License::parse(UNIFIED_OPERATIONS_PLAN)?],
            }],
        };
        for (i, user) in users.into_iter().enumerate() {
            let user = state
                .new_user(user)
                .map_err(|e| e.within(format!("users[{i}]")))?;
            state.users.push(user);
        }
        let apps = spec.applications.clone().unwrap_or_else(|| {
            vec![ApplicationSpec {
                client_id: None,
                display_name: None,
                secret: None,
            }]
        });
        for (i, app) in apps.into_iter().enumerate() {
            let app = state
                .new_application(app)
                .map_err(|e| e.within(format!("applications[{i}]")))?;
            state.applications.push(app);
        }
        Self::build_projects(&mut state, &spec.projects, created_at)?;
        Self::build_ppac(&mut state, created_at);
        Ok(state)
    }

    /// Rebuilds a tenant from a snapshot under `id`, its clock set to the snapshot's now. Reset
    /// returns to the snapshot.
    pub fn from_snapshot(
        id: TenantId,
        snap: Arc<TenantSnapshot>,
        seed: u64,
        clock_now: Timestamp,
    ) -> Result<Tenant, SimError> {
        let offset = snap.now.duration_since(clock_now);
        let mut state = snap.state.clone();
        state.ppac.reindex();
        state.lcs.reindex();
        state.id = id;
        state.clock_offset = offset;
        let mut ops = snap.operations.clone();
        ops.reindex()?;
        Ok(Tenant {
            state,
            ops,
            spec: TenantSpec::default(),
            extras: TenantExtras::default(),
            initial_offset: offset,
            seed,
            snapshot: Some(snap),
            memo: Memo::default(),
        })
    }

    /// The tenant's state at `clock_now`, for writing as a snapshot (settle first).
    pub fn snapshot(&self, clock_now: Timestamp) -> SnapshotRef<'_> {
        SnapshotRef {
            now: self.now(clock_now),
            state: &self.state,
            operations: &self.ops,
        }
    }

    /// The tenant's id.
    pub fn id(&self) -> TenantId {
        self.state.id
    }

    /// The tenant's virtual now, given the shared clock's now.
    pub fn now(&self, clock_now: Timestamp) -> Timestamp {
        clock_now
            .checked_add(self.state.clock_offset)
            .unwrap_or(Timestamp::MAX)
    }

    /// Applies everything due by the tenant's now; returns that now and the operations that
    /// finished. Every access to a tenant starts with this.
    pub fn settle(&mut self, clock_now: Timestamp) -> (Timestamp, Vec<OperationId>) {
        let now = self.now(clock_now);
        (now, self.settle_at(now))
    }

    /// Applies everything due by the tenant time `now`: stage ends and timeline events in time
    /// order (a stage ending at the same instant as an event applies first).
    pub fn settle_at(&mut self, now: Timestamp) -> Vec<OperationId> {
        let mut finished = Vec::new();
        if !self.ops.due(now) && self.state.timeline.next_due(now).is_none() {
            return finished;
        }
        self.memo.clear();
        while let Some(at) = self.state.timeline.next_due(now) {
            finished.extend(self.ops.settle(at, &mut Apply(&mut self.state)));
            self.state.fire_next_event(at);
        }
        finished.extend(self.ops.settle(now, &mut Apply(&mut self.state)));
        finished
    }

    /// What the surfaces derived from the tenant as it stands (see [`Memo`]).
    pub fn memo(&self) -> &Memo {
        &self.memo
    }

    /// Forgets what the surfaces derived: the tenant is about to change.
    pub(crate) fn changing(&mut self) {
        self.memo.clear();
    }

    /// Moves this tenant's clock (only) forward by `by`; returns its new now, unsettled.
    pub fn advance_clock(
        &mut self,
        by: SignedDuration,
        clock_now: Timestamp,
    ) -> Result<Timestamp, SimError> {
        if by.is_negative() {
            return Err(SimError::new(
                ErrorCode::ClockCannotGoBack,
                format!("cannot advance by {by:#}: a tenant's clock only moves forward"),
            ));
        }
        let offset = self.state.clock_offset.checked_add(by).ok_or_else(|| {
            SimError::new(
                ErrorCode::ClockOutOfRange,
                "the tenant's clock offset is too large",
            )
        })?;
        let now = clock::add(clock_now, offset)?;
        self.state.clock_offset = offset;
        Ok(now)
    }

    /// Back to the state right after creation: users, applications, capacity and governance as
    /// specified, no operations, the clock offset it was created with, RNG rewound. A scenario's
    /// extras are applied again at the tenant's now, so its timeline starts over from there. A
    /// tenant loaded from a snapshot returns to the snapshot, its clock to the snapshot's now.
    pub fn reset(&mut self, clock_now: Timestamp) -> Result<(), SimError> {
        if let Some(snap) = &self.snapshot {
            // Back to the snapshot's moment too: the tenant's clock reads its `now` again.
            *self = Tenant::from_snapshot(self.state.id, snap.clone(), self.seed, clock_now)?;
            return Ok(());
        }
        let created = self.state.created_at;
        let mut state = Self::fresh_state(self.state.id, &self.spec, self.seed, created)?;
        state.clock_offset = self.initial_offset;
        self.state = state;
        self.ops.clear();
        if !self.extras.is_empty() {
            let extras = self.extras.clone();
            let now = self.now(clock_now);
            self.apply_extras(&extras, now)?;
        }
        Ok(())
    }

    /// Adds a user.
    pub fn add_user(&mut self, spec: UserSpec) -> Result<&User, SimError> {
        let user = self.state.new_user(spec)?;
        self.state.users.push(user);
        Ok(&self.state.users[self.state.users.len() - 1])
    }

    /// Changes a user's display name, password, roles and/or licenses.
    pub fn update_user(&mut self, upn: &str, patch: UserPatch) -> Result<&User, SimError> {
        let i = self
            .state
            .users
            .iter()
            .position(|u| u.upn.matches(upn))
            .ok_or_else(|| self.state.no_user(upn))?;
        let user = &mut self.state.users[i];
        if let Some(name) = patch.display_name {
            user.display_name = name;
        }
        if let Some(password) = patch.password {
            user.password = Some(password);
        }
        if let Some(roles) = patch.roles {
            user.roles = roles;
        }
        if let Some(licenses) = patch.licenses {
            user.licenses = licenses;
        }
        Ok(user)
    }

    /// Removes a user; tokens issued to it stop working.
    pub fn remove_user(&mut self, upn: &str) -> Result<User, SimError> {
        let i = self
            .state
            .users
            .iter()
            .position(|u| u.upn.matches(upn))
            .ok_or_else(|| self.state.no_user(upn))?;
        Ok(self.state.users.remove(i))
    }

    /// Changes capacity totals.
    pub fn set_capacity(&mut self, patch: CapacityPatch) -> Result<Capacity, SimError> {
        patch.validate()?;
        patch.apply(&mut self.state.capacity);
        Ok(self.state.capacity)
    }

    /// Sets (or with `None` removes) the total-duration override of an operation kind.
    pub fn set_duration(
        &mut self,
        kind: &str,
        duration: Option<DurationOverride>,
    ) -> Result<(), SimError> {
        match duration {
            Some(d) => {
                d.check(kind)?;
                self.state.durations.insert(kind.to_string(), d);
            }
            None => {
                check_kind(kind)?;
                self.state.durations.remove(kind);
            }
        }
        Ok(())
    }

    /// Plans a failure of the next matching operation(s). A `target` must name one of the
    /// tenant's environments (an LCS environment id or a Dataverse environment id): a rule that
    /// names none could never fire.
    pub fn add_operation_fault(
        &mut self,
        mut rule: OperationFault,
    ) -> Result<&OperationFault, SimError> {
        if let Some(target) = &rule.target {
            // Kept as operations name their target, so that it matches.
            let Some(id) = self.state.environment_named(target) else {
                return Err(SimError::new(
                crate::error::ErrorCode::InvalidFaultRule,
                format!(
                    "operation.target '{target}' names no environment of this tenant, so the rule \
                     could never fire; give an LCS environment id or a Dataverse environment id \
                     (GET /_sim/tenants/{} lists them), or leave target out to match any",
                    self.state.id
                ),
            )
            .at("operation.target"));
            };
            rule.target = Some(id);
        }
        self.state
            .operation_faults
            .add(rule, &operation_kinds().collect::<Vec<_>>())
    }

    /// Replaces the governance settings.
    pub fn set_governance(&mut self, governance: Governance) {
        self.state.governance = governance;
    }

    /// Starts an operation at `now`, drawing its id and stage durations from the tenant's RNG.
    pub fn start_operation(
        &mut self,
        work: Work,
        stages: &[StageSpec],
        failure: Option<PlannedFailure>,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let mut plan = Plan::draw(stages, &mut self.state.rng);
        if let Some(o) = self.state.durations.get(&work.kind).copied() {
            let (lo, hi) = (o.min.as_secs(), o.max.as_secs());
            let secs = if lo >= hi {
                lo
            } else {
                self.state.rng.random_range(lo..=hi)
            };
            plan = plan.scaled_to(SignedDuration::from_secs(secs));
        }
        let failure = failure.or_else(|| {
            self.state
                .operation_faults
                .take(&work.kind, &work.target.id, plan.stages())
        });
        let id = OperationId::random(&mut self.state.rng);
        self.ops.start(id, work, plan, now, failure)?;
        Ok(id)
    }

    /// Resumes a failed operation from its failed stage.
    pub fn resume_operation(&mut self, id: OperationId, now: Timestamp) -> Result<(), SimError> {
        self.ops.resume(id, now).map_err(|e| match e {
            ResumeError::NotFound => self.no_operation(id),
            ResumeError::NotFailed(state) => SimError::new(
                ErrorCode::OperationNotResumable,
                format!(
                    "operation {id} is {}; only a failed operation can be resumed",
                    match state {
                        RunState::Succeeded => "already done",
                        _ => "still running",
                    }
                ),
            ),
        })
    }

    /// The operation with this id.
    pub fn operation(&self, id: OperationId) -> Result<&Operation<Work>, SimError> {
        self.ops.get(id).ok_or_else(|| self.no_operation(id))
    }

    /// The operation engine's records, for views that derive state from them.
    pub(crate) fn ops(&self) -> &Ops<Work> {
        &self.ops
    }

    /// Every operation of the tenant, oldest first.
    pub fn operations(&self) -> impl DoubleEndedIterator<Item = &Operation<Work>> {
        self.ops.iter()
    }

    fn no_operation(&self, id: OperationId) -> SimError {
        SimError::new(
            ErrorCode::OperationNotFound,
            format!(
                "no operation {id} in tenant {}; GET /_sim/tenants/{}/operations lists them",
                self.state.id, self.state.id
            ),
        )
    }
}

/// Routes engine callbacks to each operation's effect.
struct Apply<'a>(&'a mut TenantState);

impl Hooks<Work> for Apply<'_> {
    fn stage_ended(
        &mut self,
        ops: &Ops<Work>,
        op: &Operation<Work>,
        stage: usize,
        at: Timestamp,
    ) -> Result<(), OpError> {
        op.payload.effect.stage_ended(self.0, ops, op, stage, at)
    }

    fn finished(&mut self, op: &Operation<Work>, at: Timestamp) {
        op.payload.effect.finished(self.0, op, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(spec: TenantSpec, seed: u64) -> Result<Tenant, SimError> {
        let id = TenantId::parse("8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41")?;
        Tenant::build(id, spec, seed, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_planned_failure_must_target_an_environment_of_the_tenant() -> Result<(), SimError> {
        let mut t = tenant(TenantSpec::default(), 1)?;
        let rule = |target: &str| OperationFault {
            name: String::new(),
            kind: crate::world::integration::SETUP_KIND.into(),
            target: Some(target.into()),
            stage: crate::world::faults::StageRef::Index(0),
            code: "X".into(),
            message: "m".into(),
            remaining: 1,
        };
        let refused = t
            .add_operation_fault(rule("0b0e0001-0000-4000-8000-00000000ffff"))
            .err();
        assert_eq!(
            refused.as_ref().and_then(|e| e.target.as_deref()),
            Some("operation.target")
        );
        assert!(t.state.operation_faults.list().is_empty(), "nothing added");
        let default_env = t.state.ppac.environments()[0].id.as_str().to_string();
        let added = t.add_operation_fault(rule(&default_env.to_uppercase()))?;
        assert_eq!(added.target.as_deref(), Some(default_env.as_str()));
        Ok(())
    }

    #[test]
    fn defaults_give_a_licensed_global_admin_and_an_app() -> Result<(), SimError> {
        let t = tenant(TenantSpec::default(), 1)?;
        assert_eq!(t.state.domain.as_str(), "tenant-8f0c3a52.test");
        let admin = t.state.user("ADMIN@tenant-8f0c3a52.test")?;
        assert!(admin.has_role(Role::GlobalAdmin));
        assert!(admin.has_license(UNIFIED_OPERATIONS_PLAN));
        assert_eq!(t.state.capacity, Capacity::default());
        assert_eq!(t.state.applications.len(), 1);
        assert!(
            t.state.applications[0]
                .secret
                .as_ref()
                .is_some_and(|s| s.len() == 40)
        );
        Ok(())
    }

    #[test]
    fn same_seed_same_ids_different_seed_different_ids() -> Result<(), SimError> {
        let ids = |t: &Tenant| {
            (
                t.state.users[0].object_id,
                t.state.applications[0].client_id,
            )
        };
        assert_eq!(
            ids(&tenant(TenantSpec::default(), 5)?),
            ids(&tenant(TenantSpec::default(), 5)?)
        );
        assert_ne!(
            ids(&tenant(TenantSpec::default(), 5)?),
            ids(&tenant(TenantSpec::default(), 6)?)
        );
        Ok(())
    }

    #[test]
    fn duplicate_users_are_refused_with_the_field_at_fault() -> Result<(), SimError> {
        let user = UserSpec {
            upn: Upn::parse("a@contoso.test")?,
            object_id: None,
            display_name: None,
            password: None,
            roles: vec![],
            licenses: vec![],
        };
        let mut other = user.clone();
        other.upn = Upn::parse("A@CONTOSO.TEST")?;
        let spec = TenantSpec {
            users: Some(vec![user, other]),
            ..TenantSpec::default()
        };
        let Err(err) = tenant(spec, 1) else {
            panic!("two users with the same UPN were accepted");
        };
        assert_eq!(err.code, ErrorCode::UserExists);
        assert_eq!(err.target.as_deref(), Some("users[1].upn"));
        Ok(())
    }

    #[test]
    fn reset_restores_the_created_state() -> Result<(), SimError> {
        let mut t = tenant(TenantSpec::default(), 3)?;
        let before = (t.state.users.clone(), t.state.applications.clone());
        t.update_user(
            "admin@tenant-8f0c3a52.test",
            UserPatch {
                licenses: Some(vec![]),
                ..UserPatch::default()
            },
        )?;
        t.set_capacity(CapacityPatch {
            database_mb: Some(1),
            ..CapacityPatch::default()
        })?;
        t.advance_clock(SignedDuration::from_hours(1), Timestamp::UNIX_EPOCH)?;
        t.reset(Timestamp::UNIX_EPOCH)?;
        assert_eq!(
            (t.state.users.clone(), t.state.applications.clone()),
            before
        );
        assert_eq!(t.state.capacity, Capacity::default());
        assert_eq!(t.now(Timestamp::UNIX_EPOCH), Timestamp::UNIX_EPOCH);
        Ok(())
    }
}
