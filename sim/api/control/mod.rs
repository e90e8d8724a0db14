//! `/_sim`: the control plane. No token needed. Bodies are camelCase JSON and strict (unknown
//! fields are refused, naming the field); errors are `{"error":{"code","message","target"?}}`.

mod clock;
mod environments;
pub(crate) mod faults;
pub mod operations;
mod scenarios;
pub(crate) mod tenants;

use super::extract::ApiQuery;
use crate::app::AppState;
use crate::error::SimError;
use crate::journal::{Entry, Filter};
use crate::world::identity::TenantId;
use axum::extract::State;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Every control route.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/reset", post(reset))
        .route("/journal", get(journal))
        .route("/clock", get(clock::clock_get).patch(clock::clock_update))
        .route("/clock/advance", post(clock::clock_advance))
        .route(
            "/tenants",
            get(tenants::tenants_list).post(tenants::tenants_create),
        )
        .route(
            "/tenants/{tenant}",
            get(tenants::tenants_get).delete(tenants::tenants_delete),
        )
        .route("/tenants/{tenant}/reset", post(tenants::tenants_reset))
        .route(
            "/scenarios",
            get(scenarios::scenarios_list).post(scenarios::scenarios_load),
        )
        .route("/scenarios/validate", post(scenarios::scenarios_validate))
        .route(
            "/scenarios/{name}",
            post(scenarios::scenarios_load_built_in),
        )
        .route("/tenants/{tenant}/timeline", get(scenarios::timeline_get))
        .route("/tenants/{tenant}/snapshot", get(scenarios::snapshot_get))
        .route(
            "/tenants/{tenant}/environments",
            get(environments::environments_list),
        )
        .route(
            "/faults",
            get(faults::global_list)
                .post(faults::global_add)
                .delete(faults::global_clear),
        )
        .route(
            "/faults/{name}",
            axum::routing::delete(faults::global_remove),
        )
        .route(
            "/tenants/{tenant}/faults",
            get(faults::faults_list)
                .post(faults::faults_add)
                .delete(faults::faults_clear),
        )
        .route(
            "/tenants/{tenant}/faults/{name}",
            axum::routing::delete(faults::faults_remove),
        )
        .route("/tenants/{tenant}/users", post(tenants::users_create))
        .route(
            "/tenants/{tenant}/users/{upn}",
            patch(tenants::users_update).delete(tenants::users_delete),
        )
        .route(
            "/tenants/{tenant}/capacity",
            patch(tenants::capacity_update),
        )
        .route(
            "/tenants/{tenant}/governance",
            patch(tenants::governance_update),
        )
        .route("/tenants/{tenant}/durations", get(tenants::durations_list))
        .route(
            "/tenants/{tenant}/durations/{kind}",
            axum::routing::put(tenants::durations_set).delete(tenants::durations_delete),
        )
        .route("/tenants/{tenant}/clock", get(clock::tenant_clock_get))
        .route(
            "/tenants/{tenant}/clock/advance",
            post(clock::tenant_clock_advance),
        )
        .route(
            "/tenants/{tenant}/operations",
            get(operations::operations_list),
        )
        .route(
            "/tenants/{tenant}/operations/{id}",
            get(operations::operations_get),
        )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
    seed: u64,
    virtual_now: Timestamp,
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: (state.uptime().as_secs_f64() * 1000.0).round() / 1000.0,
        seed: state.seed,
        virtual_now: state.clock.now(),
    })
}

/// Ready once start-up is complete, which it is by the time the server accepts connections.
async fn ready() -> Json<Value> {
    Json(json!({"status": "ready"}))
}

async fn reset(State(state): State<Arc<AppState>>) -> Result<Json<Value>, SimError> {
    state.reset()?;
    let tenants: Vec<TenantId> = state
        .world
        .tenants()
        .iter()
        .map(|t| t.lock().id())
        .collect();
    Ok(Json(json!({"now": state.clock.now(), "tenants": tenants})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalQuery {
    tenant: Option<String>,
    since: Option<u64>,
    limit: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JournalPage {
    capacity: usize,
    entries: Vec<Entry>,
}

async fn journal(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<JournalQuery>,
) -> Result<Json<JournalPage>, SimError> {
    let tenant = query
        .tenant
        .map(|t| TenantId::parse(&t).map_err(|e| e.at("tenant")))
        .transpose()?;
    let entries = state.journal.entries(Filter {
        tenant,
        since: query.since,
        limit: query.limit,
    });
    Ok(Json(JournalPage {
        capacity: state.journal.capacity(),
        entries,
    }))
}
