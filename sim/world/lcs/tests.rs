//! LCS rules without HTTP: an environment's busy state, status and history derive from its
//! operations, and the refusals LCS names (type changes, busy environments, production deletes,
//! a refresh source deleted mid-refresh).

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::faults::{OperationFault, StageRef};
use crate::world::tenant::Tenant;
use crate::world::testing::*;

fn env_of(t: &Tenant, project: ProjectId, env: EnvironmentId) -> Result<&FoEnvironment, SimError> {
    t.state.lcs.project(project)?.environment(env)
}

fn status(t: &Tenant, project: ProjectId, env: EnvironmentId, op: OperationId) -> Option<OpStatus> {
    let e = env_of(t, project, env).ok()?;
    t.fo(e).entry(op).map(|a| a.status())
}

fn code<T>(r: Result<T, SimError>) -> Option<ErrorCode> {
    r.err().map(|e| e.code)
}

#[test]
fn busy_status_and_history_follow_the_operation_and_the_clock() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, op) = deploy(&mut t, p, "uat", EnvironmentType::Sandbox, START)?;
    {
        let fo = t.fo(env_of(&t, p, env)?);
        assert_eq!(fo.running().map(|h| h.activity), Some(op));
        assert_eq!(fo.status_display(), "Deploying");
        assert_eq!(fo.deployment_state(), "InProgress");
    }
    assert_eq!(status(&t, p, env, op), Some(OpStatus::NotStarted));
    let queued = t.operation(op)?.progress(START).stages[0].ends_at;
    t.settle_at(queued.ok_or_else(|| SimError::internal("no stage end"))?);
    assert_eq!(status(&t, p, env, op), Some(OpStatus::InProgress));
    let end = finish(&mut t, op)?;
    let fo = t.fo(env_of(&t, p, env)?);
    let entry = fo
        .entry(op)
        .ok_or_else(|| SimError::internal("no history entry"))?;
    assert_eq!(entry.status(), OpStatus::Completed);
    assert_eq!(entry.ended(), Some(end));
    assert_eq!(entry.error(), None);
    assert!(!fo.is_busy());
    assert_eq!(fo.status_display(), "Deployed");
    assert_eq!(fo.deployment_state(), "Finished");
    Ok(())
}

#[test]
fn a_failed_operation_shows_its_error_frees_the_environment_and_a_resume_takes_it_again()
-> Result<(), SimError> {
    let mut t = tenant()?;
    t.add_operation_fault(OperationFault {
        name: String::new(),
        kind: "lcs.deploy".into(),
        target: None,
        stage: StageRef::Index(1),
        code: "DeploymentFailed".into(),
        message: "the VM did not start".into(),
        remaining: 1,
    })?;
    let p = project(&mut t)?;
    let (env, op) = deploy(&mut t, p, "uat", EnvironmentType::Sandbox, START)?;
    let failed_at = finish(&mut t, op)?;
    {
        let fo = t.fo(env_of(&t, p, env)?);
        let entry = fo
            .entry(op)
            .ok_or_else(|| SimError::internal("no history entry"))?;
        assert_eq!(entry.status(), OpStatus::Failed);
        assert_eq!(entry.error(), Some("the VM did not start"));
        assert_eq!(entry.ended(), Some(failed_at));
        assert!(!fo.is_busy());
        assert_eq!(fo.deployment_state(), "Failed");
    }
    // Resuming the failed deployment makes the environment busy again, with no copy to update.
    let resumed_at = later(failed_at, 5);
    t.resume_operation(op, resumed_at)?;
    {
        let fo = t.fo(env_of(&t, p, env)?);
        assert!(fo.is_busy());
        let entry = fo
            .entry(op)
            .ok_or_else(|| SimError::internal("no history entry"))?;
        assert_eq!(entry.status(), OpStatus::InProgress);
        assert_eq!((entry.ended(), entry.error()), (None, None));
    }
    let actor = admin(&t)?;
    assert_eq!(
        code(t.delete_environment(p, actor, env, resumed_at)),
        Some(ErrorCode::EnvironmentBusy)
    );
    finish(&mut t, op)?;
    assert_eq!(status(&t, p, env, op), Some(OpStatus::Completed));
    assert_eq!(env_of(&t, p, env)?.state, EnvironmentState::Deployed);
    Ok(())
}

#[test]
fn a_busy_environment_refuses_another_operation_and_changes_nothing() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, op) = deploy(&mut t, p, "dev", EnvironmentType::DevTestDev, START)?;
    let actor = admin(&t)?;
    assert_eq!(
        code(t.deallocate_environment(p, actor, env, later(START, 1))),
        Some(ErrorCode::EnvironmentBusy)
    );
    let fo = t.fo(env_of(&t, p, env)?);
    assert_eq!(fo.history().count(), 1);
    assert_eq!(fo.running().map(|h| h.activity), Some(op));
    Ok(())
}

#[test]
fn lcs_cannot_change_an_environments_type() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, _) = deployed(&mut t, p, "uat", EnvironmentType::Sandbox)?;
    let actor = admin(&t)?;
    let refused = t.change_environment_type(p, actor, env, "Production").err();
    assert_eq!(
        refused.as_ref().map(|e| e.code),
        Some(ErrorCode::EnvironmentTypeImmutable)
    );
    assert!(refused.is_some_and(|e| e.message.contains("Deploy a new environment")));
    assert_eq!(env_of(&t, p, env)?.env_type, EnvironmentType::Sandbox);
    Ok(())
}

#[test]
fn lcs_does_not_delete_a_deployed_production_environment() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (env, at) = deployed(&mut t, p, "prod", EnvironmentType::Production)?;
    let actor = admin(&t)?;
    assert_eq!(
        code(t.delete_environment(p, actor, env, at)),
        Some(ErrorCode::OperationNotAllowed)
    );
    assert!(!t.fo(env_of(&t, p, env)?).is_busy());
    Ok(())
}

#[test]
fn the_source_of_a_running_refresh_cannot_be_deleted() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (source, _) = deployed(&mut t, p, "uat-a", EnvironmentType::Sandbox)?;
    let (target, at) = deployed(&mut t, p, "uat-b", EnvironmentType::Sandbox)?;
    let actor = admin(&t)?;
    let refresh = t.database_refresh(p, actor, source, target, Via::Api, at)?;
    assert_eq!(
        code(t.delete_environment(p, actor, source, at)),
        Some(ErrorCode::EnvironmentBusy)
    );
    let done = finish(&mut t, refresh)?;
    t.delete_environment(p, actor, source, done)?;
    Ok(())
}

#[test]
fn environments_are_found_by_id_through_a_delete_and_a_snapshot_load() -> Result<(), SimError> {
    let mut t = tenant()?;
    let p = project(&mut t)?;
    let (a, _) = deployed(&mut t, p, "dev-a", EnvironmentType::DevTestDev)?;
    let (b, at) = deployed(&mut t, p, "dev-b", EnvironmentType::DevTestDev)?;
    let actor = admin(&t)?;
    let stop = t.stop_environment(p, actor, a, at)?;
    let at = finish(&mut t, stop)?;
    let delete = t.delete_environment(p, actor, a, at)?;
    let at = finish(&mut t, delete)?;
    assert_eq!(
        code(env_of(&t, p, a).map(|_| ())),
        Some(ErrorCode::EnvironmentNotFound)
    );
    assert_eq!(env_of(&t, p, b)?.name, "dev-b");
    // A snapshot carries no index; loading rebuilds it.
    let mut loaded = through_json(&t.state.lcs)?;
    loaded.reindex();
    assert_eq!(loaded.project(p)?.environment(b)?.name, "dev-b");
    // By name too, in any case, and the deleted one's name is free again.
    let named = |l: &Lcs, n: &str| l.project(p).ok()?.environment_named(n).map(|e| e.id);
    assert_eq!(named(&loaded, "DEV-B"), Some(b));
    assert_eq!(named(&loaded, "dev-a"), None);
    assert_eq!(
        code(deploy(&mut t, p, "Dev-B", EnvironmentType::DevTestDev, at)),
        Some(ErrorCode::EnvironmentExists)
    );
    deploy(&mut t, p, "dev-a", EnvironmentType::DevTestDev, at)?;
    Ok(())
}
