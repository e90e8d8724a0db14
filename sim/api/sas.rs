//! The asset library's SAS URLs: the LCS API hands them out, the blob endpoint checks them. Both
//! sign with the run's blob key; the URL is on the account's Microsoft host when the client came
//! by Microsoft host names, else on the simulator's own `/_blob/` path.

use super::extract::BaseUrl;
use crate::state::AppState;
use crate::world::identity::TenantId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// The account of Microsoft's shared assets.
pub const SHARED_ACCOUNT: &str = crate::tls::hosts::SHARED_ACCOUNT;

/// What a SAS grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `sp=r`.
    Read,
    /// `sp=rw`.
    ReadWrite,
}

impl Access {
    fn letters(self) -> &'static str {
        match self {
            Access::Read => "r",
            Access::ReadWrite => "rw",
        }
    }
}

pub(crate) fn signature(key: &[u8; 32], sp: &str, se: &str, resource: &str) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{sp}\n{se}\n{resource}").as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A SAS URL for a blob, valid until `expiry` (virtual time): on the account's Microsoft host
/// when the client came by Microsoft host names, else on the simulator's own `/_blob/` path.
pub fn sas_url(
    state: &AppState,
    base: &BaseUrl,
    account: &str,
    container: &str,
    blob: &str,
    access: Access,
    expiry: Timestamp,
) -> String {
    let se = expiry.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let resource = format!("/{account}/{container}/{blob}");
    let sig = signature(&state.blob_key, access.letters(), &se, &resource);
    let query = serde_urlencoded::to_string([
        ("sv", "2015-12-11"),
        ("sr", "b"),
        ("sig", sig.as_str()),
        ("se", se.as_str()),
        ("sp", access.letters()),
    ])
    .unwrap_or_default();
    format!("{}/{container}/{blob}?{query}", base.blob(account))
}

/// The account name of a tenant's storage.
pub fn tenant_account(id: TenantId) -> String {
    id.0.simple().to_string()
}
