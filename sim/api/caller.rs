//! Who calls a portal API: the bearer token every LCS, BAP, Power Platform API and portal route
//! checks, resolved to the caller's tenant and principal (or, with `--auth none`, the default
//! tenant's admin). Shared by the surfaces; the tokens themselves are issued by `api::auth`.

use super::extract::TenantSlot;
use crate::config::{AuthMode, DEFAULT_TENANT_ID};
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::tokens::TokenUse;
use crate::world::TenantRef;
use crate::world::identity::{ClientId, ObjectId, Role, TenantId};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;
use std::sync::Arc;

/// Who is calling a portal API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user, by object id.
    User(ObjectId),
    /// An application's service principal.
    Application {
        /// The application (client) id.
        client_id: ClientId,
        /// The service principal's object id.
        object_id: ObjectId,
    },
}

/// The authenticated caller of a portal API: resolved from the bearer token (or, with
/// `--auth none`, the default tenant's admin when there is no valid token).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's tenant id.
    pub tenant_id: TenantId,
    /// The caller's tenant; the only one it can see.
    pub tenant: TenantRef,
    /// The user or application.
    pub principal: Principal,
}

impl Caller {
    /// The signed-in user, for APIs that only take delegated (user) tokens, as LCS does.
    pub fn user(&self) -> Result<ObjectId, SimError> {
        match self.principal {
            Principal::User(id) => Ok(id),
            Principal::Application { client_id, .. } => Err(SimError::new(
                ErrorCode::InvalidToken,
                format!(
                    "This token was issued to application {client_id} (client credentials).                      Lifecycle Services accepts only user tokens (delegated                      user_impersonation): sign in with the password grant"
                ),
            )),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = SimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, SimError> {
        let caller = match authenticate(state, &parts.headers) {
            Ok(caller) => caller,
            Err(_) if state.config.auth == AuthMode::None => default_caller(state)?,
            Err(e) => return Err(e),
        };
        TenantSlot::mark(parts, caller.tenant_id);
        Ok(caller)
    }
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, SimError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        SimError::new(
            ErrorCode::MissingToken,
            "The request has no Authorization header. Get a token from POST \
             /{tenant}/oauth2/token and send it as 'Authorization: Bearer <access_token>'",
        )
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidToken,
                "The Authorization header must read 'Bearer <access_token>'",
            )
        })?;
    let claims = state.tokens.verify(token).ok_or_else(|| {
        SimError::new(
            ErrorCode::InvalidToken,
            "The access token is malformed or was not issued by this simulator run (tokens from \
             another run or seed are not accepted); get a new one from POST /{tenant}/oauth2/token",
        )
    })?;
    if claims.lsim_use != TokenUse::Access {
        return Err(SimError::new(
            ErrorCode::InvalidToken,
            "This is a refresh or ID token; send the access_token from the token response",
        ));
    }
    let tenant_id = TenantId(claims.tid);
    let tenant = state.world.tenant(tenant_id).map_err(|_| {
        SimError::new(
            ErrorCode::InvalidToken,
            format!("The token's tenant {tenant_id} no longer exists; create it again and sign in"),
        )
    })?;
    let principal = {
        let tenant = tenant.settled(state.clock.now());
        let now = tenant.now();
        if state.config.enforce_token_expiry && claims.exp <= now.as_second() {
            let expired = Timestamp::from_second(claims.exp).unwrap_or(Timestamp::UNIX_EPOCH);
            return Err(SimError::new(
                ErrorCode::TokenExpired,
                format!(
                    "The access token expired at {expired} (virtual time is now {now}); get a new \
                     one, e.g. with the refresh_token grant"
                ),
            ));
        }
        let oid = ObjectId(claims.oid);
        let found = if claims.idtyp == "app" {
            tenant
                .state
                .application_by_id(oid)
                .map(|a| Principal::Application {
                    client_id: a.client_id,
                    object_id: a.object_id,
                })
        } else {
            tenant
                .state
                .user_by_id(oid)
                .map(|u| Principal::User(u.object_id))
        };
        found.ok_or_else(|| {
            SimError::new(
                ErrorCode::InvalidToken,
                format!(
                    "The token's {} {oid} no longer exists in tenant {tenant_id}; sign in again \
                     as an existing one",
                    if claims.idtyp == "app" {
                        "application"
                    } else {
                        "user"
                    }
                ),
            )
        })?
    };
    Ok(Caller {
        tenant_id,
        tenant,
        principal,
    })
}

/// `--auth none`: the default tenant's first Global admin (or first user).
fn default_caller(state: &AppState) -> Result<Caller, SimError> {
    let tenant = state.world.tenant(DEFAULT_TENANT_ID)?;
    let principal = {
        let t = tenant.settled(state.clock.now());
        let users = &t.state.users;
        users
            .iter()
            .find(|u| u.has_role(Role::GlobalAdmin))
            .or(users.first())
            .map(|u| Principal::User(u.object_id))
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidToken,
                    "--auth none acts as the default tenant's admin, but the default tenant has \
                     no users; add one with POST /_sim/tenants/{id}/users",
                )
            })?
    };
    Ok(Caller {
        tenant_id: DEFAULT_TENANT_ID,
        tenant,
        principal,
    })
}
