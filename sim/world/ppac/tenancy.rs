//! Power Platform rules of the whole tenant, whoever asks: which templates its licences entitle
//! it to, and its tenant settings (with the governance switch they carry).

use super::{Template, merge};
use crate::error::SimError;
use crate::world::tenant::TenantState;
use serde_json::{Value, json};

/// Whether the tenant holds a licence for the template.
pub fn entitled(state: &TenantState, t: &Template) -> bool {
    t.licenses.is_empty()
        || state
            .users
            .iter()
            .any(|u| t.licenses.iter().any(|l| u.has_license(l)))
}

/// Tenant settings as `listTenantSettings` answers them.
pub fn settings(state: &TenantState) -> Value {
    let mut s = state.ppac.settings.clone();
    s["disableEnvironmentCreationByNonAdminUsers"] =
        json!(state.governance.restrict_environment_creation_to_admins);
    s
}

/// Merges a partial settings object (keys matched case-insensitively); answers the result.
pub fn update_settings(state: &mut TenantState, patch: &Value) -> Result<Value, SimError> {
    let mut merged = settings(state);
    merge(&mut merged, patch, "")?;
    if let Some(v) = merged
        .get("disableEnvironmentCreationByNonAdminUsers")
        .and_then(Value::as_bool)
    {
        state.governance.restrict_environment_creation_to_admins = v;
    }
    if let Some(m) = merged.as_object_mut() {
        m.remove("disableEnvironmentCreationByNonAdminUsers");
    }
    state.ppac.settings = merged;
    Ok(settings(state))
}
