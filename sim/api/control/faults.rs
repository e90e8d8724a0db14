//! `/_sim/faults` (request rules, global or per tenant) and `/_sim/tenants/{t}/faults` (planned
//! operation failures and the tenant's request rules).

use crate::api::extract::{ApiJson, ApiPath, TenantPath};
use crate::error::SimError;
use crate::faults::{Latency, PathPattern, RequestAction, RequestRule, Surface};
use crate::input::fault::{Fault, FaultBody, bad};
use crate::state::AppState;
use crate::world::faults::{OperationFault, StageRef};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn request_dto(r: &RequestRule) -> Value {
    let mut v = json!({
        "name": r.name,
        "match": {"surface": r.surface.map(Surface::as_str), "method": r.method,
                  "path": r.path.as_ref().map(PathPattern::as_str), "tenant": r.tenant.map(|t| t.to_string())},
        "remaining": r.remaining,
        "from": r.from,
        "until": r.until,
    });
    match &r.action {
        RequestAction::Throttle(t) => {
            v["throttle"] = json!({"limit": t.limit, "window": format!("{:#}", t.window),
                                   "per": if t.per_user { "user" } else { "tenant" }});
        }
        RequestAction::Fault { latency, error } => {
            if let Some(l) = latency {
                v["latency"] = match *l {
                    Latency::Fixed { ms } => json!({"distribution": "fixed", "ms": ms}),
                    Latency::Uniform { min_ms, max_ms } => {
                        json!({"distribution": "uniform", "minMs": min_ms, "maxMs": max_ms})
                    }
                    Latency::Normal { mean_ms, stddev_ms } => {
                        json!({"distribution": "normal", "meanMs": mean_ms, "stddevMs": stddev_ms})
                    }
                    Latency::LogNormal { p50_ms, p99_ms } => {
                        json!({"distribution": "logNormal", "p50Ms": p50_ms, "p99Ms": p99_ms})
                    }
                };
            }
            if let Some(e) = error {
                v["error"] = json!({"status": e.status, "code": e.code, "message": e.message,
                                    "probability": e.probability, "retryAfter": e.retry_after});
            }
        }
    }
    v
}

/// A rule as the control plane shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDto {
    name: String,
    operation: Value,
    remaining: u32,
}

impl From<&OperationFault> for FaultDto {
    fn from(r: &OperationFault) -> Self {
        let stage = match &r.stage {
            StageRef::Index(i) => json!(i),
            StageRef::Name(n) => json!(n),
        };
        FaultDto {
            name: r.name.clone(),
            operation: json!({"kind": r.kind, "target": r.target, "stage": stage,
                              "error": {"code": r.code, "message": r.message}}),
            remaining: r.remaining,
        }
    }
}

#[derive(Serialize)]
pub(super) struct FaultList {
    #[serde(skip_serializing_if = "Option::is_none")]
    operations: Option<Vec<FaultDto>>,
    requests: Vec<Value>,
}

fn created(location: String, body: Value) -> Response {
    (StatusCode::CREATED, [(LOCATION, location)], Json(body)).into_response()
}

/// The request rules that `keep` selects, rendered.
fn requests(state: &AppState, keep: impl Fn(&RequestRule) -> bool) -> Vec<Value> {
    state.request_faults.with(|f| {
        f.list()
            .iter()
            .filter(|r| keep(r))
            .map(request_dto)
            .collect()
    })
}

/// Adds a request rule; 201 with it and its location under `base`.
fn add_request(state: &AppState, rule: RequestRule, base: &str) -> Result<Response, SimError> {
    let rule = state
        .request_faults
        .with(|f| f.add(rule).map(request_dto))?;
    let location = format!("{base}/{}", rule["name"].as_str().unwrap_or_default());
    Ok(created(location, rule))
}

pub(super) async fn faults_list(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<FaultList> {
    let operations = path
        .tenant
        .settled(state.clock.now())
        .state
        .operation_faults
        .list()
        .iter()
        .map(FaultDto::from)
        .collect();
    Json(FaultList {
        operations: Some(operations),
        requests: requests(&state, |r| r.tenant == Some(path.id)),
    })
}

pub(super) async fn faults_add(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<FaultBody>,
) -> Result<Response, SimError> {
    let base = format!("/_sim/tenants/{}/faults", path.id);
    match body.parse(Some(path.id), state.clock.now())? {
        Fault::Operation(rule) => {
            let mut tenant = path.tenant.settled(state.clock.now());
            let rule = FaultDto::from(tenant.add_operation_fault(rule)?);
            Ok(created(format!("{base}/{}", rule.name), json!(rule)))
        }
        Fault::Request(rule) => add_request(&state, rule, &base),
    }
}

pub(super) async fn faults_clear(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> StatusCode {
    path.tenant
        .settled(state.clock.now())
        .state
        .operation_faults
        .clear();
    state.request_faults.with(|f| f.clear(Some(path.id)));
    StatusCode::NO_CONTENT
}

pub(super) async fn faults_remove(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    let removed = path
        .tenant
        .settled(state.clock.now())
        .state
        .operation_faults
        .remove(&name);
    if removed.is_ok() {
        return Ok(StatusCode::NO_CONTENT);
    }
    let mine = |r: &RequestRule| r.name == name && r.tenant == Some(path.id);
    let request = state.request_faults.with(|f| {
        if f.list().iter().any(mine) {
            f.remove(&name).map(|_| ())
        } else {
            removed.map(|_| ())
        }
    });
    request.map(|()| StatusCode::NO_CONTENT)
}

pub(super) async fn global_list(State(state): State<Arc<AppState>>) -> Json<FaultList> {
    Json(FaultList {
        operations: None,
        requests: requests(&state, |_| true),
    })
}

pub(super) async fn global_add(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<FaultBody>,
) -> Result<Response, SimError> {
    match body.parse(None, state.clock.now())? {
        Fault::Operation(_) => Err(bad(
            "operation",
            "operation failures belong to a tenant: POST them to /_sim/tenants/{t}/faults",
        )),
        Fault::Request(rule) => {
            if let Some(t) = rule.tenant {
                state.world.tenant(t).map_err(|e| e.at("match.tenant"))?;
            }
            add_request(&state, rule, "/_sim/faults")
        }
    }
}

pub(super) async fn global_clear(State(state): State<Arc<AppState>>) -> StatusCode {
    state.request_faults.with(|f| f.clear(None));
    StatusCode::NO_CONTENT
}

pub(super) async fn global_remove(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, SimError> {
    state.request_faults.with(|f| f.remove(&name))?;
    Ok(StatusCode::NO_CONTENT)
}
