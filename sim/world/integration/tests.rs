//! The cross-portal rules without HTTP, one test per refusal `domain.md` names: reset and delete
//! blocked on a linked Dataverse environment, setup only on a deployed environment, the
//! irreversible link, the setup's prerequisites (capacity, licence, role) with Resume from the
//! failed stage, and conversions that only the Dataverse half follows.

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::RunState;
use crate::world::identity::{Role, UNIFIED_OPERATIONS_PLAN};
use crate::world::lcs::{EnvironmentType, Integration};
use crate::world::ppac::{NewDataverse, PpEnvironment};
use crate::world::spec::{CapacityPatch, Governance, UserPatch};
use crate::world::tenant::Tenant;
use crate::world::testing::*;

fn code<T>(r: Result<T, SimError>) -> Option<ErrorCode> {
    r.err().map(|e| e.code)
}

fn dv<'a>(t: &'a Tenant, id: &PpEnvId) -> Result<&'a PpEnvironment, SimError> {
    t.state
        .ppac
        .get(id)
        .ok_or_else(|| SimError::internal(format!("no Dataverse environment {id}")))
}

fn integration(t: &Tenant, p: ProjectId, env: EnvironmentId) -> Option<Integration> {
    t.state
        .lcs
        .project(p)
        .ok()?
        .environment(env)
        .ok()?
        .integration
        .clone()
}

#[test]
fn reset_and_delete_of_a_linked_dataverse_environment_are_refused_and_change_nothing()
-> Result<(), SimError> {
    let mut t = tenant()?;
    let (_, _, id, at) = linked_pair(&mut t)?;
    let actor = pp_admin(&t)?;
    let before = t.operations().count();
    let reset = t
        .ppac_mut(&actor)
        .reset(&id, None, NewDataverse::default(), at);
    let linked = Some(ErrorCode::OperationNotSupportedForLinkedFinOpsEnvironment);
    assert_eq!(code(reset), linked);
    let delete = t.ppac_mut(&actor).delete(&id, at).err();
    assert_eq!(delete.as_ref().map(|e| e.code), linked);
    assert!(delete.is_some_and(|e| e.message.contains("Delete the finance and operations")));
    assert_eq!(t.operations().count(), before, "no operation started");
    let e = dv(&t, &id)?;
    assert!(e.live() && e.busy(t.ops()).is_none() && e.linked_app.is_some());
    Ok(())
}

#[test]
fn setup_needs_a_deployed_environment() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, deploy) = deploy(&mut t, p, "uat", EnvironmentType::Sandbox, START)?;
    assert_eq!(
        code(start_setup(&mut t, p, env, later(START, 1))),
        Some(ErrorCode::EnvironmentBusy)
    );
    assert_eq!(integration(&t, p, env), None);
    let at = finish(&mut t, deploy)?;
    start_setup(&mut t, p, env, at)?;
    Ok(())
}

#[test]
fn the_link_is_irreversible_until_the_fo_environment_is_deleted() -> Result<(), SimError> {
    let mut t = tenant()?;
    let (p, env, id, at) = linked_pair(&mut t)?;
    // Set up again: refused, the link stays where it is.
    assert_eq!(
        code(start_setup(&mut t, p, env, at)),
        Some(ErrorCode::PowerPlatformIntegrationExists)
    );
    // Link another F&O environment to the same Dataverse environment: refused (step 4 of the
    // documented procedure before step 3).
    let (other, at) = {
        let (other, op) = deploy(&mut t, p, "uat2", EnvironmentType::Sandbox, at)?;
        (other, finish(&mut t, op)?)
    };
    let actor = admin(&t)?;
    let request = |existing: &PpEnvId| SetupRequest {
        accept_terms: true,
        existing: Some(existing.clone()),
    };
    let refused = t.setup_integration(p, actor, other, request(&id), at).err();
    assert_eq!(
        refused.as_ref().map(|e| e.code),
        Some(ErrorCode::DataverseEnvironmentNotLinkable)
    );
    assert!(refused.is_some_and(|e| e.message.contains("irreversible")));
    // Deleting the linked F&O environment frees the Dataverse environment, which stays.
    let delete = t.delete_environment(p, actor, env, at)?;
    let at = finish(&mut t, delete)?;
    let freed = dv(&t, &id)?;
    assert!(freed.live() && freed.linked_app.is_none());
    let relink = t.setup_integration(p, actor, other, request(&id), at)?;
    finish(&mut t, relink)?;
    assert_eq!(
        dv(&t, &id)?.linked_app.as_ref().map(|l| l.id),
        Some(other.0)
    );
    Ok(())
}

#[test]
fn setup_fails_without_free_capacity_and_resumes_from_that_stage() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, at) = deployed(&mut t, p, "uat", EnvironmentType::Sandbox)?;
    t.set_capacity(CapacityPatch {
        database_mb: Some(1024),
        ..CapacityPatch::default()
    })?;
    let setup = start_setup(&mut t, p, env, at)?;
    let failed_at = finish(&mut t, setup)?;
    let op = t.operation(setup)?;
    assert_eq!(op.state(), RunState::Failed);
    assert_eq!(
        op.error().map(|e| e.code.as_str()),
        Some(ErrorCode::InsufficientCapacity.as_str())
    );
    let failed_stage = op.current_stage();
    // Fix the cause and resume: setup goes on from the failed stage.
    t.set_capacity(CapacityPatch {
        database_mb: Some(20 * 1024),
        ..CapacityPatch::default()
    })?;
    let actor = admin(&t)?;
    t.resume_integration(p, actor, env, failed_at)?;
    let progress = t.operation(setup)?.progress(failed_at);
    let stages_before: Vec<_> = progress.stages[..failed_stage.unwrap_or(0)]
        .iter()
        .map(|s| s.ends_at)
        .collect();
    finish(&mut t, setup)?;
    let op = t.operation(setup)?;
    assert_eq!((op.state(), op.attempts()), (RunState::Succeeded, 2));
    let after: Vec<_> = op.progress(failed_at).stages[..failed_stage.unwrap_or(0)]
        .iter()
        .map(|s| s.ends_at)
        .collect();
    assert_eq!(
        stages_before, after,
        "stages that succeeded did not run again"
    );
    Ok(())
}

#[test]
fn setup_fails_when_the_administrator_has_no_unified_operations_licence() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, at) = deployed(&mut t, p, "uat", EnvironmentType::Sandbox)?;
    let upn = format!("admin@{}", t.state.domain);
    t.update_user(
        &upn,
        UserPatch {
            licenses: Some(Vec::new()),
            ..UserPatch::default()
        },
    )?;
    let setup = start_setup(&mut t, p, env, at)?;
    finish(&mut t, setup)?;
    let error = t.operation(setup)?.error().cloned();
    assert_eq!(
        error.as_ref().map(|e| e.code.as_str()),
        Some(ErrorCode::AdministratorNotLicensed.as_str())
    );
    assert!(error.is_some_and(|e| e.message.contains(UNIFIED_OPERATIONS_PLAN)));
    Ok(())
}

#[test]
fn restricted_governance_needs_an_admin_role_for_a_new_dataverse_environment()
-> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, at) = deployed(&mut t, p, "uat", EnvironmentType::Sandbox)?;
    t.set_governance(Governance {
        restrict_environment_creation_to_admins: true,
    });
    let upn = format!("admin@{}", t.state.domain);
    t.update_user(
        &upn,
        UserPatch {
            roles: Some(Vec::new()),
            ..UserPatch::default()
        },
    )?;
    let setup = start_setup(&mut t, p, env, at)?;
    let failed_at = finish(&mut t, setup)?;
    assert_eq!(
        t.operation(setup)?.error().map(|e| e.code.as_str()),
        Some(ErrorCode::AdministratorRoleRequired.as_str())
    );
    t.update_user(
        &upn,
        UserPatch {
            roles: Some(vec![Role::PowerPlatformAdmin]),
            ..UserPatch::default()
        },
    )?;
    let actor = admin(&t)?;
    t.resume_integration(p, actor, env, failed_at)?;
    finish(&mut t, setup)?;
    assert_eq!(t.operation(setup)?.state(), RunState::Succeeded);
    Ok(())
}

#[test]
fn a_dataverse_environment_being_created_by_setup_is_busy_until_linked() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, at) = deployed(&mut t, p, "uat", EnvironmentType::Sandbox)?;
    let setup = start_setup(&mut t, p, env, at)?;
    let provisioned = t.operation(setup)?.progress(at).stages[..3]
        .iter()
        .map(|s| s.duration_seconds)
        .sum::<i64>();
    let mid = at + jiff::SignedDuration::from_secs(provisioned);
    t.settle_at(mid);
    let id = integration(&t, p, env)
        .and_then(|i| i.dataverse)
        .ok_or_else(|| SimError::internal("setup created no Dataverse environment yet"))?;
    assert_eq!(dv(&t, &id)?.busy(t.ops()), Some(setup));
    let actor = pp_admin(&t)?;
    assert_eq!(
        code(t.ppac_mut(&actor).modify_sku(&id, Sku::Production, mid)),
        Some(ErrorCode::OperationNotStartable)
    );
    let done = finish(&mut t, setup)?;
    assert_eq!(dv(&t, &id)?.busy(t.ops()), None);
    // The setup is not a Power Platform lifecycle operation: the environment lists none.
    assert_eq!(t.ppac(&actor).operations_of(&id)?.len(), 0);
    let convert = t.ppac_mut(&actor).modify_sku(&id, Sku::Production, done)?;
    let listed = t.ppac(&actor).operations_of(&id)?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.id, convert);
    assert_eq!(listed[0].0.op_type, crate::world::ppac::OpType::Convert);
    assert_eq!(listed[0].0.requested_by.id, actor.id);
    Ok(())
}

#[test]
fn converting_a_linked_dataverse_environment_is_allowed_with_a_warning_and_fo_keeps_its_type()
-> Result<(), SimError> {
    let mut t = tenant()?;
    let (p, env, id, at) = linked_pair(&mut t)?;
    let warning = t.linked_convert_warning(&id, Sku::Production);
    assert!(warning.is_some_and(|w| w.contains("not recommended")));
    let actor = pp_admin(&t)?;
    let convert = t.ppac_mut(&actor).modify_sku(&id, Sku::Production, at)?;
    finish(&mut t, convert)?;
    assert_eq!(dv(&t, &id)?.sku, Sku::Production);
    assert_eq!(
        t.state.lcs.project(p)?.environment(env)?.env_type,
        EnvironmentType::Sandbox
    );
    Ok(())
}
