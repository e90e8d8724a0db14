//! Reference data a create picks from: locations, each location's currencies, languages and
//! environment templates.

use crate::api::caller::Caller;
use crate::api::pp::{self, Answer, open};
use crate::state::AppState;
use crate::world::ppac::{self, CURRENCIES, LANGUAGES, LOCATIONS, TEMPLATES};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) async fn locations(_: Caller) -> Answer {
    let list: Vec<Value> = LOCATIONS
        .iter()
        .map(|l| json!({"name": l.name, "displayName": l.display_name, "code": l.code, "isDefault": l.name == "unitedstates", "isDisabled": false, "canProvisionDatabase": true, "hasFirstReleaseIslandAvailableForProvisioning": false}))
        .collect();
    Ok(
        Json(json!({"collection": list, "locationSelectionMode": "Location", "macroRegions": []}))
            .into_response(),
    )
}

pub(super) async fn currencies(_: Caller, Path(loc): Path<String>) -> Answer {
    ppac::find_location(&loc)?;
    let list: Vec<Value> = CURRENCIES
        .iter()
        .map(|(c, s, _)| json!({"code": c, "symbol": s, "isTenantDefault": *c == "USD"}))
        .collect();
    Ok(Json(pp::wrap("collection", list)).into_response())
}

pub(super) async fn languages(_: Caller, Path(loc): Path<String>) -> Answer {
    ppac::find_location(&loc)?;
    let list: Vec<Value> = LANGUAGES
        .iter()
        .map(|(l, n)| json!({"localeId": l, "localizedName": n, "isTenantDefault": *l == 1033}))
        .collect();
    Ok(Json(pp::wrap("collection", list)).into_response())
}

pub(super) async fn templates(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(loc): Path<String>,
) -> Answer {
    ppac::find_location(&loc)?;
    let (_, t, _) = open(&state, &caller)?;
    let list: Vec<Value> = TEMPLATES
        .iter()
        .map(|tp| {
            let entitled = crate::world::ppac::tenancy::entitled(&t.state, tp);
            json!({
                "name": tp.name,
                "displayName": tp.display_name,
                "isCustomerEngagement": !tp.fin_ops,
                "isSupportedForResetOperation": !tp.fin_ops,
                "availability": tp.skus.iter().map(|s| json!({
                    "environmentSku": s.as_str(),
                    "isDisabled": !entitled,
                    "disabledReason": (!entitled).then(|| json!({
                        "code": "DynamicsEntitlementMissing",
                        "message": format!("You do not have the required Dynamics 365 licenses to create databases with the '{}' Dynamics app.", tp.display_name),
                    })),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(pp::wrap("collection", list)).into_response())
}
