//! The in-process library API: `Simulator::builder()...start()` and its typed `Control` handle.

use crate::helpers::{DEFAULT_TENANT, builder, spawn_app};
use lifecycle_sim::StartError;
use lifecycle_sim::control::{CapacityChange, NewTenant, NewUser};
use reqwest::StatusCode;
use serde_json::json;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");

#[tokio::test]
async fn the_builder_loads_scenario_files_instead_of_the_default() {
    let sim = builder()
        .scenario(format!("{SCENARIOS}/linked-sandbox-pair.yaml"))
        .scenario(format!("{SCENARIOS}/missing-license.yaml"))
        .start()
        .await
        .unwrap();

    let tenants = sim.control().tenants().await.unwrap();

    let domains: Vec<&str> = tenants.iter().map(|t| t.domain.as_str()).collect();
    assert_eq!(domains, ["tailspin.test", "alpineskihouse.test"]);
}

#[tokio::test]
async fn an_unreadable_scenario_file_stops_the_start_naming_the_file() {
    let result = builder().scenario("/no/such/scenario.yaml").start().await;

    match result {
        Err(StartError::Scenario { path, .. }) => {
            assert_eq!(path.to_str(), Some("/no/such/scenario.yaml"));
        }
        other => panic!("expected a scenario error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_scenario_text_stops_the_start_with_its_line() {
    let result = builder()
        .scenario_text("inline", "version: 1\ntenants:\n  - domain: [nope\n")
        .start()
        .await;

    let message = result.unwrap_err().to_string();
    assert!(message.contains("inline"), "{message}");
    assert!(message.contains("line 3"), "{message}");
}

#[tokio::test]
async fn the_clock_is_read_paused_scaled_and_advanced() {
    let app = spawn_app().await;
    let control = app.sim.control();

    let start = control.clock().await.unwrap();
    let advanced = control.advance("90m").await.unwrap();
    let to = control
        .advance_to("2026-01-01T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    let running = control.set_paused(false).await.unwrap();
    let scaled = control.set_scale(60.0).await.unwrap();
    control.set_paused(true).await.unwrap();

    assert_eq!(start.now.to_string(), "2026-01-01T09:00:00Z");
    assert!(start.paused);
    assert_eq!(advanced.now.to_string(), "2026-01-01T10:30:00Z");
    assert!(advanced.completed.is_empty());
    assert_eq!(to.now.to_string(), "2026-01-01T12:00:00Z");
    assert!(!running.paused);
    assert_eq!(scaled.scale, 60.0);
}

#[tokio::test]
async fn refusals_carry_the_control_planes_status_code_and_message() {
    let app = spawn_app().await;
    let control = app.sim.control();

    let back = control
        .advance_to("2020-01-01T00:00:00Z".parse().unwrap())
        .await
        .unwrap_err();
    let nonsense = control.advance("soon").await.unwrap_err();
    let missing = control
        .tenant("00000000-0000-4000-8000-000000000999")
        .await
        .unwrap_err();
    let no_user = control
        .token(
            DEFAULT_TENANT,
            "nobody@contoso.test",
            "https://lcsapi.lcs.dynamics.com",
        )
        .await
        .unwrap_err();

    assert_eq!(
        (back.status, back.code.as_str()),
        (400, "ClockCannotGoBack")
    );
    assert!(back.message.contains("only moves forward"), "{back}");
    assert_eq!(
        (nonsense.status, nonsense.code.as_str()),
        (400, "InvalidDuration")
    );
    assert_eq!(
        (missing.status, missing.code.as_str()),
        (404, "TenantNotFound")
    );
    assert_eq!(
        no_user.code, "invalid_grant",
        "the token endpoint's OAuth envelope: {no_user}"
    );
    assert!(!no_user.message.is_empty());
}

#[tokio::test]
async fn a_tenant_is_created_from_the_builder_and_its_switches_flip() {
    let app = spawn_app().await;
    let control = app.sim.control();

    let tenant = control
        .create_tenant(
            &NewTenant::new()
                .domain("fabrikam.test")
                .display_name("Fabrikam")
                .user(
                    NewUser::new("admin@fabrikam.test")
                        .role("Global admin")
                        .license("Dynamics 365 Unified Operations Plan"),
                )
                .user(NewUser::new("fo.admin@fabrikam.test").password("Pass@word1"))
                .database_mb(1536)
                .restrict_environment_creation_to_admins(true),
        )
        .await
        .unwrap();
    let id = tenant.id.clone();
    let user = control
        .set_user(
            &id,
            "fo.admin@fabrikam.test",
            &["Dynamics 365 Unified Operations Plan"],
            &["Power Platform admin"],
        )
        .await
        .unwrap();
    control
        .set_capacity(
            &id,
            CapacityChange {
                database_mb: Some(4096),
                ..CapacityChange::default()
            },
        )
        .await
        .unwrap();
    control.set_governance(&id, false).await.unwrap();
    let after = control.tenant(&id).await.unwrap();

    assert_eq!(tenant.domain, "fabrikam.test");
    assert_eq!(tenant.users.len(), 2);
    assert_eq!(tenant.users[0].roles, ["Global admin"]);
    assert_eq!(tenant.applications.len(), 1);
    assert!(tenant.applications[0].client_secret.is_some());
    assert_eq!(tenant.rest["capacity"]["databaseMb"], 1536);
    assert_eq!(
        tenant.rest["governance"]["restrictEnvironmentCreationToAdmins"],
        true
    );
    assert_eq!(user.roles, ["Power Platform admin"]);
    assert_eq!(user.licenses, ["Dynamics 365 Unified Operations Plan"]);
    assert_eq!(after.rest["capacity"]["databaseMb"], 4096);
    assert_eq!(
        after.rest["governance"]["restrictEnvironmentCreationToAdmins"],
        false
    );
    let token = control
        .token(
            &id,
            "fo.admin@fabrikam.test",
            "https://lcsapi.lcs.dynamics.com",
        )
        .await;
    assert!(token.is_err(), "a user with a password needs it");

    control.delete_tenant(&id).await.unwrap();
    assert_eq!(
        control.tenant(&id).await.unwrap_err().code,
        "TenantNotFound"
    );
}

#[tokio::test]
async fn faults_added_through_the_handle_fire_on_the_real_surfaces() {
    let app = spawn_app().await;
    let control = app.sim.control();

    let rule = control
        .add_fault(json!({"name": "bap-down", "match": {"surface": "bap"}, "error": {"status": 503}, "count": 1}))
        .await
        .unwrap();
    let bad = control
        .add_fault(json!({"match": {"surface": "nope"}}))
        .await
        .unwrap_err();
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let path =
        "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2021-04-01";
    let (first, _) = app.get_with_token(path, &token).await;
    let (second, _) = app.get_with_token(path, &token).await;
    let planned = control
        .add_tenant_fault(
            DEFAULT_TENANT,
            json!({"name": "no-deploy", "operation": {"kind": "lcs.deploy", "stage": 0, "error": {"code": "Boom", "message": "planned"}}}),
        )
        .await
        .unwrap();
    control.clear_faults().await.unwrap();

    assert_eq!(rule["name"], "bap-down");
    assert_eq!((bad.status, bad.code.as_str()), (400, "InvalidFaultRule"));
    assert_eq!(first, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second, StatusCode::OK, "count 1 fires once");
    assert_eq!(planned["name"], "no-deploy");
}

#[tokio::test]
async fn a_snapshot_from_the_handle_loads_back_as_the_same_tenant() {
    let app = spawn_app().await;
    let control = app.sim.control();
    control.advance("2h").await.unwrap();

    let snapshot = control.snapshot(DEFAULT_TENANT).await.unwrap();
    let other = builder().without_default_tenant().start().await.unwrap();
    let loaded = other.control().load_scenario(&snapshot).await.unwrap();
    let again = other.control().snapshot(&loaded[0].id).await.unwrap();

    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, DEFAULT_TENANT);
    assert_eq!(loaded[0].domain, "contoso.test");
    assert_eq!(again, snapshot, "byte for byte");
    let bad = control.load_scenario("version: 99\n").await.unwrap_err();
    assert_eq!(bad.code, "InvalidScenario");
}

#[tokio::test]
async fn operations_started_over_http_are_listed_typed() {
    let app = spawn_app().await;
    let control = app.sim.control();
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/_portal/lcs/projects/1234567/environments",
            &token,
            Some(json!({"name": "Contoso-TEST", "type": "Sandbox", "region": "eastus"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let operations = control.operations(DEFAULT_TENANT).await.unwrap();

    assert_eq!(operations.len(), 1);
    assert_eq!(operations[0].kind, "lcs.deploy");
    assert_eq!(operations[0].portal, "lcs");
    assert_eq!(operations[0].state, "running");
    assert_eq!(operations[0].target.kind, "lcsEnvironment");
    assert!(operations[0].rest["stages"].is_array());
}

#[tokio::test]
async fn a_global_reset_through_the_handle_restores_the_start() {
    let app = spawn_app().await;
    let control = app.sim.control();
    control.advance("1d").await.unwrap();
    control.create_tenant(&NewTenant::new()).await.unwrap();

    control.reset().await.unwrap();

    assert_eq!(
        control.clock().await.unwrap().now.to_string(),
        "2026-01-01T09:00:00Z"
    );
    assert_eq!(control.tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn dropping_the_simulator_stops_its_server() {
    let sim = builder().start().await.unwrap();
    let url = format!("{}/_sim/health", sim.uri());
    assert!(reqwest::get(&url).await.unwrap().status().is_success());

    drop(sim);

    let mut refused = false;
    for _ in 0..200 {
        if reqwest::get(&url).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the server still answers after the drop");
}

#[tokio::test]
async fn stop_waits_until_the_server_has_stopped() {
    let sim = builder().start().await.unwrap();
    let url = format!("{}/_sim/health", sim.uri());

    sim.stop().await.unwrap();

    assert!(reqwest::get(&url).await.is_err());
}
