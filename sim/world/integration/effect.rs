//! What a Power Platform integration step does to both halves as it runs, and unlinking.

use super::*;
use crate::error::ErrorCode;
use crate::ops::{OpError, Operation, OperationId, RunState};
use crate::world::identity::{Role, UNIFIED_OPERATIONS_PLAN, User, random_uuid};
use crate::world::lcs::{EnvironmentId, EnvironmentType, FoEnvironment, ProjectId};
use crate::world::operations::Work;
use crate::world::ppac::{
    self, Actor, Dataverse, InstalledPackage, LinkedApp, LinkedAppKind, PpEnvId, PpEnvironment,
    ProvisioningState, REQUIRED_FREE_MB, Sku,
};
use crate::world::tenant::TenantState;
use jiff::Timestamp;
use uuid::Uuid;

pub(super) fn fo_mut(
    state: &mut TenantState,
    project: ProjectId,
    env: EnvironmentId,
) -> Result<&mut FoEnvironment, OpError> {
    state
        .lcs
        .project_mut(project)
        .ok()
        .and_then(|p| p.environment_mut(env).ok())
        .ok_or_else(|| {
            OpError::new(
                ErrorCode::EnvironmentNotFound.as_str(),
                format!("The finance and operations environment {env} no longer exists."),
            )
        })
}

pub(super) fn live_dv<'a>(state: &'a TenantState, id: &PpEnvId) -> Option<&'a PpEnvironment> {
    state.ppac.get(id).filter(|e| e.live())
}

pub(super) fn dv_mut<'a>(state: &'a mut TenantState, id: &PpEnvId) -> Option<ppac::EnvMut<'a>> {
    state.ppac.get_mut(id).filter(|e| e.live())
}

pub(super) fn op_error(code: ErrorCode, message: String) -> OpError {
    OpError::new(code.as_str(), message)
}

/// The Power Platform geography and Azure region an LCS region's environments link into.
pub(super) fn geography_of(region: &str) -> (&'static ppac::Location, String) {
    let azure: String = region
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(l) = ppac::LOCATIONS
        .iter()
        .find(|l| l.regions.contains(&azure.as_str()))
    {
        return (l, azure);
    }
    let name = match region {
        r if r.contains("Canada") => "canada",
        r if r.contains("UK") => "unitedkingdom",
        r if r.contains("France") => "france",
        r if r.contains("Germany") => "germany",
        r if r.contains("Europe") || r.contains("Switzerland") || r.contains("Norway") => "europe",
        r if r.contains("Australia") => "australia",
        r if r.contains("Japan") => "japan",
        r if r.contains("India") => "india",
        r if r.contains("Asia") || r.contains("UAE") => "asia",
        _ => "unitedstates",
    };
    let l = ppac::location(name).unwrap_or(&ppac::LOCATIONS[0]);
    (l, l.regions[0].to_string())
}

impl SetupEffect {
    fn validate(&self, state: &TenantState) -> Result<(), OpError> {
        let fo = state
            .lcs
            .project(self.project)
            .ok()
            .and_then(|p| p.environment(self.env).ok())
            .ok_or_else(|| {
                op_error(
                    ErrorCode::EnvironmentNotFound,
                    format!(
                        "The finance and operations environment {} no longer exists.",
                        self.env
                    ),
                )
            })?;
        let admin = state.user_by_id(fo.administrator).ok_or_else(|| {
            op_error(
                ErrorCode::UserNotFound,
                format!(
                    "The environment administrator of {} no longer exists in the tenant. Make an \
                     existing user the administrator, then select Resume.",
                    fo.name
                ),
            )
        })?;
        if !admin.has_license(UNIFIED_OPERATIONS_PLAN) {
            return Err(op_error(
                ErrorCode::AdministratorNotLicensed,
                format!(
                    "The environment administrator {} does not have the {UNIFIED_OPERATIONS_PLAN} \
                     license. Everyone who creates Power Platform environments must be licensed: \
                     assign the license to {} in the Microsoft 365 admin center (here: PATCH \
                     /_sim/tenants/{}/users/{} with its licenses), then select Resume.",
                    admin.upn, admin.upn, state.id, admin.upn
                ),
            ));
        }
        if !self.existing
            && state.governance.restrict_environment_creation_to_admins
            && !is_admin(admin)
        {
            return Err(op_error(
                ErrorCode::AdministratorRoleRequired,
                format!(
                    "The tenant allows only admins to create production environments, and the \
                     environment administrator {} holds none of the roles Global admin, Dynamics \
                     365 admin or Power Platform admin. A Global admin must assign one of them to \
                     {} (here: PATCH /_sim/tenants/{}/users/{} with its roles), or allow everyone \
                     to create environments; then select Resume.",
                    admin.upn, admin.upn, state.id, admin.upn
                ),
            ));
        }
        Ok(())
    }

    fn reserve(
        &self,
        state: &mut TenantState,
        op: OperationId,
        at: Timestamp,
    ) -> Result<(), OpError> {
        let free = ppac::capacity::free_database_mb(state);
        if free < REQUIRED_FREE_MB {
            return Err(op_error(
                ErrorCode::InsufficientCapacity,
                format!(
                    "The tenant needs at least 1 GB (1024 MB) of free Dataverse database capacity \
                     to provision the Power Platform environment; {:.0} MB of {} MB is free. Free \
                     some capacity by deleting environments, or add capacity (here: PATCH \
                     /_sim/tenants/{}/capacity), then select Resume.",
                    free.max(0.0),
                    state.capacity.database_mb,
                    state.id
                ),
            ));
        }
        let fo = fo_mut(state, self.project, self.env)?;
        if fo
            .integration
            .as_ref()
            .is_some_and(|i| i.dataverse.is_some())
        {
            return Ok(());
        }
        let (name, env_type, region, admin) = (
            fo.name.clone(),
            fo.env_type,
            fo.region.name,
            fo.administrator,
        );
        let creator = state.user_by_id(admin).map(|u| Actor {
            id: u.object_id,
            display_name: u.display_name.clone(),
            upn: Some(u.upn.to_string()),
            admin: is_admin(u),
        });
        let creator = creator.ok_or_else(|| {
            op_error(
                ErrorCode::UserNotFound,
                format!("The environment administrator of {name} no longer exists."),
            )
        })?;
        let (location, azure_region) = geography_of(region);
        let domain = ppac::capacity::free_domain(state, &name, at);
        let id = PpEnvId::from_uuid(random_uuid(&mut state.rng));
        let org_id = random_uuid(&mut state.rng);
        state.ppac.insert(PpEnvironment {
            id: id.clone(),
            display_name: name,
            description: String::new(),
            sku: if env_type == EnvironmentType::Production {
                Sku::Production
            } else {
                Sku::Sandbox
            },
            location: location.name.into(),
            azure_region,
            created_at: at,
            created_by: creator.clone(),
            modified_at: at,
            modified_by: creator,
            provisioning: ProvisioningState::Creating,
            admin_mode: false,
            managed: false,
            cadence: "Moderate".into(),
            dataverse: Some(Dataverse::fresh(
                org_id,
                format!("unq{}", org_id.simple()),
                domain,
                at,
            )),
            linked_app: None,
            backups: Vec::new(),
            packages: Vec::new(),
            operations: vec![op],
            deleted_at: None,
        });
        if let Some(i) = fo_mut(state, self.project, self.env)?.integration.as_mut() {
            i.dataverse = Some(id);
        }
        Ok(())
    }

    fn dataverse<'a>(&self, state: &'a mut TenantState) -> Result<ppac::EnvMut<'a>, OpError> {
        let id = fo_mut(state, self.project, self.env)?
            .integration
            .as_ref()
            .and_then(|i| i.dataverse.clone());
        let missing = || {
            op_error(
                ErrorCode::EnvironmentNotFound,
                "The Power Platform environment of this setup no longer exists. Delete this \
                 finance and operations environment in LCS and deploy it again, or contact support."
                    .to_string(),
            )
        };
        let id = id.ok_or_else(missing)?;
        dv_mut(state, &id).ok_or_else(missing)
    }
}

pub(super) fn is_admin(user: &User) -> bool {
    Role::ALL.iter().any(|r| user.has_role(*r))
}

impl SetupEffect {
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        op: &Operation<Work>,
        stage: usize,
        at: Timestamp,
    ) -> Result<(), OpError> {
        let Some(&step) = steps(self.existing).get(stage) else {
            return Ok(());
        };
        match step {
            Step::Validate => self.validate(tenant),
            Step::ReserveCapacity => self.reserve(tenant, op.id(), at),
            Step::Provision => {
                let mut dv = self.dataverse(tenant)?;
                dv.provisioning = ProvisioningState::Succeeded;
                dv.modified_at = at;
                Ok(())
            }
            Step::CheckDataverse => {
                let dv = self.dataverse(tenant)?;
                if let Some(link) = &dv.linked_app
                    && link.id != self.env.0
                {
                    return Err(op_error(
                        ErrorCode::DataverseEnvironmentNotLinkable,
                        format!(
                            "The Power Platform environment {} is now linked to the finance and \
                             operations environment {}; a Dataverse environment links to one \
                             finance and operations environment only.",
                            dv.id, link.id
                        ),
                    ));
                }
                Ok(())
            }
            Step::InstallPlatform => {
                let ids: Vec<Uuid> = PLATFORM_COMPONENTS
                    .iter()
                    .map(|_| random_uuid(&mut tenant.rng))
                    .collect();
                let mut dv = self.dataverse(tenant)?;
                dv.packages
                    .retain(|p| !PLATFORM_COMPONENTS.contains(&p.unique_name.as_str()));
                for (name, instance_id) in PLATFORM_COMPONENTS.iter().zip(ids) {
                    dv.packages.push(InstalledPackage {
                        unique_name: (*name).into(),
                        instance_id,
                        operation: None,
                        requested_at: at,
                        settings: Vec::new(),
                    });
                }
                dv.modified_at = at;
                Ok(())
            }
            Step::Link => {
                let url = fo_mut(tenant, self.project, self.env)?.url.clone();
                let mut dv = self.dataverse(tenant)?;
                dv.linked_app = Some(LinkedApp {
                    kind: LinkedAppKind::Linked,
                    id: self.env.0,
                    url,
                });
                dv.provisioning = ProvisioningState::Succeeded;
                dv.modified_at = at;
                Ok(())
            }
        }
    }

    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, _at: Timestamp) {
        if op.state() != RunState::Failed {
            return;
        }
        // A failed setup holds nothing (its operation no longer runs, so the Dataverse
        // environment is free until Resume); one it was creating shows the failure.
        if let Ok(mut dv) = self.dataverse(tenant)
            && dv.operations.last() == Some(&op.id())
            && dv.provisioning == ProvisioningState::Creating
        {
            dv.provisioning = ProvisioningState::Failed;
        }
    }
}

/// Removes the link of a deleted F&O environment: its Dataverse environment stays, unlinked.
pub(crate) fn unlink(state: &mut TenantState, env: EnvironmentId, at: Timestamp) {
    for dv in state.ppac.environments_mut().iter_mut() {
        if dv
            .linked_app
            .as_ref()
            .is_some_and(|l| l.kind == LinkedAppKind::Linked && l.id == env.0)
        {
            dv.linked_app = None;
            dv.modified_at = at;
        }
    }
}
