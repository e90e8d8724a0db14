//! Extractors that turn every kind of bad input into a [`SimError`], so that it is rendered in
//! the surface's own envelope instead of axum's plain-text rejections.

use crate::app::AppState;
use crate::error::{ErrorCode, SimError};
use crate::world::TenantRef;
use crate::world::identity::TenantId;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::sync::{Arc, OnceLock};

/// A JSON body. An empty body reads as `{}`; the content type is not checked (curl's `-d` sends
/// a form content type). Errors name the field at fault, e.g. `users[0].roles[1]`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = SimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, SimError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SimError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let error = SimError::new(
                ErrorCode::InvalidBody,
                format!("invalid request body at `{path}`: {inner}"),
            );
            if path == "." { error } else { error.at(path) }
        } else {
            SimError::new(
                ErrorCode::InvalidJson,
                format!("the request body is not valid JSON: {inner}"),
            )
        }
    })?;
    de.end().map_err(|e| {
        SimError::new(
            ErrorCode::InvalidJson,
            format!("the request body has trailing characters after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// A form-encoded body (`application/x-www-form-urlencoded`), fields in any order.
#[derive(Debug, Clone)]
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = SimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, SimError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        serde_urlencoded::from_bytes(&bytes)
            .map(ApiForm)
            .map_err(|e| {
                SimError::new(
                    ErrorCode::InvalidForm,
                    format!("the form-encoded request body could not be read: {e}"),
                )
            })
    }
}

fn body_error(rejection: BytesRejection) -> SimError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        SimError::new(
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the simulator accepts; send less, or start the \
             simulator with a larger --max-body-bytes",
        )
    } else {
        SimError::new(
            ErrorCode::InvalidBody,
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ),
        )
    }
}

/// Path parameters.
#[derive(Debug, Clone, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(SimError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for SimError {
    fn from(rejection: PathRejection) -> Self {
        SimError::new(ErrorCode::InvalidPath, rejection.body_text())
    }
}

/// Query-string parameters.
#[derive(Debug, Clone, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(SimError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for SimError {
    fn from(rejection: QueryRejection) -> Self {
        SimError::new(ErrorCode::InvalidQuery, rejection.body_text())
    }
}

/// Which tenant a request acted for; filled in by extractors, read by the journal.
#[derive(Debug, Clone, Default)]
pub struct TenantSlot(Arc<OnceLock<TenantId>>);

impl TenantSlot {
    /// Records the tenant (the first value wins).
    pub fn set(&self, id: TenantId) {
        let _ = self.0.set(id);
    }

    /// The tenant recorded, if any.
    pub fn get(&self) -> Option<TenantId> {
        self.0.get().copied()
    }

    /// Records `id` in the request's slot, if the request has one.
    pub fn mark(parts: &Parts, id: TenantId) {
        if let Some(slot) = parts.extensions.get::<TenantSlot>() {
            slot.set(id);
        }
    }
}

/// The request's slot; a detached one when the journal middleware is not installed.
impl<S: Send + Sync> FromRequestParts<S> for TenantSlot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<TenantSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The simulator's base URL as the client reached it (`http://{Host}`, or `https` behind a proxy
/// that says so in `X-Forwarded-Proto`), for URLs handed back to clients such as SAS URLs.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<Arc<AppState>> for BaseUrl {
    type Rejection = SimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, SimError> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let host = header("host")
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| format!("{}:{}", state.config.bind, state.config.port));
        let scheme = match header("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// The tenant named by the `{tenant}` path parameter of a control route; 404 if there is none.
#[derive(Debug, Clone)]
pub struct TenantPath {
    /// The tenant's id.
    pub id: TenantId,
    /// The tenant itself.
    pub tenant: TenantRef,
}

impl FromRequestParts<Arc<AppState>> for TenantPath {
    type Rejection = SimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, SimError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| SimError::new(ErrorCode::InvalidPath, e.body_text()))?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| SimError::internal("route has no {tenant} parameter"))?;
        let id = TenantId::parse(&raw)?;
        TenantSlot::mark(parts, id);
        let tenant = state.world.tenant(id)?;
        Ok(TenantPath { id, tenant })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        users: Vec<User>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct User {
        roles: Vec<String>,
    }

    fn error(text: &str) -> Option<SimError> {
        parse_json::<Body>(text.as_bytes()).err()
    }

    #[test]
    fn errors_name_the_field_and_tell_syntax_from_data() {
        let e = error(r#"{"users":[{"roles":["a", 5]}]}"#);
        assert_eq!(e.as_ref().map(|e| e.code), Some(ErrorCode::InvalidBody));
        assert_eq!(
            e.and_then(|e| e.target).as_deref(),
            Some("users[0].roles[1]")
        );
        let e = error(r#"{"users":[{"role":[]}]}"#);
        assert!(e.is_some_and(|e| e.message.contains("unknown field `role`")));
        assert_eq!(
            error(r#"{"users":"#).map(|e| e.code),
            Some(ErrorCode::InvalidJson)
        );
        assert_eq!(
            error(r#"{"users":[]} x"#).map(|e| e.code),
            Some(ErrorCode::InvalidJson)
        );
        let e = error("  ");
        assert!(e.is_some_and(|e| e.message.contains("missing field `users`")));
    }
}
