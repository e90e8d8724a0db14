//! The LCS envelope's success half, its date formats, and the plumbing every LCS handler shares:
//! opening the caller's tenant, parsing environment ids, per-user request budgets, and the SAS
//! URLs of assets.

use crate::api::caller::Caller;
use crate::api::extract::BaseUrl;
use crate::api::sas::{self, Access};
use crate::clock;
use crate::error::SimError;
use crate::state::AppState;
use crate::world::Settled;
use crate::world::identity::ObjectId;
use crate::world::lcs::{ASSET_CONTAINER, Asset, Budget, EnvironmentId};
use crate::world::tenant::Tenant;
use axum::Json;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `VersionEOL` of every current contract (.NET `DateTime.MaxValue`).
const VERSION_EOL: &str = "9999-12-31T23:59:59.9999999";

/// How long a download or upload SAS stays valid.
pub(super) const SAS_LIFETIME: SignedDuration = SignedDuration::from_hours(24);

/// The fields every LCS answer starts with, as a success.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Head {
    is_success: bool,
    operation_activity_id: Uuid,
    error_message: (),
    #[serde(rename = "VersionEOL")]
    version_eol: &'static str,
}

impl Head {
    fn success(activity: Uuid) -> Head {
        Head {
            is_success: true,
            operation_activity_id: activity,
            error_message: (),
            version_eol: VERSION_EOL,
        }
    }
}

/// [`Head`] as a JSON object, for answers built as values.
pub(super) fn base(activity: Uuid) -> Map<String, Value> {
    match serde_json::to_value(Head::success(activity)) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A page of a paged list as a success, serialised from typed items: [`Head`], then
/// `ResultPageCurrent`, `ResultHasMorePages` and `Data`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Page<T> {
    #[serde(flatten)]
    head: Head,
    result_page_current: usize,
    result_has_more_pages: bool,
    data: Vec<T>,
}

impl<T> Page<T> {
    pub(super) fn new(activity: Uuid, page: usize, more: bool, data: Vec<T>) -> Page<T> {
        Page {
            head: Head::success(activity),
            result_page_current: page,
            result_has_more_pages: more,
            data,
        }
    }
}

/// A success: the base envelope with `fields` merged in.
pub(super) fn ok(activity: Uuid, fields: Value) -> Json<Value> {
    let mut m = base(activity);
    if let Value::Object(extra) = fields {
        m.extend(extra);
    }
    Json(Value::Object(m))
}

// ---- formats ----

/// LCS dates: `2019-09-27T15:17:35.867` (UTC, no zone suffix).
pub(super) fn lcs_date(t: Timestamp) -> String {
    format!(
        "{}.{:03}",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_millisecond()
    )
}

/// `DeployedOnUTC`: `8/5/2021 12:42 PM`.
pub(super) fn us_date(t: Timestamp) -> String {
    t.strftime("%-m/%-d/%Y %-I:%M %p").to_string()
}

// ---- plumbing ----

/// The caller's user id, tenant (locked and settled) and the tenant's now.
pub(super) fn open<'a>(
    state: &AppState,
    caller: &'a Caller,
) -> Result<(ObjectId, Settled<'a>, Timestamp), SimError> {
    let user = caller.user()?;
    let tenant = caller.tenant.settled(state.clock.now());
    let now = tenant.now();
    Ok((user, tenant, now))
}

pub(super) fn env_id(text: &str) -> Result<EnvironmentId, SimError> {
    EnvironmentId::parse(text)
}

pub(super) fn throttle(
    state: &AppState,
    tenant: &mut Tenant,
    budgets: &[Budget],
    api: &str,
    now: Timestamp,
) -> Result<(), SimError> {
    if state.config.lcs_throttling {
        tenant.throttle(budgets, api, now)
    } else {
        Ok(())
    }
}

pub(super) fn budget(key: String, limit: usize, secs: i64, rule: &'static str) -> Budget {
    Budget {
        key,
        limit,
        window: SignedDuration::from_secs(secs),
        rule,
    }
}

pub(super) fn asset_sas(
    state: &AppState,
    base: &BaseUrl,
    tenant: &Tenant,
    asset: &Asset,
    access: Access,
    now: Timestamp,
) -> String {
    sas::sas_url(
        state,
        base,
        &sas::tenant_account(tenant.id()),
        ASSET_CONTAINER,
        &asset.blob,
        access,
        clock::saturating_add(now, SAS_LIFETIME),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_look_like_lcs_dates() {
        let t = Timestamp::constant(1_628_167_320, 123_000_000);
        assert_eq!(lcs_date(t), "2021-08-05T12:42:00.123");
        assert_eq!(us_date(t), "8/5/2021 12:42 PM");
    }
}
