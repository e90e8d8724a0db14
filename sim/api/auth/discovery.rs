//! What Entra ID's sign-in libraries ask before they ask for a token: the OpenID configuration
//! (v2 and v1), instance discovery, the user realm (managed or unknown), and the key sets that
//! hold the public half of the token signing key.
//!
//! Endpoints in these documents follow [`BaseUrl`]: on a Microsoft host (over TLS or the proxy)
//! they name Microsoft's hosts, on the plain port the simulator's own base. The issuer is the
//! token issuer, always in Entra's form (`https://login.microsoftonline.com/{tid}/v2.0`,
//! `https://sts.windows.net/{tid}/`), so that a client comparing it with a token's `iss` passes.

use super::super::extract::{ApiPath, ApiQuery, BaseUrl};
use crate::api::routes::{Routes, get};
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::tls::hosts::{self, HostKind};
use crate::world::identity::TenantId;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The discovery routes, added to the Entra surface (errors in its envelope).
pub fn routes(routes: Routes) -> Routes {
    routes
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(
                openid_v2,
                "OpenID configuration (v2): token, key and userinfo endpoints, issuer",
            ),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(
                openid_v1,
                "OpenID configuration (v1): token, key and userinfo endpoints, issuer",
            ),
        )
        .route(
            "/{tenant}/discovery/instance",
            get(
                instance,
                "Instance discovery: the tenant discovery endpoint and the cloud's host aliases",
            ),
        )
        .route(
            "/{tenant}/userrealm/{upn}",
            get(
                user_realm,
                "User realm: Managed for a simulated tenant's domain, Unknown otherwise",
            ),
        )
        .route(
            "/{tenant}/UserRealm/{upn}",
            get(user_realm, "User realm, as MSAL for Go spells the path"),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            get(
                keys_v2,
                "The token signing keys (v2 key set, naming the issuer)",
            ),
        )
        .route(
            "/{tenant}/discovery/keys",
            get(keys_v1, "The token signing keys (v1 key set)"),
        )
        .route(
            "/discovery/keys",
            get(keys_common, "The token signing keys (v1 key set)"),
        )
}

/// Who a discovery document is for.
enum Realm {
    /// `common`, `organizations` or `consumers`, as named: any tenant.
    Any(String),
    /// One tenant.
    Tenant(TenantId),
}

impl Realm {
    /// The tenant segment as named (`common`) or resolved (a domain becomes the tenant id).
    fn of(state: &AppState, name: &str) -> Result<Realm, SimError> {
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
            return Ok(Realm::Any(lower));
        }
        let tenant = state.world.resolve(name, state.clock.now()).map_err(|_| {
            SimError::new(
                ErrorCode::TenantNotFound,
                format!(
                    "Tenant '{name}' not found. Check to make sure you have the correct tenant \
                     ID and are signing into the correct cloud. The simulator's tenants are \
                     listed by GET /_sim/tenants"
                ),
            )
        })?;
        Ok(Realm::Tenant(tenant.id()))
    }

    /// The path segment endpoints use.
    fn segment(&self) -> String {
        match self {
            Realm::Any(name) => name.clone(),
            Realm::Tenant(id) => id.to_string(),
        }
    }

    /// The tenant id in an issuer: the id, or Entra's `{tenantid}` placeholder.
    fn issuer_tenant(&self) -> String {
        match self {
            Realm::Any(_) => "{tenantid}".into(),
            Realm::Tenant(id) => id.to_string(),
        }
    }
}

/// The v2 token issuer of a tenant.
pub fn issuer_v2(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

/// The v1 token issuer of a tenant.
pub fn issuer_v1(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

async fn openid_v2(
    State(state): State<Arc<AppState>>,
    base: BaseUrl,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Json<Value>, SimError> {
    Ok(Json(configuration(
        &Realm::of(&state, &tenant)?,
        &base,
        true,
    )))
}

async fn openid_v1(
    State(state): State<Arc<AppState>>,
    base: BaseUrl,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Json<Value>, SimError> {
    Ok(Json(configuration(
        &Realm::of(&state, &tenant)?,
        &base,
        false,
    )))
}

/// Entra's OpenID configuration of `realm`, v2 or v1, with endpoints on `base`'s hosts.
fn configuration(realm: &Realm, base: &BaseUrl, v2: bool) -> Value {
    let (entra, graph) = (base.on(HostKind::Entra), base.on(HostKind::Graph));
    let t = realm.segment();
    let oauth = if v2 {
        format!("{entra}/{t}/oauth2/v2.0")
    } else {
        format!("{entra}/{t}/oauth2")
    };
    let mut claims = vec![
        "sub",
        "iss",
        "cloud_instance_name",
        "cloud_instance_host_name",
        "cloud_graph_host_name",
        "msgraph_host",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "acr",
    ];
    let version = if v2 {
        claims.extend([
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ]);
        json!({
            "jwks_uri": format!("{entra}/{t}/discovery/v2.0/keys"),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer_v2(&realm.issuer_tenant()),
            "request_uri_parameter_supported": false,
        })
    } else {
        claims.extend([
            "amr",
            "nonce",
            "email",
            "given_name",
            "family_name",
            "nickname",
        ]);
        json!({
            "jwks_uri": format!("{entra}/common/discovery/keys"),
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": issuer_v1(&realm.issuer_tenant()),
            "microsoft_multi_refresh_token": true,
            "check_session_iframe": format!("{oauth}/checksession"),
        })
    };
    let mut doc = json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "end_session_endpoint": format!("{oauth}/logout"),
        "claims_supported": claims,
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "kerberos_endpoint": format!("{entra}/{t}/kerberos"),
        "tenant_region_scope": match realm { Realm::Tenant(_) => json!("NA"), Realm::Any(_) => Value::Null },
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": hosts::canonical(HostKind::Graph),
        "rbac_url": "https://pas.windows.net",
        "userinfo_endpoint": format!("{graph}/oidc/userinfo"),
    });
    if let (Some(doc), Value::Object(version)) = (doc.as_object_mut(), version) {
        doc.extend(version);
    }
    doc
}

#[derive(Debug, Default, Deserialize)]
struct InstanceQuery {
    authorization_endpoint: Option<String>,
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// The public cloud's hosts and the other clouds Entra lists, as instance discovery returns them.
const CLOUDS: &[(&str, &str, &[&str])] = &[
    (
        "login.microsoftonline.com",
        "login.windows.net",
        &[
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ],
    ),
    (
        "login.partner.microsoftonline.cn",
        "login.partner.microsoftonline.cn",
        &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    ),
    (
        "login.microsoftonline.de",
        "login.microsoftonline.de",
        &["login.microsoftonline.de"],
    ),
    (
        "login.microsoftonline.us",
        "login.microsoftonline.us",
        &["login.microsoftonline.us", "login.usgovcloudapi.net"],
    ),
    (
        "login-us.microsoftonline.com",
        "login-us.microsoftonline.com",
        &["login-us.microsoftonline.com"],
    ),
];

async fn instance(
    base: BaseUrl,
    ApiPath(_tenant): ApiPath<String>,
    ApiQuery(query): ApiQuery<InstanceQuery>,
) -> Result<Json<Value>, SimError> {
    let own = base
        .root()
        .split_once("://")
        .map_or("", |(_, a)| a)
        .to_string();
    let tenant_discovery = match query.authorization_endpoint.as_deref().map(str::trim) {
        None | Some("") => format!(
            "{}/common/v2.0/.well-known/openid-configuration",
            base.on(HostKind::Entra)
        ),
        Some(endpoint) => {
            let unknown = || {
                SimError::new(
                    ErrorCode::InvalidInstance,
                    format!(
                        "Unknown or invalid instance: '{endpoint}'. The simulator answers for \
                         login.microsoftonline.com (and its aliases login.windows.net, \
                         login.microsoft.com, sts.windows.net) and for its own base URL"
                    ),
                )
            };
            let uri: axum::http::Uri = endpoint.parse().map_err(|_| unknown())?;
            let authority = uri.authority().ok_or_else(unknown)?.as_str().to_string();
            let (host, _) = hosts::split_authority(&authority).ok_or_else(unknown)?;
            let known = hosts::emulated(&host) == Some(HostKind::Entra)
                || authority.eq_ignore_ascii_case(&own);
            if !known {
                return Err(unknown());
            }
            let path = uri.path();
            let tenant = path.split('/').find(|s| !s.is_empty()).unwrap_or("common");
            let version = if path.contains("/v2.0/") { "/v2.0" } else { "" };
            let scheme = uri.scheme_str().unwrap_or("https");
            format!("{scheme}://{authority}/{tenant}{version}/.well-known/openid-configuration")
        }
    };
    let mut metadata: Vec<Value> = CLOUDS
        .iter()
        .map(|(network, cache, aliases)| {
            json!({"preferred_network": network, "preferred_cache": cache, "aliases": aliases})
        })
        .collect();
    if !base.is_microsoft() {
        // Reached by the simulator's own address: that address is an instance too.
        metadata.insert(
            0,
            json!({"preferred_network": own, "preferred_cache": own, "aliases": [own]}),
        );
    }
    Ok(Json(json!({
        "tenant_discovery_endpoint": tenant_discovery,
        "api-version": query.api_version.unwrap_or_else(|| "1.1".into()),
        "metadata": metadata,
    })))
}

#[derive(Debug, Default, Deserialize)]
struct RealmQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

async fn user_realm(
    State(state): State<Arc<AppState>>,
    ApiPath((_tenant, upn)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<RealmQuery>,
) -> Json<Value> {
    let domain = upn.rsplit_once('@').map_or(upn.as_str(), |(_, d)| d);
    let known = !domain.is_empty()
        && match state.world.resolve(domain, state.clock.now()) {
            Ok(_) => true,
            Err(e) => e.code == ErrorCode::AmbiguousTenant,
        };
    let ver = query.api_version.unwrap_or_else(|| "1.0".into());
    Json(if known {
        json!({
            "ver": ver,
            "account_type": "Managed",
            "domain_name": domain.to_ascii_lowercase(),
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        })
    } else {
        json!({
            "ver": ver,
            "account_type": "Unknown",
            "cloud_instance_name": "microsoftonline.com",
        })
    })
}

async fn keys_v2(
    State(state): State<Arc<AppState>>,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Json<Value>, SimError> {
    let realm = Realm::of(&state, &tenant)?;
    key_set(&state, Some(issuer_v2(&realm.issuer_tenant()))).await
}

async fn keys_v1(
    State(state): State<Arc<AppState>>,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Json<Value>, SimError> {
    Realm::of(&state, &tenant)?;
    key_set(&state, None).await
}

async fn keys_common(State(state): State<Arc<AppState>>) -> Result<Json<Value>, SimError> {
    key_set(&state, None).await
}

async fn key_set(state: &AppState, issuer: Option<String>) -> Result<Json<Value>, SimError> {
    let key = state.tokens.key();
    key.ready().await;
    key.jwks(issuer.as_deref())
        .map(Json)
        .map_err(|e| SimError::internal(format!("the token signing key is missing: {e}")))
}
