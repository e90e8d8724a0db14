//! The LCS public API as d365fo.tools drives it: token, database movement, environment info,
//! start/stop, throttles and the envelope.

use super::d365fo::{ADMIN, D365, DEV, PROD, PROJECT, UAT};
use super::helpers::{DEFAULT_TENANT, TestApp, builder, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A simulator without the LCS throttles (tests of the throttles turn them on).
pub async fn lcs_app() -> TestApp {
    spawn_with(builder().configure(|c| c.lcs_throttling = false)).await
}

async fn throttled_app() -> TestApp {
    spawn_with(builder()).await
}

fn refused(answer: &Value) -> String {
    assert_eq!(answer["IsSuccess"], json!(false), "{answer}");
    assert_eq!(answer["VersionEOL"], json!("9999-12-31T23:59:59.9999999"));
    assert!(answer["OperationActivityId"].is_string());
    answer["ErrorMessage"].as_str().unwrap().to_string()
}

fn accepted(answer: &Value) -> String {
    assert_eq!(answer["IsSuccess"], json!(true), "{answer}");
    assert_eq!(answer["ErrorMessage"], Value::Null);
    answer["OperationActivityId"].as_str().unwrap().to_string()
}

/// Environment details from the portal view.
async fn details(app: &TestApp, token: &str, env: &str) -> Value {
    let (status, body) = app
        .send(
            Method::GET,
            &format!("/_portal/lcs/projects/{PROJECT}/environments/{env}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn the_token_endpoint_echoes_the_resource_that_becomes_the_api_base() {
    let app = lcs_app().await;
    let base = format!("{}/", app.sim.uri());
    // A user who configured the base URL with a trailing slash: d365fo.tools then builds
    // "$LcsApiUri/databasemovement/…" with a double slash, which must still work.
    let lcs = D365::connect(&app, ADMIN, &base, PROJECT).await;
    assert_eq!(lcs.api, base);
    let answer = lcs.backups().await;
    assert_eq!(answer["IsSuccess"], json!(true), "{answer}");
    assert_eq!(answer["DatabaseAssets"], json!([]));
}

#[tokio::test]
async fn a_refresh_token_keeps_the_api_base_even_with_an_empty_resource() {
    let app = lcs_app().await;
    let uri = app.sim.uri().to_string();
    let form = [
        ("resource", uri.as_str()),
        ("grant_type", "password"),
        ("client_id", "6f8a6e6e-1111-4222-8333-944444444444"),
        ("username", ADMIN),
        ("password", "secret"),
        ("scope", "openid"),
    ];
    let (_, first) = app.token("common", "v1", &form).await;
    // Invoke-D365LcsApiRefreshToken always sends `resource`, empty on a refresh.
    let refresh = [
        ("resource", ""),
        ("grant_type", "refresh_token"),
        ("client_id", "6f8a6e6e-1111-4222-8333-944444444444"),
        ("refresh_token", first["refresh_token"].as_str().unwrap()),
    ];
    let (status, second) = app.token("common", "v1", &refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["resource"], json!(uri));
    assert!(
        second["expires_on"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    let url = format!("{uri}/environmentinfo/v1/detail/project/{PROJECT}");
    let r = app
        .client
        .get(url)
        .bearer_auth(second["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn history_pages_through_many_operations_newest_first() {
    let app = lcs_app().await;
    for kind in ["lcs.start", "lcs.stop"] {
        let r = app
            .client
            .put(app.url(&format!("/_sim/tenants/{DEFAULT_TENANT}/durations/{kind}")))
            .json(&json!({"duration": "1m"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let lcs = D365::default(&app).await;
    for _ in 0..12 {
        accepted(&lcs.start_stop("stop", DEV).await);
        app.advance("1m").await;
        accepted(&lcs.start_stop("start", DEV).await);
        app.advance("1m").await;
    }
    let first = lcs.history(DEV, 1).await;
    assert_eq!(first["ResultHasMorePages"], json!(true));
    assert_eq!(first["Data"].as_array().unwrap().len(), 20);
    assert_eq!(first["Data"][0]["Type"], json!("Start"));
    assert_eq!(first["Data"][0]["Status"], json!("Completed"));
    let second = lcs.history(DEV, 2).await;
    assert_eq!(second["ResultPageCurrent"], json!(2));
    assert_eq!(second["ResultHasMorePages"], json!(false));
    assert_eq!(second["Data"].as_array().unwrap().len(), 4);
    assert_eq!(second["Data"][3]["Type"], json!("Stop"));
    assert_eq!(
        second["Data"][3]["StartDateTimeUTC"],
        json!("2026-01-01T09:00:00.000")
    );
    assert_eq!(
        second["Data"][3]["EndDateTimeUTC"],
        json!("2026-01-01T09:01:00.000")
    );
}

#[tokio::test]
async fn metadata_describes_the_environments_with_the_real_fields() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let answer = lcs.metadata("").await;
    assert_eq!(answer["ResultPageCurrent"], json!(1));
    assert_eq!(answer["ResultHasMorePages"], json!(false));
    let data = answer["Data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let prod = &data[0];
    assert_eq!(prod["EnvironmentId"], json!(PROD));
    assert_eq!(prod["EnvironmentName"], json!("Contoso-PROD"));
    assert_eq!(prod["ProjectId"], json!(PROJECT));
    assert_eq!(prod["EnvironmentType"], json!("Production"));
    assert_eq!(prod["EnvironmentInfrastructure"], json!("MicrosoftManaged"));
    assert_eq!(
        prod["EnvironmentEndpointBaseUrl"],
        json!("https://contoso-prod.operations.dynamics.com/")
    );
    assert_eq!(prod["DeploymentState"], json!("Finished"));
    assert_eq!(prod["DeploymentStatusDisplay"], json!("Deployed"));
    assert_eq!(prod["CurrentApplicationReleaseName"], json!("10.0.45"));
    assert_eq!(prod["CurrentPlatformReleaseName"], json!("Update69"));
    assert_eq!(prod["CloudStorageLocation"], json!("East US"));
    assert_eq!(prod["DisasterRecoveryLocation"], json!("West US"));
    assert_eq!(prod["DeployedOnUTC"], json!("1/1/2026 9:00 AM"));
    assert_eq!(
        (prod["CanStart"].clone(), prod["CanStop"].clone()),
        (json!(false), json!(false))
    );
    let dev = &data[2];
    assert_eq!(dev["EnvironmentInfrastructure"], json!("CustomerManaged"));
    assert!(
        dev["EnvironmentEndpointBaseUrl"]
            .as_str()
            .unwrap()
            .ends_with("devaos.cloudax.dynamics.com/")
    );
    assert_eq!(dev["CanStop"], json!(true));

    // Filters, with the slash before '?' and an undashed, upper-case id.
    let undashed = UAT.replace('-', "").to_uppercase();
    let by_id = lcs.metadata(&format!("/?environmentId={undashed}")).await;
    assert_eq!(by_id["Data"].as_array().unwrap().len(), 1);
    assert_eq!(by_id["Data"][0]["EnvironmentName"], json!("Contoso-UAT"));
    let by_name = lcs.metadata("/?environmentName=contoso-dev").await;
    assert_eq!(by_name["Data"][0]["EnvironmentId"], json!(DEV));
    let none = lcs.metadata("/?environmentName=nope").await;
    assert_eq!(none["Data"], json!([]));
}

#[tokio::test]
async fn metadata_pages_through_many_environments_like_traverse_all_pages() {
    let app = lcs_app().await;
    let environments: Vec<Value> = (0..45)
        .map(|i| json!({"name": format!("Box{i:02}"), "type": "DevTestDev"}))
        .collect();
    let tenant = app
        .create_tenant(json!({
            "domain": "paging.test",
            "projects": [{"id": 7_654_321, "name": "Big", "environments": environments}]
        }))
        .await;
    assert_eq!(
        tenant["lcsProjects"][0]["environments"]
            .as_array()
            .unwrap()
            .len(),
        45
    );
    let uri = app.sim.uri().to_string();
    let lcs = D365::connect(&app, "admin@paging.test", &uri, 7_654_321).await;
    let page2 = lcs.metadata("/?page=2").await;
    assert_eq!(page2["ResultPageCurrent"], json!(2));
    assert_eq!(page2["ResultHasMorePages"], json!(true));
    assert_eq!(page2["Data"][0]["EnvironmentName"], json!("Box20"));
    let (all, calls) = lcs.metadata_all().await;
    assert_eq!(calls, 3);
    let names: Vec<&str> = all
        .iter()
        .map(|e| e["EnvironmentName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 45);
    assert_eq!(names[44], "Box44");
    let past = lcs.metadata("/?page=9").await;
    assert_eq!(
        (past["Data"].clone(), past["ResultHasMorePages"].clone()),
        (json!([]), json!(false))
    );
    let bad = lcs.metadata("/?page=zero").await;
    assert!(refused(&bad).contains("page"));
}

#[tokio::test]
async fn metadata_throttles_at_six_calls_per_project_per_minute_and_the_client_waits() {
    let app = throttled_app().await;
    let lcs = D365::default(&app).await;
    for _ in 0..6 {
        lcs.metadata("").await;
    }
    assert_eq!(lcs.throttled.get(), 0);
    // The 7th call in the same virtual minute: 429 + Retry-After, then the retry succeeds.
    let url = format!("{}/environmentinfo/v1/detail/project/{PROJECT}", lcs.api);
    let raw = app
        .client
        .get(&url)
        .bearer_auth(&lcs.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(raw.headers()["retry-after"], "60");
    assert!(raw.headers().contains_key("activity-id"));
    let body: Value = raw.json().await.unwrap();
    assert!(refused(&body).contains("6 calls per project per minute"));
    let answer = lcs.metadata("").await;
    assert_eq!(answer["IsSuccess"], json!(true));
    assert_eq!((lcs.throttled.get(), lcs.waited.get()), (1, 60));
}

#[tokio::test]
async fn history_is_throttled_per_project_across_environments() {
    let app = throttled_app().await;
    let lcs = D365::default(&app).await;
    for env in [UAT, UAT, UAT, PROD, PROD, DEV] {
        lcs.history(env, 1).await;
    }
    assert_eq!(lcs.throttled.get(), 0);
    // A 7th call within the minute, on any environment of the project, waits out the minute.
    lcs.history(DEV, 1).await;
    assert_eq!((lcs.throttled.get(), lcs.waited.get()), (1, 60));
}

#[tokio::test]
async fn throttles_can_be_switched_off() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    for _ in 0..20 {
        lcs.metadata("").await;
    }
    assert_eq!(lcs.throttled.get(), 0);
}

#[tokio::test]
async fn a_refresh_runs_through_the_real_statuses_and_leaves_the_target_with_the_source_data() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let undashed_prod = PROD.replace('-', "");
    let activity = accepted(&lcs.refresh(&undashed_prod, UAT).await);

    // Invoke-D365LcsDatabaseRefresh then polls the target with a 60 s sleep.
    let first = lcs.wait_db(UAT, &activity, "1m").await;
    let statuses: Vec<&str> = first
        .iter()
        .map(|s| s["OperationStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "NotStarted");
    assert!(statuses.contains(&"InProgress"));
    assert_eq!(*statuses.last().unwrap(), "Completed");
    let done = first.last().unwrap();
    assert_eq!(done["ActivityId"], json!(activity));
    assert_ne!(
        done["OperationActivityId"],
        json!(activity),
        "per-request id, not the activity"
    );
    assert_eq!(done["EnvironmentId"], json!(UAT));
    assert_eq!(done["ProjectId"], json!(PROJECT));
    assert!(
        done["CompletionDate"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T")
    );
    let minutes = first.len();
    assert!(
        (80..=210).contains(&minutes),
        "a refresh takes realistic hours, took {minutes} min"
    );

    let token = app.user_token(DEFAULT_TENANT, ADMIN).await;
    let uat = details(&app, &token, UAT).await;
    assert_eq!(uat["database"]["origin"], json!("refresh"));
    assert_eq!(
        uat["database"]["sourceEnvironmentName"],
        json!("Contoso-PROD")
    );
    assert_eq!(uat["database"]["sizeGb"], json!(45));
    let history = lcs.history(UAT, 1).await;
    assert_eq!(history["Data"][0]["Type"], json!("SFSourceDbToSandbox"));
    assert_eq!(history["Data"][0]["TypeDisplay"], json!("Refresh database"));
    assert_eq!(history["Data"][0]["Status"], json!("Completed"));
    assert_eq!(
        history["Data"][0]["ActivityId"],
        json!(activity.replace('-', ""))
    );
}

#[tokio::test]
async fn a_refresh_takes_the_target_offline_while_it_runs() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let activity = accepted(&lcs.refresh(PROD, UAT).await);
    app.advance("30m").await;
    let uat = &lcs.metadata(&format!("/?environmentId={UAT}")).await["Data"][0];
    assert_eq!(uat["DeploymentStatusDisplay"], json!("Servicing"));
    assert_eq!(uat["DeploymentState"], json!("InProgress"));
    // The busy target refuses another operation, naming the running one.
    let again = refused(&lcs.refresh(PROD, UAT).await);
    assert!(
        again.contains("undergoing another operation") && again.contains(&activity),
        "{again}"
    );
    app.advance("4h").await;
    let uat = &lcs.metadata(&format!("/?environmentId={UAT}")).await["Data"][0];
    assert_eq!(uat["DeploymentStatusDisplay"], json!("Deployed"));
}

#[tokio::test]
async fn refresh_rules_refuse_with_200_and_a_message() {
    let app = lcs_app().await;
    let tenant = app
        .create_tenant(json!({
            "domain": "rules.test",
            "projects": [{"id": 2_000_001, "name": "Rules", "environments": [
                {"name": "PROD", "type": "Production"},
                {"name": "UAT", "type": "Sandbox"},
                {"name": "UAT-EU", "type": "Sandbox", "region": "West Europe"},
                {"name": "UAT-OLD", "type": "Sandbox", "version": "10.0.44"},
                {"name": "DEV", "type": "DevTestDev"}
            ]}]
        }))
        .await;
    let ids: Vec<String> = tenant["lcsProjects"][0]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let (prod, uat, uat_eu, uat_old, dev) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    let uri = app.sim.uri().to_string();
    let lcs = D365::connect(&app, "admin@rules.test", &uri, 2_000_001).await;

    assert!(refused(&lcs.refresh(uat, prod).await).contains("production"));
    assert!(refused(&lcs.refresh(dev, uat).await).contains("Tier-1"));
    assert!(refused(&lcs.refresh(prod, dev).await).contains("Tier-1"));
    assert!(refused(&lcs.refresh(prod, uat_eu).await).contains("same Azure region"));
    assert!(refused(&lcs.refresh(prod, uat_old).await).contains("application releases differ"));
    assert!(refused(&lcs.refresh(uat, uat).await).contains("same"));
    // Another tenant's environment: the cross-tenant rule, not a bare "not found".
    assert!(refused(&lcs.refresh(PROD, uat).await).contains("another tenant"));
    let unknown = "0b5e0000-0000-4000-8000-00000000dead";
    assert!(refused(&lcs.refresh(unknown, uat).await).contains("was not found"));
    assert!(refused(&lcs.refresh("not-a-guid", uat).await).contains("not an environment id"));
    // Nothing ran.
    let history = lcs.history(uat, 1).await;
    assert_eq!(history["Data"], json!([]));
    // Production to sandbox in the same region and release is fine.
    accepted(&lcs.refresh(prod, uat).await);
}

#[tokio::test]
async fn only_project_owners_and_environment_managers_may_call_the_api() {
    let app = lcs_app().await;
    app.create_tenant(json!({
        "domain": "members.test",
        "users": [{"upn": "owner@members.test"}, {"upn": "viewer@members.test"}, {"upn": "outsider@members.test"}],
        "projects": [{"id": 3_000_001, "name": "P", "members": [
            {"upn": "owner@members.test", "role": "Project owner"},
            {"upn": "viewer@members.test", "role": "Project team member"}
        ], "environments": [{"name": "UAT", "type": "Sandbox"}]}]
    }))
    .await;
    let uri = app.sim.uri().to_string();
    let owner = D365::connect(&app, "owner@members.test", &uri, 3_000_001).await;
    assert_eq!(owner.metadata("").await["IsSuccess"], json!(true));
    let viewer = D365::connect(&app, "viewer@members.test", &uri, 3_000_001).await;
    assert!(refused(&viewer.metadata("").await).contains("Project team member"));
    let outsider = D365::connect(&app, "outsider@members.test", &uri, 3_000_001).await;
    assert!(refused(&outsider.metadata("").await).contains("not a member"));
    let lost = D365::connect(&app, "owner@members.test", &uri, 999).await;
    assert!(refused(&lost.metadata("").await).contains("Project 999 was not found"));
}

#[tokio::test]
async fn three_database_operations_per_environment_per_day_then_the_documented_message() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    for _ in 0..3 {
        accepted(&lcs.refresh(PROD, UAT).await);
        app.advance("5h").await;
    }
    let message = refused(&lcs.refresh(PROD, UAT).await);
    // Now is 2026-01-02T00:00; the 24-hour window began a day earlier.
    assert_eq!(
        message,
        "Maximum allowed API operations are 3 from 2026-01-01T00:00:00.0000000"
    );
    // The export budget is the same environment's: also refused.
    assert!(
        refused(&lcs.export(UAT, "Backup").await)
            .starts_with("Maximum allowed API operations are 3")
    );
    // 24 h after the first one, a slot frees up.
    app.advance("9h").await;
    accepted(&lcs.refresh(PROD, UAT).await);
}

#[tokio::test]
async fn portal_database_operations_count_towards_the_budget_but_are_not_blocked() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let token = app.user_token(DEFAULT_TENANT, ADMIN).await;
    let path = format!("/_portal/lcs/projects/{PROJECT}/environments/{UAT}/refresh");
    for _ in 0..4 {
        let (status, body) = app
            .send(
                Method::POST,
                &path,
                &token,
                Some(json!({"sourceEnvironmentId": PROD})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        app.advance("5h").await;
    }
    assert!(refused(&lcs.refresh(PROD, UAT).await).starts_with("Maximum allowed API operations"));
}

#[tokio::test]
async fn an_export_lands_in_the_backup_list_with_a_downloadable_bacpac() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    let activity = accepted(&lcs.export(UAT, "BackupViaApi").await);
    let seen = lcs.wait_db(UAT, &activity, "5m").await;
    assert_eq!(seen.last().unwrap()["OperationStatus"], json!("Completed"));
    let backups = lcs.backups().await;
    let assets = backups["DatabaseAssets"].as_array().unwrap();
    assert_eq!(assets.len(), 1);
    let backup = &assets[0];
    assert_eq!(backup["Name"], json!("BackupViaApi"));
    assert_eq!(backup["FileName"], json!("BackupViaApi.bacpac"));
    assert_eq!(backup["ProjectId"], json!(PROJECT));
    let url = backup["FileLocation"].as_str().unwrap();
    assert!(
        url.contains("sp=r") && url.contains("sig=") && url.contains("se="),
        "{url}"
    );
    let (status, bytes) = lcs.download(url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.starts_with(b"PK\x03\x04"), "a bacpac is a zip");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("<Server>Contoso-UAT</Server>"));
    let history = lcs.history(UAT, 1).await;
    assert_eq!(history["Data"][0]["Type"], json!("SFExportSandboxDb"));
    // Also in the asset library as a database backup (type 17).
    let listed = lcs.assets(17).await;
    assert_eq!(listed[0]["Name"], json!("BackupViaApi"));
}

#[tokio::test]
async fn exports_come_only_from_sandboxes_of_at_most_50_gb() {
    let app = lcs_app().await;
    app.create_tenant(json!({
        "domain": "big.test",
        "projects": [{"id": 4_000_001, "name": "P", "environments": [
            {"name": "UAT-BIG", "type": "Sandbox", "databaseSizeGb": 60}
        ]}]
    }))
    .await;
    let lcs = D365::default(&app).await;
    assert!(refused(&lcs.export(PROD, "x").await).contains("only from sandbox"));
    assert!(refused(&lcs.export(DEV, "x").await).contains("only from sandbox"));
    let uri = app.sim.uri().to_string();
    let big = D365::connect(&app, "admin@big.test", &uri, 4_000_001).await;
    let env = big.metadata("").await["Data"][0]["EnvironmentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(refused(&big.export(&env, "x").await).contains("limited to 50 GB"));
}

#[tokio::test]
async fn start_and_stop_follow_the_documented_rules() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    // Microsoft-managed environments cannot be started or stopped through the API.
    assert!(refused(&lcs.start_stop("stop", UAT).await).contains("customer-managed"));
    // Start of a running environment succeeds and changes nothing.
    accepted(&lcs.start_stop("start", DEV).await);
    let stop = accepted(&lcs.start_stop("stop", DEV).await);
    let status = lcs.deploy_status(DEV, &stop).await;
    assert_eq!(status["OperationStatus"], json!("NotStarted"));
    app.advance("30m").await;
    let dev = &lcs.metadata(&format!("/?environmentId={DEV}")).await["Data"][0];
    assert_eq!(dev["DeploymentStatusDisplay"], json!("Stopped"));
    assert_eq!(dev["DeploymentState"], json!("Stopped"));
    assert_eq!(
        (dev["CanStart"].clone(), dev["CanStop"].clone()),
        (json!(true), json!(false))
    );
    // Stop of a stopped environment fails.
    assert!(refused(&lcs.start_stop("stop", DEV).await).contains("already stopped"));
    let start = accepted(&lcs.start_stop("start", DEV).await);
    app.advance("30m").await;
    assert_eq!(
        lcs.deploy_status(DEV, &start).await["OperationStatus"],
        json!("Completed")
    );
    let history = lcs.history(DEV, 1).await;
    let types: Vec<&str> = history["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["Type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Start", "Stop"]);
}

#[tokio::test]
async fn start_and_stop_are_throttled_once_per_environment_per_five_minutes() {
    let app = throttled_app().await;
    let lcs = D365::default(&app).await;
    accepted(&lcs.start_stop("stop", DEV).await);
    app.advance("2m").await;
    // d365fo.tools retries on 429 after Retry-After (the rest of the 5-minute window); by then
    // the stop has finished... or not, so the retry reports the environment's state.
    let url = format!(
        "{}/environment/v1/stop/project/{PROJECT}/environment/{DEV}",
        lcs.api
    );
    let raw = app
        .client
        .post(&url)
        .bearer_auth(&lcs.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(raw.headers()["retry-after"], "180");
    let answer = lcs.start_stop("stop", DEV).await;
    assert_eq!(lcs.waited.get(), 180);
    assert_eq!(answer["IsSuccess"], json!(false), "{answer}");
}

#[tokio::test]
async fn the_envelope_and_status_codes_match_lcs() {
    let app = lcs_app().await;
    let lcs = D365::default(&app).await;
    // No token, a bad token, an application token: 401.
    let url = format!(
        "{}/environmentinfo/v1/detail/project/{PROJECT}",
        app.sim.uri()
    );
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["Message"],
        json!("Authorization has been denied for this request.")
    );
    let r = app
        .client
        .get(&url)
        .bearer_auth("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let tenant: Value = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await.1;
    let app_form = [
        ("grant_type", "client_credentials"),
        (
            "client_id",
            tenant["applications"][0]["clientId"].as_str().unwrap(),
        ),
        (
            "client_secret",
            tenant["applications"][0]["clientSecret"].as_str().unwrap(),
        ),
        ("resource", "https://lcsapi.lcs.dynamics.com"),
    ];
    let app_token = app.token(DEFAULT_TENANT, "v1", &app_form).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client
        .get(&url)
        .bearer_auth(&app_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["MessageDetail"]
            .as_str()
            .unwrap()
            .contains("user tokens")
    );

    // POST without body or content type, and no x-ms-version: fine.
    let r = app
        .client
        .post(format!(
            "{}/environment/v1/start/project/{PROJECT}/environment/{DEV}",
            app.sim.uri()
        ))
        .bearer_auth(&lcs.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Old d365fo.tools put a double slash in the middle of the refresh path.
    let (status, body) = lcs
        .invoke(
            Method::POST,
            &format!(
                "{}/databasemovement/v1/refresh/project//{PROJECT}/source/{PROD}/target/{UAT}",
                lcs.api
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    accepted(&body);
    // An unknown LCS path is ASP.NET's 404.
    let (status, body) = lcs
        .invoke(
            Method::GET,
            &format!("{}/databasemovement/v1/nothing/here", lcs.api),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("No HTTP resource was found")
    );
    // A known path with the wrong method is ASP.NET's 405.
    let (status, body) = lcs
        .invoke(
            Method::PUT,
            &format!(
                "{}/databasemovement/v1/databases/project/{PROJECT}",
                lcs.api
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        body["Message"],
        json!("The requested resource does not support http method 'PUT'.")
    );
    // A non-numeric project id and an unknown activity: 200 with IsSuccess false.
    assert!(
        refused(
            &D365 {
                project: 0,
                ..D365::default(&app).await
            }
            .metadata("")
            .await
        )
        .contains("project")
    );
    let unknown = lcs
        .db_status(UAT, "6a90b45f-1764-4077-b924-3f4671540237")
        .await;
    assert!(refused(&unknown).contains("was not found for environment"));
}

#[tokio::test]
async fn rsat_download_returns_a_real_zip_and_is_throttled_per_minute() {
    let app = throttled_app().await;
    let lcs = D365::default(&app).await;
    let answer = lcs.rsat(UAT).await;
    let data = &answer["Data"];
    let file = data["Filename"].as_str().unwrap();
    assert!(
        file.starts_with("RSATCertificate_Contoso-UAT_") && file.ends_with(".zip"),
        "{file}"
    );
    use base64::Engine;
    let zip = base64::engine::general_purpose::STANDARD
        .decode(data["CertificateZipEncoded"].as_str().unwrap())
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with(".cer")) && names.iter().any(|n| n.ends_with(".pfx")),
        "{names:?}"
    );
    assert!(archive.by_index(0).is_ok());
    assert_eq!(data["CertificateThumbprint"].as_str().unwrap().len(), 40);
    assert!(
        data["ExpirationISODateTimeUTC"]
            .as_str()
            .unwrap()
            .starts_with("2027-01-01T09:00")
    );
    assert_eq!(
        data["ExpirationDateTimeUTC"],
        json!("Friday, January 1, 2027 9:00:00 AM")
    );
    let secret = data["CertificateSecretEncoded"].clone();
    // A second call within the minute waits (1 per environment per minute); the secret changes.
    let again = lcs.rsat(UAT).await;
    assert_eq!(lcs.throttled.get(), 1);
    assert_ne!(again["Data"]["CertificateSecretEncoded"], secret);
}
