//! Reference data a create picks from: locations, each location's currencies, languages and
//! environment templates (disabled, with the reason, where the tenant lacks the licence).

use super::render::PREFIX;
use crate::api::caller::Caller;
use crate::api::pp::{self, Answer, open};
use crate::state::AppState;
use crate::world::ppac::{self, CURRENCIES, LANGUAGES, LOCATIONS, Sku, TEMPLATES};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) async fn locations(_: Caller) -> Answer {
    let value: Vec<Value> = LOCATIONS
        .iter()
        .map(|l| {
            json!({
                "id": format!("{PREFIX}/locations/{}", l.name),
                "type": "Microsoft.BusinessAppPlatform/locations",
                "name": l.name,
                "properties": {
                    "displayName": l.display_name, "code": l.code,
                    "isDefault": l.name == "unitedstates", "isDisabled": false,
                    "canProvisionDatabase": true, "canProvisionCustomerEngagementDatabase": true,
                    "azureRegions": l.regions,
                },
            })
        })
        .collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

pub(super) async fn currencies(_: Caller, Path(loc): Path<String>) -> Answer {
    let l = ppac::find_location(&loc)?;
    let value: Vec<Value> = CURRENCIES
        .iter()
        .map(|(code, symbol, _)| {
            json!({
                "name": code,
                "id": format!("{PREFIX}/locations/{}/environmentCurrencies/{code}", l.name),
                "type": "Microsoft.BusinessAppPlatform/locations/environmentCurrencies",
                "properties": {"code": code, "symbol": symbol, "isTenantDefault": *code == "USD"},
            })
        })
        .collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

pub(super) async fn languages(_: Caller, Path(loc): Path<String>) -> Answer {
    let l = ppac::find_location(&loc)?;
    let value: Vec<Value> = LANGUAGES
        .iter()
        .map(|(lcid, name)| {
            json!({
                "name": lcid.to_string(),
                "id": format!("{PREFIX}/locations/{}/environmentLanguages/{lcid}", l.name),
                "type": "Microsoft.BusinessAppPlatform/locations/environmentLanguages",
                "properties": {"localeId": lcid, "localizedName": name, "displayName": name, "isTenantDefault": *lcid == 1033},
            })
        })
        .collect();
    Ok(Json(pp::wrap("value", value)).into_response())
}

pub(super) async fn templates(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(loc): Path<String>,
) -> Answer {
    let l = ppac::find_location(&loc)?;
    let (_, t, _) = open(&state, &caller)?;
    let mut out = serde_json::Map::new();
    for (key, s) in [
        ("production", Sku::Production),
        ("sandbox", Sku::Sandbox),
        ("trial", Sku::Trial),
        ("developer", Sku::Developer),
        ("subscriptionBasedTrial", Sku::SubscriptionBasedTrial),
        ("default", Sku::Default),
        ("teams", Sku::Teams),
    ] {
        let list: Vec<Value> = TEMPLATES
            .iter()
            .filter(|tp| tp.skus.contains(&s))
            .map(|tp| {
                let mut props = json!({
                    "displayName": tp.display_name,
                    "isDisabled": false,
                    "isCustomerEngagement": !tp.fin_ops,
                    "isSupportedForResetOperation": !tp.fin_ops,
                });
                if !crate::world::ppac::tenancy::entitled(&t.state, tp) {
                    props["isDisabled"] = json!(true);
                    props["disabledReason"] = json!({
                        "code": "DynamicsEntitlementMissing",
                        "message": format!("You do not have the required Dynamics 365 licenses to create databases with the '{}' Dynamics app.", tp.display_name),
                    });
                }
                json!({
                    "id": format!("{PREFIX}/locations/{}/environmentTemplates/{}", l.name, tp.name),
                    "name": tp.name,
                    "location": l.name,
                    "properties": props,
                })
            })
            .collect();
        out.insert(key.into(), Value::Array(list));
    }
    Ok(Json(Value::Object(out)).into_response())
}
