//! The request-fault layer: before a request reaches its surface, the run's request rules may
//! delay it, answer it with an error in that surface's own envelope, or throttle it. Every
//! affected answer carries `x-sim-fault: <rule names>`, and the journal records them. The control
//! plane (`/_sim`) is never faulted.

use crate::faults::{Decision, Injected, RequestInfo, Surface};
use crate::state::AppState;
use crate::world::identity::TenantId;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The rule names that fired on a response, for the journal.
#[derive(Debug, Clone)]
pub struct FiredFaults(pub String);

/// The tenant (`tid`) and caller (`oid`) a bearer token names, read without verifying it (the
/// handler verifies; a forged token only changes which rules match).
fn caller_of(request: &Request) -> (Option<TenantId>, Option<String>) {
    let claims = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let Some(claims) = claims else {
        return (None, None);
    };
    let tenant = claims["tid"]
        .as_str()
        .and_then(|t| uuid::Uuid::parse_str(t).ok())
        .map(TenantId);
    let user = claims["oid"].as_str().map(str::to_string);
    (tenant, user)
}

/// Applies the request rules.
pub async fn inject(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some(surface) = Surface::of_path(path) else {
        return next.run(request).await;
    };
    if !state.request_faults.armed() {
        return next.run(request).await;
    }
    let (tenant, user) = caller_of(&request);
    let clock = state.clock.status();
    let to_real = |virtual_secs: f64| {
        if clock.paused {
            virtual_secs.ceil() as u64
        } else {
            (virtual_secs / clock.scale).ceil() as u64
        }
    };
    let info = RequestInfo {
        surface,
        method: request.method().as_str(),
        path,
        tenant,
        user,
    };
    let decision: Decision = state
        .request_faults
        .with(|faults| faults.decide(&info, clock.now, to_real));
    if decision.fired.is_empty() {
        return next.run(request).await;
    }
    if decision.latency_ms > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(decision.latency_ms / 1000.0)).await;
    }
    let mut response = match &decision.answer {
        Some(injected) => render(&state, surface, injected),
        None => next.run(request).await,
    };
    let names = decision.fired.join(",");
    if let Ok(v) = HeaderValue::from_str(&names) {
        response.headers_mut().insert("x-sim-fault", v);
    }
    response.extensions_mut().insert(FiredFaults(names));
    response
}

/// An injected answer in the surface's envelope.
fn render(state: &AppState, surface: Surface, injected: &Injected) -> Response {
    let status = StatusCode::from_u16(injected.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, message) = (injected.code.as_str(), injected.message.as_str());
    let mut response = match surface {
        Surface::Bap | Surface::Portal => (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response(),
        Surface::PowerPlatform if matches!(injected.status, 400 | 409) => (
            status,
            Json(json!({"errorDetail": {"code": code, "message": message}})),
        )
            .into_response(),
        Surface::PowerPlatform => (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response(),
        Surface::Lcs if injected.status >= 500 => (
            status,
            Json(json!({"Message": "An error has occurred.", "ExceptionMessage": message})),
        )
            .into_response(),
        Surface::Lcs => {
            let activity = state.trace_id();
            let mut r = (
                status,
                Json(json!({
                    "IsSuccess": false,
                    "OperationActivityId": activity,
                    "ErrorMessage": message,
                    "VersionEOL": "9999-12-31T23:59:59.9999999",
                })),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&activity.to_string()) {
                r.headers_mut().insert("activity-id", v);
            }
            r
        }
        Surface::Blob => {
            let body = format!(
                "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{}</Message></Error>",
                message
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            );
            let mut r = (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
            if let Ok(v) = HeaderValue::from_str(code) {
                r.headers_mut().insert("x-ms-error-code", v);
            }
            r
        }
        Surface::Auth => (
            status,
            Json(
                json!({"error": if injected.throttled { "temporarily_unavailable" } else { code },
                        "error_description": message}),
            ),
        )
            .into_response(),
    };
    if let Some(seconds) = injected.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    response
}
