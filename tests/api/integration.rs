//! Power Platform integration: the linked environment that spans LCS and PPAC, driven the way an
//! admin does it (LCS portal actions, PPAC through the BAP and Power Platform APIs, fixes through
//! the control plane) at the virtual moments that matter. The clock is paused; time only moves
//! when a test advances it.

use super::helpers::{Answer, TestApp, builder, spawn_with};
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const P: &str = "/providers/Microsoft.BusinessAppPlatform";
const V: &str = "api-version=2021-04-01";
const PROJECT: u64 = 7_000_001;
const UAT: &str = "0b0e0001-0000-4000-8000-000000000001";
const PROD: &str = "0b0e0001-0000-4000-8000-000000000002";
const DEV: &str = "0b0e0001-0000-4000-8000-000000000003";
const ADMIN: &str = "admin@northwind.test";
const FO_ADMIN: &str = "fo.admin@northwind.test";
const LICENSE: &str = "Dynamics 365 Unified Operations Plan";

struct Nw {
    app: TestApp,
    tenant: String,
    token: String,
}

/// Options of the test tenant.
struct Spec {
    fo_admin_licensed: bool,
    fo_admin_roles: Value,
    database_mb: u64,
    restricted: bool,
    with_prod: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            fo_admin_licensed: true,
            fo_admin_roles: json!([]),
            database_mb: 10_240,
            restricted: false,
            with_prod: true,
        }
    }
}

impl Nw {
    async fn new() -> Nw {
        Nw::with(Spec::default()).await
    }

    /// A tenant with the project: sandbox NW-UAT (administered by fo.admin), production NW-PROD
    /// and a dev box NW-DEV.
    async fn with(spec: Spec) -> Nw {
        let app = spawn_with(builder()).await;
        let licenses = if spec.fo_admin_licensed {
            json!([LICENSE])
        } else {
            json!([])
        };
        let mut envs = vec![
            json!({"id": UAT, "name": "NW-UAT", "type": "Sandbox", "administrator": FO_ADMIN}),
            json!({"id": DEV, "name": "NW-DEV", "type": "DevTestDev"}),
        ];
        if spec.with_prod {
            envs.push(json!({"id": PROD, "name": "NW-PROD", "type": "Production"}));
        }
        let tenant = app
            .create_tenant(json!({
                "domain": "northwind.test",
                "users": [
                    {"upn": ADMIN, "roles": ["Global admin"], "licenses": [LICENSE]},
                    {"upn": FO_ADMIN, "roles": spec.fo_admin_roles, "licenses": licenses}],
                "capacity": {"databaseMb": spec.database_mb},
                "governance": {"restrictEnvironmentCreationToAdmins": spec.restricted},
                "projects": [{"id": PROJECT, "name": "Northwind", "environments": envs}]}))
            .await;
        let id = tenant["id"].as_str().unwrap().to_string();
        let token = app.user_token(&id, ADMIN).await;
        Nw {
            app,
            tenant: id,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.app.call(&self.token, method, path, body).await
    }

    fn env(env: &str, rest: &str) -> String {
        format!("/_portal/lcs/projects/{PROJECT}/environments/{env}{rest}")
    }

    async fn portal(&self, method: Method, env: &str, rest: &str, body: Option<Value>) -> Answer {
        self.call(method, &Nw::env(env, rest), body).await
    }

    async fn details(&self, env: &str) -> Value {
        let a = self.portal(Method::GET, env, "", None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    async fn integration(&self, env: &str) -> Value {
        self.details(env).await["powerPlatformIntegration"].clone()
    }

    /// Starts setup (asserting 202) and returns the operation.
    async fn setup(&self, env: &str, body: Value) -> Value {
        let a = self
            .portal(Method::POST, env, "/power-platform-integration", Some(body))
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        assert!(a.headers.contains_key("location"));
        a.body
    }

    async fn resume(&self, env: &str) -> Answer {
        self.portal(
            Method::POST,
            env,
            "/power-platform-integration/resume",
            None,
        )
        .await
    }

    async fn advance_to(&self, at: &str) {
        let (status, body) = self
            .app
            .post("/_sim/clock/advance", json!({ "to": at }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn now(&self) -> Timestamp {
        let (_, clock) = self.app.get("/_sim/clock").await;
        clock["now"].as_str().unwrap().parse().unwrap()
    }

    /// A BAP environment as the admin sees it.
    async fn bap_env(&self, id: &str) -> Answer {
        self.call(
            Method::GET,
            &format!("{P}/scopes/admin/environments/{id}?{V}"),
            None,
        )
        .await
    }

    async fn bap_names(&self) -> Vec<String> {
        let list = self
            .call(
                Method::GET,
                &format!("{P}/scopes/admin/environments?{V}"),
                None,
            )
            .await;
        list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["properties"]["displayName"].as_str().unwrap().to_string())
            .collect()
    }

    async fn used_database_mb(&self) -> f64 {
        let (_, t) = self
            .app
            .get(&format!("/_sim/tenants/{}", self.tenant))
            .await;
        t["capacityUsed"]["databaseMb"].as_f64().unwrap()
    }

    async fn conceptual(&self) -> Value {
        let (status, view) = self
            .app
            .get(&format!("/_sim/tenants/{}/environments", self.tenant))
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        view
    }

    /// Sets up integration for `env` and lets it finish; returns the Dataverse environment id.
    async fn link_new(&self, env: &str) -> String {
        let op = self.setup(env, json!({"acceptTerms": true})).await;
        self.advance_to(op["endsAt"].as_str().unwrap()).await;
        let i = self.integration(env).await;
        assert_eq!(i["state"], "Completed", "{i}");
        i["dataverseEnvironmentId"].as_str().unwrap().to_string()
    }

    /// Creates a sandbox or production Dataverse environment through BAP.
    async fn dataverse(&self, name: &str, sku: &str) -> String {
        let a = self
            .call(
                Method::POST,
                &format!("{P}/environments?{V}"),
                Some(json!({"location": "unitedstates", "properties": {"displayName": name, "environmentSku": sku,
                    "linkedEnvironmentMetadata": {"domainName": name.to_lowercase(), "baseLanguage": 1033, "currency": {"code": "USD"}}}})),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        self.app.advance("15m").await;
        a.body["name"].as_str().unwrap().to_string()
    }

    async fn patch_user(&self, upn: &str, body: Value) {
        let (status, b) = self
            .app
            .patch(&format!("/_sim/tenants/{}/users/{upn}", self.tenant), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{b}");
    }
}

fn ts(v: &Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

fn span(op: &Value) -> SignedDuration {
    ts(&op["endsAt"]).duration_since(ts(&op["startedAt"]))
}

fn stage_names(op: &Value) -> Vec<String> {
    op["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn error(a: &Answer, status: StatusCode, code: &str) -> String {
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
async fn setup_provisions_a_linked_dataverse_environment_in_60_to_90_minutes() {
    let nw = Nw::new().await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "NotSetUp");
    assert_eq!(i["actions"], json!(["setup"]));
    assert_eq!(i["dualWrite"], "NotAvailable");
    let dev = nw.integration(DEV).await;
    assert_eq!(dev["actions"], json!([]));
    assert!(
        dev["unavailableReason"]
            .as_str()
            .unwrap()
            .contains("sandbox and production"),
        "{dev}"
    );

    // Terms first, then only sandbox and production.
    let no_terms = nw
        .portal(
            Method::POST,
            UAT,
            "/power-platform-integration",
            Some(json!({})),
        )
        .await;
    error(&no_terms, StatusCode::BAD_REQUEST, "TermsNotAccepted");
    assert_eq!(no_terms.body["error"]["target"], "acceptTerms");
    let on_dev = nw
        .portal(
            Method::POST,
            DEV,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true})),
        )
        .await;
    assert!(error(&on_dev, StatusCode::CONFLICT, "OperationNotAllowed").contains("DevTestDev"));
    let before = nw.used_database_mb().await;

    let op = nw.setup(UAT, json!({"acceptTerms": true})).await;
    assert_eq!(op["kind"], "powerPlatformIntegration.setup");
    assert_eq!(op["portal"], "lcs");
    assert_eq!(op["target"], json!({"type": "lcsEnvironment", "id": UAT}));
    assert_eq!(
        stage_names(&op),
        [
            "Validate prerequisites",
            "Reserve capacity",
            "Provision the Dataverse environment",
            "Install dual-write platform components",
            "Link the environments"
        ]
    );
    let total = span(&op);
    assert!(
        total >= SignedDuration::from_mins(60) && total <= SignedDuration::from_mins(90),
        "{total:#}"
    );

    // First minutes: being provisioned; nothing in PPAC yet.
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "Provisioning");
    assert!(
        i["statusMessage"]
            .as_str()
            .unwrap()
            .contains("being provisioned")
    );
    assert_eq!(i["actions"], json!([]));
    assert!(!nw.bap_names().await.contains(&"NW-UAT".to_string()));
    let again = nw
        .portal(
            Method::POST,
            UAT,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true})),
        )
        .await;
    error(
        &again,
        StatusCode::CONFLICT,
        "PowerPlatformIntegrationExists",
    );
    let early = nw.resume(UAT).await;
    assert!(error(&early, StatusCode::CONFLICT, "OperationNotResumable").contains("in progress"));

    // Once capacity is reserved: "Environment setup is in progress", the Dataverse environment
    // shows as provisioning in PPAC and holds its gigabyte.
    nw.app.advance("7m").await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "InProgress");
    assert_eq!(i["statusMessage"], "Environment setup is in progress");
    let dv = i["dataverseEnvironmentId"].as_str().unwrap().to_string();
    let e = nw.bap_env(&dv).await.body;
    assert_eq!(e["properties"]["displayName"], "NW-UAT");
    assert_eq!(e["properties"]["provisioningState"], "Creating");
    assert_eq!(e["properties"]["environmentSku"], "Sandbox");
    assert_eq!(nw.used_database_mb().await - before, 1024.0);
    let busy = nw
        .call(
            Method::POST,
            &format!("{P}/environments/{dv}/reset?{V}"),
            Some(json!({})),
        )
        .await;
    error(&busy, StatusCode::CONFLICT, "OperationNotStartable");
    let delete = nw.portal(Method::DELETE, UAT, "", None).await;
    assert!(error(&delete, StatusCode::CONFLICT, "EnvironmentBusy").contains("setup is running"));
    // The conceptual view shows the running setup in both portals' words.
    let view = nw.conceptual().await;
    let pair = view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == UAT)
        .unwrap()
        .clone();
    assert_eq!(pair["link"]["state"], "settingUp");
    assert_eq!(pair["dataverse"]["id"], dv.as_str());
    assert_eq!(
        pair["operations"][0]["kind"],
        "powerPlatformIntegration.setup"
    );
    assert_eq!(pair["operations"][0]["terminology"]["lcs"], "Deploy");
    assert_eq!(pair["operations"][0]["terminology"]["ppac"], "Provision");

    // One second before the end it still runs; at the end it is linked.
    let end = ts(&op["endsAt"]);
    nw.advance_to(&(end - SignedDuration::from_secs(1)).to_string())
        .await;
    assert_eq!(nw.integration(UAT).await["state"], "InProgress");
    nw.advance_to(&end.to_string()).await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "Completed", "{i}");
    assert_eq!(
        i["actions"],
        json!(["installAddin", "dualWriteApplication"])
    );
    assert_eq!(i["dualWrite"], "NotEnabled");
    assert_eq!(i["dataverseEnvironmentName"], "NW-UAT");
    let url = nw.details(UAT).await["url"].clone();

    let e = nw.bap_env(&dv).await.body;
    assert_eq!(e["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        e["properties"]["linkedAppMetadata"],
        json!({"type": "Linked", "id": UAT, "url": url})
    );
    let pp = nw
        .call(
            Method::GET,
            &format!("/environmentmanagement/environments/{dv}?api-version=2024-10-01"),
            None,
        )
        .await;
    assert_eq!(pp.body["finOpsMetadata"]["type"], "Linked", "{}", pp.body);
    assert_eq!(pp.body["finOpsMetadata"]["id"], UAT);
    let packages = nw
        .call(
            Method::GET,
            &format!("/appmanagement/environments/{dv}/applicationPackages?api-version=2022-03-01-preview"),
            None,
        )
        .await
        .body;
    let state_of = |name: &str| {
        packages["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["uniqueName"] == name)
            .map(|p| p["state"].clone())
    };
    assert_eq!(
        state_of("DualWriteCoreAnchor"),
        Some(json!("Installed")),
        "{packages}"
    );
    assert_ne!(
        state_of("msdyn_DualWriteAppCoreAnchor"),
        Some(json!("Installed"))
    );

    // Irreversible: no second setup, nothing to resume.
    let again = nw
        .portal(
            Method::POST,
            UAT,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true})),
        )
        .await;
    assert!(
        error(
            &again,
            StatusCode::CONFLICT,
            "PowerPlatformIntegrationExists"
        )
        .contains("irreversible")
    );
    let done = nw.resume(UAT).await;
    assert!(error(&done, StatusCode::CONFLICT, "OperationNotResumable").contains("completed"));
}

#[tokio::test]
async fn the_setup_duration_is_configurable() {
    let nw = Nw::new().await;
    let set = nw
        .call(
            Method::PUT,
            &format!(
                "/_sim/tenants/{}/durations/powerPlatformIntegration.setup",
                nw.tenant
            ),
            Some(json!({"duration": "75m"})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let op = nw.setup(UAT, json!({"acceptTerms": true})).await;
    assert_eq!(span(&op), SignedDuration::from_mins(75));
}

/// Runs setup into a failure at `stage`, checks the message, resumes before the fix (same failure
/// again), applies `fix`, resumes and checks that only the remaining stages take time.
async fn fail_fix_resume(nw: &Nw, stage: &str, code: &str, says: &[&str], fix: impl AsyncFnOnce()) {
    let op = nw.setup(UAT, json!({"acceptTerms": true})).await;
    let planned = span(&op);
    nw.app.advance("10m").await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "Failed", "{i}");
    assert_eq!(i["error"]["stage"], stage);
    assert_eq!(i["error"]["code"], code);
    assert_eq!(i["actions"], json!(["resume"]));
    let message = i["error"]["message"].as_str().unwrap().to_string();
    for s in says {
        assert!(message.contains(s), "{message} should name {s}");
    }
    assert!(i["statusMessage"].as_str().unwrap().contains(&message));

    // Resume before the fix: the same stage fails with the same message.
    let r = nw.resume(UAT).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    nw.app.advance("10m").await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "Failed");
    assert_eq!(i["error"]["stage"], stage);
    assert_eq!(i["error"]["message"], message.as_str());

    fix().await;
    let done_before: SignedDuration = i["operation"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "succeeded")
        .map(|s| ts(&s["endsAt"]).duration_since(ts(&s["startedAt"])))
        .sum();
    let r = nw.resume(UAT).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["attempts"], 3);
    let now = nw.now().await;
    let remaining = ts(&r.body["endsAt"]).duration_since(now);
    assert_eq!(
        remaining,
        planned - done_before,
        "only the failed stage and the ones after it run again"
    );
    assert_eq!(nw.integration(UAT).await["state"], "Provisioning");
    nw.advance_to(r.body["endsAt"].as_str().unwrap()).await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "Completed", "{i}");
    assert!(i.get("error").is_none());
}

#[tokio::test]
async fn a_capacity_shortfall_fails_at_reserve_capacity_and_resumes_from_there_once_capacity_is_added()
 {
    // The default environment holds 1024 MB of 1536: 512 MB free.
    let nw = Nw::with(Spec {
        database_mb: 1536,
        ..Spec::default()
    })
    .await;
    fail_fix_resume(
        &nw,
        "Reserve capacity",
        "InsufficientCapacity",
        &["512 MB", "1 GB", "Resume"],
        async || {
            let (status, body) = nw
                .app
                .patch(
                    &format!("/_sim/tenants/{}/capacity", nw.tenant),
                    json!({"databaseMb": 4096}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // Nothing was provisioned by the failed attempts.
            assert!(!nw.bap_names().await.contains(&"NW-UAT".to_string()));
        },
    )
    .await;
    assert!(nw.bap_names().await.contains(&"NW-UAT".to_string()));
}

#[tokio::test]
async fn the_tenant_states_the_setup_prerequisites_its_stages_check() {
    let nw = Nw::new().await;
    let (_, t) = nw.app.get(&format!("/_sim/tenants/{}", nw.tenant)).await;
    let p = &t["integrationPrerequisites"];
    assert_eq!(p["license"], LICENSE, "{t}");
    assert_eq!(
        p["adminRoles"],
        json!(["Global admin", "Dynamics 365 admin", "Power Platform admin"])
    );
    // The capacity figure is the rule's own boundary: exactly that much free passes the
    // capacity stage, one MB less fails it.
    let needed = p["freeDatabaseMb"].as_f64().unwrap();
    assert_eq!(needed, 1024.0);
    let used = nw.used_database_mb().await;
    let path = format!("/_sim/tenants/{}/capacity", nw.tenant);
    let set = async |mb: f64| {
        let (status, body) = nw.app.patch(&path, json!({"databaseMb": mb as u64})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    set(used + needed - 1.0).await;
    nw.setup(UAT, json!({"acceptTerms": true})).await;
    nw.app.advance("10m").await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["error"]["code"], "InsufficientCapacity", "{i}");
    set(used + needed).await;
    let r = nw.resume(UAT).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    nw.app.advance("10m").await;
    let i = nw.integration(UAT).await;
    assert!(i.get("error").is_none(), "{i}");
    assert_ne!(i["state"], "Failed", "{i}");
}

#[tokio::test]
async fn an_unlicensed_administrator_fails_validation_and_resume_succeeds_once_licensed() {
    let nw = Nw::with(Spec {
        fo_admin_licensed: false,
        ..Spec::default()
    })
    .await;
    assert_eq!(nw.details(UAT).await["administrator"], FO_ADMIN);
    fail_fix_resume(
        &nw,
        "Validate prerequisites",
        "AdministratorNotLicensed",
        &[FO_ADMIN, LICENSE],
        async || {
            nw.patch_user(FO_ADMIN, json!({"licenses": [LICENSE]}))
                .await
        },
    )
    .await;
}

#[tokio::test]
async fn restricted_governance_needs_an_admin_role_for_the_administrator() {
    let nw = Nw::with(Spec {
        restricted: true,
        ..Spec::default()
    })
    .await;
    fail_fix_resume(
        &nw,
        "Validate prerequisites",
        "AdministratorRoleRequired",
        &[
            FO_ADMIN,
            "Global admin",
            "Dynamics 365 admin",
            "Power Platform admin",
        ],
        async || {
            nw.patch_user(FO_ADMIN, json!({"roles": ["Power Platform admin"]}))
                .await
        },
    )
    .await;
    // With the role already held, the restriction does not matter.
    let nw = Nw::with(Spec {
        restricted: true,
        fo_admin_roles: json!(["Dynamics 365 admin"]),
        ..Spec::default()
    })
    .await;
    nw.link_new(UAT).await;
}

#[tokio::test]
async fn connecting_to_an_existing_dataverse_environment_skips_provisioning_and_checks_the_target()
{
    let nw = Nw::new().await;
    let missing = nw
        .portal(
            Method::POST,
            UAT,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": "5a5a5a5a-0000-4000-8000-000000000000"})),
        )
        .await;
    error(&missing, StatusCode::NOT_FOUND, "EnvironmentNotFound");
    // An environment of another tenant.
    let other = nw
        .app
        .create_tenant(json!({"domain": "elsewhere.test"}))
        .await;
    let foreign = format!("Default-{}", other["id"].as_str().unwrap());
    let refused = nw
        .portal(
            Method::POST,
            UAT,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": foreign})),
        )
        .await;
    assert!(
        error(
            &refused,
            StatusCode::CONFLICT,
            "DataverseEnvironmentNotLinkable"
        )
        .contains("another tenant")
    );
    // Types must match.
    let prod_dv = nw.dataverse("NWProdDv", "Production").await;
    let refused = nw
        .portal(
            Method::POST,
            UAT,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": prod_dv})),
        )
        .await;
    assert!(
        error(
            &refused,
            StatusCode::CONFLICT,
            "DataverseEnvironmentNotLinkable"
        )
        .contains("same type")
    );

    let dv = nw.dataverse("NWUatDv", "Sandbox").await;
    let before = nw.used_database_mb().await;
    let op = nw
        .setup(
            UAT,
            json!({"acceptTerms": true, "existingDataverseEnvironmentId": dv}),
        )
        .await;
    assert_eq!(
        stage_names(&op),
        [
            "Validate prerequisites",
            "Check the Dataverse environment",
            "Install dual-write platform components",
            "Link the environments"
        ]
    );
    assert!(span(&op) < SignedDuration::from_mins(40));
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "InProgress");
    assert_eq!(i["dataverseEnvironmentId"], dv.as_str());
    // The target is held while setup runs.
    let busy = nw
        .call(
            Method::POST,
            &format!("{P}/environments/{dv}/reset?{V}"),
            Some(json!({})),
        )
        .await;
    error(&busy, StatusCode::CONFLICT, "OperationNotStartable");
    nw.advance_to(op["endsAt"].as_str().unwrap()).await;
    assert_eq!(nw.integration(UAT).await["state"], "Completed");
    assert_eq!(nw.used_database_mb().await, before, "no new database");
    let e = nw.bap_env(&dv).await.body;
    assert_eq!(e["properties"]["linkedAppMetadata"]["id"], UAT);
    assert_eq!(e["properties"]["displayName"], "NWUatDv");

    // Linking an already linked Dataverse environment from another F&O environment is refused.
    let deployed = nw
        .call(
            Method::POST,
            &format!("/_portal/lcs/projects/{PROJECT}/environments"),
            Some(json!({"name": "NW-UAT2", "type": "Sandbox"})),
        )
        .await;
    assert_eq!(deployed.status, StatusCode::ACCEPTED, "{}", deployed.body);
    let uat2 = deployed.body["target"]["id"].as_str().unwrap().to_string();
    nw.advance_to(deployed.body["endsAt"].as_str().unwrap())
        .await;
    let refused = nw
        .portal(
            Method::POST,
            &uat2,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": dv})),
        )
        .await;
    let message = error(
        &refused,
        StatusCode::CONFLICT,
        "DataverseEnvironmentNotLinkable",
    );
    assert!(
        message.contains("NW-UAT") && message.contains("irreversible"),
        "{message}"
    );
}

#[tokio::test]
async fn ppac_refuses_reset_delete_and_domain_change_on_a_linked_environment_naming_the_fo_environment()
 {
    let nw = Nw::new().await;
    let dv = nw.link_new(UAT).await;
    let e = nw.bap_env(&dv).await.body;
    for op in ["Reset", "Delete"] {
        assert_eq!(disallowed(&e, op).unwrap()["type"], "FinOpsLinked", "{op}");
    }
    assert!(disallowed(&e, "Copy").is_none());
    assert!(disallowed(&e, "Convert").is_none());

    let reset = nw
        .call(
            Method::POST,
            &format!("{P}/environments/{dv}/reset?{V}"),
            Some(json!({})),
        )
        .await;
    let m = error(
        &reset,
        StatusCode::BAD_REQUEST,
        "OperationNotSupportedForLinkedFinOpsEnvironment",
    );
    assert!(m.contains(UAT) && m.contains("no reset"), "{m}");
    let delete = nw
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{dv}?{V}"),
            None,
        )
        .await;
    let m = error(
        &delete,
        StatusCode::BAD_REQUEST,
        "OperationNotSupportedForLinkedFinOpsEnvironment",
    );
    assert!(
        m.contains(UAT) && m.contains("Delete the finance and operations environment in LCS"),
        "{m}"
    );
    let check = nw
        .call(
            Method::POST,
            &format!("{P}/scopes/admin/environments/{dv}/validateDelete?{V}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(check.body["canInitiateDelete"], false, "{}", check.body);
    assert_eq!(
        check.body["errors"][0]["code"],
        "OperationNotSupportedForLinkedFinOpsEnvironment"
    );
    let pp_delete = nw
        .call(
            Method::DELETE,
            &format!("/environmentmanagement/environments/{dv}?api-version=2024-10-01"),
            None,
        )
        .await;
    assert_eq!(
        pp_delete.status,
        StatusCode::BAD_REQUEST,
        "{}",
        pp_delete.body
    );
    assert_eq!(
        pp_delete.body["errorDetail"]["code"],
        "OperationNotSupportedForLinkedFinOpsEnvironment"
    );
    let domain = nw
        .call(
            Method::PATCH,
            &format!("{P}/scopes/admin/environments/{dv}?{V}"),
            Some(json!({"properties": {"linkedEnvironmentMetadata": {"domainName": "renamed"}}})),
        )
        .await;
    let m = error(
        &domain,
        StatusCode::BAD_REQUEST,
        "OperationNotSupportedForLinkedFinOpsEnvironment",
    );
    assert!(
        m.contains("does not support domain name changes") && m.contains(UAT),
        "{m}"
    );
    // Nothing changed in either half.
    let after = nw.bap_env(&dv).await.body;
    assert_eq!(
        after["properties"]["linkedEnvironmentMetadata"],
        e["properties"]["linkedEnvironmentMetadata"]
    );
    assert_eq!(nw.details(UAT).await["state"], "Deployed");
}

#[tokio::test]
async fn each_portal_moves_only_its_own_half() {
    let nw = Nw::new().await;
    let dv = nw.link_new(UAT).await;
    let source = nw.dataverse("NWSource", "Sandbox").await;
    let fo_db = nw.details(UAT).await["database"].clone();

    // PPAC copy into the linked Dataverse environment: the F&O database does not move.
    let copy = nw
        .call(
            Method::POST,
            &format!("{P}/environments/{dv}/copyTo?{V}"),
            Some(json!({"SourceEnvironmentId": source, "CopyType": "FullCopy"})),
        )
        .await;
    assert_eq!(copy.status, StatusCode::ACCEPTED, "{}", copy.body);
    nw.app.advance("5h").await;
    assert_eq!(nw.details(UAT).await["database"], fo_db);
    let e = nw.bap_env(&dv).await.body;
    assert_eq!(
        e["properties"]["linkedAppMetadata"]["id"], UAT,
        "the link stays"
    );
    let backup = nw
        .call(
            Method::POST,
            &format!("{P}/environments/{dv}/backups?{V}"),
            Some(json!({"label": "before refresh"})),
        )
        .await;
    assert!(backup.status.is_success(), "{}", backup.body);

    // LCS refresh of the F&O half from production: the Dataverse half does not move.
    let dv_meta = e["properties"]["linkedEnvironmentMetadata"].clone();
    let refresh = nw
        .portal(
            Method::POST,
            UAT,
            "/refresh",
            Some(json!({"sourceEnvironmentId": PROD})),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::ACCEPTED, "{}", refresh.body);
    nw.advance_to(refresh.body["endsAt"].as_str().unwrap())
        .await;
    assert_eq!(nw.details(UAT).await["database"]["origin"], "refresh");
    let e = nw.bap_env(&dv).await.body;
    assert_eq!(e["properties"]["linkedEnvironmentMetadata"], dv_meta);
}

#[tokio::test]
async fn addins_and_dual_write_install_from_lcs_and_show_in_ppac() {
    let nw = Nw::new().await;
    let early = nw
        .portal(
            Method::POST,
            UAT,
            "/addins",
            Some(json!({"name": "Planning Optimization"})),
        )
        .await;
    error(
        &early,
        StatusCode::CONFLICT,
        "PowerPlatformIntegrationRequired",
    );
    let early = nw.portal(Method::POST, UAT, "/dual-write", None).await;
    error(
        &early,
        StatusCode::CONFLICT,
        "PowerPlatformIntegrationRequired",
    );
    let dv = nw.link_new(UAT).await;

    let list = nw.portal(Method::GET, UAT, "/addins", None).await.body;
    assert_eq!(list["installed"], json!([]));
    assert!(list["available"].as_array().unwrap().len() >= 3);
    let unknown = nw
        .portal(
            Method::POST,
            UAT,
            "/addins",
            Some(json!({"name": "Teleport"})),
        )
        .await;
    assert!(
        error(&unknown, StatusCode::BAD_REQUEST, "InvalidAddin").contains("Inventory Visibility")
    );
    let missing = nw
        .portal(
            Method::POST,
            UAT,
            "/addins",
            Some(json!({"name": "inventory visibility"})),
        )
        .await;
    error(&missing, StatusCode::BAD_REQUEST, "InvalidAddin");
    assert_eq!(missing.body["error"]["target"], "settings.applicationId");
    let bad = nw
        .portal(
            Method::POST,
            UAT,
            "/addins",
            Some(json!({"name": "Inventory Visibility", "settings": {"applicationId": "x", "tenantId": "y"}})),
        )
        .await;
    error(&bad, StatusCode::BAD_REQUEST, "InvalidAddin");
    let settings =
        json!({"applicationId": "11111111-2222-4333-8444-555555555555", "tenantId": nw.tenant});
    let op = nw
        .portal(
            Method::POST,
            UAT,
            "/addins",
            Some(json!({"name": "Inventory Visibility", "settings": settings})),
        )
        .await;
    assert_eq!(op.status, StatusCode::ACCEPTED, "{}", op.body);
    assert_eq!(op.body["kind"], "powerPlatformIntegration.installAddin");
    assert_eq!(op.body["portal"], "lcs");
    let i = nw.integration(UAT).await;
    assert_eq!(i["addins"][0]["name"], "Inventory Visibility");
    assert_eq!(i["addins"][0]["state"], "Installing");
    let again = nw
        .portal(
            Method::POST,
            UAT,
            "/addins",
            Some(json!({"name": "Inventory Visibility", "settings": settings})),
        )
        .await;
    error(&again, StatusCode::CONFLICT, "AddinAlreadyInstalled");
    nw.advance_to(op.body["endsAt"].as_str().unwrap()).await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["addins"][0]["state"], "Installed");
    assert_eq!(i["addins"][0]["settings"], settings);

    let dw = nw.portal(Method::POST, UAT, "/dual-write", None).await;
    assert_eq!(dw.status, StatusCode::ACCEPTED, "{}", dw.body);
    assert_eq!(dw.body["kind"], "powerPlatformIntegration.dualWrite");
    assert_eq!(nw.integration(UAT).await["dualWrite"], "Enabling");
    nw.advance_to(dw.body["endsAt"].as_str().unwrap()).await;
    assert_eq!(nw.integration(UAT).await["dualWrite"], "Enabled");
    let again = nw.portal(Method::POST, UAT, "/dual-write", None).await;
    error(&again, StatusCode::CONFLICT, "AddinAlreadyInstalled");

    // PPAC's view of the same Dataverse environment.
    let packages = nw
        .call(
            Method::GET,
            &format!("/appmanagement/environments/{dv}/applicationPackages?api-version=2022-03-01-preview"),
            None,
        )
        .await
        .body;
    let installed: Vec<&str> = packages["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "Installed")
        .map(|p| p["uniqueName"].as_str().unwrap())
        .collect();
    for name in [
        "msdyn_InventoryVisibilityAnchor",
        "msdyn_DualWriteAppCoreAnchor",
        "DualWriteCoreAnchor",
    ] {
        assert!(installed.contains(&name), "{name} in {installed:?}");
    }
    let view = nw.conceptual().await;
    let pair = view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == UAT)
        .unwrap()
        .clone();
    assert_eq!(pair["dataverse"]["dualWrite"], "Enabled");

    // An add-in package cannot go into an environment without an LCS link.
    let other = nw.dataverse("NWPlain", "Sandbox").await;
    let install = nw
        .call(
            Method::POST,
            &format!("/appmanagement/environments/{other}/applicationPackages/msdyn_PlanningOptimizationAnchor/install?api-version=2022-03-01-preview"),
            Some(json!({})),
        )
        .await;
    assert_eq!(install.status, StatusCode::ACCEPTED, "{}", install.body);
    nw.app.advance("1m").await;
    let status = nw
        .call(
            Method::GET,
            install.headers["operation-location"].to_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(status.body["status"], "Failed", "{}", status.body);
    assert!(
        status.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("finance and operations add-in"),
        "{}",
        status.body
    );
}

#[tokio::test]
async fn deleting_the_fo_environment_in_lcs_removes_the_link_and_frees_the_dataverse_environment() {
    let nw = Nw::new().await;
    let dv = nw.link_new(UAT).await;
    let del = nw.portal(Method::DELETE, UAT, "", None).await;
    assert_eq!(del.status, StatusCode::ACCEPTED, "{}", del.body);
    // Until the LCS delete finishes the link holds.
    let e = nw.bap_env(&dv).await.body;
    assert_eq!(disallowed(&e, "Delete").unwrap()["type"], "FinOpsLinked");
    nw.advance_to(del.body["endsAt"].as_str().unwrap()).await;
    let gone = nw.portal(Method::GET, UAT, "", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let e = nw.bap_env(&dv).await.body;
    assert!(e["properties"].get("linkedAppMetadata").is_none(), "{e}");
    assert!(disallowed(&e, "Delete").is_none());
    assert!(disallowed(&e, "Reset").is_none());
    let view = nw.conceptual().await;
    let alone = view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == dv.as_str())
        .unwrap()
        .clone();
    assert_eq!(alone["link"]["state"], "none");
    assert_eq!(alone["financeAndOperations"], Value::Null);
    // Now PPAC may delete it.
    let delete = nw
        .call(
            Method::DELETE,
            &format!("{P}/scopes/admin/environments/{dv}?{V}"),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::ACCEPTED, "{}", delete.body);
}

#[tokio::test]
async fn the_four_step_procedure_links_production_to_the_converted_dataverse_environment() {
    let nw = Nw::with(Spec {
        with_prod: false,
        ..Spec::default()
    })
    .await;
    let dv = nw.link_new(UAT).await;

    // The starting point: PPAC converts the linked sandbox to production, with a warning; F&O
    // keeps its type, and LCS cannot change it.
    let convert = nw
        .call(
            Method::POST,
            &format!("{P}/scopes/admin/environments/{dv}/modifySku?{V}"),
            Some(json!({"environmentSku": "Production"})),
        )
        .await;
    assert_eq!(convert.status, StatusCode::ACCEPTED, "{}", convert.body);
    let warning = convert.headers["warning"].to_str().unwrap();
    assert!(
        warning.starts_with("299 - \"") && warning.contains("not recommended"),
        "{warning}"
    );
    assert!(warning.contains("NW-UAT"));
    nw.app.advance("2h").await;
    assert_eq!(
        nw.bap_env(&dv).await.body["properties"]["environmentSku"],
        "Production"
    );
    assert_eq!(nw.details(UAT).await["type"], "Sandbox");
    let retype = nw
        .portal(Method::PATCH, UAT, "", Some(json!({"type": "Production"})))
        .await;
    error(&retype, StatusCode::CONFLICT, "EnvironmentTypeImmutable");
    let view = nw.conceptual().await;
    let pair = view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == UAT)
        .unwrap()
        .clone();
    let codes: Vec<&str> = pair["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "TypeMismatch",
            "ProductionWorkloadOnSandbox",
            "RelinkToProduction"
        ]
    );

    // Step 1: deploy F&O production without integration.
    let deploy = nw
        .call(
            Method::POST,
            &format!("/_portal/lcs/projects/{PROJECT}/environments"),
            Some(json!({"name": "NW-PROD", "type": "Production"})),
        )
        .await;
    assert_eq!(deploy.status, StatusCode::ACCEPTED, "{}", deploy.body);
    let prod = deploy.body["target"]["id"].as_str().unwrap().to_string();
    // Out of order while it deploys: step 2 (refresh) and step 4 (link) are refused.
    let refresh_early = nw
        .portal(
            Method::POST,
            &prod,
            "/refresh",
            Some(json!({"sourceEnvironmentId": UAT})),
        )
        .await;
    error(&refresh_early, StatusCode::CONFLICT, "EnvironmentBusy");
    let link_early = nw
        .portal(
            Method::POST,
            &prod,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": dv})),
        )
        .await;
    assert_eq!(
        link_early.status,
        StatusCode::CONFLICT,
        "{}",
        link_early.body
    );
    nw.advance_to(deploy.body["endsAt"].as_str().unwrap()).await;
    assert_eq!(nw.details(&prod).await["state"], "Deployed");
    assert_eq!(nw.integration(&prod).await["state"], "NotSetUp");

    // Step 4 before step 3: the Dataverse environment is still linked to the sandbox.
    let link_early = nw
        .portal(
            Method::POST,
            &prod,
            "/power-platform-integration",
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": dv})),
        )
        .await;
    let m = error(
        &link_early,
        StatusCode::CONFLICT,
        "DataverseEnvironmentNotLinkable",
    );
    assert!(m.contains("NW-UAT") && m.contains("delete"), "{m}");

    // Step 2: refresh production's database from the linked sandbox (the portal's pre-go-live
    // copy). Step 3 while it runs is refused: the sandbox is the refresh's source.
    let refresh = nw
        .portal(
            Method::POST,
            &prod,
            "/refresh",
            Some(json!({"sourceEnvironmentId": UAT})),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::ACCEPTED, "{}", refresh.body);
    let delete_early = nw.portal(Method::DELETE, UAT, "", None).await;
    assert!(
        error(&delete_early, StatusCode::CONFLICT, "EnvironmentBusy").contains("source"),
        "{}",
        delete_early.body
    );
    nw.advance_to(refresh.body["endsAt"].as_str().unwrap())
        .await;
    let db = nw.details(&prod).await["database"].clone();
    assert_eq!(db["origin"], "refresh");
    assert_eq!(db["sourceEnvironmentId"], UAT);

    // Step 3: delete the sandbox; that removes its link.
    let delete = nw.portal(Method::DELETE, UAT, "", None).await;
    assert_eq!(delete.status, StatusCode::ACCEPTED, "{}", delete.body);
    nw.advance_to(delete.body["endsAt"].as_str().unwrap()).await;
    let e = nw.bap_env(&dv).await.body;
    assert!(e["properties"].get("linkedAppMetadata").is_none());
    assert_eq!(e["properties"]["environmentSku"], "Production");

    // Step 4: link production to the existing, now free, production Dataverse environment.
    let op = nw
        .setup(
            &prod,
            json!({"acceptTerms": true, "existingDataverseEnvironmentId": dv}),
        )
        .await;
    nw.advance_to(op["endsAt"].as_str().unwrap()).await;
    let i = nw.integration(&prod).await;
    assert_eq!(i["state"], "Completed", "{i}");
    assert_eq!(i["dataverseEnvironmentId"], dv.as_str());
    let prod_url = nw.details(&prod).await["url"].clone();
    let e = nw.bap_env(&dv).await.body;
    assert_eq!(
        e["properties"]["linkedAppMetadata"],
        json!({"type": "Linked", "id": prod, "url": prod_url})
    );
    let view = nw.conceptual().await;
    let pair = view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == prod.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        pair["link"],
        json!({"state": "linked", "irreversible": true})
    );
    assert_eq!(pair["financeAndOperations"]["type"], "Production");
    assert_eq!(pair["dataverse"]["type"], "Production");
    assert_eq!(pair["warnings"], json!([]));
    assert_eq!(view["terminology"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn a_planned_fault_fails_the_next_matching_operation_once_at_its_stage() {
    let nw = Nw::new().await;
    let faults = format!("/_sim/tenants/{}/faults", nw.tenant);
    let (status, rule) = nw
        .app
        .post(
            &faults,
            json!({"operation": {"kind": "powerPlatformIntegration.setup", "stage": "Validate prerequisites",
                   "error": {"code": "AdministratorNotLicensed", "message": "Injected: no licence."}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["name"], "operation-1");
    assert_eq!(rule["remaining"], 1);
    let (status, rule) = nw
        .app
        .post(
            &faults,
            json!({"name": "refresh-half-way", "operation": {"kind": "lcs.databaseRefresh", "target": UAT, "stage": 2,
                   "error": {"code": "DatabaseCopyFailed", "message": "Injected: the copy failed."}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let (_, list) = nw.app.get(&faults).await;
    assert_eq!(list["operations"].as_array().unwrap().len(), 2);

    // Bad rules are refused, naming the field.
    for (body, status, code, target) in [
        (
            json!({"operation": {"kind": "lcs.teleport", "stage": 0, "error": {"code": "X", "message": "m"}}}),
            StatusCode::BAD_REQUEST,
            "InvalidFaultRule",
            Some("operation.kind"),
        ),
        (
            json!({"operation": {"kind": "lcs.deploy", "stage": 0, "error": {"code": "X", "message": "m"}}, "count": 0}),
            StatusCode::BAD_REQUEST,
            "InvalidFaultRule",
            Some("count"),
        ),
        (
            json!({"name": "refresh-half-way", "operation": {"kind": "lcs.deploy", "stage": 0, "error": {"code": "X", "message": "m"}}}),
            StatusCode::CONFLICT,
            "FaultRuleExists",
            Some("name"),
        ),
    ] {
        let reply = nw.app.post(&faults, body).await;
        assert_eq!(reply.0, status, "{}", reply.1);
        assert_eq!(reply.1["error"]["code"], code);
        assert_eq!(reply.1["error"]["target"].as_str(), target);
    }
    let (status, _) = nw.app.delete(&format!("{faults}/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The setup fails where planned, marked as injected, and the rule is used up.
    nw.setup(UAT, json!({"acceptTerms": true})).await;
    nw.app.advance("10m").await;
    let i = nw.integration(UAT).await;
    assert_eq!(i["state"], "Failed");
    assert_eq!(i["error"]["stage"], "Validate prerequisites");
    assert_eq!(i["error"]["code"], "AdministratorNotLicensed");
    assert_eq!(i["operation"]["error"]["fault"], "operation-1");
    let (_, list) = nw.app.get(&faults).await;
    assert_eq!(list["operations"][0]["name"], "refresh-half-way");
    // Resumed, it runs past the planned failure.
    let r = nw.resume(UAT).await;
    nw.advance_to(r.body["endsAt"].as_str().unwrap()).await;
    assert_eq!(nw.integration(UAT).await["state"], "Completed");

    // A refresh of another target is untouched; the planned one fails half-way, once.
    let refresh = nw
        .portal(
            Method::POST,
            UAT,
            "/refresh",
            Some(json!({"sourceEnvironmentId": PROD})),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::ACCEPTED, "{}", refresh.body);
    nw.app.advance("12h").await;
    let (_, op) = nw
        .app
        .get(&format!(
            "/_sim/tenants/{}/operations/{}",
            nw.tenant,
            refresh.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(op["state"], "failed", "{op}");
    assert_eq!(op["error"]["stage"], op["stages"][2]["name"]);
    assert_eq!(op["error"]["fault"], "refresh-half-way");
    assert_eq!(nw.details(UAT).await["history"][0]["status"], "Failed");
    let again = nw
        .portal(
            Method::POST,
            UAT,
            "/refresh",
            Some(json!({"sourceEnvironmentId": PROD})),
        )
        .await;
    nw.advance_to(again.body["endsAt"].as_str().unwrap()).await;
    assert_eq!(nw.details(UAT).await["history"][0]["status"], "Completed");
    let (_, list) = nw.app.get(&faults).await;
    assert_eq!(list["operations"], json!([]));
}
