//! What a tenant is declared from and bounded by: its spec (users, applications, capacity,
//! governance), patches to it, duration overrides, the seeded RNG streams, and the names of every
//! operation kind. Data below the tenant aggregate (`tenant.rs`), which re-exports it.

use crate::error::{ErrorCode, SimError};
use crate::world::identity::{ClientId, Domain, License, ObjectId, Role, TenantId, Upn};
use crate::world::lcs::ProjectSpec;
use jiff::SignedDuration;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Default database capacity of a new tenant (10 GB).
pub const DEFAULT_DATABASE_MB: u64 = 10_240;
/// Default file capacity of a new tenant (20 GB).
pub const DEFAULT_FILE_MB: u64 = 20_480;
/// Default log capacity of a new tenant (2 GB).
pub const DEFAULT_LOG_MB: u64 = 2_048;
/// Largest capacity figure accepted (100 TB).
pub const MAX_CAPACITY_MB: u64 = 100 * 1024 * 1024;

/// Which stream of randomness an RNG serves; keeps streams of one seed independent.
#[derive(Debug, Clone, Copy)]
pub enum RngStream {
    /// A tenant's own ids and durations (with the tenant id).
    Tenant(TenantId),
    /// Ids of tenants created without one.
    TenantIds,
    /// Trace and correlation ids in error bodies.
    Traces,
    /// The key that signs blob SAS URLs.
    BlobKey,
    /// Request fault draws (latency, error probability).
    Faults,
}

/// An RNG for one stream of a run: the same seed gives the same numbers, stream by stream.
pub fn seeded_rng(seed: u64, stream: RngStream) -> ChaCha8Rng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let tag = match stream {
        RngStream::Tenant(id) => {
            bytes[8..24].copy_from_slice(id.0.as_bytes());
            0
        }
        RngStream::TenantIds => 1,
        RngStream::Traces => 3,
        RngStream::BlobKey => 4,
        RngStream::Faults => 5,
    };
    bytes[24] = tag;
    ChaCha8Rng::from_seed(bytes)
}

/// Database, file and log capacity of a tenant, in MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// Dataverse database capacity.
    pub database_mb: u64,
    /// File capacity.
    pub file_mb: u64,
    /// Log capacity.
    pub log_mb: u64,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            database_mb: DEFAULT_DATABASE_MB,
            file_mb: DEFAULT_FILE_MB,
            log_mb: DEFAULT_LOG_MB,
        }
    }
}

/// A partial change of capacity; fields left `None` stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapacityPatch {
    /// New database total.
    pub database_mb: Option<u64>,
    /// New file total.
    pub file_mb: Option<u64>,
    /// New log total.
    pub log_mb: Option<u64>,
}

impl CapacityPatch {
    /// Checks every figure, naming the field at fault.
    pub fn validate(&self) -> Result<(), SimError> {
        for (field, value) in [
            ("databaseMb", self.database_mb),
            ("fileMb", self.file_mb),
            ("logMb", self.log_mb),
        ] {
            if value.is_some_and(|v| v > MAX_CAPACITY_MB) {
                return Err(SimError::new(
                    ErrorCode::InvalidCapacity,
                    format!("{field} must be at most {MAX_CAPACITY_MB} MB (100 TB)"),
                )
                .at(field));
            }
        }
        Ok(())
    }

    pub(crate) fn apply(&self, capacity: &mut Capacity) {
        if let Some(v) = self.database_mb {
            capacity.database_mb = v;
        }
        if let Some(v) = self.file_mb {
            capacity.file_mb = v;
        }
        if let Some(v) = self.log_mb {
            capacity.log_mb = v;
        }
    }
}

/// Tenant-wide settings that govern who may create environments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Governance {
    /// Only Global, Dynamics 365 and Power Platform admins may create production environments
    /// (the Power Platform tenant setting `disableEnvironmentCreationByNonAdminUsers`).
    pub restrict_environment_creation_to_admins: bool,
}

/// A user as described when creating a tenant or adding a user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    /// Sign-in name.
    pub upn: Upn,
    /// Object id; drawn from the tenant RNG when absent.
    pub object_id: Option<ObjectId>,
    /// Display name; derived from the UPN when absent.
    pub display_name: Option<String>,
    /// Password the token endpoint will require; any password works when absent.
    pub password: Option<String>,
    /// Admin roles.
    pub roles: Vec<Role>,
    /// Licenses.
    pub licenses: Vec<License>,
}

/// A change to a user; `None` fields stay as they are, lists are replaced whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// New set of roles.
    pub roles: Option<Vec<Role>>,
    /// New set of licenses.
    pub licenses: Option<Vec<License>>,
}

/// An application as described when creating a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationSpec {
    /// Client id; drawn from the tenant RNG when absent.
    pub client_id: Option<ClientId>,
    /// Display name.
    pub display_name: Option<String>,
    /// Client secret; drawn from the tenant RNG when absent.
    pub secret: Option<String>,
}

/// Everything that describes a tenant at creation. Every field is optional; see [`Tenant::build`]
/// for the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantSpec {
    /// Primary domain.
    pub domain: Option<Domain>,
    /// Organisation name.
    pub display_name: Option<String>,
    /// Users; default: one licensed Global admin `admin@{domain}`.
    pub users: Option<Vec<UserSpec>>,
    /// App registrations; default: one with a generated client id and secret.
    pub applications: Option<Vec<ApplicationSpec>>,
    /// Capacity totals; unset figures take the defaults.
    pub capacity: CapacityPatch,
    /// Governance settings.
    pub governance: Governance,
    /// LCS projects with their environments and asset libraries.
    pub projects: Vec<ProjectSpec>,
}

/// The range an operation kind's total duration is drawn from, overriding its stages' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationOverride {
    /// Shortest total.
    pub min: SignedDuration,
    /// Longest total.
    pub max: SignedDuration,
}

/// Refuses a name that is not an operation kind.
pub fn check_kind(kind: &str) -> Result<(), SimError> {
    if operation_kinds().any(|k| k == kind) {
        return Ok(());
    }
    Err(SimError::new(
        ErrorCode::InvalidDurationOverride,
        format!(
            "'{kind}' is not an operation kind; use one of: {}",
            operation_kinds().collect::<Vec<_>>().join(", ")
        ),
    ))
}

impl DurationOverride {
    /// Refuses an unknown kind and a range that is negative or upside down.
    pub fn check(&self, kind: &str) -> Result<(), SimError> {
        check_kind(kind)?;
        if self.min.is_negative() || self.max < self.min {
            return Err(SimError::new(
                ErrorCode::InvalidDurationOverride,
                format!("'{kind}': the range must be non-negative with min <= max"),
            ));
        }
        Ok(())
    }
}

/// Every engine kind of operation, for duration overrides and fault rules.
pub fn operation_kinds() -> impl Iterator<Item = &'static str> {
    super::lcs::operation_kinds()
        .chain(super::ppac::operation_kinds())
        .chain(super::integration::operation_kinds())
}
