//! The virtual clock: read, configure, advance (all tenants, or one tenant only).

use super::operations::completed;
use crate::api::extract::{ApiJson, TenantPath};
use crate::api::views::OperationDto;
use crate::clock::{ClockStatus, parse_duration, parse_timestamp};
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Advanced {
    now: Timestamp,
    /// Operations that reached a terminal state, in the order they did.
    completed: Vec<OperationDto>,
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
) -> Result<Json<Advanced>, SimError> {
    match body.parse()? {
        Advance::By(by) => state.clock.advance(by).map_err(|e| e.at("by"))?,
        Advance::To(to) => state.clock.advance_to(to).map_err(|e| e.at("to"))?,
    };
    let now = state.clock.now();
    let mut completed: Vec<OperationDto> = state
        .world
        .tenants()
        .iter()
        .flat_map(|tenant| {
            let tenant = tenant.settled(now);
            completed(&tenant, tenant.finished(), tenant.now())
        })
        .collect();
    completed.sort_by_key(OperationDto::finished_at);
    Ok(Json(Advanced { now, completed }))
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
) -> Result<Json<Advanced>, SimError> {
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
    Ok(Json(Advanced {
        now,
        completed: completed(&tenant, &finished, now),
    }))
}
