//! A tenant as the control plane (`POST /_sim/tenants`) and scenario files declare it: users,
//! applications, capacity, governance, duration overrides, parsed into world specs.

use crate::error::SimError;
use crate::input::lcs::ProjectBody;
use crate::world::identity::{Domain, License, ObjectId, Role, TenantId, Upn, dedup, parse_name};
use crate::world::tenant::{
    ApplicationSpec, CapacityPatch, DurationOverride, Governance, TenantSpec, UserPatch, UserSpec,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateTenant {
    pub(crate) id: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) users: Option<Vec<CreateUser>>,
    pub(crate) applications: Option<Vec<CreateApplication>>,
    pub(crate) capacity: Option<UpdateCapacity>,
    pub(crate) governance: Option<UpdateGovernance>,
    #[serde(default)]
    pub(crate) projects: Vec<ProjectBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateUser {
    upn: String,
    object_id: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    licenses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateUser {
    display_name: Option<String>,
    password: Option<String>,
    roles: Option<Vec<String>>,
    licenses: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateApplication {
    client_id: Option<String>,
    display_name: Option<String>,
    client_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateCapacity {
    database_mb: Option<u64>,
    file_mb: Option<u64>,
    log_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateGovernance {
    pub(crate) restrict_environment_creation_to_admins: Option<bool>,
}

/// Parses every item of a list, naming the item at fault (`roles[1]`).
fn parse_each<T>(
    items: &[String],
    field: &str,
    parse: impl Fn(&str) -> Result<T, SimError>,
) -> Result<Vec<T>, SimError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(item).map_err(|e| e.at(format!("{field}[{i}]"))))
        .collect()
}

/// An optional display name, password or secret.
fn optional_name(value: Option<&String>, field: &str) -> Result<Option<String>, SimError> {
    optional(value.map(String::as_str), field, |v| parse_name(v, field))
}

fn optional<T>(
    value: Option<&str>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, SimError>,
) -> Result<Option<T>, SimError> {
    value.map(|v| parse(v).map_err(|e| e.at(field))).transpose()
}

impl CreateUser {
    pub(crate) fn parse(&self) -> Result<UserSpec, SimError> {
        Ok(UserSpec {
            upn: Upn::parse(&self.upn).map_err(|e| e.at("upn"))?,
            object_id: optional(self.object_id.as_deref(), "objectId", ObjectId::parse)?,
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            password: optional_name(self.password.as_ref(), "password")?,
            roles: dedup(parse_each(&self.roles, "roles", Role::parse)?),
            licenses: dedup(parse_each(&self.licenses, "licenses", License::parse)?),
        })
    }
}

impl UpdateUser {
    pub(crate) fn parse(&self) -> Result<UserPatch, SimError> {
        Ok(UserPatch {
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            password: optional_name(self.password.as_ref(), "password")?,
            roles: self
                .roles
                .as_deref()
                .map(|r| parse_each(r, "roles", Role::parse).map(dedup))
                .transpose()?,
            licenses: self
                .licenses
                .as_deref()
                .map(|l| parse_each(l, "licenses", License::parse).map(dedup))
                .transpose()?,
        })
    }
}

impl CreateApplication {
    fn parse(&self) -> Result<ApplicationSpec, SimError> {
        Ok(ApplicationSpec {
            client_id: optional(
                self.client_id.as_deref(),
                "clientId",
                crate::world::identity::ClientId::parse,
            )?,
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            secret: optional_name(self.client_secret.as_ref(), "clientSecret")?,
        })
    }
}

impl UpdateCapacity {
    pub(crate) fn patch(&self) -> CapacityPatch {
        CapacityPatch {
            database_mb: self.database_mb,
            file_mb: self.file_mb,
            log_mb: self.log_mb,
        }
    }
}

impl CreateTenant {
    /// The tenant id and spec, naming the field at fault.
    pub(crate) fn parse(&self) -> Result<(Option<TenantId>, TenantSpec), SimError> {
        let id = optional(self.id.as_deref(), "id", TenantId::parse)?;
        let users = self
            .users
            .as_ref()
            .map(|users| {
                users
                    .iter()
                    .enumerate()
                    .map(|(i, u)| u.parse().map_err(|e| e.within(format!("users[{i}]"))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let applications = self
            .applications
            .as_ref()
            .map(|apps| {
                apps.iter()
                    .enumerate()
                    .map(|(i, a)| {
                        a.parse()
                            .map_err(|e| e.within(format!("applications[{i}]")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let spec = TenantSpec {
            domain: optional(self.domain.as_deref(), "domain", Domain::parse)?,
            display_name: optional_name(self.display_name.as_ref(), "displayName")?,
            users,
            applications,
            capacity: self
                .capacity
                .as_ref()
                .map(UpdateCapacity::patch)
                .unwrap_or_default(),
            governance: Governance {
                restrict_environment_creation_to_admins: self
                    .governance
                    .as_ref()
                    .and_then(|g| g.restrict_environment_creation_to_admins)
                    .unwrap_or(false),
            },
            projects: self
                .projects
                .iter()
                .enumerate()
                .map(|(i, p)| p.parse().map_err(|e| e.within(format!("projects[{i}]"))))
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok((id, spec))
    }
}

// ---- responses ----

/// A duration override: `{"duration": "75m"}` or `{"min": "1h", "max": "2h"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetDuration {
    duration: Option<String>,
    min: Option<String>,
    max: Option<String>,
}

impl SetDuration {
    /// The override this body describes, naming the field at fault.
    pub(crate) fn parse(&self) -> Result<DurationOverride, SimError> {
        let parse = |v: &str, field: &str| crate::clock::parse_duration(v).map_err(|e| e.at(field));
        let (min, max) = match (&self.duration, &self.min, &self.max) {
            (Some(d), None, None) => {
                let d = parse(d, "duration")?;
                (d, d)
            }
            (None, Some(lo), Some(hi)) => (parse(lo, "min")?, parse(hi, "max")?),
            _ => {
                return Err(SimError::new(
                    crate::error::ErrorCode::InvalidDurationOverride,
                    "give either {\"duration\": \"75m\"} or {\"min\": \"1h\", \"max\": \"2h\"}",
                ));
            }
        };
        Ok(DurationOverride { min, max })
    }
}
