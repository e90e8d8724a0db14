//! Power Platform rules without HTTP: a package's state and error are read from its install
//! operation, and an install's prerequisite check reads the other installs as they stand.

use super::*;
use crate::error::SimError;
use crate::world::tenant::Tenant;
use crate::world::testing::*;

fn default_env(t: &Tenant) -> PpEnvId {
    PpEnvId::default_for(t.state.id.0)
}

fn package_state(t: &Tenant, env: &PpEnvId, name: &str) -> Option<PackageState> {
    let e = t.state.ppac.environments.iter().find(|e| &e.id == env)?;
    let p = e.packages.iter().find(|p| p.unique_name == name)?;
    Some(p.state(t.ops()))
}

/// A sandbox in the United States named `name`, with `dataverse` if given.
fn sandbox(name: &str, dataverse: Option<NewDataverse>) -> NewEnvironment {
    NewEnvironment {
        display_name: name.into(),
        sku: Some(Sku::Sandbox),
        location: "unitedstates".into(),
        dataverse,
        ..NewEnvironment::default()
    }
}

fn first_stage_end(t: &Tenant, op: OperationId) -> Result<Timestamp, SimError> {
    t.operation(op)?.progress(START).stages[0]
        .ends_at
        .ok_or_else(|| SimError::internal("no first stage end"))
}

#[test]
fn a_package_is_requested_then_installing_then_installed_as_its_operation_runs()
-> Result<(), SimError> {
    let mut t = tenant()?;
    let env = default_env(&t);
    let actor = pp_admin(&t)?;
    let (op, _) = t.ppac_mut(&actor).install(&env, PLATFORM_TOOLS, START)?;
    let state = |t: &Tenant| package_state(t, &env, PLATFORM_TOOLS);
    assert_eq!(state(&t), Some(PackageState::InstallRequested));
    t.settle_at(first_stage_end(&t, op)?);
    assert_eq!(state(&t), Some(PackageState::Installing));
    finish(&mut t, op)?;
    assert_eq!(state(&t), Some(PackageState::Installed));
    // An install is not a lifecycle operation and does not hold the environment.
    assert_eq!(t.ppac(&actor).operations_of(&env)?.len(), 0);
    Ok(())
}

#[test]
fn the_provisioning_app_fails_until_platform_tools_are_installed() -> Result<(), SimError> {
    let mut t = tenant()?;
    let env = default_env(&t);
    // The Provisioning App needs Dynamics 365 apps in the database.
    if let Some(d) = t.state.ppac.environments[0].dataverse.as_mut() {
        d.templates.push("D365_Sales".into());
    }
    let actor = pp_admin(&t)?;
    // Both at once: the app's check (at its first stage end) finds the tools still installing.
    let (tools, _) = t.ppac_mut(&actor).install(&env, PLATFORM_TOOLS, START)?;
    let (app, _) = t.ppac_mut(&actor).install(&env, PROVISIONING_APP, START)?;
    let failed_at = finish(&mut t, app)?;
    assert_eq!(
        package_state(&t, &env, PROVISIONING_APP),
        Some(PackageState::InstallFailed)
    );
    let e = t.ppac(&actor).environment(&env)?;
    let error = e
        .packages
        .iter()
        .find(|p| p.unique_name == PROVISIONING_APP)
        .and_then(|p| p.error(t.ops()));
    assert!(error.is_some_and(|m| m.contains("Platform Tools")));
    let at = finish(&mut t, tools)?.max(failed_at);
    let (again, _) = t.ppac_mut(&actor).install(&env, PROVISIONING_APP, at)?;
    finish(&mut t, again)?;
    assert_eq!(
        package_state(&t, &env, PROVISIONING_APP),
        Some(PackageState::Installed)
    );
    Ok(())
}

#[test]
fn environments_are_found_by_id_through_removals_and_a_snapshot_load() -> Result<(), SimError> {
    let mut t = tenant()?;
    let actor = pp_admin(&t)?;
    let spec = |name: &str| sandbox(name, None);
    let (a, _) = t.ppac_mut(&actor).create(spec("A"), START)?;
    let (b, _) = t.ppac_mut(&actor).create(spec("B"), START)?;
    let name = |p: &Ppac, id: &PpEnvId| p.get(id).map(|e| e.display_name.clone());
    assert_eq!(name(&t.state.ppac, &b).as_deref(), Some("B"));
    // Removing one moves the others; the index follows.
    t.state.ppac.remove(&a);
    assert_eq!(name(&t.state.ppac, &a), None);
    assert_eq!(name(&t.state.ppac, &b).as_deref(), Some("B"));
    // A snapshot carries no index; loading rebuilds it.
    let mut loaded = through_json(&t.state.ppac)?;
    loaded.reindex();
    assert_eq!(name(&loaded, &b).as_deref(), Some("B"));
    assert_eq!(
        loaded.environments().len(),
        t.state.ppac.environments().len()
    );
    Ok(())
}

/// What the environments use, summed the long way.
fn summed(p: &Ppac) -> Consumption {
    let mut c = Consumption::default();
    for d in p
        .environments()
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

#[test]
fn kept_consumption_and_domains_equal_the_long_way_through_creates_copies_deletes_and_recovery()
-> Result<(), SimError> {
    let mut t = tenant()?;
    let actor = pp_admin(&t)?;
    let spec = |name: &str| sandbox(name, Some(NewDataverse::default()));
    let check = |t: &Tenant, when: &str| {
        let p = &t.state.ppac;
        assert_eq!(p.consumption(), summed(p), "{when}");
        // Domains in use, the long way, for every domain any environment ever had.
        for d in p.environments().iter().filter_map(|e| e.dataverse.as_ref()) {
            let long = p
                .environments()
                .iter()
                .any(|e| e.live() && e.dataverse.as_ref().is_some_and(|x| x.domain == d.domain));
            assert_eq!(
                p.domain_in_use(&d.domain, None),
                long,
                "{when}: {}",
                d.domain
            );
        }
    };
    check(&t, "at creation");
    let (a, op) = t.ppac_mut(&actor).create(spec("Alpha"), START)?;
    check(&t, "while creating");
    let alpha = t
        .state
        .ppac
        .get(&a)
        .and_then(|e| e.dataverse.as_ref())
        .map(|d| d.domain.clone());
    let alpha = alpha.ok_or_else(|| SimError::internal("Alpha has no Dataverse"))?;
    assert!(t.state.ppac.domain_in_use(&alpha, None));
    assert!(
        !t.state.ppac.domain_in_use(&alpha, Some(&a)),
        "its own domain"
    );
    let at = finish(&mut t, op)?;
    let (b, op) = t.ppac_mut(&actor).create(spec("Beta"), at)?;
    let at = finish(&mut t, op)?;
    check(&t, "two created");
    let copy = CopyRequest {
        source: a.clone(),
        full: true,
        name: None,
        security_group: None,
    };
    let op = t.ppac_mut(&actor).copy(&b, copy, at)?;
    let at = finish(&mut t, op)?;
    check(&t, "after a copy");
    let op = t.ppac_mut(&actor).delete(&a, at)?;
    let at = finish(&mut t, op)?;
    check(&t, "after a delete");
    assert!(
        !t.state.ppac.domain_in_use(&alpha, None),
        "a deleted environment's domain"
    );
    let op = t.ppac_mut(&actor).recover(&a, at)?;
    finish(&mut t, op)?;
    check(&t, "after recovery");
    // A snapshot carries no sum; loading rebuilds it.
    let mut loaded = through_json(&t.state.ppac)?;
    loaded.reindex();
    assert_eq!(loaded.consumption(), t.state.ppac.consumption());
    assert!(t.state.ppac.consumption().database_mb > 0.0);
    Ok(())
}
