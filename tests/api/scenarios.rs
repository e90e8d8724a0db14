//! Scenario files: validation with line and column, loading at start and at runtime, every
//! shipped scenario playing out the story its comment tells, scripted timeline events.

use super::helpers::{Answer, TestApp, assert_error, builder, spawn_app, spawn_with};
use lifecycle_sim::config::ScenarioSource;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lifecycle-sim");
const SETUP: &str = "/power-platform-integration";
const BAP: &str = "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments";
const V: &str = "api-version=2021-04-01";

fn shipped(name: &str) -> String {
    let path = format!("{}/scenarios/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A tenant loaded from a scenario, driven as its admin.
struct Story {
    app: TestApp,
    tenant: String,
    project: u64,
    token: String,
}

impl Story {
    /// Loads a built-in scenario at runtime (`POST /_sim/scenarios/{name}`).
    async fn load(name: &str, admin: &str) -> Story {
        let app = spawn_with(builder().without_default_tenant()).await;
        let (status, loaded) = app
            .post(&format!("/_sim/scenarios/{name}"), json!(null))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{loaded}");
        let tenant = loaded["tenants"][0]["id"].as_str().unwrap().to_string();
        let project = loaded["tenants"][0]["lcsProjects"][0]["id"]
            .as_u64()
            .unwrap();
        let token = app.user_token(&tenant, admin).await;
        Story {
            app,
            tenant,
            project,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.app.call(&self.token, method, path, body).await
    }

    async fn portal(&self, method: Method, env: &str, rest: &str, body: Option<Value>) -> Answer {
        let path = format!(
            "/_portal/lcs/projects/{}/environments/{env}{rest}",
            self.project
        );
        self.call(method, &path, body).await
    }

    async fn integration(&self, env: &str) -> Value {
        let a = self.portal(Method::GET, env, "", None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body["powerPlatformIntegration"].clone()
    }

    async fn setup(&self, env: &str) -> Value {
        let a = self
            .portal(Method::POST, env, SETUP, Some(json!({"acceptTerms": true})))
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        a.body
    }

    async fn resume(&self, env: &str) -> Answer {
        self.portal(Method::POST, env, &format!("{SETUP}/resume"), None)
            .await
    }

    async fn tenant(&self) -> Value {
        let (status, t) = self
            .app
            .get(&format!("/_sim/tenants/{}", self.tenant))
            .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        t
    }

    async fn sim(&self, rest: &str) -> Value {
        let (status, v) = self
            .app
            .get(&format!("/_sim/tenants/{}{rest}", self.tenant))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    /// The failed-setup story: fails where expected, fails again on an early Resume.
    async fn setup_fails(&self, env: &str, advance: &str, code: &str, stage: &str) {
        self.setup(env).await;
        self.app.advance(advance).await;
        let i = self.integration(env).await;
        assert_eq!(i["state"], "Failed", "{i}");
        assert_eq!(i["error"]["code"], code, "{i}");
        assert_eq!(i["error"]["stage"], stage, "{i}");
        assert_eq!(self.resume(env).await.status, StatusCode::ACCEPTED);
        self.app.advance(advance).await;
        let again = self.integration(env).await;
        assert_eq!(again["state"], "Failed", "{again}");
        assert_eq!(again["error"]["code"], code);
    }

    /// Resumes and checks that setup completes.
    async fn resume_completes(&self, env: &str) {
        let a = self.resume(env).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        self.app.advance("2h").await;
        let i = self.integration(env).await;
        assert_eq!(i["state"], "Completed", "{i}");
    }
}

#[test]
fn every_shipped_scenario_validates_and_a_broken_one_names_line_and_column() {
    let dir = format!("{}/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), lifecycle_sim::scenario::BUILT_IN.len());
    let output = Command::new(BIN)
        .args(["scenario", "validate"])
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches(": ok (").count(), files.len(), "{stdout}");
    for file in &files {
        let name = file.file_stem().unwrap().to_str().unwrap();
        assert!(
            lifecycle_sim::scenario::built_in(name).is_some(),
            "{name} is not built in"
        );
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.starts_with("# "),
            "{name} does not open with its story"
        );
        assert!(text.contains("\n# Try"), "{name} does not say what to try");
    }

    let broken = std::env::temp_dir().join(format!("broken-{}.yaml", std::process::id()));
    std::fs::write(
        &broken,
        "# a typo in a role\ntenants:\n  - domain: typo.test\n    users:\n      - upn: a@typo.test\n        roles: [Global admin, Chief wizard]\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["scenario", "validate"])
        .arg(&broken)
        .output()
        .unwrap();
    std::fs::remove_file(&broken).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("line 6, column 31: tenants[0].users[0].roles[1]: \"Chief wizard\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn broken_files_answer_400_with_line_and_column_and_load_nothing() {
    let app = spawn_with(builder()).await;
    let cases = [
        // YAML syntax
        ("tenants:\n  - domain: [unclosed\n", "line 2, column 13"),
        // shape: an unknown field
        (
            "tenants:\n  - domain: a.test\n    colour: blue\n",
            "line 3, column 5",
        ),
        // a rule: an unknown environment type, found in the second tenant
        (
            "tenants:\n  - domain: ok.test\n  - domain: b.test\n    projects:\n      - name: P\n        environments:\n          - {name: X, type: Mainframe}\n",
            "line 7, column 29: tenants[1].projects[0].environments[0].type",
        ),
        // a prerequisite only the load finds: the administrator has no license
        (
            "tenants:\n  - domain: c.test\n    users:\n      - upn: a@c.test\n        roles: [Global admin]\n    projects:\n      - name: P\n        environments:\n          - {name: UAT, type: Sandbox}\n    links:\n      - finOpsEnvironment: UAT\n",
            "line 11, column 9: tenants[0].links[0]",
        ),
        // a domain rule on a Power Platform environment, named as the file spells the field
        (
            "tenants:\n  - domain: e.test\n    users:\n      - upn: a@e.test\n        roles: [Global admin]\n    powerPlatformEnvironments:\n      - {name: S, type: Sandbox, dataverse: {domain: 'no spaces'}}\n",
            "tenants[0].powerPlatformEnvironments[0].dataverse.domain",
        ),
        // the timeline: an event that does nothing
        (
            "tenants:\n  - domain: d.test\n    timeline:\n      - at: 30m\n",
            "line 4, column 13: tenants[0].timeline[0].at",
        ),
    ];
    for (text, place) in cases {
        let reply = app.post_raw("/_sim/scenarios", text).await;
        let message = assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidScenario");
        assert!(message.contains(place), "{place} not in: {message}");
        let check = app.post_raw("/_sim/scenarios/validate", text).await;
        assert_error(&check, StatusCode::BAD_REQUEST, "InvalidScenario");
    }
    let binary = app
        .client
        .post(app.url("/_sim/scenarios"))
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), StatusCode::BAD_REQUEST);
    let body: Value = binary.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidScenario");
    let (_, tenants) = app.get("/_sim/tenants").await;
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 1, "{tenants}");
    let (status, checked) = app
        .post_raw("/_sim/scenarios/validate", &shipped("busy-tenant"))
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["tenants"], 1);
}

#[tokio::test]
async fn the_default_world_is_the_fresh_tenant_scenario_and_json_loads_too() {
    let default = spawn_with(builder()).await;
    let from_file = spawn_with(builder().configure(|c| {
        c.scenarios = vec![ScenarioSource {
            name: "fresh-tenant.yaml".into(),
            text: shipped("fresh-tenant"),
        }]
    }))
    .await;
    let path = "/_sim/tenants/c0de0000-0000-4000-8000-000000000001";
    let (a, b) = (default.get(path).await, from_file.get(path).await);
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(a.1, b.1);

    let (status, list) = default.get("/_sim/scenarios").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"fresh-tenant") && names.contains(&"flaky-portal"));
    assert!(
        list["scenarios"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Fresh tenant")
    );

    // JSON is YAML too; a named target tenant replaces the file's id; a second load conflicts.
    let json_text =
        json!({"tenants": [{"domain": "json.test", "users": [{"upn": "a@json.test"}]}]})
            .to_string();
    let target = "7e570000-0000-4000-8000-000000000001";
    let (status, loaded) = default
        .post_raw(&format!("/_sim/scenarios?tenant={target}"), &json_text)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    assert_eq!(loaded["tenants"][0]["id"], target);
    assert_eq!(loaded["tenants"][0]["domain"], "json.test");
    let again = default
        .post_raw(&format!("/_sim/scenarios?tenant={target}"), &json_text)
        .await;
    assert_error(&again, StatusCode::CONFLICT, "TenantExists");
    let (status, _) = default
        .post_raw(
            &format!("/_sim/scenarios?tenant={target}&replace=true"),
            &json_text,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let missing = default
        .post("/_sim/scenarios/no-such-story", json!(null))
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "ScenarioNotFound");
}

#[tokio::test]
async fn fresh_tenant_sets_up_integration_in_60_to_90_minutes() {
    let s = Story::load("fresh-tenant", "admin@contoso.test").await;
    let uat = "c0de0001-0000-4000-8000-000000000002";
    let op = s.setup(uat).await;
    let minutes = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    let took = minutes(op["endsAt"].as_str().unwrap())
        .duration_since(minutes(op["startedAt"].as_str().unwrap()))
        .as_mins();
    assert!((60..=90).contains(&took), "{took}");
    assert_eq!(s.integration(uat).await["state"], "Provisioning");
    s.app.advance("90m").await;
    let i = s.integration(uat).await;
    assert_eq!(i["state"], "Completed", "{i}");
}

#[tokio::test]
async fn capacity_shortfall_fails_at_reserve_capacity_until_the_add_on_arrives() {
    let s = Story::load("capacity-shortfall", "admin@fabrikam.test").await;
    let uat = "5ce10001-0000-4000-8000-000000000001";
    s.setup_fails(uat, "10m", "InsufficientCapacity", "Reserve capacity")
        .await;
    assert_eq!(s.tenant().await["capacity"]["databaseMb"], 1536);
    // The add-on arrives four hours after load (the timeline), not a second earlier.
    let timeline = s.sim("/timeline").await;
    let at: jiff::Timestamp = timeline[0]["at"].as_str().unwrap().parse().unwrap();
    let (_, clock) = s.app.get("/_sim/clock").await;
    let now: jiff::Timestamp = clock["now"].as_str().unwrap().parse().unwrap();
    let wait = at.duration_since(now);
    s.app.advance(&format!("{}s", wait.as_secs() - 1)).await;
    assert_eq!(s.tenant().await["capacity"]["databaseMb"], 1536);
    assert!(s.sim("/timeline").await[0].get("firedAt").is_none());
    s.app.advance("1s").await;
    assert_eq!(s.tenant().await["capacity"]["databaseMb"], 3584);
    assert_eq!(s.sim("/timeline").await[0]["firedAt"], timeline[0]["at"]);
    s.resume_completes(uat).await;
}

#[tokio::test]
async fn missing_license_fails_validation_until_the_license_team_assigns_it() {
    let s = Story::load("missing-license", "ops.admin@alpineskihouse.test").await;
    let uat = "5ce10002-0000-4000-8000-000000000001";
    s.setup_fails(
        uat,
        "10m",
        "AdministratorNotLicensed",
        "Validate prerequisites",
    )
    .await;
    let user = |t: &Value| t["users"][0]["licenses"].as_array().unwrap().len();
    assert_eq!(user(&s.tenant().await), 0);
    s.app.advance("1h").await;
    assert_eq!(user(&s.tenant().await), 1);
    s.resume_completes(uat).await;
}

#[tokio::test]
async fn restricted_governance_fails_until_the_administrator_gets_an_admin_role() {
    let s = Story::load("restricted-governance", "admin@woodgrove.test").await;
    let uat = "5ce10003-0000-4000-8000-000000000001";
    s.setup_fails(
        uat,
        "10m",
        "AdministratorRoleRequired",
        "Validate prerequisites",
    )
    .await;
    let (status, _) = s
        .app
        .patch(
            &format!("/_sim/tenants/{}/users/erp.lead@woodgrove.test", s.tenant),
            json!({"roles": ["Power Platform admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.resume_completes(uat).await;
}

#[tokio::test]
async fn linked_sandbox_pair_refuses_reset_and_delete_in_ppac() {
    let s = Story::load("linked-sandbox-pair", "admin@tailspin.test").await;
    let uat = "5ce10004-0000-4000-8000-000000000001";
    let i = s.integration(uat).await;
    assert_eq!(i["state"], "Completed", "{i}");
    assert_eq!(i["dualWrite"], "Enabled", "{i}");
    assert!(
        i["addins"].to_string().contains("Planning Optimization"),
        "{i}"
    );
    let dv = i["dataverseEnvironmentId"].as_str().unwrap().to_string();
    let env = s.call(Method::GET, &format!("{BAP}/{dv}?{V}"), None).await;
    assert_eq!(
        env.body["properties"]["linkedAppMetadata"]["type"],
        "Linked"
    );
    assert_eq!(env.body["properties"]["linkedAppMetadata"]["id"], uat);
    for (method, path, body) in [
        (
            Method::POST,
            format!("/providers/Microsoft.BusinessAppPlatform/environments/{dv}/reset?{V}"),
            Some(json!({"currency": {"code": "USD"}, "baseLanguageCode": 1033})),
        ),
        (Method::DELETE, format!("{BAP}/{dv}?{V}"), None),
    ] {
        let a = s.call(method, &path, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        let text = a.body.to_string();
        assert!(
            text.contains("OperationNotSupportedForLinkedFinOpsEnvironment") && text.contains(uat),
            "{text}"
        );
    }
}

#[tokio::test]
async fn linked_pair_after_conversion_starts_the_four_step_procedure() {
    let s = Story::load("linked-pair-converted", "admin@wingtip.test").await;
    let uat = "5ce10005-0000-4000-8000-000000000001";
    let view = s.sim("/environments").await;
    let pair = view["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == uat)
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
        ],
        "{pair}"
    );
    let details = s.portal(Method::GET, uat, "", None).await.body;
    assert_eq!(details["type"], "Sandbox");
    // Step 1: deploy production; step 4 before step 3 is refused: still linked to the sandbox.
    let dv = s.integration(uat).await["dataverseEnvironmentId"].clone();
    let deploy = s
        .call(
            Method::POST,
            &format!("/_portal/lcs/projects/{}/environments", s.project),
            Some(json!({"name": "WT-PROD", "type": "Production"})),
        )
        .await;
    assert_eq!(deploy.status, StatusCode::ACCEPTED, "{}", deploy.body);
    let prod = deploy.body["target"]["id"].as_str().unwrap().to_string();
    s.app.advance("6h").await;
    let early = s
        .portal(
            Method::POST,
            &prod,
            SETUP,
            Some(json!({"acceptTerms": true, "existingDataverseEnvironmentId": dv})),
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(early.body.to_string().contains("WT-UAT"), "{}", early.body);
}

#[tokio::test]
async fn busy_tenant_has_everything_and_its_planned_trouble_happens_once_on_time() {
    let s = Story::load("busy-tenant", "admin@adatum.test").await;
    let t = s.tenant().await;
    let fo: usize = t["lcsProjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["environments"].as_array().unwrap().len())
        .sum();
    assert_eq!(fo, 12);
    // Default + six declared + three linked Dataverse environments.
    assert_eq!(t["powerPlatformEnvironments"].as_array().unwrap().len(), 10);
    let durations = s.sim("/durations").await;
    assert_eq!(durations.as_array().unwrap().len(), 2, "{durations}");
    let conceptual = s.sim("/environments").await;
    let linked = conceptual["environments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["link"]["state"] == "linked")
        .count();
    assert_eq!(linked, 3, "{conceptual}");

    // Capacity: 2 GB leave at exactly +30m.
    assert_eq!(t["capacity"]["databaseMb"], 20480);
    s.app.advance("29m59s").await;
    assert_eq!(s.tenant().await["capacity"]["databaseMb"], 20480);
    s.app.advance("1s").await;
    assert_eq!(s.tenant().await["capacity"]["databaseMb"], 18432);

    // The planned refresh failure: at "Copying database", once.
    let refresh = |target: &'static str| {
        let s = &s;
        async move {
            let a = s
                .portal(
                    Method::POST,
                    target,
                    "/refresh",
                    Some(json!({"sourceEnvironmentId": "5ce10006-0000-4000-8000-000000000001"})),
                )
                .await;
            assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
            a.body
        }
    };
    let uat3 = "5ce10006-0000-4000-8000-000000000004";
    let op = refresh(uat3).await;
    s.app.advance("4h").await;
    let (_, failed) = s
        .app
        .get(&format!(
            "/_sim/tenants/{}/operations/{}",
            s.tenant,
            op["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "DatabaseCopyFailed");
    assert_eq!(failed["error"]["fault"], "refresh-fails-half-way");
    let faults = s.sim("/faults").await;
    assert_eq!(
        faults["operations"].as_array().unwrap().len(),
        0,
        "{faults}"
    );
    let uat4 = "5ce10006-0000-4000-8000-000000000005";
    let second = refresh(uat4).await;
    s.app.advance("4h").await;
    let (_, done) = s
        .app
        .get(&format!(
            "/_sim/tenants/{}/operations/{}",
            s.tenant,
            second["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(done["state"], "succeeded", "{done}");
}

#[tokio::test]
async fn flaky_portal_fails_throttles_and_marks_every_injected_answer() {
    let s = Story::load("flaky-portal", "admin@litware.test").await;
    let lcs = format!("/environmentinfo/v1/detail/project/{}", s.project);
    for _ in 0..2 {
        let a = s.call(Method::GET, &lcs, None).await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", a.body);
        assert_eq!(a.headers["x-sim-fault"], "lcs-next-two-fail");
    }
    let a = s.call(Method::GET, &lcs, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.headers.get("x-sim-fault").is_none());

    let pp = "/environmentmanagement/environments?api-version=2022-03-01-preview";
    for _ in 0..10 {
        assert_eq!(s.call(Method::GET, pp, None).await.status, StatusCode::OK);
    }
    let throttled = s.call(Method::GET, pp, None).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers["x-sim-fault"], "pp-throttle");
    let wait: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    s.app.advance(&format!("{wait}s")).await;
    assert_eq!(s.call(Method::GET, pp, None).await.status, StatusCode::OK);

    // BAP lists: some fail with 503, every answer is slowed and marked.
    let mut failures = 0;
    for _ in 0..20 {
        let a = s.call(Method::GET, &format!("{BAP}?{V}"), None).await;
        let marks = a.headers["x-sim-fault"].to_str().unwrap().to_string();
        assert!(marks.contains("bap-slow"), "{marks}");
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            failures += 1;
            assert!(marks.contains("bap-list-flaky"), "{marks}");
        }
    }
    assert!((1..20).contains(&failures), "{failures}");

    // Other tenants are untouched.
    let (status, _) = s
        .app
        .post("/_sim/scenarios/fresh-tenant", json!(null))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let contoso = s
        .app
        .user_token("c0de0000-0000-4000-8000-000000000001", "admin@contoso.test")
        .await;
    let (status, _) = s.app.get_with_token(&format!("{BAP}?{V}"), &contoso).await;
    assert_eq!(status, StatusCode::OK);

    // The planned setup failure happens once, at its stage; Resume completes.
    let uat = "5ce10008-0000-4000-8000-000000000001";
    s.setup(uat).await;
    s.app.advance("2h").await;
    let i = s.integration(uat).await;
    assert_eq!(i["state"], "Failed", "{i}");
    assert_eq!(i["error"]["code"], "DualWriteInstallFailed");
    assert_eq!(
        i["error"]["stage"],
        "Install dual-write platform components"
    );
    s.resume_completes(uat).await;
}

#[tokio::test]
async fn resets_bring_back_the_scenario_world() {
    let app = spawn_with(builder().configure(|c| {
        c.scenarios = vec![ScenarioSource {
            name: "linked-sandbox-pair.yaml".into(),
            text: shipped("linked-sandbox-pair"),
        }]
    }))
    .await;
    let tenant = "/_sim/tenants/5ce00004-0000-4000-8000-000000000001";
    let (status, before) = app.get(tenant).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(
        app.get("/_sim/tenants/c0de0000-0000-4000-8000-000000000001")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    app.delete(tenant).await;
    let (status, _) = app.post("/_sim/reset", json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, after) = app.get(tenant).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before, after);

    // A tenant reset replays the links too.
    app.advance("1h").await;
    let (status, reset) = app.post(&format!("{tenant}/reset"), json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    let (_, view) = app.get(&format!("{tenant}/environments")).await;
    assert!(view.to_string().contains("\"Linked\""), "{view}");
}

#[tokio::test]
async fn a_scenario_clock_start_sets_the_tenants_own_clock_at_runtime() {
    let app = spawn_with(builder()).await;
    let text = "clock:\n  start: 2027-06-01T08:00:00Z\ntenants:\n  - domain: later.test\n    timeline:\n      - at: 1h\n        capacity: {databaseMb: 1}\n";
    let (status, loaded) = app.post_raw("/_sim/scenarios", text).await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    assert_eq!(loaded["tenants"][0]["now"], "2027-06-01T08:00:00Z");
    let id = loaded["tenants"][0]["id"].as_str().unwrap();
    let (_, timeline) = app.get(&format!("/_sim/tenants/{id}/timeline")).await;
    assert_eq!(timeline[0]["at"], "2027-06-01T09:00:00Z");
    let (_, clock) = app.get("/_sim/clock").await;
    assert_eq!(clock["now"], "2026-01-01T09:00:00Z");
    app.advance("1h").await;
    let (_, t) = app.get(&format!("/_sim/tenants/{id}")).await;
    assert_eq!(t["capacity"]["databaseMb"], 1);
}

async fn text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn snapshot_load_snapshot_is_identical_and_the_world_carries_on_the_same() {
    // A tenant in mid-flight: a setup running, a scripted event pending, a planned failure.
    let original = spawn_with(builder().without_default_tenant()).await;
    let (status, loaded) = original
        .post("/_sim/scenarios/busy-tenant", json!(null))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    let tenant = loaded["tenants"][0]["id"].as_str().unwrap().to_string();
    let token = original.user_token(&tenant, "admin@adatum.test").await;
    let setup = original
        .client
        .post(original.url(
            "/_portal/lcs/projects/2000006/environments/5ce10006-0000-4000-8000-000000000004/power-platform-integration",
        ))
        .bearer_auth(&token)
        .json(&json!({"acceptTerms": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), StatusCode::ACCEPTED);
    original.advance("20m").await;
    let path = format!("/_sim/tenants/{tenant}/snapshot");
    let (status, first) = text(&original, &path).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.starts_with("# Snapshot of tenant Adatum"), "{first}");

    // Into another simulator whose clock is elsewhere: the tenant's clock resumes at the
    // snapshot's moment, and a second snapshot is byte for byte the first.
    let copy = spawn_with(
        builder()
            .without_default_tenant()
            .start_time("2031-07-01T00:00:00Z".parse().unwrap()),
    )
    .await;
    let (status, loaded) = copy.post_raw("/_sim/scenarios", &first).await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    assert_eq!(loaded["tenants"][0]["now"], "2026-01-01T09:20:00Z");
    let (_, second) = text(&copy, &path).await;
    assert_eq!(first, second);

    // JSON round-trips too.
    let (_, as_json) = text(&copy, &format!("{path}?format=json")).await;
    let third = spawn_with(builder().without_default_tenant()).await;
    let (status, _) = third.post_raw("/_sim/scenarios", &as_json).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(text(&third, &path).await.1, first);

    // Both worlds carry on identically: the event fires, the setup completes.
    original.advance("2h").await;
    copy.advance("2h").await;
    let view = format!("/_sim/tenants/{tenant}/environments");
    let (a, b) = (original.get(&view).await.1, copy.get(&view).await.1);
    assert_eq!(a, b);
    assert!(a.to_string().matches("\"linked\"").count() == 4, "{a}");
    let (_, t) = copy.get(&format!("/_sim/tenants/{tenant}")).await;
    assert_eq!(t["capacity"]["databaseMb"], 18432);
    assert_eq!(text(&original, &path).await.1, text(&copy, &path).await.1);

    // Reset of a loaded snapshot goes back to the snapshot.
    let (status, _) = copy
        .post(&format!("/_sim/tenants/{tenant}/reset"), json!(null))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, t) = copy.get(&format!("/_sim/tenants/{tenant}")).await;
    assert_eq!(t["capacity"]["databaseMb"], 20480);
    assert_eq!(t["now"], "2026-01-01T09:20:00Z");
    assert_eq!(text(&copy, &path).await.1, first);
}

#[tokio::test]
async fn a_damaged_snapshot_is_refused_with_its_place() {
    let app = spawn_with(builder()).await;
    let (_, snapshot) = text(
        &app,
        "/_sim/tenants/c0de0000-0000-4000-8000-000000000001/snapshot",
    )
    .await;
    let damaged = snapshot.replacen("databaseMb: 10240", "databaseMb: plenty", 1);
    let line = damaged
        .lines()
        .position(|l| l.contains("databaseMb: plenty"))
        .unwrap()
        + 1;
    let reply = app.post_raw("/_sim/scenarios?replace=true", &damaged).await;
    let message = assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidScenario");
    assert!(
        message.starts_with(&format!("line {line}, column ")),
        "{message}"
    );

    // A running operation edited to stand past its last stage is refused, not a panic later.
    let app2 = spawn_with(builder()).await;
    let token = app2
        .user_token("c0de0000-0000-4000-8000-000000000001", "admin@contoso.test")
        .await;
    let started = app2
        .client
        .post(app2.url("/_portal/lcs/projects/1234567/environments/c0de0001-0000-4000-8000-000000000002/power-platform-integration"))
        .bearer_auth(token)
        .json(&json!({"acceptTerms": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let (_, running) = text(
        &app2,
        "/_sim/tenants/c0de0000-0000-4000-8000-000000000001/snapshot",
    )
    .await;
    let broken = running.replacen("current: 0", "current: 9", 1);
    assert_ne!(broken, running);
    let reply = app2.post_raw("/_sim/scenarios?replace=true", &broken).await;
    let message = assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidScenario");
    assert!(message.contains("stands at stage 9"), "{message}");

    let mixed = snapshot.replacen("- snapshot:", "- domain: extra.test\n  snapshot:", 1);
    let reply = app.post_raw("/_sim/scenarios?replace=true", &mixed).await;
    let message = assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidScenario");
    assert!(message.contains("tenants[0].domain"), "{message}");
}

#[tokio::test]
async fn start_up_flags_add_fault_rules_and_duration_overrides_that_survive_a_reset() {
    let app = spawn_with(builder().configure(|c| {
        c.faults =
            vec!["{name: bap-down, match: {surface: bap}, error: {status: 503}, count: 1}".into()];
        c.durations = vec![
            "powerPlatformIntegration.setup=75m".into(),
            "lcs.deploy=2h..3h".into(),
        ];
    }))
    .await;
    for _ in 0..2 {
        let (_, faults) = app.get("/_sim/faults").await;
        assert_eq!(faults["requests"][0]["name"], "bap-down", "{faults}");
        let (_, durations) = app
            .get("/_sim/tenants/c0de0000-0000-4000-8000-000000000001/durations")
            .await;
        assert_eq!(
            durations,
            json!([
                {"kind": "lcs.deploy", "min": "2h", "max": "3h"},
                {"kind": "powerPlatformIntegration.setup", "min": "1h 15m", "max": "1h 15m"}
            ])
        );
        let (status, _) = app.post("/_sim/reset", json!(null)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[test]
fn the_readme_example_scenario_loads() {
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let section = &readme[readme.find("## Scenarios").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let scenario = lifecycle_sim::scenario::check(example, "2026-01-01T09:00:00Z".parse().unwrap())
        .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(scenario.tenants.len(), 1);
    assert_eq!(scenario.tenants[0].declared.extras.timeline.len(), 5);
}

#[tokio::test]
async fn a_world_larger_than_the_yaml_readers_default_budget_loads() {
    // 52,000 environments take 260,000 YAML nodes, past the reader's default of 250,000; its
    // limits grow with the file.
    let app = spawn_app().await;
    let id = "5ca1e000-0000-4000-8000-000000000002";
    let mut text =
        format!("tenants:\n  - id: {id}\n    domain: big.test\n    powerPlatformEnvironments:\n");
    for i in 0..52_000 {
        text.push_str(&format!("      - {{name: S{i}, type: Sandbox}}\n"));
    }
    let (status, body) = app.post_raw("/_sim/scenarios", &text).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, tenant) = app.get(&format!("/_sim/tenants/{id}")).await;
    let envs = tenant["powerPlatformEnvironments"].as_array().unwrap();
    assert_eq!(envs.len(), 52_001, "the default environment and the 52,000");
}
