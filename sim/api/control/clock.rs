//! The virtual clock: read, configure, advance (all tenants, or one tenant only).

use crate::api::extract::{ApiJson, TenantPath};
use crate::api::views::OperationDto;
use crate::clock::{ClockStatus, parse_duration, parse_timestamp};
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::state::AppState;
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateClock {
    scale: Option<f64>,
    paused: Option<bool>,
}

/// Either `{"by": "90m"}` or `{"to": "2026-01-01T10:00:00Z"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdvanceClock {
    by: Option<String>,
    to: Option<String>,
}

enum Advance {
    By(SignedDuration),
    To(Timestamp),
}

impl AdvanceClock {
    fn parse(self) -> Result<Advance, SimError> {
        match (self.by, self.to) {
            (Some(by), None) => parse_duration(&by).map(Advance::By).map_err(|e| e.at("by")),
            (None, Some(to)) => parse_timestamp(&to)
                .map(Advance::To)
                .map_err(|e| e.at("to")),
            (Some(_), Some(_)) => Err(SimError::new(
                ErrorCode::InvalidBody,
                "give either \"by\" or \"to\", not both",
            )),
            (None, None) => Err(SimError::new(
                ErrorCode::InvalidBody,
                "say how far to advance: {\"by\": \"90m\"} or {\"to\": \"2026-01-01T10:00:00Z\"}",
            )),
        }
    }
}

/// The answer of an advance, `{"now": …, "completed": [operation, …]}` with the operations in
/// the order they reached a terminal state. Each operation is written while its tenant is
/// locked, one at a time, so an advance that settles 100,000 operations builds no list of
/// 100,000 views beside the answer.
struct Advanced {
    /// `{"now":…,"completed":[` and each operation, comma-separated, in tenant order.
    body: Vec<u8>,
    /// Each operation's bytes in `body`, with when it finished, to order them across tenants.
    spans: Vec<(Option<Timestamp>, Range<usize>)>,
}

impl Advanced {
    fn new(now: Timestamp) -> Advanced {
        let mut body = br#"{"now":"#.to_vec();
        write_json(&mut body, &now);
        body.extend_from_slice(br#","completed":["#);
        Advanced {
            body,
            spans: Vec::new(),
        }
    }

    /// Adds the operations of `tenant` that `finished`, as seen at `now` (the tenant's).
    fn add(&mut self, tenant: &Tenant, finished: &[OperationId], now: Timestamp) {
        for op in finished.iter().filter_map(|id| tenant.operation(*id).ok()) {
            if !self.spans.is_empty() {
                self.body.push(b',');
            }
            let dto = OperationDto::new(tenant.id(), op, now);
            let start = self.body.len();
            write_json(&mut self.body, &dto);
            self.spans.push((dto.finished_at(), start..self.body.len()));
        }
    }

    /// The answer; operations of several tenants are put in the order they finished (a stable
    /// order: tenants in turn for the same instant).
    fn into_response(self) -> Response {
        let Advanced {
            mut body,
            mut spans,
        } = self;
        if !spans.is_sorted_by_key(|(at, _)| *at) {
            let first = spans.first().map_or(body.len(), |(_, r)| r.start);
            spans.sort_by_key(|(at, _)| *at);
            let mut sorted = Vec::with_capacity(body.len() + 2);
            sorted.extend_from_slice(&body[..first]);
            for (i, (_, range)) in spans.iter().enumerate() {
                if i > 0 {
                    sorted.push(b',');
                }
                sorted.extend_from_slice(&body[range.clone()]);
            }
            body = sorted;
        }
        body.extend_from_slice(b"]}");
        ([(CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Appends `value` as JSON. Writing to a `Vec` cannot fail, and neither can serialising a
/// timestamp or an operation view (no map with non-string keys), so there is no error to keep.
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    let _ = serde_json::to_writer(&mut *out, value);
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantClock {
    now: Timestamp,
    /// How far this tenant runs ahead of the shared clock, e.g. "1h 30m".
    offset: String,
    scale: f64,
    paused: bool,
}

pub(super) async fn clock_get(State(state): State<Arc<AppState>>) -> Json<ClockStatus> {
    Json(state.clock.status())
}

pub(super) async fn clock_update(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<UpdateClock>,
) -> Result<Json<ClockStatus>, SimError> {
    state
        .clock
        .configure(body.scale, body.paused)
        .map(Json)
        .map_err(|e| e.at("scale"))
}

/// Advances the shared clock, then settles every tenant so that everything now due has applied.
pub(super) async fn clock_advance(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<AdvanceClock>,
) -> Result<Response, SimError> {
    match body.parse()? {
        Advance::By(by) => state.clock.advance(by).map_err(|e| e.at("by"))?,
        Advance::To(to) => state.clock.advance_to(to).map_err(|e| e.at("to"))?,
    };
    let now = state.clock.now();
    let mut answer = Advanced::new(now);
    for tenant in state.world.tenants().iter() {
        let tenant = tenant.settled(now);
        answer.add(&tenant, tenant.finished(), tenant.now());
    }
    Ok(answer.into_response())
}

pub(super) async fn tenant_clock_get(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<TenantClock> {
    let status = state.clock.status();
    let tenant = path.tenant.settled(status.now);
    Json(TenantClock {
        now: tenant.now(),
        offset: format!("{:#}", tenant.state.clock_offset),
        scale: status.scale,
        paused: status.paused,
    })
}

/// Advances one tenant's clock only; other tenants' timelines are untouched.
pub(super) async fn tenant_clock_advance(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    ApiJson(body): ApiJson<AdvanceClock>,
) -> Result<Response, SimError> {
    let advance = body.parse()?;
    let clock_now = state.clock.now();
    let mut tenant = path.tenant.settled(clock_now);
    let mut finished = tenant.finished().to_vec();
    let by = match advance {
        Advance::By(by) => by,
        Advance::To(to) => {
            let now = tenant.now();
            if to < now {
                return Err(SimError::new(
                    ErrorCode::ClockCannotGoBack,
                    format!(
                        "cannot advance to {to}: the tenant's virtual now is already {now} and its \
                         clock only moves forward; reset the tenant to start over"
                    ),
                )
                .at("to"));
            }
            to.duration_since(now)
        }
    };
    tenant
        .advance_clock(by, clock_now)
        .map_err(|e| e.at("by"))?;
    let (now, more) = tenant.settle(clock_now);
    finished.extend(more);
    let mut answer = Advanced::new(now);
    answer.add(&tenant, &finished, now);
    Ok(answer.into_response())
}
