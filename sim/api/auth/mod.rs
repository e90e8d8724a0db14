//! Fake Entra ID: the token endpoints real clients sign in with, the discovery documents their
//! libraries read first ([`discovery`]), and Graph's OIDC userinfo route. The bearer-token check
//! every portal API call goes through is [`crate::api::caller`]; the tokens' claims and signer are
//! [`crate::tokens`].
//!
//! Tokens are JWTs signed RS256 with the key the discovery key sets publish
//! ([`crate::signing`]), carrying Entra's claims for their version: tenant (`tid`), object id
//! (`oid`), `upn` or `preferred_username`, `appid` or `azp`, `scp`, audience and issuer. A token
//! names exactly one tenant, so a caller can only ever reach its own tenant. Token responses and
//! errors use Entra's field names and AADSTS codes.

mod discovery;

use super::caller::{Caller, Principal};
use super::envelope::{Envelope, envelope, status, status_of};
use super::extract::{ApiForm, ApiPath, TenantSlot};
use crate::api::routes::{Routes, Surface, get, post};
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::tokens::{Claims, TokenUse};
use crate::world::TenantRef;
use crate::world::identity::{ClientId, ObjectId, TenantId};
use axum::Json;
use axum::extract::State;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Audience of v1 tokens requested without a `resource` (Azure AD Graph, as Entra does).
const DEFAULT_V1_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
/// Audience of v2 tokens whose scopes name no resource (Microsoft Graph).
const GRAPH_AUDIENCE: &str = "00000003-0000-0000-c000-000000000000";
/// Scopes that ask for tokens rather than name a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// The token endpoints and userinfo, each with its own error envelope.
pub fn router(state: Arc<AppState>) -> Routes {
    let entra = discovery::routes(Routes::new(Surface::Entra))
        .route(
            "/{tenant}/oauth2/token",
            post(
                token_v1,
                "Entra ID v1 token: password, client credentials or refresh-token grant",
            ),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(
                token_v2,
                "Entra ID v2 token: password, client credentials or refresh-token grant",
            ),
        )
        .map(|r| {
            r.layer(middleware::from_fn_with_state(
                state.clone(),
                envelope::<Entra>,
            ))
        });
    let graph = Routes::new(Surface::Graph)
        .route(
            "/oidc/userinfo",
            get(userinfo, "The signed-in user of a bearer token")
                .post(userinfo, "The signed-in user of a bearer token"),
        )
        .map(|r| r.layer(middleware::from_fn_with_state(state, envelope::<Graph>)));
    entra.merge(graph)
}

/// Form fields of a token request (any order; empty values count as absent).
#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    refresh_token: Option<String>,
    client_info: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

async fn token_v1(
    State(state): State<Arc<AppState>>,
    slot: TenantSlot,
    ApiPath(tenant): ApiPath<String>,
    ApiForm(request): ApiForm<TokenRequest>,
) -> Result<Json<Value>, SimError> {
    state.tokens.key().ready().await;
    issue(&state, &slot, &tenant, request, Version::V1).map(Json)
}

async fn token_v2(
    State(state): State<Arc<AppState>>,
    slot: TenantSlot,
    ApiPath(tenant): ApiPath<String>,
    ApiForm(request): ApiForm<TokenRequest>,
) -> Result<Json<Value>, SimError> {
    state.tokens.key().ready().await;
    issue(&state, &slot, &tenant, request, Version::V2).map(Json)
}

fn field(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, SimError> {
    field(value).ok_or_else(|| {
        SimError::new(
            ErrorCode::MissingParameter,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    })
}

/// Who a token is being issued to, once authenticated.
struct Grantee {
    tenant: TenantId,
    /// The tenant's virtual now, read while it was locked.
    now: Timestamp,
    object_id: ObjectId,
    /// UPN and display name, for users.
    user: Option<(String, String)>,
    client_id: String,
    /// `resource` (v1) or `scope` (v2) as requested.
    requested: Option<String>,
}

fn issue(
    state: &AppState,
    slot: &TenantSlot,
    tenant_name: &str,
    request: TokenRequest,
    version: Version,
) -> Result<Value, SimError> {
    let requested = match version {
        Version::V1 => field(&request.resource),
        Version::V2 => field(&request.scope),
    }
    .map(str::to_string);
    let grantee = match required(&request.grant_type, "grant_type")? {
        "password" => password_grant(state, tenant_name, &request, requested)?,
        "client_credentials" => {
            client_credentials_grant(state, tenant_name, &request, requested, version)?
        }
        "refresh_token" => refresh_grant(state, tenant_name, &request, requested, version)?,
        other => {
            return Err(SimError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "The app requested an unsupported grant type '{other}'. The simulator issues \
                     tokens for 'password', 'client_credentials' and 'refresh_token'."
                ),
            ));
        }
    };
    slot.set(grantee.tenant);
    respond(state, grantee, &request, version)
}

/// Finds the tenant a sign-in is for: by id or domain, or, for `common`/`organizations`, by the
/// user's UPN across all tenants.
fn tenant_for(state: &AppState, name: &str, upn: Option<&str>) -> Result<TenantRef, SimError> {
    let lower = name.to_ascii_lowercase();
    if lower != "common" && lower != "organizations" {
        return state.world.resolve(name, state.clock.now());
    }
    let upn = upn.ok_or_else(|| {
        SimError::new(
            ErrorCode::TenantNotFound,
            format!(
                "'/{name}' cannot tell which tenant to use for this grant; call \
                 /{{tenant id}}/oauth2/token instead"
            ),
        )
    })?;
    let mut found: Vec<TenantRef> = state
        .world
        .tenants()
        .into_iter()
        .filter(|t| {
            t.settled(state.clock.now())
                .state
                .users
                .iter()
                .any(|u| u.upn.matches(upn))
        })
        .collect();
    match found.len() {
        0 => Err(SimError::new(
            ErrorCode::UserNotFound,
            format!(
                "User account '{upn}' does not exist in any tenant of this simulator. Add it with \
                 POST /_sim/tenants/{{id}}/users"
            ),
        )),
        1 => found
            .pop()
            .ok_or_else(|| SimError::internal("tenant vanished")),
        n => Err(SimError::new(
            ErrorCode::AmbiguousTenant,
            format!(
                "{n} tenants have a user '{upn}'; sign in at /{{tenant id}}/oauth2/token instead \
                 of /{name}"
            ),
        )),
    }
}

fn password_grant(
    state: &AppState,
    tenant_name: &str,
    request: &TokenRequest,
    requested: Option<String>,
) -> Result<Grantee, SimError> {
    let client_id = required(&request.client_id, "client_id")?;
    let username = required(&request.username, "username")?;
    let password = required(&request.password, "password")?;
    let tenant = tenant_for(state, tenant_name, Some(username))?;
    let tenant = tenant.settled(state.clock.now());
    let user = tenant.state.user(username)?;
    if !user.accepts_password(password) {
        return Err(SimError::new(
            ErrorCode::InvalidCredentials,
            format!(
                "Error validating credentials due to invalid username or password. The password \
                 of '{}' is the one given when the user was created.",
                user.upn
            ),
        ));
    }
    Ok(Grantee {
        tenant: tenant.id(),
        now: tenant.now(),
        object_id: user.object_id,
        user: Some((user.upn.to_string(), user.display_name.clone())),
        client_id: client_id.to_string(),
        requested,
    })
}

fn client_credentials_grant(
    state: &AppState,
    tenant_name: &str,
    request: &TokenRequest,
    requested: Option<String>,
    version: Version,
) -> Result<Grantee, SimError> {
    let client_id = required(&request.client_id, "client_id")?;
    let secret = field(&request.client_secret).ok_or_else(|| {
        SimError::new(
            ErrorCode::MissingParameter,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        )
    })?;
    if version == Version::V2 {
        let scope = required(&request.scope, "scope")?;
        // Entra ignores the OIDC scopes here (MSAL for Go sends `openid offline_access
        // profile` with every request); the resource scopes must all be `/.default`.
        let mut resources = scope
            .split_whitespace()
            .filter(|s| !OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
            .peekable();
        let none = resources.peek().is_none();
        if none || !resources.all(|s| s.ends_with("/.default")) {
            return Err(SimError::new(
                ErrorCode::InvalidScope,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows \
                     must have a scope value with /.default suffixed to the resource identifier \
                     (application ID URI)."
                ),
            ));
        }
    }
    let tenant = tenant_for(state, tenant_name, None)?;
    let tenant = tenant.settled(state.clock.now());
    let app = match ClientId::parse(client_id) {
        Ok(id) => tenant.state.application(id)?,
        Err(_) => {
            return Err(SimError::new(
                ErrorCode::ApplicationNotFound,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory \
                     '{}'. Client ids are GUIDs; GET /_sim/tenants/{} lists the tenant's \
                     applications",
                    tenant.state.domain,
                    tenant.id()
                ),
            ));
        }
    };
    if !app.accepts_secret(secret) {
        return Err(SimError::new(
            ErrorCode::InvalidClientSecret,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                app.client_id
            ),
        ));
    }
    Ok(Grantee {
        tenant: tenant.id(),
        now: tenant.now(),
        object_id: app.object_id,
        user: None,
        client_id: app.client_id.to_string(),
        requested,
    })
}

fn refresh_grant(
    state: &AppState,
    tenant_name: &str,
    request: &TokenRequest,
    requested: Option<String>,
    version: Version,
) -> Result<Grantee, SimError> {
    let token = required(&request.refresh_token, "refresh_token")?;
    let invalid = |why: &str| {
        SimError::new(
            ErrorCode::InvalidGrant,
            format!(
                "The provided value for the input parameter 'refresh_token' is not valid: {why}. \
                 Sign in again with the password grant."
            ),
        )
    };
    let claims = state
        .tokens
        .verify(token)
        .filter(|c| c.lsim_use == TokenUse::Refresh)
        .ok_or_else(|| invalid("it is malformed or was not issued by this simulator run"))?;
    let wanted = (claims.ver == "2.0") == (version == Version::V2);
    if !wanted {
        return Err(invalid("it was issued by the other token endpoint version"));
    }
    let tenant_id = TenantId(claims.tid);
    let lower = tenant_name.to_ascii_lowercase();
    if lower != "common" && lower != "organizations" {
        let named = state.world.resolve(tenant_name, state.clock.now())?.id();
        if named != tenant_id {
            return Err(invalid(&format!(
                "it was issued by tenant {tenant_id}, not {named}"
            )));
        }
    }
    let tenant = state
        .world
        .tenant(tenant_id)
        .map_err(|_| invalid(&format!("tenant {tenant_id} no longer exists")))?;
    let tenant = tenant.settled(state.clock.now());
    let user = tenant
        .state
        .user_by_id(ObjectId(claims.oid))
        .ok_or_else(|| invalid("its user no longer exists"))?;
    Ok(Grantee {
        tenant: tenant_id,
        now: tenant.now(),
        object_id: user.object_id,
        user: Some((user.upn.to_string(), user.display_name.clone())),
        client_id: claims.client_id().unwrap_or_default().to_string(),
        requested: requested.or_else(|| claims.lsim_resource.clone()),
    })
}

/// What a token request asks for: the audience, and (v2 only) whether `openid` and
/// `offline_access` are among its scopes.
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    audience: String,
    openid: bool,
    offline_access: bool,
}

fn audience(requested: Option<&str>, version: Version) -> Asked {
    match version {
        Version::V1 => Asked {
            audience: requested.unwrap_or(DEFAULT_V1_AUDIENCE).to_string(),
            openid: false,
            offline_access: false,
        },
        Version::V2 => {
            let scopes: Vec<&str> = requested.unwrap_or("").split_whitespace().collect();
            let resource = scopes
                .iter()
                .find(|s| !OIDC_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
                .map(|s| resource_of(s))
                .unwrap_or_else(|| GRAPH_AUDIENCE.to_string());
            let has = |name: &str| scopes.iter().any(|s| s.eq_ignore_ascii_case(name));
            Asked {
                audience: resource,
                openid: has("openid"),
                offline_access: has("offline_access"),
            }
        }
    }
}

/// The resource a v2 scope names: `https://x/.default` → `https://x`, `https://x//.default` →
/// `https://x/`, `{guid}/.default` → `{guid}`; a bare scope such as `User.Read` is Graph's.
fn resource_of(scope: &str) -> String {
    let path_start = scope.find("://").map_or(0, |i| i + 3);
    match scope[path_start..].rfind('/') {
        Some(i) => scope[..path_start + i].to_string(),
        None if path_start > 0 => scope.to_string(),
        None => GRAPH_AUDIENCE.to_string(),
    }
}

fn respond(
    state: &AppState,
    grantee: Grantee,
    request: &TokenRequest,
    version: Version,
) -> Result<Value, SimError> {
    let now = grantee.now;
    let lifetime = state.config.token_lifetime.as_secs();
    let iat = now.as_second();
    let exp = iat + lifetime;
    let Asked {
        audience: aud,
        openid: v2_openid,
        offline_access: v2_offline,
    } = audience(grantee.requested.as_deref(), version);
    let tenant = grantee.tenant.to_string();
    let (iss, ver) = match version {
        Version::V1 => (discovery::issuer_v1(&tenant), "1.0"),
        Version::V2 => (discovery::issuer_v2(&tenant), "2.0"),
    };
    let is_user = grantee.user.is_some();
    let (upn, name) = grantee.user.clone().unzip();
    let v1 = version == Version::V1;
    // A user signs in through a public client; an application with its secret.
    let acr = Some(if is_user { "0" } else { "1" }.to_string());
    let client = Some(grantee.client_id.clone());
    let claims = |lsim_use: TokenUse, aud: String, exp: i64| Claims {
        aud,
        iss: iss.clone(),
        iat,
        nbf: iat,
        exp,
        name: name.clone(),
        oid: grantee.object_id.0,
        sub: grantee.object_id.to_string(),
        tid: grantee.tenant.0,
        upn: upn.clone().filter(|_| v1),
        unique_name: upn.clone().filter(|_| v1),
        preferred_username: upn.clone().filter(|_| !v1),
        appid: client.clone().filter(|_| v1),
        appidacr: acr.clone().filter(|_| v1),
        azp: client.clone().filter(|_| !v1),
        azpacr: acr.clone().filter(|_| !v1),
        idtyp: if is_user { "user" } else { "app" }.to_string(),
        scp: is_user.then(|| "user_impersonation".to_string()),
        ver: ver.to_string(),
        lsim_use,
        lsim_run: state.tokens.run().to_string(),
        lsim_resource: (lsim_use == TokenUse::Refresh)
            .then(|| grantee.requested.clone())
            .flatten(),
    };
    let access_token = state
        .tokens
        .sign(&claims(TokenUse::Access, aud.clone(), exp))?;
    // Refresh tokens live 90 days, as Entra's do.
    let refresh = || {
        state
            .tokens
            .sign(&claims(TokenUse::Refresh, aud.clone(), iat + 90 * 86_400))
    };
    let id_token = || {
        state
            .tokens
            .sign(&claims(TokenUse::Id, grantee.client_id.clone(), exp))
    };
    let mut body = match version {
        Version::V1 => {
            let mut body = json!({
                "token_type": "Bearer",
                "expires_in": lifetime.to_string(),
                "ext_expires_in": lifetime.to_string(),
                "expires_on": exp.to_string(),
                "not_before": iat.to_string(),
                "resource": grantee.requested.clone().unwrap_or_else(|| aud.clone()),
                "access_token": access_token,
            });
            if is_user {
                body["scope"] = json!("user_impersonation");
                body["refresh_token"] = json!(refresh()?);
                let openid = field(&request.scope).is_some_and(|s| {
                    s.split_whitespace()
                        .any(|s| s.eq_ignore_ascii_case("openid"))
                });
                if openid {
                    body["id_token"] = json!(id_token()?);
                }
            }
            body
        }
        Version::V2 => {
            let mut body = json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            });
            if is_user {
                body["scope"] = json!(grantee.requested.clone().unwrap_or_default());
                if v2_offline {
                    body["refresh_token"] = json!(refresh()?);
                }
                if v2_openid {
                    body["id_token"] = json!(id_token()?);
                }
            }
            body
        }
    };
    // MSAL asks for client_info (client_info=1) to key its account cache by uid.utid.
    if is_user && field(&request.client_info) == Some("1") {
        let info = json!({"uid": grantee.object_id.0, "utid": grantee.tenant.0}).to_string();
        body["client_info"] = json!(B64URL.encode(info));
    }
    if let Some(map) = body.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    Ok(body)
}

/// Graph's OIDC userinfo: who the bearer token's user is. `sub` is the user's object id.
async fn userinfo(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, SimError> {
    let Principal::User(oid) = caller.principal else {
        return Err(SimError::new(
            ErrorCode::InvalidToken,
            "userinfo describes a signed-in user; this token belongs to an application",
        ));
    };
    let tenant = caller.tenant.settled(state.clock.now());
    let user = tenant.state.user_by_id(oid).ok_or_else(|| {
        SimError::new(ErrorCode::InvalidToken, "the token's user no longer exists")
    })?;
    let (given, family) = user
        .display_name
        .split_once(' ')
        .unwrap_or((user.display_name.as_str(), ""));
    Ok(Json(json!({
        "sub": user.object_id,
        "name": user.display_name,
        "given_name": given,
        "family_name": family,
        "email": user.upn.as_str(),
    })))
}

/// Entra's error envelope for the token endpoints: `error`, `error_description` starting with the
/// AADSTS code, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
pub struct Entra;

impl Envelope for Entra {
    const SURFACE: Surface = Surface::Entra;

    fn render(state: &AppState, error: &SimError, correlation: Option<Uuid>) -> Response {
        let (status, kind, aadsts) = match error.code {
            ErrorCode::Throttled => (status(error), "temporarily_unavailable", 90055),
            _ if error.injected.is_some() => {
                let aadsts = if status(error).is_server_error() {
                    90033
                } else {
                    9002313
                };
                (status(error), error.wire_code(""), aadsts)
            }
            ErrorCode::MissingParameter => (StatusCode::BAD_REQUEST, "invalid_request", 900144),
            ErrorCode::UnsupportedGrantType => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003)
            }
            ErrorCode::InvalidCredentials => (StatusCode::BAD_REQUEST, "invalid_grant", 50126),
            ErrorCode::UserNotFound => (StatusCode::BAD_REQUEST, "invalid_grant", 50034),
            ErrorCode::TenantNotFound | ErrorCode::InvalidTenantId | ErrorCode::AmbiguousTenant => {
                (StatusCode::BAD_REQUEST, "invalid_request", 90002)
            }
            ErrorCode::ApplicationNotFound => {
                (StatusCode::BAD_REQUEST, "unauthorized_client", 700016)
            }
            ErrorCode::InvalidClientSecret => (StatusCode::UNAUTHORIZED, "invalid_client", 7000215),
            ErrorCode::InvalidScope => (StatusCode::BAD_REQUEST, "invalid_scope", 70011),
            ErrorCode::InvalidGrant => (StatusCode::BAD_REQUEST, "invalid_grant", 9002313),
            ErrorCode::InvalidInstance => (StatusCode::BAD_REQUEST, "invalid_instance", 50049),
            ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", 90033),
            code => (status_of(code), "invalid_request", 9002313),
        };
        let trace = state.trace_id();
        let correlation = correlation.unwrap_or_else(|| state.trace_id());
        let timestamp = state.clock.now().strftime("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = json!({
            "error": kind,
            "error_description": format!(
                "AADSTS{aadsts}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}",
                error.message
            ),
            "error_codes": [aadsts],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
        });
        (status, Json(body)).into_response()
    }
}

/// Graph's error envelope: `{"error":{"code","message","innerError":{...}}}`; a 401 also carries
/// Graph's `WWW-Authenticate` challenge.
pub struct Graph;

impl Envelope for Graph {
    const SURFACE: Surface = Surface::Graph;

    fn render(state: &AppState, error: &SimError, correlation: Option<Uuid>) -> Response {
        let status = status(error);
        let code = if status == StatusCode::UNAUTHORIZED {
            "InvalidAuthenticationToken"
        } else {
            error.code.as_str()
        };
        let code = error.wire_code(code);
        let request_id = state.trace_id();
        let body = json!({"error": {
            "code": code,
            "message": error.message,
            "innerError": {
                "date": state.clock.now().strftime("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": request_id,
                "client-request-id": correlation.unwrap_or(request_id),
            }
        }});
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                ),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_audience_comes_from_the_resource_scope() {
        let aud = |s: &str| audience(Some(s), Version::V2);
        assert_eq!(
            aud("https://api.bap.microsoft.com/.default offline_access"),
            Asked {
                audience: "https://api.bap.microsoft.com".to_string(),
                openid: false,
                offline_access: true
            }
        );
        assert_eq!(
            aud("openid https://service.powerapps.com//.default").audience,
            "https://service.powerapps.com/"
        );
        assert_eq!(
            aud("User.Read openid"),
            Asked {
                audience: GRAPH_AUDIENCE.to_string(),
                openid: true,
                offline_access: false
            }
        );
        assert_eq!(
            audience(Some("https://lcsapi.lcs.dynamics.com"), Version::V1).audience,
            "https://lcsapi.lcs.dynamics.com"
        );
        assert_eq!(audience(None, Version::V1).audience, DEFAULT_V1_AUDIENCE);
    }
}
