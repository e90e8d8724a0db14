use crate::helpers::{DEFAULT_TENANT, assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

const UO_PLAN: &str = "Dynamics 365 Unified Operations Plan";

#[tokio::test]
async fn the_default_tenant_exists_at_start() {
    let app = spawn_app().await;
    let (status, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["domain"], "contoso.test");
    assert_eq!(tenant["users"][0]["upn"], "admin@contoso.test");
    assert_eq!(tenant["users"][0]["roles"], json!(["Global admin"]));
    assert_eq!(tenant["users"][0]["licenses"], json!([UO_PLAN]));
}

#[tokio::test]
async fn an_empty_body_creates_a_tenant_with_sensible_defaults() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/_sim/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let tenant: serde_json::Value = response.json().await.unwrap();
    let id = tenant["id"].as_str().unwrap();
    assert_eq!(location, format!("/_sim/tenants/{id}"));
    let domain = format!("tenant-{}.test", &id[..8]);
    assert_eq!(tenant["domain"], domain.as_str());
    assert_eq!(tenant["createdAt"], "2026-01-01T09:00:00Z");
    let admin = &tenant["users"][0];
    assert_eq!(admin["upn"], format!("admin@{domain}").as_str());
    assert_eq!(admin["roles"], json!(["Global admin"]));
    assert_eq!(admin["licenses"], json!([UO_PLAN]));
    assert_eq!(
        tenant["capacity"],
        json!({"databaseMb": 10240, "fileMb": 20480, "logMb": 2048})
    );
    assert_eq!(
        tenant["governance"],
        json!({"restrictEnvironmentCreationToAdmins": false})
    );
    let app_reg = &tenant["applications"][0];
    assert_eq!(app_reg["clientSecret"].as_str().unwrap().len(), 40);
    let (_, fetched) = app.get(&location).await;
    assert_eq!(fetched, tenant);
}

#[tokio::test]
async fn a_tenant_can_be_described_in_full() {
    let app = spawn_app().await;
    let tenant = app
        .create_tenant(json!({
            "id": "11111111-2222-4333-8444-555555555555",
            "domain": "Fabrikam.test",
            "displayName": "Fabrikam",
            "users": [
                {"upn": "admin@fabrikam.test", "roles": ["Global Administrator"], "licenses": [UO_PLAN]},
                {"upn": "fo.admin@fabrikam.test", "objectId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
                 "password": "P@ss", "roles": [], "licenses": []}
            ],
            "applications": [{"clientId": "99999999-8888-4777-8666-555555555555", "clientSecret": "s3cret"}],
            "capacity": {"databaseMb": 512},
            "governance": {"restrictEnvironmentCreationToAdmins": true}
        }))
        .await;
    assert_eq!(tenant["id"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(tenant["domain"], "fabrikam.test");
    assert_eq!(tenant["users"][0]["roles"], json!(["Global admin"]));
    assert_eq!(tenant["users"][1]["displayName"], "Fo Admin");
    assert_eq!(
        tenant["users"][1]["objectId"],
        "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    );
    assert_eq!(tenant["users"][1]["password"], "P@ss");
    assert_eq!(tenant["applications"][0]["clientSecret"], "s3cret");
    assert_eq!(tenant["capacity"]["databaseMb"], 512);
    assert_eq!(tenant["capacity"]["fileMb"], 20480);
    assert_eq!(
        tenant["governance"]["restrictEnvironmentCreationToAdmins"],
        true
    );

    let (_, list) = app.get("/_sim/tenants").await;
    let ids: Vec<&str> = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [DEFAULT_TENANT, "11111111-2222-4333-8444-555555555555"],
        "creation order"
    );

    let reply = app
        .post(
            "/_sim/tenants",
            json!({"id": "11111111222243338444555555555555"}),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "TenantExists");
}

#[tokio::test]
async fn users_licenses_roles_capacity_and_governance_change_at_runtime() {
    let app = spawn_app().await;
    let tenant = app.create_tenant(json!({"domain": "contoso.test"})).await;
    let base = format!("/_sim/tenants/{}", tenant["id"].as_str().unwrap());

    let (status, user) = app
        .post(
            &format!("{base}/users"),
            json!({"upn": "fo.admin@contoso.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(
        (user["roles"].clone(), user["licenses"].clone()),
        (json!([]), json!([]))
    );

    let (status, user) = app
        .patch(
            &format!("{base}/users/FO.ADMIN@contoso.test"),
            json!({"licenses": [UO_PLAN, UO_PLAN], "roles": ["power platform admin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["licenses"], json!([UO_PLAN]), "duplicates collapse");
    assert_eq!(user["roles"], json!(["Power Platform admin"]));

    let (_, user) = app
        .patch(
            &format!("{base}/users/fo.admin@contoso.test"),
            json!({"licenses": []}),
        )
        .await;
    assert_eq!(
        (user["licenses"].clone(), user["roles"].clone()),
        (json!([]), json!(["Power Platform admin"]))
    );

    let (status, capacity) = app
        .patch(&format!("{base}/capacity"), json!({"databaseMb": 900}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        capacity,
        json!({"databaseMb": 900, "fileMb": 20480, "logMb": 2048})
    );

    let (status, governance) = app
        .patch(
            &format!("{base}/governance"),
            json!({"restrictEnvironmentCreationToAdmins": true}),
        )
        .await;
    assert_eq!(
        (
            status,
            governance["restrictEnvironmentCreationToAdmins"].as_bool()
        ),
        (StatusCode::OK, Some(true))
    );

    let (_, tenant) = app.get(&base).await;
    assert_eq!(tenant["capacity"]["databaseMb"], 900);
    assert_eq!(
        tenant["governance"]["restrictEnvironmentCreationToAdmins"],
        true
    );
    assert_eq!(tenant["users"][1]["roles"], json!(["Power Platform admin"]));

    let (status, _) = app
        .delete(&format!("{base}/users/fo.admin@contoso.test"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let reply = app
        .delete(&format!("{base}/users/fo.admin@contoso.test"))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "UserNotFound");
}

#[tokio::test]
async fn a_tenant_reset_restores_its_created_state() {
    let app = spawn_app().await;
    let created = app.create_tenant(json!({"domain": "reset.test"})).await;
    let base = format!("/_sim/tenants/{}", created["id"].as_str().unwrap());
    app.post(&format!("{base}/users"), json!({"upn": "extra@reset.test"}))
        .await;
    app.patch(
        &format!("{base}/users/admin@reset.test"),
        json!({"roles": []}),
    )
    .await;
    app.patch(&format!("{base}/capacity"), json!({"databaseMb": 1}))
        .await;
    app.post(&format!("{base}/clock/advance"), json!({"by": "3h"}))
        .await;

    let (status, reset) = app.post(&format!("{base}/reset"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(
        reset, created,
        "identical to the freshly created tenant, ids included"
    );
}

#[tokio::test]
async fn a_global_reset_returns_to_the_start_up_state() {
    let app = spawn_app().await;
    let first = app.create_tenant(json!({})).await;
    app.advance("5h").await;
    app.patch(
        &format!("/_sim/tenants/{DEFAULT_TENANT}/users/admin@contoso.test"),
        json!({"licenses": []}),
    )
    .await;

    let (status, body) = app.post("/_sim/reset", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"now": "2026-01-01T09:00:00Z", "tenants": [DEFAULT_TENANT]})
    );
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    assert_eq!(tenant["users"][0]["licenses"], json!([UO_PLAN]));
    let reply = app
        .get(&format!("/_sim/tenants/{}", first["id"].as_str().unwrap()))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "TenantNotFound");
    let (_, journal) = app.get("/_sim/journal").await;
    let paths: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths[0], "/_sim/reset",
        "the journal starts over: {paths:?}"
    );
    assert_eq!(paths.len(), 3);

    // Ids drawn after a reset repeat those of a fresh run.
    let again = app.create_tenant(json!({})).await;
    assert_eq!(again["id"], first["id"]);
}

#[tokio::test]
async fn deleting_a_tenant_removes_it() {
    let app = spawn_app().await;
    let tenant = app.create_tenant(json!({})).await;
    let path = format!("/_sim/tenants/{}", tenant["id"].as_str().unwrap());
    let (status, body) = app.delete(&path).await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    assert_error(
        &app.get(&path).await,
        StatusCode::NOT_FOUND,
        "TenantNotFound",
    );
    assert_error(
        &app.delete(&path).await,
        StatusCode::NOT_FOUND,
        "TenantNotFound",
    );
}

#[tokio::test]
async fn bad_tenant_input_gets_a_4xx_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"id": "contoso"}),
            StatusCode::BAD_REQUEST,
            "InvalidTenantId",
            "id",
        ),
        (
            json!({"domain": "no spaces.test"}),
            StatusCode::BAD_REQUEST,
            "InvalidDomain",
            "domain",
        ),
        (
            json!({"users": [{"upn": "nobody"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidUpn",
            "users[0].upn",
        ),
        (
            json!({"users": [{"upn": "a@b.test", "roles": ["Owner"]}]}),
            StatusCode::BAD_REQUEST,
            "InvalidRole",
            "users[0].roles[0]",
        ),
        (
            json!({"users": [{"upn": "a@b.test", "licenses": [" "]}]}),
            StatusCode::BAD_REQUEST,
            "InvalidLicense",
            "users[0].licenses[0]",
        ),
        (
            json!({"users": [{"upn": "a@b.test", "objectId": "x"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidObjectId",
            "users[0].objectId",
        ),
        (
            json!({"users": [{"upn": "a@b.test"}, {"upn": "A@B.TEST"}]}),
            StatusCode::CONFLICT,
            "UserExists",
            "users[1].upn",
        ),
        (
            json!({"users": [{"upn": "a@b.test", "role": []}]}),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
            "users[0]",
        ),
        (
            json!({"users": [{"upn": "a@b.test", "roles": "Global admin"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
            "users[0].roles",
        ),
        (
            json!({"capacity": {"databaseMb": -1}}),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
            "capacity.databaseMb",
        ),
        (
            json!({"capacity": {"databaseMb": 1e12 as u64}}),
            StatusCode::BAD_REQUEST,
            "InvalidCapacity",
            "capacity.databaseMb",
        ),
        (
            json!({"applications": [{"clientId": "nope"}]}),
            StatusCode::BAD_REQUEST,
            "InvalidObjectId",
            "applications[0].clientId",
        ),
        (
            json!({"domian": "typo.test"}),
            StatusCode::BAD_REQUEST,
            "InvalidBody",
            "domian",
        ),
    ];
    for (body, status, code, target) in cases {
        let reply = app.post("/_sim/tenants", body.clone()).await;
        assert_error(&reply, status, code);
        let got = reply.1["error"]["target"].as_str().unwrap_or_default();
        assert!(
            got == target || got.starts_with(target),
            "{body}: target {got}, wanted {target}"
        );
    }
    assert_error(
        &app.post_raw("/_sim/tenants", "{\"users\": [").await,
        StatusCode::BAD_REQUEST,
        "InvalidJson",
    );
    assert_error(
        &app.post_raw("/_sim/tenants", "[1, 2]").await,
        StatusCode::BAD_REQUEST,
        "InvalidBody",
    );
    let (_, list) = app.get("/_sim/tenants").await;
    assert_eq!(
        list["tenants"].as_array().unwrap().len(),
        1,
        "no tenant was half-created"
    );

    let base = format!("/_sim/tenants/{DEFAULT_TENANT}");
    assert_error(
        &app.get("/_sim/tenants/not-a-guid").await,
        StatusCode::BAD_REQUEST,
        "InvalidTenantId",
    );
    assert_error(
        &app.get("/_sim/tenants/00000000-0000-0000-0000-000000000099")
            .await,
        StatusCode::NOT_FOUND,
        "TenantNotFound",
    );
    assert_error(
        &app.post(
            &format!("{base}/users"),
            json!({"upn": "admin@contoso.test"}),
        )
        .await,
        StatusCode::CONFLICT,
        "UserExists",
    );
    assert_error(
        &app.post(&format!("{base}/users"), json!({})).await,
        StatusCode::BAD_REQUEST,
        "InvalidBody",
    );
    let reply = app
        .patch(
            &format!("{base}/users/admin@contoso.test"),
            json!({"roles": ["Global admin", "Boss"]}),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidRole");
    assert_eq!(reply.1["error"]["target"], "roles[1]");
    assert_error(
        &app.patch(&format!("{base}/users/ghost@contoso.test"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "UserNotFound",
    );
    assert_error(
        &app.patch(&format!("{base}/capacity"), json!({"databaseMb": "lots"}))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidBody",
    );
    assert_error(
        &app.patch(&format!("{base}/capacity"), json!({"fileMb": 1u64 << 40}))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidCapacity",
    );
    assert_error(
        &app.patch(&format!("{base}/governance"), json!({"restrict": true}))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidBody",
    );
    let (_, tenant) = app.get(&base).await;
    assert_eq!(
        tenant["users"][0]["roles"],
        json!(["Global admin"]),
        "a failed patch changes nothing"
    );
    assert_eq!(tenant["capacity"]["fileMb"], 20480);
}

/// Reading or changing a tenant applies what is due first: with the shared clock moved past two
/// timeline events and no request made since, the fault list already holds the fault the first
/// event planned, and a user change starts from the license the second event assigned.
#[tokio::test]
async fn a_due_timeline_event_applies_before_a_fault_rule_or_a_user_change() {
    let app = spawn_app().await;
    let scenario = "tenants:\n  - domain: due.test\n    users:\n      - {upn: ops@due.test, roles: []}\n    timeline:\n      - {at: 1h, fault: {name: later, operation: {kind: powerPlatformIntegration.setup, stage: 0, error: {code: Busy, message: Not now.}}}}\n      - {at: 1h, user: {upn: ops@due.test, addLicenses: [Dynamics 365 Unified Operations Plan]}}\n";
    let (status, loaded) = app.post_raw("/_sim/scenarios", scenario).await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    let id = loaded["tenants"][0]["id"].as_str().unwrap().to_string();
    // The shared clock moves on its own (as it does at a time scale): nothing is settled yet.
    app.sim
        .state()
        .clock
        .advance(jiff::SignedDuration::from_hours(2))
        .unwrap();
    let (status, faults) = app.get(&format!("/_sim/tenants/{id}/faults")).await;
    assert_eq!(status, StatusCode::OK, "{faults}");
    assert_eq!(faults["operations"][0]["name"], "later", "{faults}");
    let (status, user) = app
        .patch(
            &format!("/_sim/tenants/{id}/users/ops@due.test"),
            json!({"displayName": "Ops"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["licenses"], json!([UO_PLAN]), "{user}");
    assert_eq!(user["displayName"], "Ops", "{user}");
}
