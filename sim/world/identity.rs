//! Who exists in a tenant: users with licenses and admin roles, and registered applications.
//!
//! Values arrive as strings at the edge and are parsed here into newtypes, so the rest of the
//! domain never handles a raw id or an unchecked name.

use crate::error::{ErrorCode, SimError};
use rand::{Rng, RngExt};
use serde::Serialize;
use std::fmt;
use uuid::Uuid;

/// The license every F&O environment administrator needs for Power Platform integration.
pub const UNIFIED_OPERATIONS_PLAN: &str = "Dynamics 365 Unified Operations Plan";

/// Longest display name, secret or license name accepted.
const MAX_NAME_LEN: usize = 256;

/// Draws a GUID from `rng` (so that a seed reproduces every id).
pub fn random_uuid(rng: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// Parses a dashed or undashed GUID, case-insensitively.
fn parse_guid(text: &str, code: ErrorCode, what: &str) -> Result<Uuid, SimError> {
    Uuid::try_parse(text.trim()).map_err(|_| {
        SimError::new(
            code,
            format!(
                "\"{text}\" is not a valid {what}; write a GUID such as \
                 \"8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41\""
            ),
        )
    })
}

/// Implements `Deserialize` for types with a `parse(&str) -> Result<Self, SimError>`, so that a
/// scenario or snapshot is checked by the same rules as the API (and the YAML parser reports the
/// line and column of a bad value).
macro_rules! deserialize_by_parse {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                <$t>::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
            }
        }
    )*};
}

pub(crate) use deserialize_by_parse;

macro_rules! guid_newtype {
    ($(#[$doc:meta])* $name:ident, $code:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses a dashed or undashed GUID.
            pub fn parse(text: &str) -> Result<Self, SimError> {
                parse_guid(text, ErrorCode::$code, $what).map($name)
            }

            /// A fresh id drawn from `rng`.
            pub fn random(rng: &mut impl Rng) -> Self {
                $name(random_uuid(rng))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        deserialize_by_parse!($name);
    };
}

guid_newtype!(
    /// A tenant (directory) id.
    TenantId,
    InvalidTenantId,
    "tenant id"
);
guid_newtype!(
    /// The object id of a user or service principal in a tenant.
    ObjectId,
    InvalidObjectId,
    "object id"
);
guid_newtype!(
    /// An application (client) id.
    ClientId,
    InvalidObjectId,
    "client id"
);

/// A DNS domain name such as `contoso.test`, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Domain(String);

impl Domain {
    /// Parses a domain: two or more labels of letters, digits and hyphens.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let domain = text.trim().to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.len() <= 253 && domain.split('.').count() >= 2 && domain.split('.').all(label_ok)
        {
            Ok(Domain(domain))
        } else {
            Err(SimError::new(
                ErrorCode::InvalidDomain,
                format!(
                    "\"{text}\" is not a domain name; use two or more labels of letters, digits and \
                     hyphens, e.g. \"contoso.test\""
                ),
            ))
        }
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user principal name (`name@domain`), kept as written and compared case-insensitively.
#[derive(Debug, Clone, Serialize)]
pub struct Upn(String);

impl Upn {
    /// Parses `local@domain`.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let upn = text.trim();
        let valid = match upn.split_once('@') {
            Some((local, host)) => {
                !local.is_empty()
                    && local.len() <= 113
                    && !local.contains(char::is_whitespace)
                    && Domain::parse(host).is_ok()
            }
            None => false,
        };
        if valid {
            Ok(Upn(upn.to_string()))
        } else {
            Err(SimError::new(
                ErrorCode::InvalidUpn,
                format!(
                    "\"{text}\" is not a user principal name; write it as name@domain, e.g. \
                     \"admin@contoso.test\""
                ),
            ))
        }
    }

    /// The UPN as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }

    /// Case-insensitive comparison, as Entra ID compares UPNs.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.trim())
    }
}

impl PartialEq for Upn {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Upn {}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An admin role that matters to environment lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(
    clippy::enum_variant_names,
    reason = "each variant is named after its Entra ID admin role"
)]
pub enum Role {
    /// Entra ID Global Administrator.
    GlobalAdmin,
    /// Dynamics 365 Administrator.
    Dynamics365Admin,
    /// Power Platform Administrator.
    PowerPlatformAdmin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [
        Role::GlobalAdmin,
        Role::Dynamics365Admin,
        Role::PowerPlatformAdmin,
    ];

    /// The name used in the simulator's API and the portals.
    pub fn name(self) -> &'static str {
        match self {
            Role::GlobalAdmin => "Global admin",
            Role::Dynamics365Admin => "Dynamics 365 admin",
            Role::PowerPlatformAdmin => "Power Platform admin",
        }
    }

    /// Parses a role name case-insensitively; the Entra names ("Global Administrator",
    /// "Dynamics 365 Administrator", "Power Platform Administrator") are accepted too.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let wanted = text.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| {
                let name = r.name().to_ascii_lowercase();
                wanted == name || wanted == name.replace(" admin", " administrator")
            })
            .ok_or_else(|| {
                let names: Vec<_> = Role::ALL
                    .iter()
                    .map(|r| format!("\"{}\"", r.name()))
                    .collect();
                SimError::new(
                    ErrorCode::InvalidRole,
                    format!(
                        "\"{text}\" is not a known role; use one of {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

deserialize_by_parse!(Domain, Upn, Role, License);

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A license (SKU or service-plan name) as assigned in the Microsoft 365 admin center.
#[derive(Debug, Clone, Serialize)]
pub struct License(String);

impl License {
    /// Any non-empty name; compared case-insensitively.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let name = text.trim();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(SimError::new(
                ErrorCode::InvalidLicense,
                format!(
                    "a license name must be 1 to {MAX_NAME_LEN} characters, e.g. \
                     \"{UNIFIED_OPERATIONS_PLAN}\""
                ),
            ));
        }
        Ok(License(name.to_string()))
    }

    /// The license name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for License {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for License {}

/// Checks a display name, password or secret: non-empty and not absurdly long.
pub fn parse_name(text: &str, what: &str) -> Result<String, SimError> {
    if text.trim().is_empty() || text.len() > MAX_NAME_LEN {
        return Err(SimError::new(
            ErrorCode::InvalidName,
            format!("{what} must be 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(text.to_string())
}

/// A user of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Sign-in name.
    pub upn: Upn,
    /// Object id (the `oid` claim of its tokens).
    pub object_id: ObjectId,
    /// Name shown in the portals.
    pub display_name: String,
    /// If set, the token endpoint requires it; if not, any password is accepted.
    pub password: Option<String>,
    /// Admin roles, without duplicates.
    pub roles: Vec<Role>,
    /// Assigned licenses, without duplicates.
    pub licenses: Vec<License>,
}

impl User {
    /// Whether the user holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the user holds the license named `name` (case-insensitive).
    pub fn has_license(&self, name: &str) -> bool {
        self.licenses.iter().any(|l| l.0.eq_ignore_ascii_case(name))
    }

    /// Whether `password` signs this user in.
    pub fn accepts_password(&self, password: &str) -> bool {
        self.password.as_deref().is_none_or(|p| p == password)
    }
}

/// An application registered in the tenant, usable with the client-credentials grant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Application (client) id.
    pub client_id: ClientId,
    /// Object id of its service principal (the `oid` claim of its tokens).
    pub object_id: ObjectId,
    /// Name shown in the portals.
    pub display_name: String,
    /// Client secret; if unset, any secret is accepted.
    pub secret: Option<String>,
}

impl Application {
    /// Whether `secret` authenticates this application.
    pub fn accepts_secret(&self, secret: &str) -> bool {
        self.secret.as_deref().is_none_or(|s| s == secret)
    }
}

/// Removes duplicates while keeping the first occurrence's position.
pub fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A secret that looks like an Entra client secret (40 characters).
pub fn random_secret(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
    (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A readable display name from a UPN's local part: `fo.admin` → `Fo Admin`.
pub fn display_name_from(upn: &Upn) -> String {
    upn.local_part()
        .split(['.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An environment's id: a GUID, or `Default-{tenantId}` for the tenant's default environment.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PpEnvId(String);

impl PpEnvId {
    /// A new GUID id.
    pub fn from_uuid(id: Uuid) -> Self {
        PpEnvId(id.to_string())
    }

    /// The default environment's id for a tenant.
    pub fn default_for(tenant: Uuid) -> Self {
        PpEnvId(format!("Default-{tenant}"))
    }

    /// Parses a path segment: a GUID (any case, dashed or not) or `Default-{GUID}`.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let text = text.trim();
        let bad = || {
            SimError::new(
                ErrorCode::EnvironmentNotFound,
                format!(
                    "The environment '{text}' could not be found: environment names are GUIDs \
                     (or Default-{{tenantId}}); list them with GET \
                     /providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"
                ),
            )
        };
        if let Some(rest) = text
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("default-"))
            .map(|_| &text[8..])
        {
            let id = Uuid::try_parse(rest).map_err(|_| bad())?;
            return Ok(PpEnvId::default_for(id));
        }
        Uuid::try_parse(text)
            .map(PpEnvId::from_uuid)
            .map_err(|_| bad())
    }

    /// The id as written on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PpEnvId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An F&O environment id. Paths accept it dashed or undashed, in any case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct EnvironmentId(pub Uuid);

impl EnvironmentId {
    /// Parses a dashed or undashed GUID.
    pub fn parse(text: &str) -> Result<EnvironmentId, SimError> {
        Uuid::try_parse(text.trim())
            .map(EnvironmentId)
            .map_err(|_| {
                SimError::new(
                    ErrorCode::InvalidEnvironmentId,
                    format!(
                        "'{text}' is not an environment id; use the GUID LCS shows for the \
                         environment (dashed or not)"
                    ),
                )
            })
    }

    /// The undashed form some LCS answers use.
    pub fn simple(&self) -> String {
        self.0.simple().to_string()
    }
}

impl fmt::Display for EnvironmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_parse_dashed_and_undashed() {
        let a = TenantId::parse("8F0C3A52-4D1E-4C3B-9A57-2B6F1E0D7C41").map(|t| t.to_string());
        let b = TenantId::parse("8f0c3a524d1e4c3b9a572b6f1e0d7c41").map(|t| t.to_string());
        assert_eq!(a, b);
        assert_eq!(a.as_deref(), Ok("8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41"));
        let bad = TenantId::parse("contoso");
        assert_eq!(bad.map_err(|e| e.code), Err(ErrorCode::InvalidTenantId));
    }

    #[test]
    fn upns_and_domains_are_checked() {
        assert!(Upn::parse("fo.admin@contoso.test").is_ok());
        for bad in [
            "admin",
            "@contoso.test",
            "admin@",
            "admin@contoso",
            "a b@contoso.test",
        ] {
            assert!(Upn::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Domain::parse("Contoso.TEST")
                .map(|d| d.to_string())
                .ok()
                .as_deref(),
            Some("contoso.test")
        );
        assert!(Domain::parse("-bad.test").is_err());
        assert!(Upn::parse("Admin@Contoso.test").is_ok_and(|u| u.matches("admin@contoso.TEST")));
    }

    #[test]
    fn roles_accept_portal_and_entra_names() {
        assert_eq!(Role::parse("global admin"), Ok(Role::GlobalAdmin));
        assert_eq!(
            Role::parse("Power Platform Administrator"),
            Ok(Role::PowerPlatformAdmin)
        );
        let err = Role::parse("Owner").map_err(|e| e.message);
        assert!(err.is_err_and(|m| m.contains("\"Dynamics 365 admin\"")));
    }

    #[test]
    fn display_names_come_from_the_local_part() {
        let upn = Upn::parse("fo.admin@contoso.test").map(|u| display_name_from(&u));
        assert_eq!(upn.ok().as_deref(), Some("Fo Admin"));
    }

    #[test]
    fn users_without_a_password_accept_any() {
        let user = User {
            upn: Upn("a@b.test".into()),
            object_id: ObjectId(Uuid::nil()),
            display_name: "A".into(),
            password: None,
            roles: vec![],
            licenses: vec![],
        };
        assert!(user.accepts_password("anything"));
        let user = User {
            password: Some("pw".into()),
            ..user
        };
        assert!(user.accepts_password("pw") && !user.accepts_password("PW"));
    }
}
