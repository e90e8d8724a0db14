//! `/_sim/scenarios`: load a scenario file (or a built-in one) into the running simulator, check
//! one without loading it; `/_sim/tenants/{t}/timeline`: a tenant's scripted events.

use super::tenants::{TenantDto, tenant_dto};
use crate::api::extract::{ApiPath, ApiQuery, TenantPath, TenantSlot};
use crate::error::{ErrorCode, SimError};
use crate::scenario::{self, BUILT_IN, LoadOptions};
use crate::state::AppState;
use crate::world::identity::TenantId;
use crate::world::setup::TimelineEvent;
use crate::world::tenant::SnapshotRef;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where and how a scenario loads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoadQuery {
    /// Load the scenario's only tenant under this id.
    tenant: Option<String>,
    /// Replace tenants whose ids exist.
    #[serde(default)]
    replace: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Loaded {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    tenants: Vec<TenantDto>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BuiltIn {
    name: &'static str,
    title: &'static str,
    /// The whole file, comment header included.
    text: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct BuiltInList {
    scenarios: Vec<BuiltIn>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Checked {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    tenants: usize,
}

fn load_text(
    state: &AppState,
    text: &str,
    query: LoadQuery,
    slot: &TenantSlot,
) -> Result<Response, SimError> {
    let scenario = scenario::parse(text, state.clock.now())?;
    let description = scenario.description.clone();
    let options = LoadOptions {
        tenant: query
            .tenant
            .as_deref()
            .map(|t| TenantId::parse(t).map_err(|e| e.at("tenant")))
            .transpose()?,
        replace: query.replace,
        startup: false,
    };
    let tenants =
        scenario::load(state.destination(), scenario, options).map_err(|e| match e.code {
            ErrorCode::TenantExists => e,
            _ => SimError::from(scenario::problem(text, e)),
        })?;
    let now = state.clock.now();
    let tenants: Vec<TenantDto> = tenants
        .iter()
        .map(|t| {
            let t = t.settled(now);
            let now = t.now();
            tenant_dto(&t, now)
        })
        .collect();
    let location = tenants.first().map(|t| {
        slot.set(t.id);
        format!("/_sim/tenants/{}", t.id)
    });
    let body = Json(Loaded {
        description,
        tenants,
    });
    Ok(match location {
        Some(l) => (StatusCode::CREATED, [(LOCATION, l)], body).into_response(),
        None => (StatusCode::CREATED, body).into_response(),
    })
}

/// `POST /_sim/scenarios`: the body is the file's text (YAML or JSON).
pub(super) async fn scenarios_load(
    State(state): State<Arc<AppState>>,
    slot: TenantSlot,
    ApiQuery(query): ApiQuery<LoadQuery>,
    body: axum::body::Bytes,
) -> Result<Response, SimError> {
    load_text(&state, utf8(&body)?, query, &slot)
}

/// A scenario file's text; anything else is a 400 in the control plane's envelope.
fn utf8(body: &[u8]) -> Result<&str, SimError> {
    std::str::from_utf8(body).map_err(|e| {
        SimError::new(
            ErrorCode::InvalidScenario,
            format!(
                "a scenario file is UTF-8 text (YAML or JSON); byte {} is not",
                e.valid_up_to()
            ),
        )
    })
}

/// `POST /_sim/scenarios/validate`: checks without loading.
pub(super) async fn scenarios_validate(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Json<Checked>, SimError> {
    let scenario = scenario::check(utf8(&body)?, state.clock.now())?;
    Ok(Json(Checked {
        valid: true,
        tenants: scenario.tenants.len(),
        description: scenario.description,
    }))
}

/// `GET /_sim/scenarios`: the scenarios built into the binary (the shipped `scenarios/`).
pub(super) async fn scenarios_list() -> Json<BuiltInList> {
    Json(BuiltInList {
        scenarios: BUILT_IN
            .iter()
            .map(|(name, text)| BuiltIn {
                name,
                title: scenario::title(text),
                text,
            })
            .collect(),
    })
}

/// `POST /_sim/scenarios/{name}`: loads a built-in scenario.
pub(super) async fn scenarios_load_built_in(
    State(state): State<Arc<AppState>>,
    slot: TenantSlot,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<LoadQuery>,
) -> Result<Response, SimError> {
    let text = scenario::built_in(&name).ok_or_else(|| {
        SimError::new(
            ErrorCode::ScenarioNotFound,
            format!(
                "no built-in scenario '{name}'; GET /_sim/scenarios lists them ({})",
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    load_text(&state, text, query, &slot)
}

/// `GET /_sim/tenants/{t}/timeline`: scripted events, fired and pending.
pub(super) async fn timeline_get(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
) -> Json<Vec<TimelineEvent>> {
    let tenant = path.tenant.settled(state.clock.now());
    Json(tenant.state.timeline.events().to_vec())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SnapshotQuery {
    /// `yaml` (default) or `json`.
    format: Option<String>,
}

#[derive(Serialize)]
struct SnapshotFile<'a> {
    version: u32,
    tenants: [SnapshotEntry<'a>; 1],
}

#[derive(Serialize)]
struct SnapshotEntry<'a> {
    snapshot: SnapshotRef<'a>,
}

/// `GET /_sim/tenants/{t}/snapshot`: the tenant's whole state as a scenario file (YAML, or JSON
/// with `?format=json` or `Accept: application/json`). Loading it recreates the same state.
pub(super) async fn snapshot_get(
    State(state): State<Arc<AppState>>,
    path: TenantPath,
    headers: axum::http::HeaderMap,
    ApiQuery(query): ApiQuery<SnapshotQuery>,
) -> Result<Response, SimError> {
    let accept_json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let json = match query
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => accept_json,
        Some("json") => true,
        Some("yaml") => false,
        Some(other) => {
            return Err(SimError::new(
                ErrorCode::InvalidQuery,
                format!("'{other}' is not a snapshot format; use yaml or json"),
            )
            .at("format"));
        }
    };
    let clock_now = state.clock.now();
    let tenant = path.tenant.settled(clock_now);
    let now = tenant.now();
    let file = SnapshotFile {
        version: scenario::FORMAT_VERSION,
        tenants: [SnapshotEntry {
            snapshot: tenant.snapshot(clock_now),
        }],
    };
    let failed = |e: String| SimError::internal(format!("the snapshot cannot be written: {e}"));
    if json {
        let body = serde_json::to_string_pretty(&file).map_err(|e| failed(e.to_string()))?;
        return Ok(([(CONTENT_TYPE, "application/json")], body).into_response());
    }
    let yaml = serde_saphyr::to_string(&file).map_err(|e| failed(e.to_string()))?;
    let s = &tenant.state;
    let body = format!(
        "# Snapshot of tenant {} ({}) at {now}.\n# Load it with --scenario FILE or POST \
         /_sim/scenarios; the tenant's clock resumes from that moment, running operations \
         included.\n{yaml}",
        s.display_name, s.id
    );
    Ok(([(CONTENT_TYPE, "application/yaml")], body).into_response())
}
