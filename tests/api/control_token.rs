//! `--control-token`: a simulator started with one answers its control plane's state routes only
//! for requests that carry it; probes, the document, the real APIs and the pages stay as they are.

use crate::helpers::{self, DEFAULT_TENANT, assert_error, builder, spawn_app, spawn_with};
use lifecycle_sim::ControlToken;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-Token_1.2~3+4/5=";

async fn guarded() -> crate::helpers::TestApp {
    spawn_with(builder().control_token(ControlToken::new(TOKEN).unwrap())).await
}

/// Status, `WWW-Authenticate` and body of one request.
async fn ask(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
    let a = helpers::ask(request).await;
    (a.status, a.header(WWW_AUTHENTICATE.as_str()), a.body)
}

#[tokio::test]
async fn a_request_without_the_token_is_refused_with_how_to_send_it() {
    // Arrange
    let app = guarded().await;

    // Act
    let (status, challenge, body) = ask(app.client.get(app.url("/_sim/clock"))).await;

    // Assert
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let message = assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "ControlTokenRequired",
    );
    assert!(
        message.contains("Authorization: Bearer <token>"),
        "{message}"
    );
    assert!(message.contains("--control-token"), "{message}");
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="lifecycle-sim control plane""#)
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_as_invalid() {
    let app = guarded().await;

    for request in [
        app.client.get(app.url("/_sim/clock")).bearer_auth("guess"),
        app.client
            .get(app.url("/_sim/clock"))
            .header(COOKIE, "lifecycle-sim-control-token=guess"),
        // Another scheme carries no control token at all.
        app.client
            .get(app.url("/_sim/clock"))
            .header(AUTHORIZATION, format!("Basic {TOKEN}")),
    ] {
        let (status, challenge, body) = ask(request).await;
        let code = body["error"]["code"].as_str().unwrap().to_string();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        match code.as_str() {
            "ControlTokenInvalid" => assert_eq!(
                challenge.as_deref(),
                Some(r#"Bearer realm="lifecycle-sim control plane", error="invalid_token""#)
            ),
            "ControlTokenRequired" => assert!(challenge.is_some()),
            other => panic!("{other}: {body}"),
        }
    }
    let (_, _, body) = ask(app.client.get(app.url("/_sim/clock")).bearer_auth("guess")).await;
    assert_error(
        &(StatusCode::UNAUTHORIZED, body),
        StatusCode::UNAUTHORIZED,
        "ControlTokenInvalid",
    );
}

#[tokio::test]
async fn the_token_as_bearer_or_as_the_pages_cookie_is_let_through() {
    let app = guarded().await;

    let (by_header, _, clock) =
        ask(app.client.get(app.url("/_sim/clock")).bearer_auth(TOKEN)).await;
    let (by_cookie, _, tenants) = ask(app.client.get(app.url("/_sim/tenants")).header(
        COOKIE,
        format!("theme=dark; lifecycle-sim-control-token={TOKEN}"),
    ))
    .await;

    assert_eq!(by_header, StatusCode::OK, "{clock}");
    assert_eq!(clock["now"], "2026-01-01T09:00:00Z");
    assert_eq!(by_cookie, StatusCode::OK, "{tenants}");
    assert_eq!(tenants["tenants"][0]["id"], DEFAULT_TENANT);
}

#[tokio::test]
async fn a_refused_change_changes_nothing() {
    // Arrange: a tenant created with the token.
    let app = guarded().await;
    let (created, _, _) = ask(app
        .client
        .post(app.url("/_sim/tenants"))
        .bearer_auth(TOKEN)
        .json(&json!({"domain": "fabrikam.test"})))
    .await;
    assert_eq!(created, StatusCode::CREATED);

    // Act: a reset and an advance without it.
    let (reset, _, _) = ask(app.client.post(app.url("/_sim/reset"))).await;
    let (advance, _, _) = ask(app
        .client
        .post(app.url("/_sim/clock/advance"))
        .json(&json!({"by": "90m"})))
    .await;

    // Assert: both refused, the tenant and the clock as they were.
    assert_eq!(reset, StatusCode::UNAUTHORIZED);
    assert_eq!(advance, StatusCode::UNAUTHORIZED);
    let (_, _, tenants) = ask(app.client.get(app.url("/_sim/tenants")).bearer_auth(TOKEN)).await;
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.sim.state().clock.now().to_string(),
        "2026-01-01T09:00:00Z"
    );
}

#[tokio::test]
async fn probes_the_document_the_real_apis_and_the_pages_need_no_control_token() {
    let app = guarded().await;

    for path in [
        "/_sim/health",
        "/_sim/ready",
        "/_sim/openapi.json",
        "/_sim/tls/ca.pem",
        "/_ui/lcs",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // A portal user signs in and calls LCS as always; the control plane never sees them.
    let user = app
        .sim
        .control()
        .token(
            DEFAULT_TENANT,
            "admin@contoso.test",
            "https://lcsapi.lcs.dynamics.com",
        )
        .await
        .unwrap();
    let (status, projects) = app.get_with_token("/_portal/lcs/projects", &user).await;
    assert_eq!(status, StatusCode::OK, "{projects}");
    // ...and their token is not a control token.
    let (status, _, body) = ask(app.client.get(app.url("/_sim/clock")).bearer_auth(&user)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "ControlTokenInvalid");
}

#[tokio::test]
async fn the_event_stream_takes_the_pages_cookie() {
    let app = guarded().await;

    let refused = app
        .client
        .get(app.url("/_sim/events"))
        .send()
        .await
        .unwrap();
    let streaming = app
        .client
        .get(app.url("/_sim/events"))
        .header(COOKIE, format!("lifecycle-sim-control-token={TOKEN}"))
        .send()
        .await
        .unwrap();

    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(streaming.status(), StatusCode::OK);
    assert_eq!(
        streaming.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
}

#[tokio::test]
async fn the_in_process_control_handle_sends_the_token_by_itself() {
    let app = guarded().await;

    let advanced = app.sim.control().advance("15m").await.unwrap();

    assert_eq!(advanced.now.to_string(), "2026-01-01T09:15:00Z");
}

#[tokio::test]
async fn without_a_control_token_any_authorization_is_ignored() {
    let app = spawn_app().await;

    let (status, _, clock) = ask(app
        .client
        .get(app.url("/_sim/clock"))
        .bearer_auth("whatever"))
    .await;

    assert_eq!(status, StatusCode::OK, "{clock}");
}

#[tokio::test]
async fn the_document_marks_the_guarded_operations() {
    let app = guarded().await;

    let (_, doc) = app.get("/_sim/openapi.json").await;

    let scheme = &doc["components"]["securitySchemes"]["controlToken"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let optional = json!([{}, {"controlToken": []}]);
    for (path, method) in [
        ("/_sim/clock", "get"),
        ("/_sim/reset", "post"),
        ("/_sim/events", "get"),
        ("/_sim/tenants/{tenant}/operations", "get"),
    ] {
        assert_eq!(doc["paths"][path][method]["security"], optional, "{path}");
    }
    for path in [
        "/_sim/health",
        "/_sim/ready",
        "/_sim/openapi.json",
        "/_sim/tls/ca.pem",
    ] {
        assert!(
            doc["paths"][path]["get"].get("security").is_none(),
            "{path}"
        );
    }
    // Every other control operation is guarded.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/_sim/")
            && !path.ends_with("/health")
            && !path.ends_with("/ready")
            && !path.ends_with("/openapi.json")
            && !path.ends_with("/ca.pem")
        {
            for (method, op) in item.as_object().unwrap() {
                assert_eq!(op["security"], optional, "{method} {path}");
            }
        }
    }
}

#[test]
fn a_token_outside_the_bearer_alphabet_is_refused() {
    for bad in ["", "has space", "semi;colon", &"x".repeat(257)] {
        let error = ControlToken::new(bad).unwrap_err();
        assert!(error.contains("1 to 256 characters"), "{bad:?}: {error}");
    }
    assert!(ControlToken::new(&"x".repeat(256)).is_ok());
    assert_eq!(
        format!("{:?}", ControlToken::new(TOKEN).unwrap()),
        "ControlToken(..)"
    );
}
