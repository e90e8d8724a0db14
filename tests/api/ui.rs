//! The training UI: its pages and assets, the event stream, and the trainer's stories walked in
//! headless Chromium (screenshots in `target/ui-screenshots/`).

use crate::browser::Browser;
use crate::helpers::{DEFAULT_TENANT, TestApp, spawn_app, spawn_with};
use serde_json::{Value, json};
use std::time::Duration;

const PROJECT: &str = "1234567";
const UAT: &str = "c0de0001-0000-4000-8000-000000000002";
const PROD: &str = "c0de0001-0000-4000-8000-000000000001";

fn lcs_details(app: &TestApp, env: &str) -> String {
    format!(
        "{}/_ui/lcs?tenant={DEFAULT_TENANT}&project={PROJECT}&environment={env}",
        app.sim.uri()
    )
}

// ---- pages, assets, events over plain HTTP ----

#[tokio::test]
async fn every_page_is_the_shell_and_assets_come_from_the_binary() {
    let app = spawn_app().await;
    for page in ["/_ui/lcs", "/_ui/ppac", "/_ui/environments"] {
        let r = app
            .client
            .get(format!("{}{page}", app.sim.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{page}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"<script src="/_ui/assets/app.js" defer>"#),
            "{page}"
        );
        assert!(html.contains(r#"aria-label="Trainer controls""#));
    }
    for (asset, media) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let r = app
            .client
            .get(format!("{}/_ui/assets/{asset}", app.sim.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert_eq!(r.headers()["content-type"], media, "{asset}");
        assert!(!r.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_root_and_ui_prefix_lead_to_the_lcs_page() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/_ui", "/_ui/"] {
        let r = client
            .get(format!("{}{path}", app.sim.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/_ui/lcs", "{path}");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_a_404_that_names_the_assets() {
    let app = spawn_app().await;
    let (status, body) = app.get("/_ui/assets/nope.js").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "UiAssetNotFound");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("app.js, app.css, favicon.svg"),
        "{message}"
    );
}

#[tokio::test]
async fn request_faults_never_hit_the_pages() {
    let app = spawn_app().await;
    let (status, _) = app
        .post(
            "/_sim/faults",
            json!({"match": {"path": "/**"}, "error": {"status": 503}}),
        )
        .await;
    assert_eq!(status, 201);
    let page = app
        .client
        .get(app.url("/_ui/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // The pages' API calls are faulted as any tool's.
    let (status, _) = app.get("/_portal/lcs/projects").await;
    assert_eq!(status, 503);
}

/// Reads server-sent events until one named `name` arrives; returns its data.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, name: &str) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v;
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if event == name {
                return serde_json::from_str(&data).unwrap();
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream is still open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_event_stream_tells_the_clock_then_every_state_change() {
    // Arrange
    let app = spawn_app().await;
    let mut stream = app
        .client
        .get(format!("{}/_sim/events", app.sim.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_event(&mut stream, &mut buffer, "clock").await;
    assert_eq!(first["paused"], true);
    assert_eq!(first["now"], "2026-01-01T09:00:00Z");

    // Act: a read (no notice), then a change
    app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    let (status, _) = app
        .patch(
            &format!("/_sim/tenants/{DEFAULT_TENANT}/governance"),
            json!({"restrictEnvironmentCreationToAdmins": true}),
        )
        .await;
    assert_eq!(status, 200);
    app.post("/_sim/clock/advance", json!({"by": "90m"})).await;

    // Assert
    let change = next_event(&mut stream, &mut buffer, "change").await;
    assert_eq!(change["method"], "PATCH");
    assert_eq!(change["route"], "/_sim/tenants/{tenant}/governance");
    assert_eq!(change["tenant"], DEFAULT_TENANT);
    assert_eq!(change["status"], 200);
    let change = next_event(&mut stream, &mut buffer, "change").await;
    assert_eq!(change["route"], "/_sim/clock/advance");
    // The paused clock is sent again only once it moved: not after the governance change.
    let clock = next_event(&mut stream, &mut buffer, "clock").await;
    assert_eq!(clock["now"], "2026-01-01T10:30:00Z");
}

#[tokio::test]
async fn open_event_streams_end_when_the_simulator_stops() {
    let app = spawn_app().await;
    let mut stream = app
        .client
        .get(format!("{}/_sim/events", app.sim.uri()))
        .send()
        .await
        .unwrap();
    let mut buffer = String::new();
    next_event(&mut stream, &mut buffer, "clock").await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.sim.stop()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "stop finished: {stopped:?}");
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}

// ---- the trainer's stories in a browser ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trainer_sets_up_integration_in_lcs_and_jumps_90_minutes_to_the_new_buttons() {
    let app = spawn_app().await;
    let b = Browser::start("lcs-setup").await;

    // The details page, integration not set up.
    b.open(&lcs_details(&app, UAT)).await;
    b.wait("//h2[.='Power Platform integration']").await;
    b.wait("//*[@id='ppi-status'][contains(., 'Power Platform integration is not set up')]")
        .await;
    b.wait_text("Environment administrator").await;
    b.screenshot("1-details").await;

    // Setup: the terms must be accepted first.
    b.press("Setup").await;
    let setup = b.wait("//dialog//button[.='Setup']").await;
    assert!(
        !setup.is_enabled().await.unwrap(),
        "Setup waits for the terms"
    );
    b.click("//dialog//input[@id='ppi-terms']").await;
    b.click("//dialog//button[.='Setup' and not(@disabled)]")
        .await;
    b.wait("//dialog//p[contains(., 'The Power Platform environment is being provisioned')]")
        .await;
    b.screenshot("2-provisioning-message").await;
    b.click("//dialog//button[.='OK']").await;
    b.wait("//*[@id='ppi-status'][contains(., 'is being provisioned')]")
        .await;

    // A few minutes later: "Environment setup is in progress".
    b.press("+15 min").await;
    b.wait("//*[@id='ppi-status'][normalize-space(.)='Environment setup is in progress']")
        .await;
    b.wait("//*[@role='progressbar'][@aria-label='Power platform integration: setup progress']")
        .await;
    b.screenshot("3-in-progress").await;

    // The same setup on the conceptual page: a timeline with stages, and both portals' names.
    b.click("//nav[@aria-label='Pages']/a[.='Environments']")
        .await;
    b.wait("//h2[.='Contoso-UAT']/..//*[@role='progressbar']")
        .await;
    b.wait("//div[@class='link settingUp']/strong[.='Setting up']")
        .await;
    b.wait_text("LCS calls it Deploy, PPAC calls it Provision")
        .await;
    b.show(&format!("#env-{UAT}")).await;
    b.screenshot("3b-conceptual-in-progress").await;
    b.client.back().await.unwrap();
    b.wait_css("body[data-ready='true'] #ppi-status").await;
    assert!(
        b.client
            .find(fantoccini::Locator::XPath(
                "//button[.='Install a new add-in']"
            ))
            .await
            .is_err(),
        "no add-in button while setup runs"
    );

    // Jump 90 minutes: the two new actions.
    b.press("+90 min").await;
    b.wait("//button[.='Install a new add-in']").await;
    b.wait("//button[.='Dual-write application']").await;
    b.wait("//*[@id='ppi-status'][contains(., 'Environment setup is complete')]")
        .await;
    b.screenshot("4-completed").await;

    // What the page shows is what the API says.
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let (_, details) = app
        .get_with_token(
            &format!("/_portal/lcs/projects/{PROJECT}/environments/{UAT}"),
            &token,
        )
        .await;
    assert_eq!(details["powerPlatformIntegration"]["state"], "Completed");

    // Both new actions work from the page.
    b.press("Install a new add-in").await;
    b.click("//dialog//button[.='Install']").await;
    b.wait("//dd[contains(., 'Planning Optimization')]").await;
    b.press("Dual-write application").await;
    b.click("//dialog//button[.='Dual-write application']")
        .await;
    b.wait("//dd[normalize-space(.)='Enabling']").await;
    b.press("+90 min").await;
    b.wait("//dd[normalize-space(.)='Enabled']").await;
    b.wait("//dd[contains(., 'Planning Optimization (Installed)')]")
        .await;
    b.screenshot("5-addin-and-dual-write").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trainer_loads_the_capacity_scenario_watches_setup_fail_fixes_it_and_resumes() {
    let app = spawn_app().await;
    let b = Browser::start("capacity").await;
    b.open(&format!("{}/_ui/lcs", app.sim.uri())).await;

    // Load the shipped scenario from the trainer controls.
    b.client
        .find(fantoccini::Locator::Id("scenario"))
        .await
        .unwrap()
        .select_by_value("capacity-shortfall")
        .await
        .unwrap();
    b.press("Load scenario").await;
    b.click("//a[.='Fabrikam rollout']").await;
    // The options and the remembered choice are drawn together.
    b.wait("//select[@id='scenario']/option[@value='capacity-shortfall']")
        .await;
    let loaded = b.wait("//select[@id='scenario']").await;
    assert_eq!(
        loaded.prop("value").await.unwrap().as_deref(),
        Some("capacity-shortfall")
    );
    b.click("//a[.='FAB-UAT']").await;
    b.wait("//h1[contains(., 'FAB-UAT')]").await;
    // The scenario's tenant is short already: the capacity switch shows it.
    b.wait("//button[@id='sw-capacity'][@aria-pressed='true'][.='Give capacity back']")
        .await;

    // Setup fails at "Reserve capacity".
    b.set_up_integration().await;
    b.press("+15 min").await;
    b.wait("//*[@id='ppi-error'][contains(., 'InsufficientCapacity')][contains(., 'Reserve capacity')]")
        .await;
    b.wait("//button[.='Resume']").await;
    b.screenshot("1-failed").await;

    // Resume without a fix fails the same way.
    b.press("Resume").await;
    b.press("+15 min").await;
    b.wait("//*[@id='ppi-error'][contains(., 'InsufficientCapacity')]")
        .await;

    // Fix: give capacity back, then Resume continues from the failed stage.
    b.press("Give capacity back").await;
    b.wait("//button[@id='sw-capacity'][@aria-pressed='false'][.='Take capacity away']")
        .await;
    b.press("Resume").await;
    b.wait("//*[@id='ppi-status'][normalize-space(.)='Environment setup is in progress' or contains(., 'being provisioned')]")
        .await;
    b.wait("//ol[@class='stages']/li[1][@class='succeeded']")
        .await;
    b.screenshot("2-resumed").await;
    b.press("To end of running operation").await;
    b.wait("//button[.='Install a new add-in']").await;
    b.screenshot("3-completed").await;

    let (_, ops) = app
        .get("/_sim/tenants/5ce00001-0000-4000-8000-000000000001/operations")
        .await;
    let setup = &ops["operations"][0];
    assert_eq!(setup["state"], "succeeded");
    assert_eq!(setup["attempts"], 3, "{setup}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trainer_removes_the_license_gives_it_back_and_resets_the_tenant() {
    let app = spawn_app().await;
    let b = Browser::start("license").await;
    b.open(&lcs_details(&app, PROD)).await;
    b.wait_text("acting on admin@contoso.test").await;

    b.press("Remove license").await;
    b.wait("//button[@id='sw-license'][@aria-pressed='true'][.='Give license back']")
        .await;
    let (_, user) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    assert_eq!(user["users"][0]["licenses"], json!([]));

    b.set_up_integration().await;
    b.press("+15 min").await;
    b.wait("//*[@id='ppi-error'][contains(., 'AdministratorNotLicensed')]")
        .await;
    b.screenshot("1-failed").await;

    b.press("Give license back").await;
    b.wait("//button[@id='sw-license'][@aria-pressed='false']")
        .await;
    b.press("Resume").await;
    b.press("To end of running operation").await;
    b.wait("//button[.='Dual-write application']").await;

    // Reset tenant puts the demo back at its start.
    b.press("Reset tenant").await;
    b.click("//dialog//button[.='Reset tenant']").await;
    b.wait("//h1[.='Projects']").await;
    b.click("//a[.='Contoso implementation']").await;
    b.wait("//tr[td/a[.='Contoso-PROD']]/td[.='Not set up']")
        .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ppac_shows_reset_blocked_on_a_linked_environment_with_the_apis_reason() {
    let app = spawn_app().await;
    let (status, loaded) = app
        .post_raw("/_sim/scenarios/linked-sandbox-pair", "")
        .await;
    assert_eq!(status, 201, "{loaded}");
    let tenant = "5ce00004-0000-4000-8000-000000000001";
    let b = Browser::start("ppac").await;

    b.open(&format!("{}/_ui/ppac?tenant={tenant}", app.sim.uri()))
        .await;
    b.wait("//td[.='Linked: TS-UAT']").await;
    b.screenshot("1-environments").await;
    b.click("//a[.='TS-UAT']").await;

    // Reset is visibly disabled, with the reason the API gives.
    let reset = b.wait("//button[@id='ppac-reset']").await;
    assert!(!reset.is_enabled().await.unwrap(), "Reset is disabled");
    let reason = b
        .wait("//li[@id='blocked-reset']/span[@class='reason']")
        .await
        .text()
        .await
        .unwrap();
    let token = app.user_token(tenant, "admin@tailspin.test").await;
    let (_, envs) = app
        .get_with_token(
            "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2021-04-01",
            &token,
        )
        .await;
    let dv = envs["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["properties"]["displayName"] == "TS-UAT")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, refusal) = app
        .send(
            reqwest::Method::POST,
            &format!(
                "/providers/Microsoft.BusinessAppPlatform/environments/{dv}/reset?api-version=2021-04-01"
            ),
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400);
    // The API's words, with the finance and operations environment named as the portal names
    // it rather than by its GUID.
    let (_, tenant_dto) = app.get(&format!("/_sim/tenants/{tenant}")).await;
    let fo = &tenant_dto["lcsProjects"][0]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TS-UAT")
        .unwrap()["id"];
    let fo = fo.as_str().unwrap();
    let api_words = refusal["error"]["message"].as_str().unwrap();
    assert!(api_words.contains(fo), "{api_words}");
    assert!(!reason.contains(fo), "no GUID on the portal: {reason}");
    assert_eq!(reason, api_words.replace(fo, "TS-UAT"));
    // The region reads the same in the list and on the details card.
    b.wait("//section[h2='Details']//dd[.='United States']")
        .await;
    // Delete is blocked too; copy, backup and convert are not.
    b.wait("//button[@id='ppac-delete'][@disabled]").await;
    for allowed in ["ppac-copy", "ppac-backup", "ppac-convert"] {
        b.wait(&format!("//button[@id='{allowed}'][not(@disabled)]"))
            .await;
    }
    b.screenshot("2-reset-blocked").await;

    // Trying anyway shows the API's refusal.
    b.press("Try Reset anyway").await;
    b.wait("//*[@id='notice']//code[.='OperationNotSupportedForLinkedFinOpsEnvironment']")
        .await;
    b.wait_text("Reset was refused").await;
    b.screenshot("3-reset-refused").await;

    // The conceptual page shows both halves, the link and the names in both portals.
    b.click("//nav[@aria-label='Pages']/a[.='Environments']")
        .await;
    b.wait("//h2[.='TS-UAT']").await;
    b.wait("//div[contains(@class, 'link')]/strong[.='Linked']")
        .await;
    b.wait("//td[.='Database refresh']").await;
    b.screenshot("4-conceptual").await;
    b.close().await;
}

/// A tenant with room for every dialog: two LCS environments and two Dataverse sandboxes.
const NORTHWIND: &str = r#"
version: 1
tenants:
  - id: 5ce0000d-0000-4000-8000-000000000001
    domain: northwind.test
    displayName: Northwind
    users:
      - upn: admin@northwind.test
        roles: [Global admin]
        licenses: [Dynamics 365 Unified Operations Plan]
    projects:
      - id: 3000001
        name: Northwind
        environments:
          - id: 5ce1000d-0000-4000-8000-000000000001
            name: NW-PROD
            type: Production
          - id: 5ce1000d-0000-4000-8000-000000000002
            name: NW-UAT
            type: Sandbox
    powerPlatformEnvironments:
      - name: NW CRM test
        type: Sandbox
        dataverse: true
      - name: NW CRM training
        type: Sandbox
        dataverse: true
"#;

impl Browser {
    /// Sets up Power Platform integration from the details page: Setup, the terms, OK.
    async fn set_up_integration(&self) {
        self.press("Setup").await;
        self.click("//dialog//input[@id='ppi-terms']").await;
        self.click("//dialog//button[.='Setup' and not(@disabled)]")
            .await;
        self.click("//dialog//button[.='OK']").await;
    }

    /// Fast-forwards to the end of the running operation and waits until none runs.
    async fn finish(&self) {
        self.press("To end of running operation").await;
        self.wait("//button[@id='jump-end'][@disabled]").await;
    }

    /// Confirms the open dialog with its button `label`, then waits for the toast `says`.
    async fn confirm(&self, label: &str, says: &str) {
        self.click(&format!("//dialog//button[.={label:?} and not(@disabled)]"))
            .await;
        self.wait(&format!("//*[@id='status'][contains(., {says:?})]"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lcs_and_ppac_dialog_is_accepted_by_its_api() {
    let app = crate::helpers::spawn_with(
        crate::helpers::builder()
            .without_default_tenant()
            .scenario_text("northwind", NORTHWIND),
    )
    .await;
    let tenant = "5ce0000d-0000-4000-8000-000000000001";
    let b = Browser::start("dialogs").await;

    // LCS: maintain actions on NW-UAT.
    b.open(&format!(
        "{}/_ui/lcs?tenant={tenant}&project=3000001&environment=5ce1000d-0000-4000-8000-000000000002",
        app.sim.uri()
    ))
    .await;
    b.press("Maintain ▾").await;
    b.press("Database refresh").await;
    b.wait("//dialog//select[@id='refresh-source']/option[contains(., 'NW-PROD')]")
        .await;
    b.confirm("Refresh", "Database refresh started").await;
    b.wait("//h2[.='Running operation']").await;
    b.screenshot("1-refresh-running").await;
    b.finish().await;
    b.press("Maintain ▾").await;
    b.press("Database export").await;
    b.confirm("Export", "Database export started").await;
    b.finish().await;
    b.press("Maintain ▾").await;
    b.press("Point-in-time restore").await;
    b.confirm("Restore", "Point-in-time restore started").await;
    b.finish().await;

    // LCS: deploy a new environment, then deallocate and delete it.
    b.click("//nav[@aria-label='Breadcrumb']//a[.='Northwind']")
        .await;
    b.press("Deploy").await;
    b.click("//dialog//input[@id='deploy-name']").await;
    b.wait("//dialog//input[@id='deploy-name']")
        .await
        .send_keys("NW-TEST")
        .await
        .unwrap();
    for (select, value) in [
        ("deploy-type", "DevTestDev"),
        ("deploy-infrastructure", "CustomerManaged"),
    ] {
        b.client
            .find(fantoccini::Locator::Id(select))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }
    b.confirm("Deploy", "Deploying NW-TEST").await;
    b.finish().await;
    b.click("//a[.='NW-TEST']").await;
    b.wait("//h1[contains(., 'NW-TEST')]").await;
    b.wait("//dd[.='DevTestDev']").await;
    b.press("Deallocate").await;
    b.confirm("Deallocate", "Deallocate: accepted").await;
    b.finish().await;
    b.press("Delete").await;
    b.click("//dialog//button[.='Delete']").await;
    b.wait("//h1[contains(., 'environments')]").await;
    b.finish().await;

    // PPAC: backup, copy, restore and convert on NW CRM test; reset and delete on the other.
    b.click("//nav[@aria-label='Pages']/a[.='PPAC']").await;
    b.click("//a[.='NW CRM test']").await;
    b.press("Backup").await;
    b.confirm("Create", "Backup taken").await;
    b.press("Copy").await;
    b.wait("//dialog//select[@id='copy-target']/option[contains(., 'NW CRM training')]")
        .await;
    b.confirm("Copy", "Copy started").await;
    b.finish().await;
    b.press("Restore").await;
    b.wait("//dialog//select[@id='restore-point']/option[contains(., 'training backup')]")
        .await;
    b.confirm("Restore", "Restore started").await;
    b.finish().await;
    b.press("Convert to production").await;
    b.confirm("Convert", "Converted to production").await;
    b.finish().await;
    b.wait("//button[.='Convert to sandbox']").await;
    b.click("//nav[@aria-label='Breadcrumb']//a[.='Environments']")
        .await;
    b.click("//a[.='NW CRM training']").await;
    b.press("Reset").await;
    b.confirm("Reset", "Reset: accepted").await;
    b.finish().await;
    b.press("Delete").await;
    b.click("//dialog//button[.='Delete']").await;
    b.wait("//h1[.='Environments']").await;
    b.screenshot("2-ppac-after").await;

    // Every action reached the API and none was refused.
    let (_, journal) = app.get(&format!("/_sim/journal?tenant={tenant}")).await;
    let refused: Vec<&Value> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"].as_u64().unwrap() >= 400)
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_redraw_when_a_tool_changes_the_state_without_a_reload() {
    let app = spawn_app().await;
    let b = Browser::start("live").await;
    b.open(&lcs_details(&app, UAT)).await;
    b.wait("//button[@id='sw-governance'][@aria-pressed='false']")
        .await;
    // Mark this document: a reload would lose the mark.
    b.client
        .execute("window.lifecycleSimMark = 'same page';", vec![])
        .await
        .unwrap();

    // A tool (not the page) changes governance and starts the setup.
    let (status, _) = app
        .patch(
            &format!("/_sim/tenants/{DEFAULT_TENANT}/governance"),
            json!({"restrictEnvironmentCreationToAdmins": true}),
        )
        .await;
    assert_eq!(status, 200);
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            &format!(
                "/_portal/lcs/projects/{PROJECT}/environments/{UAT}/power-platform-integration"
            ),
            &token,
            Some(json!({"acceptTerms": true})),
        )
        .await;
    assert_eq!(status, 202);
    app.advance("15m").await;

    // The page shows all of it, still the same document.
    b.wait("//button[@id='sw-governance'][@aria-pressed='true'][.='Lift governance restriction']")
        .await;
    b.wait("//*[@id='ppi-status'][normalize-space(.)='Environment setup is in progress']")
        .await;
    b.wait("//*[@id='clock-now'][.='Thu 1 Jan, 09:15 UTC']")
        .await;
    let mark = b
        .client
        .execute("return window.lifecycleSimMark;", vec![])
        .await
        .unwrap();
    assert_eq!(mark, json!("same page"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_pause_and_speed_drive_the_virtual_clock() {
    let app = spawn_app().await;
    let b = Browser::start("clock").await;
    b.open(&format!("{}/_ui/environments", app.sim.uri())).await;
    b.wait("//button[@id='clock-play'][@aria-pressed='false'][.='Play']")
        .await;

    b.client
        .find(fantoccini::Locator::Id("clock-speed"))
        .await
        .unwrap()
        .select_by_value("900")
        .await
        .unwrap();
    b.press("Play").await;
    b.wait("//button[@id='clock-play'][@aria-pressed='true'][.='Pause']")
        .await;
    // At 900× the running clock's ticks move the display within a few real seconds.
    b.wait("//*[@id='clock-now'][not(starts-with(., 'Thu 1 Jan, 09:00'))]")
        .await;
    b.press("Pause").await;
    b.wait("//button[@id='clock-play'][@aria-pressed='false']")
        .await;

    let (_, clock) = app.get("/_sim/clock").await;
    assert_eq!(clock["paused"], true);
    assert_eq!(clock["scale"], 900.0);
    assert_ne!(clock["now"], "2026-01-01T09:00:00Z");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_works_from_the_keyboard_alone() {
    use fantoccini::key::Key;
    let app = spawn_app().await;
    let b = Browser::start("keyboard").await;
    b.open(&lcs_details(&app, PROD)).await;
    let enter = String::from(char::from(Key::Enter));

    b.wait("//button[@id='ppi-setup']")
        .await
        .send_keys(&enter)
        .await
        .unwrap();
    // The dialog takes focus; the terms box is reached and ticked with the keyboard.
    b.wait("//dialog[@open]").await;
    let focused = b
        .client
        .execute(
            "return document.activeElement.closest('dialog') !== null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, json!(true), "focus moved into the dialog");
    b.wait("//input[@id='ppi-terms']")
        .await
        .send_keys(" ")
        .await
        .unwrap();
    b.wait("//dialog//button[.='Setup' and not(@disabled)]")
        .await
        .send_keys(&enter)
        .await
        .unwrap();
    b.wait("//dialog//button[.='OK']")
        .await
        .send_keys(&enter)
        .await
        .unwrap();
    b.wait("//*[@id='ppi-status'][contains(., 'is being provisioned')]")
        .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_simulator_asks_the_trainer_for_its_control_token_then_works_as_usual() {
    // Arrange: a simulator started with --control-token.
    let app = spawn_with(
        crate::helpers::builder()
            .control_token(lifecycle_sim::ControlToken::new("s3cret").unwrap()),
    )
    .await;
    let b = Browser::start("control-token").await;
    b.client.goto(&lcs_details(&app, PROD)).await.unwrap();

    // Act: dismiss the prompt first; the page says why it shows nothing and offers it again.
    b.wait("//dialog[@open]/h2[.='Control token']").await;
    b.screenshot("1-asked").await;
    b.press("Cancel").await;
    b.wait("//*[@id='notice'][contains(., 'ControlTokenRequired')]")
        .await;
    b.press("Enter the control token").await;

    // A wrong token is refused and asked again, with the reason. (The closed dialog still holds
    // the first prompt's input until the new prompt replaces it: look in the open one only.)
    b.wait("//dialog[@open]//input[@id='control-token']")
        .await
        .send_keys("guess")
        .await
        .unwrap();
    b.press("Use this token").await;
    let input = b
        .wait("//dialog[@open][contains(., 'That is not the control token')]//input[@id='control-token']")
        .await;
    input.clear().await.unwrap();
    // Enter uses it, as in a sign-in form.
    input
        .send_keys(&format!(
            "s3cret{}",
            char::from(fantoccini::key::Key::Enter)
        ))
        .await
        .unwrap();

    // Assert: the page and the trainer controls work, and the event stream is open again.
    b.wait_css("body[data-ready='true']").await;
    b.wait("//*[@id='ppi-status']").await;
    b.press("+15 min").await;
    b.wait("//*[@id='clock-now'][contains(., '09:15')]").await;
    assert_eq!(
        app.sim.state().clock.now().to_string(),
        "2026-01-01T09:15:00Z"
    );
    // The page marks its stream open once the simulator answered it, so it listens by then.
    b.wait_css("body[data-live='true']").await;
    assert!(
        app.sim.state().events.listening(),
        "the page's event stream is open"
    );
    // A tool's change redraws the page through that stream.
    app.sim.control().advance("90m").await.unwrap();
    b.wait("//*[@id='clock-now'][contains(., '10:45')]").await;
    b.close().await;
}

/// Sizes the window so that the page itself (not the browser's frame) is `width` by `height`.
async fn viewport(b: &Browser, width: u32, height: u32) {
    b.client.set_window_size(width, height).await.unwrap();
    let inner = js(b, "return [window.innerWidth, window.innerHeight];").await;
    let extra = |i: usize, want: u32| want + (want - inner[i].as_u64().unwrap() as u32);
    b.client
        .set_window_size(extra(0, width), extra(1, height))
        .await
        .unwrap();
}

/// Runs `script` in the page and returns its JSON answer.
async fn js(b: &Browser, script: &str) -> Value {
    b.client.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_projectors_1024_by_768_the_tenants_clock_and_a_failed_setup_fit_the_screen() {
    // Arrange: the default tenant runs two days ahead of the shared clock.
    let app = spawn_app().await;
    let (status, ahead) = app
        .post(
            &format!("/_sim/tenants/{DEFAULT_TENANT}/clock/advance"),
            json!({"by": "2d"}),
        )
        .await;
    assert_eq!(status, 200, "{ahead}");
    let b = Browser::start("projector").await;
    viewport(&b, 1024, 768).await;
    b.open(&lcs_details(&app, UAT)).await;
    b.wait("//h1[contains(., 'Contoso-UAT')]").await;

    // The clock bar shows the tenant's time, not the shared clock's.
    b.wait("//output[@id='clock-now'][contains(., '3 Jan')]")
        .await;
    b.screenshot("0-lcs-at-1024").await;
    let trainer = js(
        &b,
        "return document.getElementById('trainer').getBoundingClientRect().height",
    )
    .await;
    assert!(
        trainer.as_f64().unwrap() <= 100.0,
        "the trainer controls take {trainer}px of 768"
    );

    // A setup that fails at "Reserve capacity".
    b.press("Take capacity away").await;
    b.set_up_integration().await;
    b.press("+15 min").await;
    b.wait("//*[@id='ppi-error'][contains(., 'InsufficientCapacity')]")
        .await;
    let bar = js(
        &b,
        "const t = document.querySelector('#power-platform-integration .timeline');
         const width = t.getBoundingClientRect().width;
         let filled = 0;
         for (const f of t.querySelectorAll('.fill')) filled += f.getBoundingClientRect().width;
         return { percent: 100 * filled / width, label: Number(t.getAttribute('aria-valuenow')),
                  bottom: t.getBoundingClientRect().bottom, height: window.innerHeight };",
    )
    .await;
    b.screenshot("1-failed-at-1024").await;
    let (percent, label) = (
        bar["percent"].as_f64().unwrap(),
        bar["label"].as_f64().unwrap(),
    );
    assert!(label < 20.0, "{bar}");
    assert!(
        (percent - label).abs() <= 3.0,
        "the bar is filled as far as its label says: {bar}"
    );
    assert!(
        bar["bottom"].as_f64().unwrap() <= bar["height"].as_f64().unwrap(),
        "the setup's progress is on screen without scrolling: {bar}"
    );

    // The portal's own words carry no simulator hint; the trainer bar does.
    let main = b.wait("//main").await.text().await.unwrap();
    assert!(!main.contains("/_sim/"), "{main}");
    assert!(
        !main.contains("InProgress") && !main.contains("NotSetUp"),
        "{main}"
    );
    b.wait("//*[@id='trainer-hint'][contains(., 'PATCH /_sim/tenants/')]")
        .await;

    // "To end of running operation" moves the shared clock to the end on the tenant's clock.
    b.press("Give capacity back").await;
    b.press("Resume").await;
    b.wait("//*[@id='ppi-status'][contains(., 'being provisioned') or contains(., 'in progress')]")
        .await;
    b.press("To end of running operation").await;
    b.wait("//button[.='Install a new add-in']").await;
    let (_, clock) = app.get("/_sim/clock").await;
    let shared: jiff::Timestamp = clock["now"].as_str().unwrap().parse().unwrap();
    let start: jiff::Timestamp = crate::helpers::START.parse().unwrap();
    assert!(
        shared.duration_since(start) < jiff::SignedDuration::from_hours(3),
        "the shared clock went to {shared}, not two days past the end"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ppac_has_its_navigation_command_bar_sortable_columns_and_cards_and_the_picker_names_the_scenario()
 {
    let app = spawn_app().await;
    let (status, loaded) = app
        .post_raw("/_sim/scenarios/linked-sandbox-pair", "")
        .await;
    assert_eq!(status, 201, "{loaded}");
    let tenant = "5ce00004-0000-4000-8000-000000000001";
    let b = Browser::start("ppac-look").await;
    viewport(&b, 1400, 900).await;
    b.open(&format!("{}/_ui/ppac?tenant={tenant}", app.sim.uri()))
        .await;

    // The scenario the tenant came from, though it was loaded by a tool, not the picker.
    let picker = b.wait("//select[@id='scenario']").await;
    b.wait("//select[@id='scenario']/option[@value='linked-sandbox-pair']")
        .await;
    assert_eq!(
        picker.prop("value").await.unwrap().as_deref(),
        Some("linked-sandbox-pair")
    );

    b.wait("//nav[@aria-label='Power Platform admin center']//a[@aria-current='page'][.='Manage']")
        .await;
    b.wait("//div[@role='toolbar'][@aria-label='Environments commands']/button[.='+ New']")
        .await;
    let headers = js(
        &b,
        "return [...document.querySelectorAll('#ppac-environments thead th')].map((th) => th.textContent.replace(/ [↑↓]$/, ''));",
    )
    .await;
    assert_eq!(
        headers,
        json!([
            "Environment",
            "Type",
            "State",
            "Region",
            "Managed",
            "Created",
            "Finance and operations"
        ])
    );
    let names = "return [...document.querySelectorAll('#ppac-environments tbody tr td:first-child')].map((td) => td.textContent);";
    let by_name = js(&b, names).await;
    b.click("//th/button[@data-sort='environment']").await;
    b.wait("//th[@aria-sort='descending']/button[@data-sort='environment']")
        .await;
    let mut reversed = by_name.as_array().unwrap().clone();
    reversed.reverse();
    assert_eq!(js(&b, names).await, Value::Array(reversed), "sorted z to a");
    b.wait("//tbody//td[.='United States']").await;
    b.screenshot("1-environments").await;

    // + New creates an environment through the BAP API.
    b.press("+ New").await;
    b.client
        .find(fantoccini::Locator::Id("new-name"))
        .await
        .unwrap()
        .send_keys("Training sandbox")
        .await
        .unwrap();
    b.confirm("Save", "Creating Training sandbox").await;
    b.wait("//tbody//a[.='Training sandbox']").await;

    // The details page: cards, the region as the list names it.
    b.click("//a[.='TS-UAT']").await;
    b.wait("//div[@class='cards']/section[h2='Details']//dd[.='United States']")
        .await;
    b.wait("//div[@class='cards']/section[h2='Finance and operations']//a[contains(., 'TS-UAT')]")
        .await;
    b.screenshot("2-details").await;

    // A tenant that no built-in scenario made: the picker claims none.
    let other = app.create_tenant(json!({"domain": "adhoc.test"})).await;
    let id = other["id"].as_str().unwrap();
    b.open(&format!("{}/_ui/ppac?tenant={id}", app.sim.uri()))
        .await;
    b.wait("//h1[.='Environments']").await;
    b.wait("//button[@id='scenario-load'][@disabled]").await;
    let picker = b.wait("//select[@id='scenario']").await;
    assert_eq!(picker.prop("value").await.unwrap().as_deref(), Some(""));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lcs_has_its_maintain_menu_and_setup_offers_only_environments_it_can_link() {
    let app = spawn_app().await;
    let b = Browser::start("lcs-look").await;
    viewport(&b, 1400, 900).await;
    b.open(&lcs_details(&app, UAT)).await;

    // Maintain opens a menu with database movement.
    let refresh = "//div[@role='menu']//button[.='Database refresh']";
    assert!(!b.wait(refresh).await.is_displayed().await.unwrap());
    b.press("Maintain ▾").await;
    b.wait("//button[@id='lcs-maintain'][@aria-expanded='true']")
        .await;
    assert!(b.wait(refresh).await.is_displayed().await.unwrap());
    b.screenshot("1-maintain").await;
    b.press("Maintain ▾").await;

    // Setup: the existing-environment list belongs to "existing", and the tenant's only other
    // Dataverse environment is the default one, which cannot be linked.
    b.press("Setup").await;
    b.wait("//dialog//input[@id='ppi-new']").await;
    let existing = b.wait("//dialog//input[@id='ppi-use-existing']").await;
    assert!(
        !existing.is_enabled().await.unwrap(),
        "nothing can be linked"
    );
    b.wait("//dialog//label[contains(., 'none can be linked')]")
        .await;
    assert!(
        b.client
            .find(fantoccini::Locator::XPath(
                "//dialog//select[@id='ppi-existing']"
            ))
            .await
            .is_err(),
        "no list of environments that cannot be linked"
    );
    b.click("//dialog//button[.='Cancel']").await;

    // A ready sandbox with Dataverse, made by a tool, can be chosen, and only then is the list
    // shown.
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/providers/Microsoft.BusinessAppPlatform/environments?api-version=2023-06-01",
            &token,
            Some(
                json!({"location": "unitedstates", "properties": {"displayName": "Spare sandbox",
                "environmentSku": "Sandbox", "databaseType": "CommonDataService"}}),
            ),
        )
        .await;
    assert_eq!(status, 202);
    app.advance("30m").await;
    b.press("Setup").await;
    let list = b.wait("//dialog//select[@id='ppi-existing']").await;
    assert!(
        !list.is_displayed().await.unwrap(),
        "hidden while 'create new' is chosen"
    );
    b.click("//dialog//input[@id='ppi-use-existing']").await;
    assert!(list.is_displayed().await.unwrap());
    let options = js(
        &b,
        "return [...document.querySelectorAll('#ppi-existing option')].map((o) => o.textContent);",
    )
    .await;
    assert_eq!(options, json!(["Spare sandbox (Sandbox)"]));
    b.screenshot("2-setup-existing").await;
    b.close().await;
}
