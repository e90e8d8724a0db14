//! Fixtures for the domain's unit tests: a tenant at the epoch, its default admin, an LCS
//! project, and environments deployed by running their operations on the virtual clock.

use crate::error::SimError;
use crate::ops::OperationId;
use crate::world::identity::{ObjectId, TenantId};
use crate::world::lcs::{EnvironmentId, EnvironmentSpec, EnvironmentType, ProjectId};
use crate::world::tenant::{Tenant, TenantSpec};
use jiff::{SignedDuration, Timestamp};

/// Where every fixture tenant's clock starts.
pub(crate) const START: Timestamp = Timestamp::UNIX_EPOCH;

/// A tenant built from `spec` at [`START`] with seed 1.
pub(crate) fn tenant_with(spec: TenantSpec) -> Result<Tenant, SimError> {
    let id = TenantId::parse("8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41")?;
    Tenant::build(id, spec, 1, START)
}

/// A default tenant: one licensed Global admin, 10 GB database capacity, open governance.
pub(crate) fn tenant() -> Result<Tenant, SimError> {
    tenant_with(TenantSpec::default())
}

/// The default tenant's admin.
pub(crate) fn admin(t: &Tenant) -> Result<ObjectId, SimError> {
    let upn = format!("admin@{}", t.state.domain);
    Ok(t.state.user(&upn)?.object_id)
}

/// A new LCS project owned by the admin.
pub(crate) fn project(t: &mut Tenant) -> Result<ProjectId, SimError> {
    let owner = admin(t)?;
    t.create_project("Contoso", owner, START)
}

/// `at` plus `mins` minutes.
pub(crate) fn later(at: Timestamp, mins: i64) -> Timestamp {
    at + SignedDuration::from_mins(mins)
}

/// When `op` is due to end.
pub(crate) fn end_of(t: &Tenant, op: OperationId) -> Result<Timestamp, SimError> {
    Ok(t.operation(op)?.ends_at())
}

/// Runs `op` to its end, a success or a failure; returns the moment it ended.
pub(crate) fn finish(t: &mut Tenant, op: OperationId) -> Result<Timestamp, SimError> {
    let end = end_of(t, op)?;
    t.settle_at(end);
    t.operation(op)?
        .finished_at()
        .ok_or_else(|| SimError::internal(format!("operation {op} has not finished")))
}

/// Starts deploying an F&O environment named `name` at `now`.
pub(crate) fn deploy(
    t: &mut Tenant,
    project: ProjectId,
    name: &str,
    env_type: EnvironmentType,
    now: Timestamp,
) -> Result<(EnvironmentId, OperationId), SimError> {
    let actor = admin(t)?;
    t.deploy_environment(project, actor, &EnvironmentSpec::new(name, env_type), now)
}

/// Deploys an F&O environment and runs the deployment to its end; returns it and the moment.
pub(crate) fn deployed(
    t: &mut Tenant,
    project: ProjectId,
    name: &str,
    env_type: EnvironmentType,
) -> Result<(EnvironmentId, Timestamp), SimError> {
    let (env, op) = deploy(t, project, name, env_type, START)?;
    let at = finish(t, op)?;
    Ok((env, at))
}

/// The default admin as the Power Platform side sees them.
pub(crate) fn pp_admin(t: &Tenant) -> Result<crate::world::ppac::Actor, SimError> {
    let id = admin(t)?;
    crate::world::ppac::Actor::of(&t.state, Some(id), None)
}

/// Starts Power Platform integration setup of `env` with a new Dataverse environment.
pub(crate) fn start_setup(
    t: &mut Tenant,
    project: ProjectId,
    env: EnvironmentId,
    now: Timestamp,
) -> Result<OperationId, SimError> {
    let actor = admin(t)?;
    let request = crate::world::integration::SetupRequest {
        accept_terms: true,
        existing: None,
    };
    t.setup_integration(project, actor, env, request, now)
}

/// A deployed F&O sandbox linked to a new Dataverse environment, setup run to its end: the
/// project, the F&O environment, the Dataverse environment and the moment setup ended.
pub(crate) fn linked_pair(
    t: &mut Tenant,
) -> Result<
    (
        ProjectId,
        EnvironmentId,
        crate::world::ppac::PpEnvId,
        Timestamp,
    ),
    SimError,
> {
    let p = project(t)?;
    let (env, at) = deployed(t, p, "uat", EnvironmentType::Sandbox)?;
    let setup = start_setup(t, p, env, at)?;
    let done = finish(t, setup)?;
    let dv = t
        .state
        .lcs
        .project(p)?
        .environment(env)?
        .integration
        .as_ref()
        .and_then(|i| i.dataverse.clone())
        .ok_or_else(|| SimError::internal("setup linked no Dataverse environment"))?;
    Ok((p, env, dv, done))
}

/// `value` written as JSON and read back, as a snapshot carries it (skipped fields empty).
pub(crate) fn through_json<T>(value: &T) -> Result<T, SimError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_string(value).map_err(|e| SimError::internal(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| SimError::internal(e.to_string()))
}
