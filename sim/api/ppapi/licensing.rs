//! `/licensing/tenantCapacity` (and its older path): the tenant's capacity, what is used and
//! what is left, by capacity type.

use crate::api::caller::Caller;
use crate::api::pp::{Answer, open, ts};
use crate::error::{ErrorCode, SimError};
use crate::state::AppState;
use crate::world::tenant::Tenant;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use jiff::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;

fn capacity_body(t: &Tenant, now: Timestamp) -> Value {
    let used = t.state.ppac.consumption();
    let cap = t.state.capacity;
    let entry = |kind: &str, total: u64, actual: f64| {
        let available = (total as f64) > actual;
        json!({
            "capacityType": kind,
            "capacityUnits": "MB",
            "totalCapacity": total as f64,
            "maxCapacity": 0.0,
            "status": if available { "Available" } else { "Overflow" },
            "consumption": {"actual": actual, "rated": actual, "actualUpdatedOn": ts(now), "ratedUpdatedOn": ts(now)},
            "overflowCapacity": [],
            "capacityEntitlements": [{
                "capacityType": kind,
                "capacitySubType": format!("{kind}Base"),
                "totalCapacity": total as f64,
                "licenses": [],
            }],
        })
    };
    let over = [
        (cap.database_mb, used.database_mb),
        (cap.file_mb, used.file_mb),
        (cap.log_mb, used.log_mb),
    ]
    .iter()
    .any(|(total, actual)| *actual > *total as f64);
    json!({
        "tenantId": t.id().0,
        "licenseModelType": "StorageDriven",
        "capacitySummary": {
            "status": if over { "Overflow" } else { "Available" },
            "statusMessage": if over { "You are over your storage capacity. Free up or buy more capacity." } else { "You have available capacity across all storage types." },
            "statusMessageCode": if over { "CapacityOverflow" } else { "AllCapacityAvailable" },
            "finOpsStatus": "None",
            "finOpsStatusMessage": "Finance and Operations Storage Capacity Usage reporting is in preview and for information only.",
            "finOpsStatusMessageCode": "FinOpsNotAvailable",
        },
        "tenantCapacities": [
            entry("Database", cap.database_mb, used.database_mb),
            entry("File", cap.file_mb, used.file_mb),
            entry("Log", cap.log_mb, used.log_mb),
        ],
        "legacyModelCapacity": null,
        "temporaryLicenseInfo": {"hasTemporaryLicense": false, "temporaryLicenseExpiryDate": null},
    })
}

pub(super) async fn capacity(State(state): State<Arc<AppState>>, caller: Caller) -> Answer {
    let (_, t, now) = open(&state, &caller)?;
    Ok(Json(capacity_body(&t, now)).into_response())
}

pub(super) async fn capacity_legacy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Answer {
    let (_, t, now) = open(&state, &caller)?;
    if !tenant.eq_ignore_ascii_case(&t.id().0.to_string()) {
        return Err(SimError::new(
            ErrorCode::Forbidden,
            format!(
                "The caller's token is for tenant {}, not {tenant}.",
                t.id().0
            ),
        ));
    }
    Ok(Json(capacity_body(&t, now)).into_response())
}
