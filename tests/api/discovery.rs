//! Entra ID's discovery, as sign-in libraries read it before asking for a token: the OpenID
//! configurations, instance discovery, the user realm, and the key sets that let a client
//! validate the tokens it gets.

use crate::helpers::{DEFAULT_TENANT, TestApp, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLIENT: &str = "6f8a6e6e-1111-4222-8333-944444444444";

fn part(token: &str, index: usize) -> Value {
    let bytes = B64URL.decode(token.split('.').nth(index).unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Validates `token` as a careful client does: the key its header names, from the key set the
/// configuration names, an RS256 signature, the configuration's issuer.
async fn validate(app: &TestApp, config: &Value, token: &str) -> Value {
    let header = part(token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let jwks_uri = config["jwks_uri"].as_str().unwrap();
    let keys: Value = app
        .client
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("no key {} in {keys}", header["kid"]));
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["x5t"], header["x5t"]);
    let n = B64URL.decode(key["n"].as_str().unwrap()).unwrap();
    let e = B64URL.decode(key["e"].as_str().unwrap()).unwrap();
    let public = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = B64URL.decode(signature).unwrap();
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        )
        .expect("the signature verifies with the published key");
    let claims = part(token, 1);
    let issuer = config["issuer"]
        .as_str()
        .unwrap()
        .replace("{tenantid}", claims["tid"].as_str().unwrap());
    assert_eq!(claims["iss"], json!(issuer));
    claims
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    app.get(path).await
}

#[tokio::test]
async fn the_v2_configuration_names_the_endpoints_for_a_tenant_by_id_or_domain() {
    let app = spawn_app().await;
    let base = app.sim.uri();
    for name in [DEFAULT_TENANT, "contoso.test"] {
        let (status, config) = get(
            &app,
            &format!("/{name}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{config}");
        assert_eq!(
            config["token_endpoint"],
            format!("{base}/{DEFAULT_TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(
            config["jwks_uri"],
            format!("{base}/{DEFAULT_TENANT}/discovery/v2.0/keys")
        );
        assert_eq!(
            config["issuer"],
            format!("https://login.microsoftonline.com/{DEFAULT_TENANT}/v2.0")
        );
        assert_eq!(config["userinfo_endpoint"], format!("{base}/oidc/userinfo"));
        assert_eq!(
            config["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert!(config["authorization_endpoint"].is_string());
    }
    let (_, config) = get(&app, "/organizations/v2.0/.well-known/openid-configuration").await;
    assert_eq!(
        config["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );
    assert_eq!(
        config["token_endpoint"],
        format!("{base}/organizations/oauth2/v2.0/token")
    );
    assert_eq!(config["tenant_region_scope"], Value::Null);
}

#[tokio::test]
async fn the_v1_configuration_names_sts_as_issuer_and_the_common_keys() {
    let app = spawn_app().await;
    let (status, config) = get(
        &app,
        &format!("/{DEFAULT_TENANT}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config["issuer"],
        format!("https://sts.windows.net/{DEFAULT_TENANT}/")
    );
    assert_eq!(
        config["jwks_uri"],
        format!("{}/common/discovery/keys", app.sim.uri())
    );
    assert_eq!(
        config["token_endpoint"],
        format!("{}/{DEFAULT_TENANT}/oauth2/token", app.sim.uri())
    );
}

#[tokio::test]
async fn an_unknown_tenant_is_refused_as_entra_refuses_it() {
    let app = spawn_app().await;
    for path in [
        "/nobody.test/v2.0/.well-known/openid-configuration",
        "/11111111-2222-4333-8444-555555555555/.well-known/openid-configuration",
        "/nobody.test/discovery/v2.0/keys",
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error_codes"], json!([90002]), "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("GET /_sim/tenants"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn instance_discovery_points_at_the_tenant_configuration_and_lists_the_aliases() {
    let app = spawn_app().await;
    let (status, body) = get(
        &app,
        "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/contoso.test/oauth2/v2.0/authorize",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["tenant_discovery_endpoint"],
        "https://login.microsoftonline.com/contoso.test/v2.0/.well-known/openid-configuration"
    );
    let public = body["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["preferred_network"] == "login.microsoftonline.com")
        .unwrap();
    assert_eq!(
        public["aliases"],
        json!([
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net"
        ])
    );
    // Its own address counts as an instance too, and v1 authorities get the v1 configuration.
    let own = app.sim.address().to_string();
    let (_, body) = get(
        &app,
        &format!(
            "/common/discovery/instance?authorization_endpoint=http://{own}/common/oauth2/authorize"
        ),
    )
    .await;
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("http://{own}/common/.well-known/openid-configuration")
    );
    assert_eq!(body["metadata"][0]["preferred_network"], json!(own));

    let (status, body) = get(
        &app,
        "/common/discovery/instance?authorization_endpoint=https://login.example.test/common/oauth2/authorize",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_instance");
    assert_eq!(body["error_codes"], json!([50049]));
}

#[tokio::test]
async fn the_user_realm_is_managed_for_a_tenants_domain_and_unknown_otherwise() {
    let app = spawn_app().await;
    for path in [
        "/common/userrealm/admin@contoso.test?api-version=1.0",
        "/common/UserRealm/someone.new%40Contoso.test?api-version=1.0",
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["account_type"], "Managed", "{path}: {body}");
        assert_eq!(body["domain_name"], "contoso.test");
        assert_eq!(body["ver"], "1.0");
    }
    let (_, body) = get(&app, "/common/userrealm/who@nowhere.test?api-version=1.0").await;
    assert_eq!(body["account_type"], "Unknown");
    assert!(body.get("domain_name").is_none());
}

#[tokio::test]
async fn tokens_validate_against_the_published_keys_and_issuer_v2() {
    let app = spawn_app().await;
    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("username", "admin@contoso.test"),
        ("password", "x"),
        (
            "scope",
            "https://api.powerplatform.com/.default openid profile offline_access",
        ),
        ("client_info", "1"),
    ];
    let (status, body) = app.token("organizations", "v2", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, config) = get(
        &app,
        &format!("/{DEFAULT_TENANT}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let access = validate(&app, &config, body["access_token"].as_str().unwrap()).await;
    assert_eq!(access["aud"], "https://api.powerplatform.com");
    assert_eq!(access["tid"], DEFAULT_TENANT);
    assert_eq!(access["preferred_username"], "admin@contoso.test");
    assert_eq!(access["azp"], CLIENT);
    assert_eq!(access["scp"], "user_impersonation");
    assert!(access.get("upn").is_none(), "upn is a v1 claim");

    let id = validate(&app, &config, body["id_token"].as_str().unwrap()).await;
    assert_eq!(id["aud"], CLIENT);
    assert_eq!(id["preferred_username"], "admin@contoso.test");

    // client_info: what MSAL keys its account cache by.
    let info = B64URL
        .decode(body["client_info"].as_str().unwrap())
        .unwrap();
    let info: Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(info["utid"], DEFAULT_TENANT);
    assert_eq!(info["uid"], access["oid"]);

    // The common key set has the same key.
    let (_, config) = get(&app, "/common/v2.0/.well-known/openid-configuration").await;
    validate(&app, &config, body["access_token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn tokens_validate_against_the_published_keys_and_issuer_v1() {
    let app = spawn_app().await;
    let form = [
        ("grant_type", "password"),
        ("client_id", CLIENT),
        ("username", "admin@contoso.test"),
        ("password", "x"),
        ("resource", "https://lcsapi.lcs.dynamics.com"),
    ];
    let (status, body) = app.token(DEFAULT_TENANT, "v1", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("client_info").is_none(), "only when asked");
    let (_, config) = get(&app, "/contoso.test/.well-known/openid-configuration").await;
    let access = validate(&app, &config, body["access_token"].as_str().unwrap()).await;
    assert_eq!(access["upn"], "admin@contoso.test");
    assert_eq!(access["unique_name"], "admin@contoso.test");
    assert_eq!(access["appid"], CLIENT);
    assert_eq!(access["appidacr"], "0");
    assert_eq!(access["ver"], "1.0");
    assert!(access.get("azp").is_none(), "azp is a v2 claim");
    let (status, keys) = get(&app, "/discovery/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(keys["keys"][0].get("issuer").is_none());
    assert!(keys["keys"][0]["x5c"][0].is_string());
}
