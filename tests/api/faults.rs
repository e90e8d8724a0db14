//! Request faults: latency, injected errors in each surface's envelope, throttling, counts,
//! windows, tenant scoping and reproducibility with the seed.

use super::helpers::{Answer, DEFAULT_TENANT, TestApp, assert_error, builder, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ENVS: &str =
    "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2021-04-01";

async fn hit(app: &TestApp, token: &str, method: Method, path: &str) -> Answer {
    app.call(token, method, path, None).await
}

async fn app_and_token() -> (TestApp, String) {
    let app = spawn_with(builder()).await;
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    (app, token)
}

#[tokio::test]
async fn counted_errors_answer_in_the_surface_envelope_and_are_marked() {
    let (app, token) = app_and_token().await;
    let (status, rule) = app
        .post(
            "/_sim/faults",
            json!({"name": "bap-down", "match": {"surface": "bap", "method": "GET", "path": "/providers/**/environments"},
                   "error": {"status": 503}, "count": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["remaining"], 2);
    for _ in 0..2 {
        let h = hit(&app, &token, Method::GET, ENVS).await;
        assert_eq!(h.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h.header("x-sim-fault").as_deref(), Some("bap-down"));
        assert_eq!(h.body["error"]["code"], "ServiceUnavailable", "{}", h.body);
        assert!(
            h.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("bap-down")
        );
    }
    let h = hit(&app, &token, Method::GET, ENVS).await;
    assert_eq!(h.status, StatusCode::OK, "the rule is used up");
    assert_eq!(h.header("x-sim-fault"), None);
    let (_, list) = app.get("/_sim/faults").await;
    assert_eq!(list["requests"], json!([]));
    let (_, journal) = app.get("/_sim/journal?limit=10").await;
    let marked = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fault"] == "bap-down")
        .count();
    assert_eq!(marked, 2, "{journal}");

    // The same kind of rule in the other envelopes.
    app.post(
        "/_sim/faults",
        json!({"name": "busy", "match": {"surface": "powerPlatform"},
               "error": {"status": 409, "code": "OperationNotStartable", "message": "busy"}}),
    )
    .await;
    let h = hit(
        &app,
        &token,
        Method::GET,
        "/environmentmanagement/environments?api-version=2024-10-01",
    )
    .await;
    assert_eq!(h.status, StatusCode::CONFLICT);
    assert_eq!(h.body["errorDetail"]["code"], "OperationNotStartable");
    app.post(
        "/_sim/faults",
        json!({"name": "lcs-500", "match": {"surface": "lcs"}, "error": {"status": 500}}),
    )
    .await;
    let h = hit(
        &app,
        &token,
        Method::GET,
        "/environmentinfo/v1/detail/project/1234567",
    )
    .await;
    assert_eq!(h.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.body["Message"], "An error has occurred.");
    // The control plane is never faulted.
    app.post(
        "/_sim/faults",
        json!({"name": "everything", "error": {"status": 503}}),
    )
    .await;
    let (status, _) = app.get("/_sim/health").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.delete("/_sim/faults").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        hit(&app, &token, Method::GET, ENVS).await.status,
        StatusCode::OK
    );
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// An error a rule injects looks like the surface's own refusal of that class: the same envelope,
/// the same members, rendered by the same code; LCS answers a refusal 200 with `IsSuccess: false`.
#[tokio::test]
async fn an_injected_error_has_the_shape_of_the_surfaces_own_refusal() {
    let (app, token) = app_and_token().await;
    let rule = |name: &str, surface: &str, status: u16| json!({"name": name, "match": {"surface": surface}, "error": {"status": status}, "count": 1});
    let lcs = "/environmentinfo/v1/detail/project/abc";
    let own = hit(&app, &token, Method::GET, lcs).await;
    assert_eq!(
        (own.status, &own.body["IsSuccess"]),
        (StatusCode::OK, &json!(false))
    );
    app.post("/_sim/faults", rule("lcs-busy", "lcs", 409)).await;
    let injected = hit(&app, &token, Method::GET, lcs).await;
    assert_eq!(injected.header("x-sim-fault").as_deref(), Some("lcs-busy"));
    assert_eq!(injected.status, StatusCode::OK, "{}", injected.body);
    assert_eq!(keys(&injected.body), keys(&own.body), "{}", injected.body);
    assert_eq!(injected.body["IsSuccess"], json!(false));
    assert!(
        injected.body["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("lcs-busy")
    );

    let pp = "/environmentmanagement/environments?api-version=2024-10-01";
    app.post("/_sim/faults", rule("pp-bad", "powerPlatform", 400))
        .await;
    let injected = hit(&app, &token, Method::GET, pp).await;
    assert_eq!(injected.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        injected.body,
        json!({"errorDetail": {"code": "BadRequest", "message": injected.body["errorDetail"]["message"],
                               "fieldErrors": {}}})
    );

    let portal = "/_portal/lcs/projects/9999999";
    let own = hit(&app, &token, Method::GET, portal).await;
    assert_eq!(own.status, StatusCode::NOT_FOUND, "{}", own.body);
    app.post("/_sim/faults", rule("portal-down", "portal", 500))
        .await;
    let injected = hit(&app, &token, Method::GET, portal).await;
    assert_eq!(injected.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(keys(&injected.body["error"]), keys(&own.body["error"]));
    assert_eq!(injected.body["error"]["code"], "InternalServerError");

    let entra = format!("/{DEFAULT_TENANT}/oauth2/token");
    let own = hit(&app, &token, Method::POST, &entra).await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "{}", own.body);
    app.post("/_sim/faults", rule("entra-down", "auth", 503))
        .await;
    let injected = hit(&app, &token, Method::POST, &entra).await;
    assert_eq!(injected.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(keys(&injected.body), keys(&own.body), "{}", injected.body);
    assert_eq!(injected.body["error"], "ServiceUnavailable");

    let blob = "/_blob/lcsassets/assets/nothing-here";
    let own = hit(&app, &token, Method::GET, blob).await;
    assert_eq!(own.status, StatusCode::NOT_FOUND, "{:?}", own.body);
    assert!(own.body.as_str().unwrap().contains("RequestId:"));
    app.post("/_sim/faults", rule("blob-down", "blob", 503))
        .await;
    let injected = hit(&app, &token, Method::GET, blob).await;
    assert_eq!(injected.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = injected.body.as_str().unwrap();
    assert!(text.contains("<Code>ServiceUnavailable</Code>"), "{text}");
    assert!(
        text.contains("RequestId:"),
        "the storage envelope's request id: {text}"
    );

    // The journal records the injected error's code next to the rule.
    let (_, journal) = app.get("/_sim/journal?limit=20").await;
    let entry = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fault"] == "blob-down")
        .cloned()
        .unwrap();
    assert_eq!(entry["errorCode"], "InjectedFault", "{entry}");
}

#[tokio::test]
async fn a_throttle_answers_429_with_retry_after_and_recovers_when_the_window_ends() {
    let (app, token) = app_and_token().await;
    let other = app.create_tenant(json!({"domain": "other.test"})).await;
    let other_token = app
        .user_token(other["id"].as_str().unwrap(), "admin@other.test")
        .await;
    let (status, rule) = app
        .post(
            "/_sim/faults",
            json!({"name": "budget", "match": {"surface": "bap"}, "throttle": {"limit": 3, "window": "5m"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    for _ in 0..3 {
        assert_eq!(
            hit(&app, &token, Method::GET, ENVS).await.status,
            StatusCode::OK
        );
    }
    app.advance("1m").await;
    let h = hit(&app, &token, Method::GET, ENVS).await;
    assert_eq!(h.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        h.header("retry-after").as_deref(),
        Some("240"),
        "4 virtual minutes left"
    );
    assert_eq!(h.body["error"]["code"], "TooManyRequests");
    assert_eq!(h.header("x-sim-fault").as_deref(), Some("budget"));
    // Each tenant has its own budget.
    assert_eq!(
        hit(&app, &other_token, Method::GET, ENVS).await.status,
        StatusCode::OK
    );
    app.advance("4m").await;
    assert_eq!(
        hit(&app, &token, Method::GET, ENVS).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tenant_rules_touch_only_their_tenant_and_windows_follow_the_virtual_clock() {
    let (app, token) = app_and_token().await;
    let other = app.create_tenant(json!({"domain": "other.test"})).await;
    let other_id = other["id"].as_str().unwrap().to_string();
    let other_token = app.user_token(&other_id, "admin@other.test").await;
    let (status, rule) = app
        .post(
            &format!("/_sim/tenants/{other_id}/faults"),
            json!({"name": "later", "error": {"status": 502},
                   "from": "2026-01-01T10:00:00Z", "until": "2026-01-01T11:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["match"]["tenant"], other_id.as_str());
    assert_eq!(
        hit(&app, &other_token, Method::GET, ENVS).await.status,
        StatusCode::OK
    );
    app.advance("1h").await;
    assert_eq!(
        hit(&app, &other_token, Method::GET, ENVS).await.status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        hit(&app, &token, Method::GET, ENVS).await.status,
        StatusCode::OK
    );
    let (_, list) = app.get(&format!("/_sim/tenants/{other_id}/faults")).await;
    assert_eq!(list["requests"][0]["name"], "later");
    app.advance("1h").await;
    assert_eq!(
        hit(&app, &other_token, Method::GET, ENVS).await.status,
        StatusCode::OK
    );
    let (status, _) = app
        .delete(&format!("/_sim/tenants/{other_id}/faults/later"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn latency_delays_the_answer_and_is_marked() {
    let (app, token) = app_and_token().await;
    app.post(
        "/_sim/faults",
        json!({"name": "slow", "match": {"surface": "bap"}, "latency": {"distribution": "fixed", "ms": 60}}),
    )
    .await;
    let started = std::time::Instant::now();
    let h = hit(&app, &token, Method::GET, ENVS).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(55));
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("x-sim-fault").as_deref(), Some("slow"));
}

#[tokio::test]
async fn the_same_seed_and_requests_give_the_same_faults() {
    let pattern = async || {
        let (app, token) = app_and_token().await;
        app.post(
            "/_sim/faults",
            json!({"match": {"surface": "bap"}, "error": {"status": 500, "probability": 0.5}}),
        )
        .await;
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(hit(&app, &token, Method::GET, ENVS).await.status.as_u16());
        }
        seen
    };
    let a = pattern().await;
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
    assert_eq!(a, pattern().await);
}

#[tokio::test]
async fn bad_rules_get_a_400_naming_the_field() {
    let (app, _) = app_and_token().await;
    for (body, target) in [
        (
            json!({"match": {"surface": "mainframe"}, "error": {"status": 500}}),
            "match.surface",
        ),
        (json!({"error": {"status": 200}}), "error.status"),
        (
            json!({"error": {"status": 500, "probability": 2}}),
            "error.probability",
        ),
        (
            json!({"latency": {"distribution": "logNormal", "p50Ms": 300, "p99Ms": 100}}),
            "latency.p99Ms",
        ),
        (
            json!({"throttle": {"limit": 0, "window": "5m"}}),
            "throttle.limit",
        ),
        (
            json!({"match": {"path": "no-slash"}, "error": {"status": 500}}),
            "match.path",
        ),
        (json!({}), "operation"),
        (
            json!({"operation": {"kind": "lcs.deploy", "stage": 0, "error": {"code": "X", "message": "m"}}}),
            "operation",
        ),
    ] {
        let reply = app.post("/_sim/faults", body.clone()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidFaultRule");
        assert_eq!(reply.1["error"]["target"], target, "{body}");
    }
    let reply = app
        .post(
            "/_sim/faults",
            json!({"latency": {"distribution": "gamma", "ms": 1}}),
        )
        .await;
    assert_eq!(reply.0, StatusCode::BAD_REQUEST, "{}", reply.1);
    let reply = app.delete("/_sim/faults/nothing").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "FaultRuleNotFound");
}

#[tokio::test]
async fn a_planned_failure_must_target_one_of_the_tenants_environments() {
    let app = crate::helpers::spawn_app().await;
    let path = format!("/_sim/tenants/{}/faults", crate::helpers::DEFAULT_TENANT);
    let rule = |target: &str| {
        json!({"operation": {"kind": "powerPlatformIntegration.setup", "target": target,
            "stage": 0, "error": {"code": "X", "message": "m"}}})
    };

    let nowhere = app
        .post(&path, rule("c0de0001-0000-4000-8000-0000000000ff"))
        .await;
    // Contoso-UAT, undashed and in capitals.
    let uat = app
        .post(&path, rule("C0DE0001000040008000000000000002"))
        .await;
    let listed = app.get(&path).await;

    let message = assert_error(&nowhere, StatusCode::BAD_REQUEST, "InvalidFaultRule");
    assert_eq!(nowhere.1["error"]["target"], "operation.target");
    assert!(
        message.contains("names no environment of this tenant"),
        "{message}"
    );
    assert_eq!(uat.0, StatusCode::CREATED, "{}", uat.1);
    assert_eq!(
        uat.1["operation"]["target"], "c0de0001-0000-4000-8000-000000000002",
        "kept as operations name their target: {}",
        uat.1
    );
    assert_eq!(
        listed.1.to_string().matches("operation-").count(),
        1,
        "{}",
        listed.1
    );
}
