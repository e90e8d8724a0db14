//! HTTP only: one module per API surface, composed here into one router on one port.
//!
//! Errors: every handler and extractor returns [`SimError`]. Its one `IntoResponse` renders the
//! control plane's envelope and attaches the error to the response; a surface with another
//! envelope (the Entra token endpoint, Graph) wraps its routes in a layer that re-renders from
//! that attachment. The journal middleware reads it too, to record the error code.

pub(crate) mod auth;
pub(crate) mod bap;
pub(crate) mod blob;
pub(crate) mod caller;
pub(crate) mod control;
pub(crate) mod envelope;
pub(crate) mod extract;
pub(crate) mod faults;
pub(crate) mod lcs;
pub(crate) mod openapi;
pub(crate) mod portal;
pub(crate) mod pp;
pub(crate) mod ppapi;
pub(crate) mod routes;
pub(crate) mod sas;
pub(crate) mod views;

use crate::clock::{self, Stopwatch};
use crate::error::{ErrorCode, SimError};
use crate::events::{Change, Events};
use crate::journal::Entry;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use envelope::error_of;
use extract::TenantSlot;
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, error, info};

/// Longest a handler may take; handlers never wait on anything, so hitting this is a bug.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every surface on one router, with the shared layers. Requests to a storage account's host
/// are mapped onto the blob routes, then paths are normalised, before routing.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback_service(surfaces(state))
        .layer(middleware::map_request(normalize_path))
        .layer(middleware::map_request(blob_host))
}

/// The host a request names: its `Host` header, else its URI's authority (HTTP/2, proxies).
pub(crate) fn request_host(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
}

/// `https://{account}.blob.core.windows.net/{container}/{blob}` is served as
/// `/_blob/{account}/{container}/{blob}`, where the blob routes live.
async fn blob_host(mut request: Request) -> Request {
    // Most requests are not for a storage host: tell that without allocating.
    const SUFFIX: &[u8] = b".blob.core.windows.net";
    let looks_like = request_host(&request).is_some_and(|h| {
        let name = h
            .rsplit_once(':')
            .map_or(h, |(name, _)| name)
            .trim_end_matches('.');
        name.len() > SUFFIX.len()
            && name.as_bytes()[name.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX)
    });
    if !looks_like {
        return request;
    }
    let account = request_host(&request)
        .and_then(crate::tls::hosts::split_authority)
        .and_then(|(host, _)| crate::tls::hosts::blob_account(&host).map(str::to_string));
    let Some(account) = account else {
        return request;
    };
    let uri = request.uri();
    if uri.path().starts_with("/_blob/") {
        return request;
    }
    let mapped = match uri.query() {
        Some(query) => format!("/_blob/{account}{}?{query}", uri.path()),
        None => format!("/_blob/{account}{}", uri.path()),
    };
    let sent = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.to_string());
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = mapped.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(new) = Uri::from_parts(parts) {
            *request.uri_mut() = new;
            request.extensions_mut().insert(SentPath(sent));
        }
    }
    request
}

/// The path and query a client sent, when the simulator serves it under another path (a blob
/// host's); the journal shows this one.
#[derive(Debug, Clone)]
struct SentPath(String);

/// Collapses repeated slashes and drops a trailing slash, as real clients produce them from a
/// base URL with a trailing slash (`https://host/` + `/path`) or from templates such as
/// `…/project/{id}/?page=2`. Blob names are left alone.
async fn normalize_path(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    if path.starts_with("/_blob/")
        || (!path.contains("//") && (path.len() == 1 || !path.ends_with('/')))
    {
        return request;
    }
    let mut clean = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(query) = uri.query() {
        clean.push('?');
        clean.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = clean.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(new) = Uri::from_parts(parts) {
            *request.uri_mut() = new;
        }
    }
    request
}

/// Every route with its documentation, as [`routes::Routes`] records them.
pub fn route_table(state: Arc<AppState>) -> (Router<Arc<AppState>>, Vec<routes::Op>) {
    routes::Routes::new(routes::Surface::Control)
        .nest("/_sim", control::router(state.clone()))
        .nest("/_portal", portal::router(state.clone()))
        .merge(auth::router(state.clone()))
        .merge(blob::router(state.clone()))
        .merge(lcs::router(state.clone()))
        .merge(bap::router(state.clone()))
        .merge(ppapi::router(state))
        .merge(crate::ui::router())
        .into_parts()
}

fn surfaces(state: Arc<AppState>) -> Router {
    let (router, ops) = route_table(state.clone());
    router
        .layer(axum::Extension(openapi::Document::new(&ops)))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn route_not_found(method: Method, uri: Uri) -> SimError {
    SimError::new(
        ErrorCode::RouteNotFound,
        format!(
            "no route for {method} {}; GET /_sim/health checks the simulator is up, and the \
             README lists the surfaces it serves",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> SimError {
    SimError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not accept {method}", uri.path()),
    )
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    SimError::internal(format!(
        "the simulator hit a bug handling this request ({detail}); nothing was changed by the \
         failing step. Please report it with the request that caused it"
    ))
    .into_response()
}

/// Whether a request of this method only reads.
fn is_read(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// One log line and one journal entry per request: at info for changes and refusals, at debug
/// for successful reads.
async fn observe(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let watch = Stopwatch::start();
    let real_time = clock::wall_now();
    let virtual_time = state.clock.now();
    let method = request.method().to_string();
    let path = match request.extensions().get::<SentPath>() {
        Some(sent) => sent.0.clone(),
        None => request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path().to_string(), |p| p.to_string()),
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string());
    let host = request_host(&request).map(str::to_string);
    let secure = request
        .extensions()
        .get::<crate::tls::Arrival>()
        .is_some_and(|a| a.secure);
    let slot = TenantSlot::default();
    request.extensions_mut().insert(slot.clone());

    let response = next.run(request).await;

    let status = response.status().as_u16();
    let duration_ms = (watch.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let error = error_of(&response);
    let fault = response
        .extensions()
        .get::<faults::FiredFaults>()
        .map(|f| f.0.clone());
    let tenant = slot.get();
    let code = error.as_ref().map(|e| e.code.as_str());
    let tenant_field = tenant.map(tracing::field::display);
    if status >= 500 {
        let message = error.as_ref().map_or("", |e| e.message.as_str());
        error!(target: "lifecycle_sim::http", %method, %path, status, duration_ms, tenant = tenant_field, code, message, virtual_now = %virtual_time, "request failed");
    } else if status < 400 && is_read(&method) {
        // Successful reads are most of the traffic (polls above all) and the journal keeps
        // them; their line costs about a tenth of a small read's time, so it waits for debug.
        debug!(target: "lifecycle_sim::http", %method, %path, status, duration_ms, tenant = tenant_field, code, secure, virtual_now = %virtual_time, "request");
    } else {
        info!(target: "lifecycle_sim::http", %method, %path, status, duration_ms, tenant = tenant_field, code, secure, virtual_now = %virtual_time, "request");
    }
    let change = (Events::notable(&method) && state.events.listening()).then(|| Change {
        seq: 0,
        method: method.clone(),
        route: route.clone(),
        tenant,
        status,
    });
    let seq = state.journal.record(Entry {
        seq: 0,
        real_time,
        virtual_time,
        tenant,
        method,
        host,
        scheme: if secure { "https" } else { "http" },
        path,
        route,
        status,
        duration_ms,
        error_code: code,
        fault,
    });
    if let Some(mut change) = change {
        change.seq = seq;
        state.events.publish(change);
    }
    response
}
