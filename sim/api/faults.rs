//! The request rules at the door of each surface: before a request reaches its handler, the run's
//! request rules may delay it, answer it with an error, or throttle it. The surface is the route's
//! (each surface's envelope layer asks, see [`super::envelope::envelope`]), and the error is
//! rendered by that surface's own envelope. Every affected answer carries
//! `x-sim-fault: <rule names>`, and the journal records them. The control plane (`/_sim`) and the
//! training pages are never faulted.

use super::routes::Surface;
use crate::faults::{Decision, RequestInfo, Surface as RuleSurface};
use crate::state::AppState;
use crate::world::identity::TenantId;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use base64::Engine;
use serde_json::Value;
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

/// What the run's request rules do with a request to `surface`: nothing (no rule is armed or
/// none fires), a delay, an error to answer with, or both.
pub fn decide(state: &AppState, surface: Surface, request: &Request) -> Decision {
    let surface = match surface {
        Surface::Lcs => RuleSurface::Lcs,
        Surface::Bap => RuleSurface::Bap,
        Surface::PowerPlatform => RuleSurface::PowerPlatform,
        Surface::Blob => RuleSurface::Blob,
        Surface::Entra | Surface::Graph => RuleSurface::Auth,
        Surface::Portal => RuleSurface::Portal,
        Surface::Control | Surface::Ui => return Decision::default(),
    };
    if !state.request_faults.armed() {
        return Decision::default();
    }
    let (tenant, user) = caller_of(request);
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
        path: request.uri().path(),
        tenant,
        user,
    };
    state
        .request_faults
        .with(|faults| faults.decide(&info, clock.now, to_real))
}

/// Waits out a decision's delay.
pub async fn delay(decision: &Decision) {
    if decision.latency_ms > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(decision.latency_ms / 1000.0)).await;
    }
}

/// Marks a response the rules of `decision` touched: `x-sim-fault` for the client, and
/// [`FiredFaults`] for the journal.
pub fn mark(response: &mut Response, decision: &Decision) {
    if decision.fired.is_empty() {
        return;
    }
    let names = decision.fired.join(",");
    if let Ok(v) = HeaderValue::from_str(&names) {
        response.headers_mut().insert("x-sim-fault", v);
    }
    response.extensions_mut().insert(FiredFaults(names));
}
