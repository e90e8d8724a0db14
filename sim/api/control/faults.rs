//! `/_sim/faults` (request rules, global or per tenant) and `/_sim/tenants/{t}/faults` (planned
//! operation failures and the tenant's request rules).

use crate::api::extract::{ApiJson, ApiPath, TenantPath};
use crate::app::AppState;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::faults::{
    InjectedError, Latency, OperationFault, PathPattern, RequestAction, RequestRule, StageRef,
    Surface, Throttle,
};
use crate::world::identity::TenantId;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// A fault rule as the control plane takes it: an `operation` failure, or a request rule
/// (`match` with `latency` and/or `error`, or `throttle`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultBody {
    #[serde(default)]
    name: String,
    operation: Option<OperationBody>,
    #[serde(rename = "match")]
    matches: Option<MatchBody>,
    latency: Option<LatencyBody>,
    error: Option<InjectedBody>,
    throttle: Option<ThrottleBody>,
    count: Option<u32>,
    from: Option<String>,
    until: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MatchBody {
    surface: Option<String>,
    method: Option<String>,
    path: Option<String>,
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "distribution",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum LatencyBody {
    Fixed { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    Normal { mean_ms: f64, stddev_ms: f64 },
    LogNormal { p50_ms: f64, p99_ms: f64 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InjectedBody {
    status: u16,
    code: Option<String>,
    message: Option<String>,
    probability: Option<f64>,
    retry_after: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleBody {
    limit: u32,
    window: String,
    per: Option<String>,
}

/// A parsed rule.
pub enum Fault {
    /// A planned operation failure.
    Operation(OperationFault),
    /// A request rule.
    Request(RequestRule),
}

fn bad(field: &str, message: impl Into<String>) -> SimError {
    SimError::new(ErrorCode::InvalidFaultRule, message).at(field)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperationBody {
    kind: String,
    target: Option<String>,
    stage: StageBody,
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StageBody {
    Index(usize),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorBody {
    code: String,
    message: String,
}

impl FaultBody {
    /// The domain rule; `tenant` scopes a request rule to a tenant (the tenant routes). `from`
    /// and `until` take a timestamp, or an offset from `anchor` (`30m`, `+1h`).
    pub fn parse(self, tenant: Option<TenantId>, anchor: Timestamp) -> Result<Fault, SimError> {
        if let Some(op) = self.operation {
            let extra = [
                ("match", self.matches.is_some()),
                ("latency", self.latency.is_some()),
                ("error", self.error.is_some()),
                ("throttle", self.throttle.is_some()),
                ("from", self.from.is_some()),
                ("until", self.until.is_some()),
            ];
            if let Some((field, _)) = extra.iter().find(|(_, set)| *set) {
                return Err(bad(
                    field,
                    "an operation rule takes name, operation and count only",
                ));
            }
            return Ok(Fault::Operation(OperationFault {
                name: self.name,
                kind: op.kind,
                target: op.target,
                stage: match op.stage {
                    StageBody::Index(i) => StageRef::Index(i),
                    StageBody::Name(n) => StageRef::Name(n),
                },
                code: op.error.code,
                message: op.error.message,
                remaining: self.count.unwrap_or(1),
            }));
        }
        let m = self.matches.unwrap_or_default();
        let rule_tenant = match (&m.tenant, tenant) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "match.tenant",
                    "the tenant route scopes the rule already; leave out match.tenant",
                ));
            }
            (Some(t), None) => Some(TenantId::parse(t).map_err(|e| e.at("match.tenant"))?),
            (None, t) => t,
        };
        let action = match (self.throttle, self.latency, self.error) {
            (Some(t), None, None) => RequestAction::Throttle(Throttle {
                limit: t.limit,
                window: clock::parse_duration(&t.window).map_err(|e| e.at("throttle.window"))?,
                per_user: match t.per.as_deref() {
                    None | Some("tenant") => false,
                    Some("user") => true,
                    Some(other) => {
                        return Err(bad(
                            "throttle.per",
                            format!("'{other}' is not a budget key; use tenant or user"),
                        ));
                    }
                },
            }),
            (Some(_), _, _) => {
                return Err(bad(
                    "throttle",
                    "a throttle rule takes no latency or error; make two rules",
                ));
            }
            (None, None, None) => {
                return Err(bad(
                    "operation",
                    "give an operation failure, a request fault (latency and/or error) or a \
                     throttle",
                ));
            }
            (None, latency, error) => RequestAction::Fault {
                latency: latency.map(|l| match l {
                    LatencyBody::Fixed { ms } => Latency::Fixed { ms },
                    LatencyBody::Uniform { min_ms, max_ms } => Latency::Uniform { min_ms, max_ms },
                    LatencyBody::Normal { mean_ms, stddev_ms } => {
                        Latency::Normal { mean_ms, stddev_ms }
                    }
                    LatencyBody::LogNormal { p50_ms, p99_ms } => {
                        Latency::LogNormal { p50_ms, p99_ms }
                    }
                }),
                error: error.map(|e| InjectedError {
                    status: e.status,
                    code: e.code,
                    message: e.message,
                    probability: e.probability.unwrap_or(1.0),
                    retry_after: e.retry_after,
                }),
            },
        };
        let time = |v: Option<String>, field: &str| {
            v.map(|t| {
                clock::parse_timestamp(&t)
                    .or_else(|e| {
                        let offset = t.trim().trim_start_matches('+');
                        match clock::parse_duration(offset) {
                            Ok(d) => clock::add(anchor, d),
                            Err(_) => Err(SimError::new(
                                ErrorCode::InvalidFaultRule,
                                format!(
                                    "{}; or give an offset from now such as \"30m\"",
                                    e.message
                                ),
                            )),
                        }
                    })
                    .map_err(|e| e.at(field))
            })
            .transpose()
        };
        Ok(Fault::Request(RequestRule {
            name: self.name,
            surface: m.surface.as_deref().map(Surface::parse).transpose()?,
            method: m.method.map(|x| x.trim().to_ascii_uppercase()),
            path: m.path.as_deref().map(PathPattern::parse).transpose()?,
            tenant: rule_tenant,
            action,
            remaining: self.count,
            from: time(self.from, "from")?,
            until: time(self.until, "until")?,
        }))
    }
}

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
        .lock()
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
            let mut tenant = path.tenant.lock();
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
    path.tenant.lock().state.operation_faults.clear();
    state.request_faults.with(|f| f.clear(Some(path.id)));
    StatusCode::NO_CONTENT
}

pub(super) async fn faults_remove(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiPath((_, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, SimError> {
    let removed = path.tenant.lock().state.operation_faults.remove(&name);
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
