//! `/_portal/lcs`: the LCS actions without a public API, and how they show through the public API
//! while they run.

use super::d365fo::{ADMIN, D365, DEV, PROD, PROJECT, UAT};
use super::helpers::{DEFAULT_TENANT, TestApp, assert_error};
use super::lcs::lcs_app;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn admin(app: &TestApp) -> String {
    app.user_token(DEFAULT_TENANT, ADMIN).await
}

fn envs(path: &str) -> String {
    format!("/_portal/lcs/projects/{PROJECT}/environments{path}")
}

#[tokio::test]
async fn deploying_an_environment_shows_in_metadata_and_history_while_it_runs() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    let (status, op) = app
        .send(
            Method::POST,
            &envs(""),
            &token,
            Some(json!({"name": "Contoso-TEST", "type": "Sandbox", "region": "eastus", "version": "10.0.45",
                        "topology": "Finance and Operations - Standard Acceptance Test"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{op}");
    assert_eq!(op["kind"], json!("lcs.deploy"));
    assert_eq!(op["portal"], json!("lcs"));
    assert_eq!(op["target"]["type"], json!("lcsEnvironment"));
    let env = op["target"]["id"].as_str().unwrap().to_string();

    let lcs = D365::default(&app).await;
    app.advance("1h").await;
    let meta = &lcs.metadata("/?environmentName=Contoso-TEST").await["Data"][0];
    assert_eq!(meta["DeploymentStatusDisplay"], json!("Deploying"));
    assert_eq!(meta["DeploymentState"], json!("InProgress"));
    assert_eq!(meta["DeployedOnUTC"], Value::Null);
    assert_eq!(
        meta["TopologyDisplayName"],
        json!("Finance and Operations - Standard Acceptance Test")
    );
    assert_eq!(
        meta["EnvironmentEndpointBaseUrl"],
        json!("https://contoso-test.sandbox.operations.dynamics.com/")
    );
    let history = lcs.history(&env, 1).await;
    assert_eq!(history["Data"][0]["Status"], json!("InProgress"));
    // Nothing else runs on a deploying environment.
    assert!(
        lcs.export(&env, "x").await["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("undergoing")
    );

    app.advance("6h").await;
    let meta = &lcs.metadata("/?environmentName=Contoso-TEST").await["Data"][0];
    assert_eq!(meta["DeploymentStatusDisplay"], json!("Deployed"));
    assert_eq!(meta["DeploymentState"], json!("Finished"));
    assert!(meta["DeployedOnUTC"].is_string());
    let (_, details) = app
        .send(Method::GET, &envs(&format!("/{env}")), &token, None)
        .await;
    assert_eq!(details["state"], json!("Deployed"));
    assert_eq!(details["administrator"], json!(ADMIN));
    assert_eq!(details["history"][0]["type"], json!("Deploy"));
    assert_eq!(details["history"][0]["status"], json!("Completed"));
}

#[tokio::test]
async fn deploy_requests_are_validated_field_by_field() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    for (body, target) in [
        (json!({"name": "X", "type": "Staging"}), "type"),
        (
            json!({"name": "X", "type": "Sandbox", "region": "Mars"}),
            "region",
        ),
        (
            json!({"name": "X", "type": "Sandbox", "version": "9.0"}),
            "version",
        ),
        (
            json!({"name": "X", "type": "Production", "infrastructure": "CustomerManaged"}),
            "infrastructure",
        ),
        (json!({"name": "bad name!", "type": "Sandbox"}), "name"),
        (json!({"name": "Contoso-UAT", "type": "Sandbox"}), "name"),
        (
            json!({"name": "X", "type": "Sandbox", "administrator": "nobody@contoso.test"}),
            "administrator",
        ),
    ] {
        let reply = app
            .send(Method::POST, &envs(""), &token, Some(body.clone()))
            .await;
        assert!(reply.0.is_client_error(), "{body}: {}", reply.1);
        assert_eq!(
            reply.1["error"]["target"],
            json!(target),
            "{body}: {}",
            reply.1
        );
    }
}

#[tokio::test]
async fn lcs_cannot_change_an_environment_type() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    let reply = app
        .send(
            Method::PATCH,
            &envs(&format!("/{UAT}")),
            &token,
            Some(json!({"type": "Production"})),
        )
        .await;
    let message = assert_error(&reply, StatusCode::CONFLICT, "EnvironmentTypeImmutable");
    assert!(message.contains("Contoso-UAT is a Sandbox"));
    let (_, details) = app
        .send(Method::GET, &envs(&format!("/{UAT}")), &token, None)
        .await;
    assert_eq!(details["type"], json!("Sandbox"));
}

#[tokio::test]
async fn deallocate_and_delete_a_cloud_hosted_box() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    // A running customer-managed box cannot be deleted.
    let reply = app
        .send(Method::DELETE, &envs(&format!("/{DEV}")), &token, None)
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "EnvironmentNotReady");
    let (status, _) = app
        .send(
            Method::POST,
            &envs(&format!("/{DEV}/deallocate")),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.advance("1h").await;
    let (_, details) = app
        .send(Method::GET, &envs(&format!("/{DEV}")), &token, None)
        .await;
    assert_eq!(details["state"], json!("Deallocated"));
    assert_eq!(details["canStart"], json!(true));
    let (status, _) = app
        .send(Method::DELETE, &envs(&format!("/{DEV}")), &token, None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let lcs = D365::default(&app).await;
    assert_eq!(
        lcs.metadata(&format!("/?environmentId={DEV}")).await["Data"][0]["DeploymentStatusDisplay"],
        json!("Deleting")
    );
    app.advance("2h").await;
    assert_eq!(
        lcs.metadata(&format!("/?environmentId={DEV}")).await["Data"],
        json!([])
    );
    // Production is never deleted from LCS; Microsoft-managed sandboxes cannot be deallocated.
    let reply = app
        .send(Method::DELETE, &envs(&format!("/{PROD}")), &token, None)
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "OperationNotAllowed");
    let reply = app
        .send(
            Method::POST,
            &envs(&format!("/{UAT}/deallocate")),
            &token,
            None,
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "OperationNotAllowed");
}

#[tokio::test]
async fn import_a_backup_into_a_sandbox() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    let lcs = D365::default(&app).await;
    lcs.export(UAT, "Golden").await;
    app.advance("5h").await;
    let backup = lcs.backups().await["DatabaseAssets"][0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = app
        .send(
            Method::POST,
            &envs(&format!("/{PROD}/import")),
            &token,
            Some(json!({"backupId": backup})),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "OperationNotAllowed");
    let (status, op) = app
        .send(
            Method::POST,
            &envs(&format!("/{UAT}/import")),
            &token,
            Some(json!({"backupId": backup})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{op}");
    assert_eq!(op["kind"], json!("lcs.databaseImport"));
    app.advance("5h").await;
    let (_, details) = app
        .send(Method::GET, &envs(&format!("/{UAT}")), &token, None)
        .await;
    assert_eq!(details["database"]["origin"], json!("import"));
    assert_eq!(details["database"]["backupId"], json!(backup));
    assert_eq!(
        lcs.history(UAT, 1).await["Data"][0]["Type"],
        json!("SFImportDatabase")
    );
}

#[tokio::test]
async fn point_in_time_restore_from_production_into_a_sandbox() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    app.advance("48h").await;
    let body = json!({"sourceEnvironmentId": PROD, "pointInTime": "2026-01-02T12:00:00Z"});
    let (status, op) = app
        .send(
            Method::POST,
            &envs(&format!("/{UAT}/point-in-time-restore")),
            &token,
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{op}");
    app.advance("4h").await;
    let (_, details) = app
        .send(Method::GET, &envs(&format!("/{UAT}")), &token, None)
        .await;
    assert_eq!(details["database"]["origin"], json!("pointInTimeRestore"));
    assert_eq!(
        details["database"]["pointInTime"],
        json!("2026-01-02T12:00:00Z")
    );
    // The future, and before the source existed, are refused.
    let future = json!({"pointInTime": "2030-01-01T00:00:00Z"});
    let reply = app
        .send(
            Method::POST,
            &envs(&format!("/{UAT}/point-in-time-restore")),
            &token,
            Some(future),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "OperationNotAllowed");
    let bad = json!({"pointInTime": "yesterday"});
    let reply = app
        .send(
            Method::POST,
            &envs(&format!("/{UAT}/point-in-time-restore")),
            &token,
            Some(bad),
        )
        .await;
    let message = assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidTimestamp");
    assert!(!message.is_empty());
}

#[tokio::test]
async fn the_portal_can_copy_a_sandbox_to_production_which_the_api_refuses() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    let lcs = D365::default(&app).await;
    assert_eq!(lcs.refresh(UAT, PROD).await["IsSuccess"], json!(false));
    let (status, _) = app
        .send(
            Method::POST,
            &envs(&format!("/{PROD}/refresh")),
            &token,
            Some(json!({"sourceEnvironmentId": UAT})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn projects_and_members() {
    let app = lcs_app().await;
    let token = admin(&app).await;
    let (status, project) = app
        .send(
            Method::POST,
            "/_portal/lcs/projects",
            &token,
            Some(json!({"name": "Fabrikam rollout"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let id = project["id"].as_u64().unwrap();
    assert_eq!(project["members"][0]["role"], json!("Project owner"));
    app.post(
        &format!("/_sim/tenants/{DEFAULT_TENANT}/users"),
        json!({"upn": "ops@contoso.test"}),
    )
    .await;
    let (status, project) = app
        .send(
            Method::POST,
            &format!("/_portal/lcs/projects/{id}/members"),
            &token,
            Some(json!({"upn": "ops@contoso.test", "role": "Environment manager"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{project}");
    let ops = app.user_token(DEFAULT_TENANT, "ops@contoso.test").await;
    let (_, list) = app
        .send(Method::GET, "/_portal/lcs/projects", &ops, None)
        .await;
    assert_eq!(list["projects"].as_array().unwrap().len(), 1);
    // Environment managers may not manage members.
    let reply = app
        .send(
            Method::POST,
            &format!("/_portal/lcs/projects/{id}/members"),
            &ops,
            Some(json!({"upn": "ops@contoso.test", "role": "Project owner"})),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "ProjectAccessDenied");
}

#[tokio::test]
async fn duration_overrides_make_an_operation_take_exactly_what_is_asked() {
    let app = lcs_app().await;
    let (status, list) = app
        .client
        .put(app.url(&format!(
            "/_sim/tenants/{DEFAULT_TENANT}/durations/lcs.databaseRefresh"
        )))
        .json(&json!({"duration": "75m"}))
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list[0]["kind"], json!("lcs.databaseRefresh"));
    let lcs = D365::default(&app).await;
    let activity = lcs.refresh(PROD, UAT).await["OperationActivityId"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance("74m").await;
    assert_ne!(
        lcs.db_status(UAT, &activity).await["OperationStatus"],
        json!("Completed")
    );
    app.advance("1m").await;
    assert_eq!(
        lcs.db_status(UAT, &activity).await["OperationStatus"],
        json!("Completed")
    );
    let r = app
        .client
        .put(app.url(&format!(
            "/_sim/tenants/{DEFAULT_TENANT}/durations/lcs.nothing"
        )))
        .json(&json!({"duration": "1m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_lcs_run() {
    async fn run() -> (Vec<String>, String) {
        let app = lcs_app().await;
        let lcs = D365::default(&app).await;
        let activity = lcs.refresh(PROD, UAT).await["OperationActivityId"]
            .as_str()
            .unwrap()
            .to_string();
        let ends: Vec<String> = lcs
            .wait_db(UAT, &activity, "10m")
            .await
            .iter()
            .map(|s| s["OperationStatus"].as_str().unwrap().to_string())
            .collect();
        (ends, activity)
    }
    assert_eq!(run().await, run().await);
}
