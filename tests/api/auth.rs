use crate::helpers::{DEFAULT_TENANT, TestApp, builder, spawn_app, spawn_with};
use lifecycle_sim::AuthMode;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLIENT: &str = "6f8a6e6e-1111-4222-8333-944444444444";
const LCS: &str = "https://lcsapi.lcs.dynamics.com";

/// The claims of a JWT, read without checking the signature (as clients read them).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Asserts Entra's error envelope and returns the AADSTS number.
fn assert_entra_error(reply: &(StatusCode, Value), status: StatusCode, error: &str, aadsts: u64) {
    let (got, body) = reply;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([aadsts]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{aadsts}: ")),
        "{description}"
    );
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%SZ", timestamp).is_ok(),
        "{timestamp}"
    );
    assert!(
        description.contains("Trace ID: ")
            && description.ends_with(&format!("Timestamp: {timestamp}"))
    );
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={aadsts}")
    );
}

async fn password_v1(
    app: &TestApp,
    tenant: &str,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    let form = [
        ("resource", LCS),
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("username", username),
        ("password", password),
        ("scope", "openid"),
    ];
    app.token(tenant, "v1", &form).await
}

#[tokio::test]
async fn the_v1_password_grant_answers_in_the_shape_d365fo_tools_binds() {
    let app = spawn_app().await;
    let (status, body) = password_v1(&app, DEFAULT_TENANT, "admin@contoso.test", "any").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], LCS, "resource is echoed verbatim");
    assert_eq!(body["expires_in"], "3600", "v1 numbers are strings");
    assert_eq!(body["ext_expires_in"], "3600");
    let iat = start().as_second();
    assert_eq!(body["not_before"], iat.to_string());
    assert_eq!(body["expires_on"], (iat + 3600).to_string());
    assert_eq!(body["scope"], "user_impersonation");
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());

    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], LCS);
    assert_eq!(access["tid"], DEFAULT_TENANT);
    assert_eq!(access["upn"], "admin@contoso.test");
    assert_eq!(
        access["iss"],
        format!("https://sts.windows.net/{DEFAULT_TENANT}/")
    );
    assert_eq!(access["ver"], "1.0");
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    assert_eq!(access["oid"], tenant["users"][0]["objectId"]);
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], CLIENT);
}

fn start() -> jiff::Timestamp {
    crate::helpers::START.parse().unwrap()
}

#[tokio::test]
async fn form_fields_may_come_in_any_order_and_the_tenant_by_domain() {
    let app = spawn_app().await;
    let encoded = format!(
        "password=any&username=admin%40contoso.test&client_id={CLIENT}&grant_type=password&resource=https%3a%2f%2flcsapi.lcs.dynamics.com"
    );
    let response = app
        .client
        .post(app.url("/contoso.test/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resource"], LCS);
}

#[tokio::test]
async fn the_v2_endpoint_issues_scoped_tokens() {
    let app = spawn_app().await;
    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("username", "admin@contoso.test"),
        ("password", "x"),
        (
            "scope",
            "https://api.bap.microsoft.com/.default openid offline_access",
        ),
    ];
    let (status, body) = app.token(DEFAULT_TENANT, "v2", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 3600, "v2 numbers are numbers");
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], "https://api.bap.microsoft.com");
    assert_eq!(access["ver"], "2.0");

    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("username", "admin@contoso.test"),
        ("password", "x"),
        ("scope", "https://service.powerapps.com//.default"),
    ];
    let (_, body) = app.token(DEFAULT_TENANT, "v2", &form).await;
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        "https://service.powerapps.com/"
    );
}

#[tokio::test]
async fn client_credentials_need_the_registered_secret() {
    let app = spawn_app().await;
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    let client_id = tenant["applications"][0]["clientId"].as_str().unwrap();
    let secret = tenant["applications"][0]["clientSecret"].as_str().unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", "https://api.powerplatform.com/.default"),
    ];
    let (status, body) = app.token(DEFAULT_TENANT, "v2", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (access["idtyp"].as_str(), access["azp"].as_str()),
        (Some("app"), Some(client_id)),
        "v2 tokens name the client in azp"
    );
    assert_eq!(access["azpacr"], "1", "authenticated by its secret");
    assert!(access.get("appid").is_none(), "appid is a v1 claim");
    assert_eq!(access["oid"], tenant["applications"][0]["objectId"]);

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", "wrong"),
        ("resource", LCS),
    ];
    assert_entra_error(
        &app.token(DEFAULT_TENANT, "v1", &form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000215,
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "00000000-0000-4000-8000-000000000000"),
        ("client_secret", "x"),
    ];
    assert_entra_error(
        &app.token(DEFAULT_TENANT, "v1", &form).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", "https://api.powerplatform.com/user_impersonation"),
    ];
    assert_entra_error(
        &app.token(DEFAULT_TENANT, "v2", &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
    );
    // OIDC scopes alone name no resource.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", "openid profile"),
    ];
    assert_entra_error(
        &app.token(DEFAULT_TENANT, "v2", &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
    );
}

#[tokio::test]
async fn client_credentials_ignore_the_oidc_scopes_msal_for_go_adds() {
    let app = spawn_app().await;
    let (_, tenant) = app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_id",
            tenant["applications"][0]["clientId"].as_str().unwrap(),
        ),
        (
            "client_secret",
            tenant["applications"][0]["clientSecret"].as_str().unwrap(),
        ),
        (
            "scope",
            "https://api.bap.microsoft.com/.default openid offline_access profile",
        ),
    ];
    let (status, body) = app.token(DEFAULT_TENANT, "v2", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        "https://api.bap.microsoft.com"
    );
}

#[tokio::test]
async fn sign_in_failures_use_entra_codes() {
    let app = spawn_app().await;
    app.create_tenant(json!({"domain": "locked.test", "users": [{"upn": "admin@locked.test", "password": "right"}]})).await;
    let reply = password_v1(&app, "locked.test", "admin@locked.test", "wrong").await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant", 50126);
    assert_eq!(reply.1["timestamp"], "2026-01-01 09:00:00Z", "virtual time");
    let (status, _) = password_v1(&app, "locked.test", "admin@locked.test", "right").await;
    assert_eq!(status, StatusCode::OK);
    assert_entra_error(
        &password_v1(&app, DEFAULT_TENANT, "ghost@contoso.test", "x").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50034,
    );
    assert_entra_error(
        &password_v1(&app, "nowhere.test", "a@nowhere.test", "x").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
    );
    let reply = app
        .token(DEFAULT_TENANT, "v1", &[("client_id", CLIENT)])
        .await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 900144);
    assert!(
        reply.1["error_description"]
            .as_str()
            .unwrap()
            .contains("'grant_type'")
    );
    let reply = app
        .token(
            DEFAULT_TENANT,
            "v1",
            &[
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("username", "admin@contoso.test"),
            ],
        )
        .await;
    assert!(
        reply.1["error_description"]
            .as_str()
            .unwrap()
            .contains("'password'")
    );
    let reply = app
        .token(
            DEFAULT_TENANT,
            "v1",
            &[("grant_type", "authorization_code")],
        )
        .await;
    assert_entra_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    );
}

#[tokio::test]
async fn the_common_endpoint_finds_the_tenant_by_upn() {
    let app = spawn_app().await;
    let tenant = app.create_tenant(json!({"domain": "fabrikam.test"})).await;
    let (status, body) = password_v1(&app, "common", "admin@fabrikam.test", "x").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["tid"],
        tenant["id"]
    );

    app.create_tenant(json!({"domain": "fabrikam.test"})).await;
    let reply = password_v1(&app, "common", "admin@fabrikam.test", "x").await;
    assert_entra_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", 90002);
    assert!(
        reply.1["error_description"]
            .as_str()
            .unwrap()
            .contains("2 tenants")
    );
}

#[tokio::test]
async fn refresh_tokens_renew_access_tokens_and_are_not_access_tokens() {
    let app = spawn_app().await;
    let (_, first) = password_v1(&app, DEFAULT_TENANT, "admin@contoso.test", "x").await;
    let refresh = first["refresh_token"].as_str().unwrap();
    app.advance("2h").await;
    // Refresh as d365fo.tools does: resource present but empty.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT),
        ("refresh_token", refresh),
        ("resource", ""),
    ];
    let (status, body) = app.token("common", "v1", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resource"], LCS, "the original resource carries over");
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        access["iat"],
        start().as_second() + 7200,
        "issued at the new virtual now"
    );

    let reply = app.get_with_token("/oidc/userinfo", refresh).await;
    assert_eq!(reply.0, StatusCode::UNAUTHORIZED);
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT),
        ("refresh_token", "garbage"),
    ];
    assert_entra_error(
        &app.token(DEFAULT_TENANT, "v1", &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        9002313,
    );
}

#[tokio::test]
async fn portal_calls_without_a_token_get_401_in_the_surface_shape() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/oidc/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer realm=\"\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization")
    );

    for header in ["Bearer not-a-jwt", "Basic YWRtaW46cHc=", "Bearer "] {
        let response = app
            .client
            .get(app.url("/oidc/userinfo"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    let (_, journal) = app.get("/_sim/journal").await;
    let codes: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["errorCode"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "MissingToken",
            "InvalidToken",
            "InvalidToken",
            "InvalidToken"
        ]
    );
}

#[tokio::test]
async fn a_token_only_ever_reaches_its_own_tenant() {
    let app = spawn_app().await;
    // Two tenants described identically: same domain, same UPN.
    let a = app.create_tenant(json!({"domain": "twin.test"})).await;
    let b = app.create_tenant(json!({"domain": "twin.test"})).await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let token_a = app.user_token(a_id, "admin@twin.test").await;
    let token_b = app.user_token(b_id, "admin@twin.test").await;
    assert_ne!(a["users"][0]["objectId"], b["users"][0]["objectId"]);

    let (status, me) = app.get_with_token("/oidc/userinfo", &token_a).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["sub"], a["users"][0]["objectId"]);
    assert_eq!(me["email"], "admin@twin.test");
    let (_, me) = app.get_with_token("/oidc/userinfo", &token_b).await;
    assert_eq!(me["sub"], b["users"][0]["objectId"]);

    // The journal attributes each call to the token's tenant.
    let (_, journal) = app.get(&format!("/_sim/journal?tenant={a_id}")).await;
    let paths: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/_sim/tenants",
            format!("/{a_id}/oauth2/token").as_str(),
            "/oidc/userinfo"
        ]
    );

    // Deleting B revokes B's tokens; A's keep working.
    app.delete(&format!("/_sim/tenants/{b_id}")).await;
    let (status, body) = app.get_with_token("/oidc/userinfo", &token_b).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer exists")
    );
    assert_eq!(
        app.get_with_token("/oidc/userinfo", &token_a).await.0,
        StatusCode::OK
    );

    // A token from another simulator run is not accepted.
    let other = spawn_with(builder().seed(99)).await;
    let foreign = other.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    assert_eq!(
        app.get_with_token("/oidc/userinfo", &foreign).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn removing_a_user_revokes_their_tokens() {
    let app = spawn_app().await;
    let base = format!("/_sim/tenants/{DEFAULT_TENANT}");
    app.post(
        &format!("{base}/users"),
        json!({"upn": "temp@contoso.test"}),
    )
    .await;
    let token = app.user_token(DEFAULT_TENANT, "temp@contoso.test").await;
    assert_eq!(
        app.get_with_token("/oidc/userinfo", &token).await.0,
        StatusCode::OK
    );
    app.delete(&format!("{base}/users/temp@contoso.test")).await;
    assert_eq!(
        app.get_with_token("/oidc/userinfo", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn token_expiry_follows_the_virtual_clock_when_enforced() {
    let app = spawn_with(builder().configure(|c| c.enforce_token_expiry = true)).await;
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    app.advance("59m").await;
    assert_eq!(
        app.get_with_token("/oidc/userinfo", &token).await.0,
        StatusCode::OK
    );
    app.advance("1m").await;
    let (status, body) = app.get_with_token("/oidc/userinfo", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired at 2026-01-01T10:00:00Z")
    );

    // Off by default: clients cache tokens by real time, so a clock jump must not break them.
    let relaxed = spawn_app().await;
    let token = relaxed
        .user_token(DEFAULT_TENANT, "admin@contoso.test")
        .await;
    relaxed.advance("8h").await;
    assert_eq!(
        relaxed.get_with_token("/oidc/userinfo", &token).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn auth_none_acts_as_the_default_admin() {
    let app = spawn_with(builder().auth(AuthMode::None)).await;
    let (status, me) = app.get("/oidc/userinfo").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "admin@contoso.test");
    let (_, me) = app.get_with_token("/oidc/userinfo", "whatever").await;
    assert_eq!(me["email"], "admin@contoso.test");
    // A real token still identifies its own user.
    let tenant = app.create_tenant(json!({"domain": "other.test"})).await;
    let token = app
        .user_token(tenant["id"].as_str().unwrap(), "admin@other.test")
        .await;
    let (_, me) = app.get_with_token("/oidc/userinfo", &token).await;
    assert_eq!(me["email"], "admin@other.test");

    let refused = builder()
        .auth(AuthMode::None)
        .without_default_tenant()
        .start()
        .await;
    assert!(refused.is_err(), "--auth none needs the default tenant");
}
