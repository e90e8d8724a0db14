//! What a tenant's Dataverse environments consume, and domain names free for a new one.

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::world::tenant::TenantState;
use jiff::Timestamp;

/// Free Dataverse database capacity of the tenant, MB (negative when over).
pub(crate) fn free_database_mb(state: &TenantState) -> f64 {
    state.capacity.database_mb as f64 - state.ppac.consumption().database_mb
}

/// Checks a domain's form and that no live environment uses it and no recent delete blocks
/// it. `except` is the environment that may keep its own domain.
pub(crate) fn check_domain(
    state: &TenantState,
    domain: &str,
    except: Option<&PpEnvId>,
    now: Timestamp,
) -> Result<String, SimError> {
    let d = check_domain_form(domain)?;
    let taken = state.ppac.domain_in_use(&d, except);
    let blocked = state
        .ppac
        .blocked_domains
        .iter()
        .find(|(b, until)| *b == d && *until > now);
    if taken {
        return Err(SimError::new(
            ErrorCode::DomainNameInUse,
            format!("The domain name '{d}' is already in use by another environment. Choose another one."),
        )
        .at("domainName"));
    }
    if let Some((_, until)) = blocked {
        return Err(SimError::new(
            ErrorCode::DomainNameInUse,
            format!(
                "The domain name '{d}' belonged to a recently deleted environment and can be \
                 reused from {until}. Choose another one."
            ),
        )
        .at("domainName"));
    }
    Ok(d)
}

/// A free domain derived from `name` (its first 20 letters and digits, then a number if taken).
pub(crate) fn free_domain(state: &TenantState, name: &str, now: Timestamp) -> String {
    let mut base: String = name
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert_str(0, "org");
    }
    (0..)
        .map(|i| {
            if i == 0 {
                base.clone()
            } else {
                format!("{base}{i}")
            }
        })
        .find(|d| check_domain(state, d, None, now).is_ok())
        .unwrap_or(base)
}
