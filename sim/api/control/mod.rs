//! `/_sim`: the control plane. No token needed, unless the simulator was started with
//! `--control-token` (see [`token`]). Bodies are camelCase JSON and strict (unknown
//! fields are refused, naming the field); errors are `{"error":{"code","message","target"?}}`.

mod clock;
mod environments;
mod events;
pub(crate) mod faults;
pub mod operations;
mod scenarios;
pub(crate) mod tenants;
pub(crate) mod token;

use super::extract::ApiQuery;
use super::routes::{Routes, Surface, delete, get, patch, post, put};
use crate::error::SimError;
use crate::journal::{Entry, Filter};
use crate::state::AppState;
use crate::world::identity::TenantId;
use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Every control route: those that read or change the simulator's state behind the control
/// token (when the simulator has one), then the probes and the document, open to all.
pub fn router(state: Arc<AppState>) -> Routes {
    guarded()
        .behind_control_token(state)
        .route(
            "/health",
            get(
                health,
                "Liveness: status, version, uptime, seed, virtual now",
            ),
        )
        .route(
            "/ready",
            get(
                ready,
                "Readiness: 200 once the start-up scenarios are loaded",
            ),
        )
        .route(
            "/openapi.json",
            get(openapi, "This document: OpenAPI 3.1 of every route"),
        )
        .route(
            "/tls/ca.pem",
            get(
                ca_pem,
                "The CA certificate (PEM) that signs the emulated Microsoft hosts' certificates",
            )
            .answers(CA_MEDIA_TYPE),
        )
}

/// The media type of a PEM certificate.
const CA_MEDIA_TYPE: &str = "application/x-pem-file";

/// The CA to trust for the TLS port and the proxy's tunnels. Open, like health: it is public.
async fn ca_pem(State(state): State<Arc<AppState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (axum::http::header::CONTENT_TYPE, CA_MEDIA_TYPE),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "inline; filename=\"lifecycle-sim-ca.pem\"",
            ),
        ],
        state.authority.ca_pem().to_string(),
    )
        .into_response()
}

/// The routes that read or change state.
fn guarded() -> Routes {
    Routes::new(Surface::Control)
        .route(
            "/reset",
            post(reset, "Everything back to the start-up state"),
        )
        .route(
            "/journal",
            get(
                journal,
                "Recent requests (bounded), filtered by tenant and sequence",
            ),
        )
        .route(
            "/events",
            get(
                events::events_stream,
                "Server-sent events for live pages: clock ticks and a notice per state-changing request",
            )
            .answers("text/event-stream"),
        )
        .route(
            "/clock",
            get(clock::clock_get, "The virtual clock: now, scale, paused")
                .patch(clock::clock_update, "Change the clock's scale or pause it"),
        )
        .route(
            "/clock/advance",
            post(
                clock::clock_advance,
                "Advance virtual time by a duration or to a moment; lists what finished",
            ),
        )
        .route(
            "/tenants",
            get(tenants::tenants_list, "Every tenant, in creation order").post(
                tenants::tenants_create,
                "Create a tenant (users, licenses, roles, capacity, governance, projects)",
            ),
        )
        .route(
            "/tenants/{tenant}",
            get(
                tenants::tenants_get,
                "One tenant with its users, capacity, environments and projects",
            )
            .delete(
                tenants::tenants_delete,
                "Delete a tenant (its tokens stop working)",
            ),
        )
        .route(
            "/tenants/{tenant}/reset",
            post(
                tenants::tenants_reset,
                "The tenant back to its state right after creation",
            ),
        )
        .route(
            "/scenarios",
            get(
                scenarios::scenarios_list,
                "The built-in scenarios with their story",
            )
            .post(
                scenarios::scenarios_load,
                "Load a scenario file (YAML or JSON body)",
            )
            .body("application/yaml"),
        )
        .route(
            "/scenarios/validate",
            post(
                scenarios::scenarios_validate,
                "Check a scenario file without loading it",
            )
            .body("application/yaml"),
        )
        .route(
            "/scenarios/{name}",
            post(
                scenarios::scenarios_load_built_in,
                "Load a built-in scenario by name",
            ),
        )
        .route(
            "/tenants/{tenant}/timeline",
            get(
                scenarios::timeline_get,
                "The tenant's scripted events, fired and pending",
            ),
        )
        .route(
            "/tenants/{tenant}/snapshot",
            get(
                scenarios::snapshot_get,
                "The tenant's whole state as a scenario file (YAML or JSON)",
            ),
        )
        .route(
            "/tenants/{tenant}/environments",
            get(
                environments::environments_list,
                "Conceptual environments: both halves, link, running operations, terminology",
            ),
        )
        .route(
            "/faults",
            get(faults::global_list, "Global request-fault rules")
                .post(
                    faults::global_add,
                    "Add a global request-fault rule (latency, error, throttle)",
                )
                .delete(
                    faults::global_clear,
                    "Remove every global request-fault rule",
                ),
        )
        .route(
            "/faults/{name}",
            delete(
                faults::global_remove,
                "Remove one global request-fault rule",
            ),
        )
        .route(
            "/tenants/{tenant}/faults",
            get(
                faults::faults_list,
                "The tenant's planned operation failures and request rules",
            )
            .post(
                faults::faults_add,
                "Plan an operation failure or add a request rule for the tenant",
            )
            .delete(faults::faults_clear, "Remove every fault of the tenant"),
        )
        .route(
            "/tenants/{tenant}/faults/{name}",
            delete(faults::faults_remove, "Remove one fault of the tenant"),
        )
        .route(
            "/tenants/{tenant}/users",
            post(tenants::users_create, "Add a user"),
        )
        .route(
            "/tenants/{tenant}/users/{upn}",
            patch(
                tenants::users_update,
                "Change a user's display name, password, roles or licenses",
            )
            .delete(tenants::users_delete, "Remove a user"),
        )
        .route(
            "/tenants/{tenant}/capacity",
            patch(
                tenants::capacity_update,
                "Set the tenant's database, file and log capacity totals",
            ),
        )
        .route(
            "/tenants/{tenant}/governance",
            patch(
                tenants::governance_update,
                "Restrict environment creation to admins, or not",
            ),
        )
        .route(
            "/tenants/{tenant}/durations",
            get(
                tenants::durations_list,
                "The tenant's operation duration overrides",
            ),
        )
        .route(
            "/tenants/{tenant}/durations/{kind}",
            put(
                tenants::durations_set,
                "Make every later operation of a kind take a duration or a range",
            )
            .delete(tenants::durations_delete, "Drop a duration override"),
        )
        .route(
            "/tenants/{tenant}/clock",
            get(
                clock::tenant_clock_get,
                "The tenant's virtual now and its offset from the shared clock",
            ),
        )
        .route(
            "/tenants/{tenant}/clock/advance",
            post(
                clock::tenant_clock_advance,
                "Advance this tenant's clock only",
            ),
        )
        .route(
            "/tenants/{tenant}/operations",
            get(
                operations::operations_list,
                "Every operation of the tenant, both portals, with stages and progress",
            ),
        )
        .route(
            "/tenants/{tenant}/operations/{id}",
            get(operations::operations_get, "One operation"),
        )
}

/// The OpenAPI document, rendered once when the router was built.
async fn openapi(
    axum::Extension(document): axum::Extension<super::openapi::Document>,
) -> super::openapi::Document {
    document
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
    seed: u64,
    virtual_now: Timestamp,
    /// The plain port.
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    /// The HTTPS proxy's port (`--proxy-port`), when it listens.
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy_port: Option<u16>,
    /// The TLS port (`--tls-port`), when it listens.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_port: Option<u16>,
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let listening = state.listening.get();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: (state.uptime().as_secs_f64() * 1000.0).round() / 1000.0,
        seed: state.seed,
        virtual_now: state.clock.now(),
        port: listening.map(|l| l.plain.port()),
        proxy_port: listening.and_then(|l| l.proxy).map(|a| a.port()),
        tls_port: listening.and_then(|l| l.tls).map(|a| a.port()),
    })
}

/// Ready once start-up is complete, which it is by the time the server accepts connections.
async fn ready() -> Json<Value> {
    Json(json!({"status": "ready"}))
}

async fn reset(State(state): State<Arc<AppState>>) -> Result<Json<Value>, SimError> {
    state.reset()?;
    let tenants: Vec<TenantId> = state.world.tenants().iter().map(|t| t.id()).collect();
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
