//! LCS projects and their environments as the portal routes (`POST /_portal/lcs/projects`), the
//! control plane's tenant spec and scenario files declare them.

use crate::error::{ErrorCode, SimError};
use crate::world::identity::Upn;
use crate::world::lcs::{
    EnvironmentId, EnvironmentSpec, EnvironmentState, EnvironmentType, Infrastructure, ProjectId,
    ProjectRole, ProjectSpec, Region, Release,
};
use serde::Deserialize;

/// A project in a tenant spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectBody {
    id: Option<u64>,
    name: String,
    members: Option<Vec<MemberBody>>,
    #[serde(default)]
    environments: Vec<EnvironmentBody>,
}

/// A project member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberBody {
    upn: String,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    ProjectRole::Owner.as_str().to_string()
}

/// An environment in a tenant spec or a deploy request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvironmentBody {
    id: Option<String>,
    name: String,
    #[serde(rename = "type")]
    env_type: String,
    infrastructure: Option<String>,
    region: Option<String>,
    version: Option<String>,
    administrator: Option<String>,
    state: Option<String>,
    database_size_gb: Option<u64>,
    topology: Option<String>,
}

fn wire<T>(
    value: &str,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    names: impl Fn() -> String,
) -> Result<T, SimError> {
    parse(value).ok_or_else(|| {
        SimError::new(
            ErrorCode::InvalidEnvironmentSpec,
            format!("'{value}' is not a valid {field}; use one of: {}", names()),
        )
        .at(field)
    })
}

impl EnvironmentBody {
    pub(crate) fn parse(&self) -> Result<EnvironmentSpec, SimError> {
        Ok(EnvironmentSpec {
            id: self
                .id
                .as_deref()
                .map(|id| EnvironmentId::parse(id).map_err(|e| e.at("id")))
                .transpose()?,
            name: self.name.trim().to_string(),
            env_type: wire(
                &self.env_type,
                "type",
                EnvironmentType::from_name,
                EnvironmentType::names,
            )?,
            infrastructure: self
                .infrastructure
                .as_deref()
                .map(|i| {
                    wire(
                        i,
                        "infrastructure",
                        Infrastructure::from_name,
                        Infrastructure::names,
                    )
                })
                .transpose()?,
            region: self.region.as_deref().map(Region::parse).transpose()?,
            release: self.version.as_deref().map(Release::parse).transpose()?,
            administrator: self
                .administrator
                .as_deref()
                .map(|u| Upn::parse(u).map_err(|e| e.at("administrator")))
                .transpose()?,
            state: self
                .state
                .as_deref()
                .map(|s| {
                    wire(
                        s,
                        "state",
                        EnvironmentState::from_name,
                        EnvironmentState::names,
                    )
                })
                .transpose()?,
            database_size_gb: self.database_size_gb,
            topology: self.topology.clone(),
        })
    }
}

impl ProjectBody {
    /// The domain spec, naming the field at fault.
    pub fn parse(&self) -> Result<ProjectSpec, SimError> {
        let members = self
            .members
            .as_ref()
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let upn =
                            Upn::parse(&m.upn).map_err(|e| e.at(format!("members[{i}].upn")))?;
                        let role = ProjectRole::parse(&m.role)
                            .map_err(|e| e.at(format!("members[{i}].role")))?;
                        Ok((upn, role))
                    })
                    .collect::<Result<Vec<_>, SimError>>()
            })
            .transpose()?;
        let environments = self
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.parse()
                    .map_err(|err| err.within(format!("environments[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProjectSpec {
            id: self
                .id
                .map(|id| ProjectId::parse(&id.to_string()).map_err(|e| e.at("id")))
                .transpose()?,
            name: self.name.clone(),
            members,
            environments,
        })
    }
}
