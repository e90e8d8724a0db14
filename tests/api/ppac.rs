//! The Power Platform admin APIs (BAP and the Power Platform API) as real clients drive them:
//! environments, the lifecycle-operation polling protocol, rules, capacity accounting and
//! application packages.

use super::helpers::{Answer, DEFAULT_TENANT, TestApp, builder, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const P: &str = "/providers/Microsoft.BusinessAppPlatform";
const V: &str = "api-version=2023-06-01";

struct Pp {
    app: TestApp,
    token: String,
}

impl Pp {
    async fn new() -> Pp {
        Pp::with(json!({"domain": "fabrikam.test"})).await
    }

    /// A fresh tenant from `spec`, signed in as its first user.
    async fn with(spec: Value) -> Pp {
        let app = spawn_with(builder()).await;
        let tenant = app.create_tenant(spec).await;
        let id = tenant["id"].as_str().unwrap().to_string();
        let upn = tenant["users"][0]["upn"].as_str().unwrap().to_string();
        let token = app.user_token(&id, &upn).await;
        Pp { app, token }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.app.call(&self.token, method, path, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Creates a sandbox (or other type) with Dataverse and waits for it; returns its id.
    async fn environment(&self, name: &str, sku: &str, location: &str) -> String {
        let a = self
            .post(
                &format!("{P}/environments?{V}"),
                json!({"location": location, "properties": {"displayName": name, "environmentSku": sku,
                       "databaseType": "CommonDataService",
                       "linkedEnvironmentMetadata": {"domainName": name.to_lowercase(), "baseLanguage": 1033, "currency": {"code": "USD"}}}}),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        let id = a.body["name"].as_str().unwrap().to_string();
        self.app.advance("15m").await;
        let e = self
            .get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
            .await;
        assert_eq!(
            e.body["properties"]["provisioningState"], "Succeeded",
            "{}",
            e.body
        );
        id
    }

    /// Sets an environment's description with a BAP PATCH (the 2021-04-01 version the
    /// PowerShell module sends).
    async fn describe(&self, id: &str, description: &str) -> Answer {
        self.call(
            Method::PATCH,
            &format!("{P}/scopes/admin/environments/{id}?api-version=2021-04-01"),
            Some(json!({"properties": {"description": description}})),
        )
        .await
    }

    /// Polls a Location URL once.
    async fn poll(&self, answer: &Answer) -> Answer {
        let url = answer.location();
        self.get(&url).await
    }
}

fn bap_error(a: &Answer, status: StatusCode, code: &str) -> String {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    a.body["error"]["message"].as_str().unwrap().to_string()
}

fn disallowed(env: &Value, op: &str) -> Option<Value> {
    env["properties"]["lifecycleOperationsEnforcement"]["disallowedOperations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"]["id"] == op)
        .map(|d| d["reason"].clone())
}

#[tokio::test]
async fn every_tenant_starts_with_its_default_environment_and_capacity_shows_only_when_expanded() {
    let pp = Pp::new().await;
    let list = pp.get(&format!("{P}/scopes/admin/environments?{V}")).await;
    assert_eq!(list.status, StatusCode::OK);
    let envs = list.body["value"].as_array().unwrap();
    assert_eq!(envs.len(), 1);
    let d = &envs[0];
    assert!(d["name"].as_str().unwrap().starts_with("Default-"));
    assert_eq!(d["properties"]["isDefault"], true);
    assert_eq!(d["properties"]["environmentSku"], "Default");
    assert!(d["properties"].get("capacity").is_none());
    assert_eq!(
        disallowed(d, "Delete").unwrap()["type"],
        "EnvironmentSkuType"
    );

    for expand in [
        "properties.capacity",
        "properties/capacity,properties/addons",
    ] {
        let one = pp
            .get(&format!(
                "{P}/scopes/admin/environments/{}?{V}&$expand={expand}",
                d["name"].as_str().unwrap()
            ))
            .await;
        let cap = one.body["properties"]["capacity"].as_array().unwrap();
        assert_eq!(cap[0]["capacityType"], "Database");
        assert_eq!(cap[0]["actualConsumption"], 1024.0);
    }
    let missing = pp
        .get(&format!(
            "{P}/scopes/admin/environments/00000000-0000-0000-0000-0000000000ff?{V}"
        ))
        .await;
    let message = bap_error(&missing, StatusCode::NOT_FOUND, "EnvironmentNotFound");
    assert!(
        message.contains("could not be found in the tenant"),
        "{message}"
    );
}

#[tokio::test]
async fn create_answers_202_with_location_and_polls_report_running_then_succeeded() {
    let pp = Pp::new().await;
    let a = pp
        .post(
            &format!("{P}/environments?{V}"),
            json!({"location": "europe", "properties": {"displayName": "Fabrikam UAT", "environmentSku": "Sandbox",
                   "databaseType": "CommonDataService",
                   "linkedEnvironmentMetadata": {"domainName": "fabrikam-uat", "baseLanguage": "1033", "currency": {"code": "EUR"}}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let url = a.location();
    assert!(
        url.starts_with(pp.app.sim.uri()),
        "absolute on the simulator: {url}"
    );
    assert!(url.contains("/lifecycleOperations/") && url.ends_with("api-version=2023-06-01"));
    assert_eq!(a.headers["operation-location"].to_str().unwrap(), url);
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(a.body["properties"]["provisioningState"], "Creating");

    let running = pp.poll(&a).await;
    assert_eq!(running.status, StatusCode::OK);
    assert_eq!(running.body["state"]["id"], "Running");
    assert_eq!(running.body["type"]["id"], "Create");
    let retry: u64 = running.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let stages: Vec<&str> = running.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["Validate", "Prepare", "Run", "Finalize"]);

    pp.app.advance("10m").await;
    let done = pp.poll(&a).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["state"]["id"], "Succeeded");
    assert!(!done.headers.contains_key("retry-after"));
    let env_path = done.body["links"]["environment"]["path"].as_str().unwrap();
    let id = env_path.rsplit('/').next().unwrap();
    let env = pp
        .get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
        .await;
    let meta = &env.body["properties"]["linkedEnvironmentMetadata"];
    assert_eq!(
        meta["instanceUrl"],
        "https://fabrikam-uat.crm4.dynamics.com/"
    );
    assert_eq!(
        env.body["properties"]["states"]["management"]["id"],
        "Ready"
    );
    assert_eq!(env.body["properties"]["azureRegion"], "westeurope");
}

#[tokio::test]
async fn old_api_versions_poll_with_202_while_running_as_the_powershell_module_expects() {
    let pp = Pp::new().await;
    let a = pp
        .post(&format!("{P}/environments?api-version=2019-05-01"), json!({"location": "unitedstates", "properties": {"displayName": "No DB", "environmentSku": "Production"}}))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert_eq!(pp.poll(&a).await.status, StatusCode::ACCEPTED);
    pp.app.advance("1m").await;
    let done = pp.poll(&a).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["state"]["id"], "Succeeded");
}

#[tokio::test]
async fn a_running_operation_blocks_other_mutations_and_delete_gets_an_empty_409() {
    let pp = Pp::new().await;
    let a = pp
        .post(&format!("{P}/environments?{V}"), json!({"location": "unitedstates", "properties": {"displayName": "Busy", "environmentSku": "Sandbox", "databaseType": "CommonDataService"}}))
        .await;
    let id = a.body["name"].as_str().unwrap().to_string();
    let patch = pp.describe(&id, "x").await;
    let message = bap_error(&patch, StatusCode::CONFLICT, "OperationNotStartable");
    assert!(message.contains("active lifecycle operation"), "{message}");
    let delete = pp
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{id}?{V}"),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::CONFLICT);
    assert_eq!(delete.body, Value::Null);
    let (_, journal) = pp.app.get("/_sim/journal").await;
    let entry = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["method"] == "DELETE")
        .unwrap();
    assert_eq!(entry["status"], 409);
    assert_eq!(
        entry["errorCode"], "OperationNotStartable",
        "the journal still names the error"
    );
    pp.app.advance("15m").await;
    let patch = pp.describe(&id, "x").await;
    assert_eq!(patch.status, StatusCode::ACCEPTED, "{}", patch.body);
    pp.app.advance("1m").await;
    let same = pp.describe(&id, "x").await;
    assert_eq!(same.status, StatusCode::NO_CONTENT, "nothing to change");
}

#[tokio::test]
async fn capacity_is_accounted_create_needs_one_free_gigabyte_and_delete_frees_it() {
    let pp = Pp::with(json!({"domain": "small.test", "capacity": {"databaseMb": 2048}})).await;
    let cap = || async {
        pp.get("/licensing/tenantCapacity?api-version=2022-03-01-preview")
            .await
            .body
    };
    let before = cap().await;
    assert_eq!(before["tenantCapacities"][0]["capacityType"], "Database");
    assert_eq!(before["tenantCapacities"][0]["totalCapacity"], 2048.0);
    assert_eq!(
        before["tenantCapacities"][0]["consumption"]["actual"],
        1024.0
    );

    let id = pp.environment("First", "Sandbox", "unitedstates").await;
    assert_eq!(
        cap().await["tenantCapacities"][0]["consumption"]["actual"],
        2048.0
    );
    let env = pp
        .get(&format!(
            "{P}/scopes/admin/environments/{id}?{V}&$expand=properties.capacity"
        ))
        .await;
    assert_eq!(
        env.body["properties"]["capacity"][0]["actualConsumption"],
        1024.0
    );

    let refused = pp
        .post(&format!("{P}/environments?{V}"), json!({"location": "unitedstates", "properties": {"displayName": "Second", "environmentSku": "Sandbox"}}))
        .await;
    let message = bap_error(
        &refused,
        StatusCode::CONFLICT,
        "InsufficientCapacity_StorageDriven",
    );
    assert!(
        message.contains("at least 1 GB") && message.contains("0 MB"),
        "{message}"
    );

    let del = pp
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{id}?{V}"),
            Some(json!({"code": "7", "message": "Deleted"})),
        )
        .await;
    assert_eq!(del.status, StatusCode::ACCEPTED, "{}", del.body);
    pp.app.advance("10m").await;
    assert_eq!(
        cap().await["tenantCapacities"][0]["consumption"]["actual"],
        1024.0
    );
    let again = pp
        .post(&format!("{P}/environments?{V}"), json!({"location": "unitedstates", "properties": {"displayName": "Second", "environmentSku": "Sandbox"}}))
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
}

#[tokio::test]
async fn delete_is_refused_for_the_default_environment_and_soft_deletes_others_for_seven_days() {
    let pp = Pp::new().await;
    let default = format!(
        "Default-{}",
        pp.get(&format!("{P}/tenant?api-version=2020-08-01"))
            .await
            .body["tenantId"]
            .as_str()
            .unwrap()
    );
    let check = pp
        .post(
            &format!(
                "{P}/scopes/admin/environments/{default}/validateDelete?api-version=2021-04-01"
            ),
            json!({}),
        )
        .await;
    assert_eq!(check.body["canInitiateDelete"], false);
    assert_eq!(
        check.body["errors"][0]["code"],
        "LifecycleOperationNotAllowed"
    );
    let refused = pp
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{default}?{V}"),
            None,
        )
        .await;
    bap_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "LifecycleOperationNotAllowed",
    );

    let id = pp.environment("Gone", "Sandbox", "unitedstates").await;
    let check = pp
        .post(
            &format!("{P}/scopes/admin/environments/{id}/validateDelete?api-version=2021-04-01"),
            json!({}),
        )
        .await;
    assert_eq!(check.body["canInitiateDelete"], true);
    assert_eq!(
        check.body["resourcesToBeDeleted"].as_array().unwrap().len(),
        2
    );
    let del = pp
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{id}?{V}"),
            None,
        )
        .await;
    assert_eq!(pp.poll(&del).await.body["state"]["id"], "Running");
    pp.app.advance("10m").await;
    assert_eq!(
        pp.poll(&del).await.status,
        StatusCode::NOT_FOUND,
        "polling an operation of a deleted environment"
    );
    assert_eq!(
        pp.get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let deleted = pp
        .get(&format!(
            "{P}/scopes/admin/deletedEnvironments?api-version=2019-05-01"
        ))
        .await;
    assert_eq!(deleted.body["value"][0]["name"], id.as_str());

    let domain = pp
        .post(
            &format!("{P}/validateEnvironmentDetails?api-version=2021-04-01"),
            json!({"domainName": "gone", "environmentLocation": "unitedstates"}),
        )
        .await;
    bap_error(&domain, StatusCode::BAD_REQUEST, "DomainNameInUse");
    let bad = pp
        .post(
            &format!("{P}/validateEnvironmentDetails?api-version=2021-04-01"),
            json!({"domainName": "-bad-"}),
        )
        .await;
    bap_error(&bad, StatusCode::BAD_REQUEST, "InvalidDomainName");

    let rec = pp
        .post(
            &format!("{P}/scopes/admin/deletedEnvironments/{id}/recover?api-version=2019-05-01"),
            json!({}),
        )
        .await;
    assert_eq!(rec.status, StatusCode::ACCEPTED, "{}", rec.body);
    pp.app.advance("10m").await;
    assert_eq!(
        pp.get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
            .await
            .status,
        StatusCode::OK
    );

    let del = pp
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{id}?{V}"),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::ACCEPTED);
    pp.app.advance("8d").await;
    let deleted = pp
        .get(&format!(
            "{P}/scopes/admin/deletedEnvironments?api-version=2019-05-01"
        ))
        .await;
    assert_eq!(
        deleted.body["value"],
        json!([]),
        "gone after the recovery window"
    );
    let free = pp
        .post(
            &format!("{P}/validateEnvironmentDetails?api-version=2021-04-01"),
            json!({"domainName": "gone"}),
        )
        .await;
    assert_eq!(
        free.status,
        StatusCode::OK,
        "domain reusable after 24 h: {}",
        free.body
    );
}

#[tokio::test]
async fn copy_backup_and_restore_target_sandboxes_in_one_region_and_leave_them_in_admin_mode() {
    let pp = Pp::new().await;
    let source = pp.environment("Source", "Production", "europe").await;
    let target = pp.environment("Target", "Sandbox", "europe").await;
    let far = pp.environment("Far", "Sandbox", "unitedstates").await;

    let backup = pp
        .post(
            &format!("{P}/environments/{source}/backups?api-version=2019-05-01"),
            json!({"Label": "before go-live", "Notes": "n"}),
        )
        .await;
    assert_eq!(backup.status, StatusCode::OK, "{}", backup.body);
    let list = pp
        .get(&format!(
            "{P}/environments/{source}/backups?api-version=2019-05-01"
        ))
        .await;
    assert_eq!(list.body["value"][0]["label"], "before go-live");
    assert!(list.body["value"][0]["backupPointDateTime"].is_string());

    let into_prod = pp
        .post(
            &format!("{P}/environments/{source}/copyTo?api-version=2021-04-01"),
            json!({"SourceEnvironmentId": target, "CopyType": "FullCopy"}),
        )
        .await;
    bap_error(
        &into_prod,
        StatusCode::BAD_REQUEST,
        "TargetEnvironmentMustBeSandbox",
    );
    let across = pp
        .post(
            &format!("{P}/environments/{far}/copyTo?api-version=2021-04-01"),
            json!({"SourceEnvironmentId": source, "CopyType": "FullCopy"}),
        )
        .await;
    assert!(
        bap_error(
            &across,
            StatusCode::BAD_REQUEST,
            "LifecycleOperationNotAllowed"
        )
        .contains("region")
    );

    let copy = pp
        .post(&format!("{P}/environments/{target}/copyTo?api-version=2021-04-01"), json!({"SourceEnvironmentId": source, "TargetEnvironmentName": "Copied", "CopyType": "MinimalCopy", "SkipAuditData": true}))
        .await;
    assert_eq!(copy.status, StatusCode::ACCEPTED, "{}", copy.body);
    assert!(copy.headers.contains_key("operation-location"));
    assert_eq!(pp.poll(&copy).await.body["type"]["id"], "Copy");
    pp.app.advance("5h").await;
    assert_eq!(pp.poll(&copy).await.body["state"]["id"], "Succeeded");
    let t = pp
        .get(&format!("{P}/scopes/admin/environments/{target}?{V}"))
        .await
        .body;
    assert_eq!(t["properties"]["displayName"], "Copied");
    assert_eq!(t["properties"]["states"]["runtime"]["id"], "AdminMode");
    assert_eq!(
        t["properties"]["linkedEnvironmentMetadata"]["backgroundOperationsState"],
        "Disabled"
    );
    assert_eq!(
        t["properties"]["linkedEnvironmentMetadata"]["domainName"], "target",
        "the target keeps its URL"
    );

    let restore = pp
        .post(&format!("{P}/environments/{target}/restoreTo?api-version=2019-05-01"), json!({"SourceEnvironmentId": source, "RestorePointDateTime": "2000-01-01 10:30:00", "TargetEnvironmentName": "Restored"}))
        .await;
    bap_error(&restore, StatusCode::NOT_FOUND, "BackupNotFound");
    let restore = pp
        .post(
            &format!("{P}/environments/{target}/restoreTo?api-version=2019-05-01"),
            json!({"SourceEnvironmentId": source, "TargetEnvironmentName": "Restored"}),
        )
        .await;
    assert_eq!(restore.status, StatusCode::ACCEPTED, "{}", restore.body);
    pp.app.advance("5h").await;
    let t = pp
        .get(&format!("{P}/scopes/admin/environments/{target}?{V}"))
        .await
        .body;
    assert_eq!(t["properties"]["displayName"], "Restored");
}

#[tokio::test]
async fn reset_only_on_sandboxes_and_convert_changes_what_is_allowed() {
    let pp = Pp::new().await;
    let id = pp.environment("Flip", "Sandbox", "unitedstates").await;
    let reset = pp.post(&format!("{P}/environments/{id}/reset?api-version=2019-05-01"), json!({"FriendlyName": "Fresh", "DomainName": "fresh", "BaseLanguageCode": 1033, "Currency": {"Code": "USD"}, "Templates": []})).await;
    assert_eq!(reset.status, StatusCode::ACCEPTED, "{}", reset.body);
    pp.app.advance("1h").await;
    let e = pp
        .get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
        .await
        .body;
    assert_eq!(e["properties"]["displayName"], "Fresh");
    assert_eq!(
        e["properties"]["linkedEnvironmentMetadata"]["domainName"],
        "fresh"
    );

    let sku = pp
        .post(
            &format!("{P}/scopes/admin/environments/{id}/modifySku?api-version=2021-04-01"),
            json!({"environmentSku": "Production"}),
        )
        .await;
    assert_eq!(sku.status, StatusCode::ACCEPTED, "{}", sku.body);
    assert!(sku.headers.contains_key("operation-location"));
    pp.app.advance("10m").await;
    let e = pp
        .get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
        .await
        .body;
    assert_eq!(e["properties"]["environmentSku"], "Production");
    assert_eq!(
        disallowed(&e, "Reset").unwrap()["type"],
        "EnvironmentSkuType"
    );
    let refused = pp
        .post(
            &format!("{P}/environments/{id}/reset?api-version=2019-05-01"),
            json!({}),
        )
        .await;
    bap_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "LifecycleOperationNotAllowed",
    );
    let same = pp
        .post(
            &format!("{P}/scopes/admin/environments/{id}/modifySku?api-version=2021-04-01"),
            json!({"environmentSku": "Production"}),
        )
        .await;
    bap_error(
        &same,
        StatusCode::BAD_REQUEST,
        "LifecycleOperationNotAllowed",
    );
}

#[tokio::test]
async fn restricted_creation_needs_an_admin_role_and_the_tenant_setting_is_the_same_switch() {
    let pp = Pp::with(json!({"domain": "gov.test", "users": [
        {"upn": "admin@gov.test", "roles": ["Global admin"], "licenses": []},
        {"upn": "maker@gov.test", "roles": [], "licenses": []}]}))
    .await;
    let tenant = pp
        .get(&format!("{P}/tenant?api-version=2020-08-01"))
        .await
        .body["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let maker = pp.app.user_token(&tenant, "maker@gov.test").await;
    let set = pp
        .post(
            &format!("{P}/scopes/admin/updateTenantSettings?{V}"),
            json!({"DisableEnvironmentCreationByNonAdminUsers": true}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["disableEnvironmentCreationByNonAdminUsers"], true);
    let (_, t) = pp.app.get(&format!("/_sim/tenants/{tenant}")).await;
    assert_eq!(
        t["governance"]["restrictEnvironmentCreationToAdmins"], true,
        "{t}"
    );

    let body = json!({"location": "unitedstates", "properties": {"displayName": "Mine", "environmentSku": "Sandbox"}});
    let refused = pp
        .app
        .call(
            &maker,
            Method::POST,
            &format!("{P}/environments?{V}"),
            Some(body.clone()),
        )
        .await;
    bap_error(
        &refused,
        StatusCode::FORBIDDEN,
        "EnvironmentCreationRestricted",
    );
    let by_admin = pp
        .post(&format!("{P}/environments?{V}"), body.clone())
        .await;
    assert_eq!(by_admin.status, StatusCode::ACCEPTED);
    let settings = pp
        .post(&format!("{P}/listTenantSettings?{V}"), json!({}))
        .await;
    assert_eq!(
        settings.body["disableEnvironmentCreationByNonAdminUsers"],
        true
    );
    assert!(settings.body["powerPlatform"]["governance"].is_object());
    let unknown = pp
        .post(
            &format!("{P}/scopes/admin/updateTenantSettings?{V}"),
            json!({"noSuchSetting": true}),
        )
        .await;
    bap_error(&unknown, StatusCode::BAD_REQUEST, "InvalidRequestContent");
    let by_maker = pp
        .app
        .call(
            &maker,
            Method::POST,
            &format!("{P}/scopes/admin/updateTenantSettings?{V}"),
            Some(json!({"walkMeOptOut": true})),
        )
        .await;
    bap_error(&by_maker, StatusCode::FORBIDDEN, "Forbidden");
}

#[tokio::test]
async fn templates_needing_a_dynamics_licence_are_disabled_and_refused() {
    let pp = Pp::new().await;
    let templates = pp
        .get(&format!("{P}/locations/unitedstates/templates?{V}"))
        .await
        .body;
    let sales = templates["production"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "D365_Sales")
        .unwrap();
    assert_eq!(sales["properties"]["isDisabled"], true);
    assert_eq!(
        sales["properties"]["disabledReason"]["code"],
        "DynamicsEntitlementMissing"
    );
    let finance = templates["sandbox"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "D365_FinOps_Finance")
        .unwrap();
    assert_eq!(
        finance["properties"]["isDisabled"], false,
        "the default admin holds the Unified Operations Plan"
    );
    let refused = pp
        .post(&format!("{P}/environments?{V}"), json!({"location": "unitedstates", "properties": {"displayName": "Sales", "environmentSku": "Production",
               "linkedEnvironmentMetadata": {"templates": ["D365_Sales"]}}}))
        .await;
    let message = bap_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "DynamicsEntitlementMissing",
    );
    assert!(message.contains("Sales Enterprise"), "{message}");
    let locations = pp.get(&format!("{P}/locations?{V}")).await.body;
    assert!(
        locations["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "europe")
    );
    let cur = pp
        .get(&format!("{P}/locations/europe/environmentCurrencies?{V}"))
        .await
        .body;
    assert!(
        cur["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "EUR")
    );
    let lang = pp
        .get(&format!("{P}/locations/europe/environmentLanguages?{V}"))
        .await
        .body;
    assert_eq!(lang["value"][0]["properties"]["localeId"], 1033);
}

#[tokio::test]
async fn bodies_bind_case_insensitively_and_bad_ones_get_the_invalid_request_content_envelope() {
    let pp = Pp::new().await;
    let a = pp
        .post(&format!("{P}/environments?api-version=2021-04-01"), json!({"Location": "unitedstates", "Properties": {"DisplayName": "Pascal", "EnvironmentSku": "sandbox"}}))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let unknown = pp
        .post(&format!("{P}/environments?{V}"), json!({"location": "unitedstates", "properties": {"displayName": "X", "environmentSku": "Sandbox", "colour": "red"}}))
        .await;
    let message = bap_error(&unknown, StatusCode::BAD_REQUEST, "InvalidRequestContent");
    assert!(
        message.contains("Could not find member 'colour'"),
        "{message}"
    );
    let url = pp.app.url(&format!("{P}/environments?{V}"));
    let raw = pp
        .app
        .client
        .post(url)
        .bearer_auth(&pp.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidRequestContent");
    let unknown_version = pp
        .get(&format!(
            "{P}/scopes/admin/environments?api-version=1999-01-01"
        ))
        .await;
    assert_eq!(unknown_version.status, StatusCode::OK);
}

// ---- Power Platform API ----

/// The domain names fields neutrally; the Power Platform API's flat body names them as it spells
/// them, so a field error points at a field the caller sent.
#[tokio::test]
async fn a_power_platform_api_create_names_a_bad_field_as_that_api_spells_it() {
    let pp = Pp::new().await;
    let create = "/environmentmanagement/provisioning/environments?api-version=2024-10-01";
    let field_errors = |body: &Value| {
        let mut keys: Vec<String> = body["errorDetail"]["fieldErrors"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let nameless = pp
        .post(
            create,
            json!({"displayName": " ", "environmentSku": "Sandbox", "location": "europe"}),
        )
        .await;
    assert_eq!(
        nameless.status,
        StatusCode::BAD_REQUEST,
        "{}",
        nameless.body
    );
    assert_eq!(field_errors(&nameless.body), ["displayName"]);
    let skuless = pp
        .post(
            create,
            json!({"displayName": "No type", "location": "europe"}),
        )
        .await;
    assert_eq!(field_errors(&skuless.body), ["environmentSku"]);
    let far = pp
        .post(
            create,
            json!({"displayName": "Far", "environmentSku": "Sandbox", "location": "europe",
                             "azureRegion": "eastus"}),
        )
        .await;
    assert_eq!(field_errors(&far.body), ["azureRegion"]);
    let template = pp
        .post(
            create,
            json!({"displayName": "Templated", "environmentSku": "Sandbox", "location": "europe",
                             "linkedEnvironmentMetadata": {"templates": ["No_Such_App"]}}),
        )
        .await;
    assert_eq!(
        template.status,
        StatusCode::BAD_REQUEST,
        "{}",
        template.body
    );
    assert_eq!(
        field_errors(&template.body),
        ["linkedEnvironmentMetadata.templates"]
    );
    let language = pp
        .post(
            create,
            json!({"displayName": "Klingon", "environmentSku": "Sandbox", "location": "europe",
                             "linkedEnvironmentMetadata": {"baseLanguageCode": 9999}}),
        )
        .await;
    assert_eq!(
        language.status,
        StatusCode::BAD_REQUEST,
        "{}",
        language.body
    );
    assert_eq!(
        field_errors(&language.body),
        ["linkedEnvironmentMetadata.baseLanguageCode"]
    );
}

#[tokio::test]
async fn power_platform_api_lists_provisions_and_polls_with_operation_execution_results() {
    let pp = Pp::new().await;
    let list = pp
        .get("/environmentmanagement/environments?api-version=2022-03-01-preview")
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["value"][0]["type"], "Default");

    let a = pp
        .post("/environmentmanagement/provisioning/environments?api-version=2024-10-01",
              json!({"displayName": "Api Sandbox", "environmentSku": "Sandbox", "location": "europe", "databaseType": "CommonDataService",
                     "linkedEnvironmentMetadata": {"domainName": "api-sandbox", "baseLanguageCode": 1033, "currency": {"code": "EUR"}}}))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert_eq!(a.body["status"], "InProgress");
    assert_eq!(a.body["name"], "Create");
    let url = a.headers["operation-location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(url.contains("/environmentmanagement/environments/") && url.contains("/operations/"));
    let running = pp.get(&url).await;
    assert_eq!(running.status, StatusCode::OK);
    assert!(running.headers.contains_key("retry-after"));
    pp.app.advance("15m").await;
    let done = pp.get(&url).await;
    assert_eq!(done.body["status"], "Succeeded");
    assert_eq!(done.body["stageStatuses"][3]["status"], "Succeeded");
    let id = done.body["updatedEnvironment"]["environmentId"]
        .as_str()
        .unwrap()
        .to_string();
    let same = pp
        .get(&format!(
            "/environmentmanagement/operations/{}?api-version=2024-10-01",
            a.body["operationId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(same.body["status"], "Succeeded");
    let env = pp
        .get(&format!(
            "/environmentmanagement/environments/{id}?api-version=2024-10-01"
        ))
        .await
        .body;
    assert_eq!(env["type"], "Sandbox");
    assert_eq!(env["url"], "https://api-sandbox.crm4.dynamics.com/");
    assert_eq!(env["state"], "Ready");

    let conflict = pp
        .post(
            &format!("/environmentmanagement/environments/{id}/modifySku?api-version=2024-10-01"),
            json!({"environmentSku": "Sandbox"}),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        conflict.body["errorDetail"]["code"],
        "LifecycleOperationNotAllowed"
    );
    let del = pp
        .call(
            Method::DELETE,
            &format!("/environmentmanagement/environments/{id}?api-version=2024-10-01"),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::ACCEPTED);
    let again = pp
        .call(
            Method::DELETE,
            &format!("/environmentmanagement/environments/{id}?api-version=2024-10-01"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["errorDetail"]["code"], "OperationNotStartable");
    let ops = pp
        .get(&format!(
            "/environmentmanagement/environments/{id}/operations?api-version=2024-10-01"
        ))
        .await;
    assert_eq!(ops.body["collection"][0]["name"], "Delete");
}

#[tokio::test]
async fn application_packages_install_as_operations_and_platform_tools_come_first() {
    let pp = Pp::new().await;
    let id = pp.environment("Apps", "Sandbox", "unitedstates").await;
    let catalogue = pp
        .get("/appmanagement/applicationPackages?api-version=2022-03-01-preview")
        .await
        .body;
    assert!(
        catalogue["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["uniqueName"] == "msprov_fnouploadersolution")
    );

    let path = |name: &str| {
        format!(
            "/appmanagement/environments/{id}/applicationPackages/{name}/install?api-version=2022-03-01-preview"
        )
    };
    let early = pp
        .post(
            &path("msdyn_FinanceAndOperationsProvisioningAppAnchor"),
            json!({}),
        )
        .await;
    assert_eq!(early.status, StatusCode::ACCEPTED, "{}", early.body);
    let url = early.headers["operation-location"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        early.body["lastOperation"]["operationId"].as_str().unwrap(),
        url.split("/operations/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
    );
    pp.app.advance("1m").await;
    let failed = pp.get(&url).await.body;
    assert_eq!(failed["status"], "Failed");
    assert!(
        failed["statusMessage"]
            .as_str()
            .unwrap()
            .contains("Platform Tools application before"),
        "{failed}"
    );

    let tools = pp
        .post(&path("msprov_fnouploadersolution"), json!({}))
        .await;
    let url = tools.headers["operation-location"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(pp.get(&url).await.body["status"], "Running");
    pp.app.advance("15m").await;
    assert_eq!(pp.get(&url).await.body["status"], "Succeeded");
    let installed = pp.get(&format!("/appmanagement/environments/{id}/applicationPackages?appInstallState=Installed&api-version=2022-03-01-preview")).await.body;
    let names: Vec<&str> = installed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["uniqueName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["msprov_fnouploadersolution"]);
    let unknown = pp.post(&path("NoSuchPackage"), json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "PackageNotFound");
}

#[tokio::test]
async fn the_default_tenant_is_served_without_a_token_under_auth_none() {
    let app = spawn_with(builder().auth(lifecycle_sim::AuthMode::None)).await;
    let (status, body) = app.get(&format!("{P}/scopes/admin/environments?{V}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"][0]["properties"]["tenantId"], DEFAULT_TENANT);
}

#[tokio::test]
async fn the_remaining_routes_answer_in_their_real_shapes() {
    let pp = Pp::new().await;
    let tenant = pp
        .get(&format!("{P}/tenant?api-version=2020-08-01"))
        .await
        .body["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    // BAP: add Dataverse to an environment without one; its poll carries the environment.
    let a = pp.post(&format!("{P}/environments?{V}"), json!({"location": "unitedstates", "properties": {"displayName": "Bare", "environmentSku": "Sandbox"}})).await;
    let bare = a.body["name"].as_str().unwrap().to_string();
    pp.app.advance("1m").await;
    let add = pp
        .post(
            &format!("{P}/environments/{bare}/provisionInstance?api-version=2021-04-01"),
            json!({"baseLanguage": 1033, "domainName": "bare", "currency": {"code": "USD"}}),
        )
        .await;
    assert_eq!(add.status, StatusCode::ACCEPTED, "{}", add.body);
    let poll = pp.poll(&add).await.body;
    assert_eq!(
        poll["properties"]["provisioningState"],
        "LinkedDatabaseProvisioning"
    );
    pp.app.advance("10m").await;
    assert_eq!(
        pp.poll(&add).await.body["properties"]["provisioningState"],
        "Succeeded"
    );
    let ops = pp
        .get(&format!(
            "{P}/lifecycleOperations?api-version=2024-05-01&$filter=environment eq '{bare}'"
        ))
        .await
        .body;
    let types: Vec<&str> = ops["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Provision", "Create"], "newest first");

    // BAP backups can be deleted.
    let b = pp
        .post(
            &format!("{P}/environments/{bare}/backups?api-version=2019-05-01"),
            json!({"label": "x"}),
        )
        .await
        .body;
    let del = pp
        .call(
            Method::DELETE,
            &format!(
                "{P}/environments/{bare}/backups/{}?api-version=2019-05-01",
                b["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let again = pp
        .call(
            Method::DELETE,
            &format!(
                "{P}/environments/{bare}/backups/{}?api-version=2019-05-01",
                b["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    bap_error(&again, StatusCode::NOT_FOUND, "BackupNotFound");

    // Power Platform API: link, candidates, backups, recover, catalogues, legacy capacity.
    let em = "/environmentmanagement";
    let q = "api-version=2024-10-01";
    let a = pp.post(&format!("{em}/provisioning/environments?{q}"), json!({"displayName": "Second bare", "environmentSku": "Sandbox", "location": "unitedstates"})).await;
    let id = a.body["updatedEnvironment"]["environmentId"]
        .as_str()
        .unwrap()
        .to_string();
    pp.app.advance("1m").await;
    let link = pp
        .call(
            Method::PATCH,
            &format!("{em}/provisioning/environments/{id}/link?{q}"),
            Some(json!({"domainName": "second", "baseLanguageCode": 1033})),
        )
        .await;
    assert_eq!(link.status, StatusCode::ACCEPTED, "{}", link.body);
    pp.app.advance("10m").await;
    let candidates = pp
        .get(&format!("{em}/environments/{id}/copyCandidates?{q}"))
        .await
        .body;
    let names: Vec<&str> = candidates["collection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Bare"],
        "same geography, with Dataverse, not the default"
    );
    assert_eq!(
        pp.get(&format!("{em}/environments/{id}/restoreCandidates?{q}"))
            .await
            .body["collection"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let backup = pp
        .post(
            &format!("{em}/environments/{id}/backups?{q}"),
            json!({"label": "api"}),
        )
        .await;
    assert_eq!(backup.status, StatusCode::CREATED);
    let gone = pp
        .call(
            Method::DELETE,
            &format!(
                "{em}/environments/{id}/backups/{}?{q}",
                backup.body["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    pp.call(Method::DELETE, &format!("{em}/environments/{id}?{q}"), None)
        .await;
    pp.app.advance("10m").await;
    let rec = pp
        .post(&format!("{em}/environments/{id}/recover?{q}"), json!({}))
        .await;
    assert_eq!(rec.status, StatusCode::ACCEPTED, "{}", rec.body);
    pp.app.advance("10m").await;
    assert_eq!(
        pp.get(&format!("{em}/environments/{id}?{q}")).await.body["state"],
        "Ready"
    );

    let locations = pp
        .get(&format!("{em}/provisioning/locations?{q}"))
        .await
        .body;
    assert!(
        locations["collection"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "europe")
    );
    assert!(
        pp.get(&format!(
            "{em}/provisioning/locations/europe/currencies?{q}"
        ))
        .await
        .body["collection"][0]["code"]
            .is_string()
    );
    assert_eq!(
        pp.get(&format!("{em}/provisioning/locations/europe/languages?{q}"))
            .await
            .body["collection"][0]["localeId"],
        1033
    );
    let templates = pp
        .get(&format!("{em}/provisioning/locations/europe/templates?{q}"))
        .await
        .body;
    let sales = templates["collection"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "D365_Sales")
        .unwrap();
    assert_eq!(
        sales["availability"][0]["disabledReason"]["code"],
        "DynamicsEntitlementMissing"
    );
    let unknown = pp
        .get(&format!(
            "{em}/provisioning/locations/atlantis/currencies?{q}"
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let field = &unknown.body["errorDetail"]["fieldErrors"]["location"]["errorMessages"][0];
    assert!(
        field.as_str().unwrap().contains("atlantis"),
        "{}",
        unknown.body
    );
    let legacy = pp
        .get(&format!(
            "/licensing/v0.1-alpha/tenants/{tenant}/TenantCapacity"
        ))
        .await
        .body;
    let current = pp
        .get("/licensing/tenantCapacity?api-version=2022-03-01-preview")
        .await
        .body;
    assert_eq!(legacy["tenantCapacities"], current["tenantCapacities"]);
}

#[tokio::test]
async fn retry_after_is_the_virtual_time_left_in_real_seconds_at_the_clock_scale() {
    for (scale, low, high) in [(1.0, 17, 25), (10.0, 2, 3)] {
        let app = spawn_with(
            lifecycle_sim::Simulator::builder()
                .seed(7)
                .time_scale(scale)
                .auth(lifecycle_sim::AuthMode::None),
        )
        .await;
        let url = app.url(&format!("{P}/environments?{V}"));
        let body = json!({"location": "unitedstates", "properties": {"displayName": "Quick", "environmentSku": "Sandbox"}});
        let a = app.client.post(url).json(&body).send().await.unwrap();
        assert_eq!(a.status(), StatusCode::ACCEPTED);
        let retry: u64 = a.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (low..=high).contains(&retry),
            "scale {scale}: Retry-After {retry} not in {low}..={high}"
        );
    }
}

#[tokio::test]
async fn copy_and_restore_need_capacity_and_the_default_environment_is_never_a_source() {
    let pp = Pp::with(json!({"domain": "tight.test", "capacity": {"databaseMb": 3072}})).await;
    let default = format!(
        "Default-{}",
        pp.get(&format!("{P}/tenant?api-version=2020-08-01"))
            .await
            .body["tenantId"]
            .as_str()
            .unwrap()
    );
    let a = pp.environment("Alpha", "Sandbox", "unitedstates").await;
    let b = pp.environment("Beta", "Sandbox", "unitedstates").await;
    let from_default = pp
        .post(
            &format!("{P}/environments/{b}/copyTo?api-version=2021-04-01"),
            json!({"SourceEnvironmentId": default}),
        )
        .await;
    assert!(
        bap_error(
            &from_default,
            StatusCode::BAD_REQUEST,
            "LifecycleOperationNotAllowed"
        )
        .contains("Default")
    );
    let backup = pp
        .post(
            &format!("{P}/environments/{a}/backups?api-version=2019-05-01"),
            json!({"Label": "week"}),
        )
        .await
        .body;
    let point: jiff::Timestamp = backup["backupPointDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expiry: jiff::Timestamp = backup["backupExpiryDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        expiry.duration_since(point),
        jiff::SignedDuration::from_hours(7 * 24),
        "sandbox backups are kept 7 days"
    );
    let no_backup_of_default = pp
        .post(
            &format!("{P}/environments/{default}/backups?api-version=2019-05-01"),
            json!({"Label": "x"}),
        )
        .await;
    bap_error(
        &no_backup_of_default,
        StatusCode::BAD_REQUEST,
        "LifecycleOperationNotAllowed",
    );
    // 3 GB total, 3 GB used: no room for a copy or a restore.
    let copy = pp
        .post(
            &format!("{P}/environments/{b}/copyTo?api-version=2021-04-01"),
            json!({"SourceEnvironmentId": a}),
        )
        .await;
    bap_error(
        &copy,
        StatusCode::CONFLICT,
        "InsufficientCapacity_StorageDriven",
    );
    let restore = pp
        .post(
            &format!("{P}/environments/{b}/restoreTo?api-version=2019-05-01"),
            json!({"SourceEnvironmentId": a}),
        )
        .await;
    bap_error(
        &restore,
        StatusCode::CONFLICT,
        "InsufficientCapacity_StorageDriven",
    );
    let (status, _) = pp
        .app
        .patch(
            &format!(
                "/_sim/tenants/{}/capacity",
                default.trim_start_matches("Default-")
            ),
            json!({"databaseMb": 4096}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let copy = pp
        .post(
            &format!("{P}/environments/{b}/copyTo?api-version=2021-04-01"),
            json!({"SourceEnvironmentId": a}),
        )
        .await;
    assert_eq!(copy.status, StatusCode::ACCEPTED, "{}", copy.body);
}

#[tokio::test]
async fn non_admins_see_the_default_environment_and_their_own_only() {
    let pp = Pp::with(json!({"domain": "mixed.test", "users": [
        {"upn": "admin@mixed.test", "roles": ["Power Platform admin"], "licenses": []},
        {"upn": "maker@mixed.test", "roles": [], "licenses": []}]}))
    .await;
    let tenant = pp
        .get(&format!("{P}/tenant?api-version=2020-08-01"))
        .await
        .body["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let maker = pp.app.user_token(&tenant, "maker@mixed.test").await;
    let admins = pp
        .environment("AdminOwned", "Sandbox", "unitedstates")
        .await;
    let body = json!({"location": "unitedstates", "properties": {"displayName": "MakerOwned", "environmentSku": "Sandbox"}});
    let mine = pp
        .app
        .call(
            &maker,
            Method::POST,
            &format!("{P}/environments?{V}"),
            Some(body),
        )
        .await;
    assert_eq!(mine.status, StatusCode::ACCEPTED, "{}", mine.body);
    let list = pp
        .app
        .call(
            &maker,
            Method::GET,
            &format!("{P}/scopes/admin/environments?{V}"),
            None,
        )
        .await
        .body;
    let mut names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["displayName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["MakerOwned", "mixed.test (default)"]);
    let hidden = pp
        .app
        .call(
            &maker,
            Method::GET,
            &format!("{P}/scopes/admin/environments/{admins}?{V}"),
            None,
        )
        .await;
    bap_error(&hidden, StatusCode::NOT_FOUND, "EnvironmentNotFound");
    let all = pp
        .get(&format!("{P}/scopes/admin/environments?{V}"))
        .await
        .body;
    assert_eq!(
        all["value"].as_array().unwrap().len(),
        3,
        "admins see every environment"
    );

    let (_, t) = pp.app.get(&format!("/_sim/tenants/{tenant}")).await;
    assert_eq!(
        t["powerPlatformEnvironments"].as_array().unwrap().len(),
        3,
        "{t}"
    );
    assert_eq!(
        t["capacityUsed"]["databaseMb"], 2048.0,
        "the maker's environment has no Dataverse: {t}"
    );
}

#[tokio::test]
async fn a_finance_and_operations_template_makes_a_unified_environment_that_cannot_be_reset() {
    let pp = Pp::new().await;
    let a = pp
        .post(&format!("{P}/environments?{V}"), json!({"location": "europe", "properties": {"displayName": "Unified", "environmentSku": "Sandbox",
               "databaseType": "CommonDataService",
               "linkedEnvironmentMetadata": {"domainName": "unified", "templates": ["D365_FinOps_Finance"],
                   "templateMetadata": {"PostProvisioningPackages": [{"applicationUniqueName": "msdyn_FinanceAndOperationsProvisioningAppAnchor", "parameters": "DevToolsEnabled=true|DemoDataEnabled=true"}]}}}}))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let id = a.body["name"].as_str().unwrap().to_string();
    pp.app.advance("30m").await;
    assert_eq!(
        pp.poll(&a).await.body["state"]["id"],
        "Running",
        "finance and operations take about an hour"
    );
    pp.app.advance("1h").await;
    assert_eq!(pp.poll(&a).await.body["state"]["id"], "Succeeded");
    let env = pp
        .get(&format!("{P}/scopes/admin/environments/{id}?{V}"))
        .await
        .body;
    assert_eq!(env["properties"]["linkedAppMetadata"]["type"], "Internal");
    assert_eq!(
        env["properties"]["linkedAppMetadata"]["url"],
        "https://unified.operations.eu.dynamics.com/"
    );
    assert_eq!(disallowed(&env, "Reset").unwrap()["type"], "FinOpsLinked");
    let apps = pp.get(&format!("/appmanagement/environments/{id}/applicationPackages?appInstallState=Installed&api-version=2022-03-01-preview")).await.body;
    assert_eq!(
        apps["value"].as_array().unwrap().len(),
        2,
        "platform tools and the provisioning app"
    );
    let reset = pp
        .post(
            &format!("{P}/environments/{id}/reset?api-version=2019-05-01"),
            json!({}),
        )
        .await;
    bap_error(
        &reset,
        StatusCode::BAD_REQUEST,
        "LifecycleOperationNotAllowed",
    );
}

#[tokio::test]
async fn the_power_platform_api_pages_environments_with_top_skip_and_next_links() {
    let pp = Pp::new().await;
    let mut made = Vec::new();
    for i in 0..5 {
        let a = pp
            .post(
                &format!("{P}/environments?{V}"),
                json!({"location": "unitedstates", "properties": {"displayName": format!("Paged {i}"), "environmentSku": "Sandbox"}}),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        made.push(a.body["name"].as_str().unwrap().to_string());
    }
    pp.app.advance("15m").await;
    // A deleted environment leaves the list, and the pages close over its place.
    let gone = pp
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{}?{V}", made[1]),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::ACCEPTED, "{}", gone.body);
    pp.app.advance("1h").await;
    let list = "/environmentmanagement/environments?api-version=2022-03-01-preview";
    let whole = pp.get(list).await;
    let ids = |page: &Value| -> Vec<String> {
        page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(&whole.body);
    assert_eq!(
        all.len(),
        5,
        "the default environment and four of the five: {all:?}"
    );
    assert!(!all.contains(&made[1]));
    assert!(
        whole.body.get("@odata.nextlink").is_none(),
        "an unpaged list has no link"
    );

    let mut seen = Vec::new();
    let mut next = Some(format!("{list}&$top=2"));
    let mut pages = 0;
    while let Some(url) = next {
        let page = pp.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(ids(&page.body));
        pages += 1;
        next = page.body["@odata.nextlink"].as_str().map(|link| {
            assert!(
                link.contains("$top=2") && link.contains("$skiptoken="),
                "{link}"
            );
            link[link.find("/environmentmanagement").unwrap()..].to_string()
        });
    }
    assert_eq!(
        (pages, &seen),
        (3, &all),
        "pages of 2, 2 and 1 in list order"
    );

    let skipped = pp.get(&format!("{list}&$skip=1&$top=2")).await;
    assert_eq!(ids(&skipped.body), all[1..3]);
    let none = pp.get(&format!("{list}&$top=0")).await;
    assert_eq!(
        (ids(&none.body).len(), none.body.get("@odata.nextlink")),
        (0, None)
    );
    for bad in ["$top=-1", "$skip=x", "$skiptoken=abc"] {
        let refused = pp.get(&format!("{list}&{bad}")).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.body
        );
        let value = bad.split('=').nth(1).unwrap();
        assert!(
            refused
                .body
                .to_string()
                .contains(&format!("'{value}' is not")),
            "{}",
            refused.body
        );
    }
}

#[tokio::test]
async fn the_whole_bap_list_streams_in_parts_that_join_into_one_answer() {
    // 1,201 environments cross two part boundaries (500 each).
    let app = spawn_with(builder()).await;
    let id = "5ca1e000-0000-4000-8000-000000000009";
    let world = lifecycle_sim::generate::World {
        tenant: id.into(),
        domain: "parts.test".into(),
        environments: 1200,
        dataverse: false,
        fo_environments: 0,
    };
    let (status, body) = app
        .post_raw(
            "/_sim/scenarios",
            &lifecycle_sim::generate::scenario(&world),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = app.user_token(id, "admin@parts.test").await;
    let whole = app
        .call(
            &token,
            Method::GET,
            &format!("{P}/scopes/admin/environments?{V}"),
            None,
        )
        .await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(
        !whole.headers.contains_key("content-length"),
        "a long list is chunked"
    );
    assert_eq!(whole.headers["content-type"], "application/json");
    let names: Vec<&str> = whole.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 1201);
    let expected: Vec<String> = (0..1200).map(|i| format!("S{i}")).collect();
    assert_eq!(
        names[1..],
        expected,
        "every environment once, in creation order"
    );

    let default = Pp::new().await;
    let one = default
        .get(&format!("{P}/scopes/admin/environments?{V}"))
        .await;
    assert!(
        one.headers.contains_key("content-length"),
        "a list of one part has a length"
    );
    assert_eq!(one.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_environment_rendered_once_per_change_moves_with_the_clock_and_shows_every_change() {
    let pp = Pp::new().await;
    let id = pp.environment("Kept", "Sandbox", "unitedstates").await;
    let one = format!("{P}/scopes/admin/environments/{id}?{V}");
    let list = format!("{P}/scopes/admin/environments?{V}");
    // What the kept rendering shows must be what a fresh one (an `$expand`ed answer, never
    // kept) shows, less the expanded member.
    let fresh = || async {
        let mut e = pp
            .get(&format!("{one}&$expand=properties.addons"))
            .await
            .body;
        e["properties"].as_object_mut().unwrap().remove("addons");
        e
    };
    let listed = || async {
        pp.get(&list).await.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == id.as_str())
            .cloned()
            .unwrap()
    };
    let backups =
        |e: &Value| e["properties"]["retentionDetails"]["backupsAvailableFromDateTime"].clone();
    let first = pp.get(&one).await.body;
    assert_eq!(pp.get(&one).await.body, first, "the same answer again");
    assert_eq!(first, fresh().await);
    assert_eq!(listed().await, first);

    // Ten days on (no change to the tenant), the backups window has moved: 7 days back from now.
    pp.app.advance("10d").await;
    let later = pp.get(&one).await.body;
    assert_ne!(backups(&later), backups(&first));
    assert_eq!(later, fresh().await);
    assert_eq!(listed().await, later);
    let now: jiff::Timestamp = pp.app.get("/_sim/clock").await.1["now"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = now - jiff::SignedDuration::from_hours(24 * 7);
    let shown: jiff::Timestamp = backups(&later).as_str().unwrap().parse().unwrap();
    assert_eq!(shown, expected);

    // A change shows at once, in the single answer and in the list.
    let patch = pp.describe(&id, "changed").await;
    assert_eq!(patch.status, StatusCode::ACCEPTED, "{}", patch.body);
    pp.app.advance("1m").await;
    let changed = pp.get(&one).await.body;
    assert_eq!(changed["properties"]["description"], "changed");
    assert_eq!(changed, fresh().await);
    assert_eq!(listed().await, changed);
}
