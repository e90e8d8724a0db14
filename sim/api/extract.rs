//! Extractors that turn every kind of bad input into a [`SimError`], so that it is rendered in
//! the surface's own envelope instead of axum's plain-text rejections.

use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::tls::Arrival;
use crate::tls::hosts::{self, HostKind};
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

/// The simulator's base URL as the client reached it, for the URLs an answer hands back (SAS
/// URLs, operation locations, discovery documents).
///
/// Scheme and host come from, in order: RFC 7239 `Forwarded` (`proto=`, `host=`), then
/// `X-Forwarded-Proto` / `X-Forwarded-Host`, then the connection (https over TLS, see
/// [`Arrival`]) and the `Host` header (or the URI's authority, as HTTP/2 and proxy requests
/// carry it). When that host is a Microsoft host the simulator emulates, a URL on another
/// surface names that surface's Microsoft host (a SAS URL names
/// `{account}.blob.core.windows.net`); otherwise every URL is on the simulator's own base, e.g.
/// `http://127.0.0.1:4747/_blob/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http` or `https`.
    scheme: &'static str,
    /// The host, lower case (IPv6 without brackets).
    host: String,
    /// The port, unless it is the scheme's default.
    port: Option<u16>,
    /// `scheme://host[:port]`.
    root: String,
    /// What the host serves, when it is an emulated Microsoft host.
    microsoft: Option<HostKind>,
}

impl BaseUrl {
    /// A base URL from its parts; default ports are dropped.
    pub fn new(scheme: &'static str, host: &str, port: Option<u16>) -> BaseUrl {
        let default = if scheme == "https" { 443 } else { 80 };
        let port = port.filter(|p| *p != default);
        let host = host.to_ascii_lowercase();
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let root = match port {
            Some(p) => format!("{scheme}://{shown}:{p}"),
            None => format!("{scheme}://{shown}"),
        };
        BaseUrl {
            microsoft: hosts::emulated(&host),
            scheme,
            host,
            port,
            root,
        }
    }

    /// `scheme://host[:port]` as the client reached it.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Whether the client reached the simulator by a Microsoft host name.
    pub fn is_microsoft(&self) -> bool {
        self.microsoft.is_some()
    }

    /// The base for URLs served by `kind`: this one, unless the client came by a Microsoft host
    /// of another kind, then that kind's own host (same scheme and port).
    pub fn on(&self, kind: HostKind) -> String {
        match self.microsoft {
            Some(here) if here != kind => self.elsewhere(hosts::canonical(kind)),
            _ => self.root.clone(),
        }
    }

    /// The base of a storage account's blob URLs (`…/{container}/{blob}` follows).
    pub fn blob(&self, account: &str) -> String {
        match self.microsoft {
            Some(_) => self.elsewhere(&hosts::blob_host(account)),
            None => format!("{}/_blob/{account}", self.root),
        }
    }

    fn elsewhere(&self, host: &str) -> String {
        match self.port {
            Some(p) => format!("{}://{host}:{p}", self.scheme),
            None => format!("{}://{host}", self.scheme),
        }
    }

    /// The base URL of a request.
    pub fn of(parts: &Parts, fallback: &str) -> BaseUrl {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let first = |v: &str| v.split(',').next().unwrap_or("").trim().to_string();
        let (mut proto, mut host) = header("forwarded").map(forwarded).unwrap_or((None, None));
        if proto.is_none() {
            proto = header("x-forwarded-proto").map(first);
        }
        if host.is_none() {
            host = header("x-forwarded-host").map(first);
        }
        let arrival = parts.extensions.get::<Arrival>();
        let scheme = match proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => "https",
            Some("http") => "http",
            _ if arrival.is_some_and(|a| a.secure) => "https",
            _ => "http",
        };
        let authority = host
            .as_deref()
            .and_then(hosts::split_authority)
            .or_else(|| header("host").and_then(hosts::split_authority))
            .or_else(|| {
                parts
                    .uri
                    .authority()
                    .and_then(|a| hosts::split_authority(a.as_str()))
            })
            .or_else(|| arrival.and_then(|a| a.host.clone()).map(|h| (h, None)))
            .or_else(|| hosts::split_authority(fallback));
        match authority {
            Some((host, port)) => BaseUrl::new(scheme, &host, port),
            None => BaseUrl::new(scheme, "127.0.0.1", None),
        }
    }
}

/// `proto` and `host` of the first element of an RFC 7239 `Forwarded` header.
fn forwarded(value: &str) -> (Option<String>, Option<String>) {
    let element = value.split(',').next().unwrap_or("");
    let mut proto = None;
    let mut host = None;
    for pair in element.split(';') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "proto" => proto = Some(value),
            "host" => host = Some(value),
            _ => {}
        }
    }
    (proto, host)
}

impl FromRequestParts<Arc<AppState>> for BaseUrl {
    type Rejection = SimError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, SimError> {
        let fallback = state
            .listening
            .get()
            .map(|l| l.plain.to_string())
            .unwrap_or_else(|| format!("{}:{}", state.config.bind, state.config.port));
        Ok(BaseUrl::of(parts, &fallback))
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
    struct Body {
        users: Vec<User>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct User {
        roles: Vec<String>,
    }

    fn base(headers: &[(&str, &str)], arrival: Option<Arrival>) -> BaseUrl {
        let mut request = axum::http::Request::builder().uri("/x");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        if let Some(arrival) = arrival {
            parts.extensions.insert(arrival);
        }
        BaseUrl::of(&parts, "127.0.0.1:4747")
    }

    #[test]
    fn urls_follow_how_the_client_came() {
        // The plain port: everything on the simulator's own base.
        let plain = base(&[("host", "127.0.0.1:4747")], None);
        assert_eq!(plain.root(), "http://127.0.0.1:4747");
        assert_eq!(plain.on(HostKind::Entra), "http://127.0.0.1:4747");
        assert_eq!(plain.blob("shared"), "http://127.0.0.1:4747/_blob/shared");
        // Over TLS by a Microsoft name: https, and each surface's own host.
        let tls = Arrival::tls(crate::tls::Via::Proxy, "lcsapi.lcs.dynamics.com");
        let lcs = base(&[("host", "lcsapi.lcs.dynamics.com")], Some(tls));
        assert_eq!(lcs.root(), "https://lcsapi.lcs.dynamics.com");
        assert_eq!(lcs.blob("shared"), "https://shared.blob.core.windows.net");
        assert_eq!(lcs.on(HostKind::Graph), "https://graph.microsoft.com");
        assert_eq!(lcs.on(HostKind::Lcs), "https://lcsapi.lcs.dynamics.com");
        // A direct TLS port other than 443 keeps its port on every host.
        let tls = Arrival::tls(crate::tls::Via::Tls, "login.windows.net");
        let odd = base(&[("host", "login.windows.net:8443")], Some(tls));
        assert_eq!(odd.on(HostKind::Entra), "https://login.windows.net:8443");
        assert_eq!(odd.on(HostKind::Graph), "https://graph.microsoft.com:8443");
        // HTTP/2 and absolute-form requests carry the host in the URI.
        let (parts, ()) = axum::http::Request::builder()
            .uri("https://api.bap.microsoft.com/x")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            BaseUrl::of(&parts, "127.0.0.1:4747").root(),
            "http://api.bap.microsoft.com"
        );
    }

    #[test]
    fn forwarding_headers_name_scheme_and_host() {
        let b = base(
            &[
                ("host", "127.0.0.1:4747"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "sim.example.test, proxy.internal"),
            ],
            None,
        );
        assert_eq!(b.root(), "https://sim.example.test");
        let b = base(
            &[
                ("host", "127.0.0.1:4747"),
                (
                    "forwarded",
                    r#"for=10.0.0.1;proto=https;host="api.bap.microsoft.com", for=x"#,
                ),
                ("x-forwarded-host", "ignored.test"),
            ],
            None,
        );
        assert_eq!(b.root(), "https://api.bap.microsoft.com");
        assert_eq!(b.blob("shared"), "https://shared.blob.core.windows.net");
        let b = base(
            &[("host", "127.0.0.1:4747"), ("x-forwarded-proto", "gopher")],
            None,
        );
        assert_eq!(b.root(), "http://127.0.0.1:4747");
        let b = base(&[("host", "a b c")], None);
        assert_eq!(
            b.root(),
            "http://127.0.0.1:4747",
            "a broken Host falls back"
        );
    }

    fn error(text: &str) -> Option<SimError> {
        parse_json::<Body>(text.as_bytes()).err()
    }

    #[test]
    fn errors_name_the_field_and_tell_syntax_from_data() {
        let good = parse_json::<Body>(br#"{"users":[{"roles":["a"]}]}"#).unwrap();
        assert_eq!(good.users[0].roles, ["a"]);
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
