//! Dataverse environments created, provisioned, updated, converted, deleted and recovered.

use super::handle::{Pp, PpMut};
use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::identity::random_uuid;
use jiff::Timestamp;

impl<'a> Pp<'a> {
    /// Whether the environment can be deleted, and what goes with it.
    pub fn validate_delete(self, id: &PpEnvId) -> Result<DeleteCheck, SimError> {
        let env = self.environment(id)?;
        let refusal = refusal(env, OpType::Delete).or_else(|| {
            env.busy(self.tenant.ops()).map(|_| Refusal {
                reason: ReasonType::OperationInProgress,
                code: ErrorCode::OperationNotStartable,
                message: format!(
                    "There is an active lifecycle operation on the environment {}; retry when it \
                     has finished.",
                    env.id
                ),
            })
        });
        let mut resources = vec![(
            "Microsoft.BusinessAppPlatform/environments",
            env.display_name.clone(),
        )];
        if let Some(d) = &env.dataverse {
            resources.push((
                "Microsoft.CommonDataService/instances",
                d.unique_name.clone(),
            ));
        }
        Ok(DeleteCheck {
            can_delete: refusal.is_none(),
            resources,
            refusal,
        })
    }
}

impl PpMut<'_> {
    /// Creates an environment (with a Dataverse database when asked).
    pub fn create(
        &mut self,
        spec: NewEnvironment,
        now: Timestamp,
    ) -> Result<(PpEnvId, OperationId), SimError> {
        let actor = self.actor;
        if self
            .state
            .governance
            .restrict_environment_creation_to_admins
            && !actor.admin
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentCreationRestricted,
                format!(
                    "Environment creation is restricted to admins in tenant {}: only Global \
                     admins, Dynamics 365 admins and Power Platform admins can create \
                     environments. Ask an admin to create it, or to assign you one of those \
                     roles.",
                    self.state.id
                ),
            ));
        }
        let name = spec.display_name.trim().to_string();
        if name.is_empty() || name.len() > 100 {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                "displayName is required (1 to 100 characters).",
            )
            .at("displayName"));
        }
        let sku = match spec.sku {
            None => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!("environmentSku is required; one of: {}", creatable_skus()),
                )
                .at("environmentSku"));
            }
            Some(Sku::Default) => {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!(
                        "A tenant has exactly one default environment; create one of: {}",
                        creatable_skus()
                    ),
                )
                .at("environmentSku"));
            }
            Some(s) => s,
        };
        if spec.used_by && sku != Sku::Developer {
            return Err(SimError::new(
                ErrorCode::UsedByInvalidInRequest,
                "The provisioning request included a used by field which is improperly formed or \
                 restricted in this context.",
            )
            .at("usedBy"));
        }
        let loc = find_location(&spec.location)?;
        let region = match &spec.azure_region {
            Some(r) if !r.trim().is_empty() => {
                let r = r.trim().to_ascii_lowercase();
                if !loc.regions.contains(&r.as_str()) {
                    return Err(SimError::new(
                        ErrorCode::InvalidEnvironmentRequest,
                        format!(
                            "The Azure region '{r}' is not in location '{}'; use one of: {}",
                            loc.name,
                            loc.regions.join(", ")
                        ),
                    )
                    .at("azureRegion"));
                }
                r
            }
            _ => loc.regions[0].to_string(),
        };
        self.read().require_capacity("created")?;
        let id = PpEnvId::from_uuid(random_uuid(&mut self.state.rng));
        let (dataverse, fin_ops) = match &spec.dataverse {
            Some(d) => {
                let (data, fin_ops) = self.new_dataverse(d, &name, sku, None, now)?;
                (Some(data), fin_ops)
            }
            None => (None, false),
        };
        let linked_app = fin_ops.then(|| {
            let domain = dataverse.as_ref().map_or("", |d| d.domain.as_str());
            LinkedApp {
                kind: LinkedAppKind::Internal,
                id: random_uuid(&mut self.state.rng),
                url: format!("https://{domain}.operations.{}.dynamics.com/", loc.fno_geo),
            }
        });
        let has_dataverse = dataverse.is_some();
        let mut packages = Vec::new();
        if fin_ops {
            for name in [PLATFORM_TOOLS, PROVISIONING_APP] {
                packages.push(InstalledPackage {
                    unique_name: name.into(),
                    instance_id: random_uuid(&mut self.state.rng),
                    operation: None,
                    requested_at: now,
                    settings: Vec::new(),
                });
            }
        }
        self.state.ppac.insert(PpEnvironment {
            id: id.clone(),
            display_name: name,
            description: spec.description,
            sku,
            location: loc.name.into(),
            azure_region: region,
            created_at: now,
            created_by: actor.clone(),
            modified_at: now,
            modified_by: actor.clone(),
            provisioning: ProvisioningState::Creating,
            admin_mode: false,
            managed: spec.managed,
            cadence: spec.cadence.unwrap_or_else(|| "Moderate".into()),
            dataverse,
            linked_app,
            backups: Vec::new(),
            packages,
            operations: Vec::new(),
            deleted_at: None,
        });
        let action = Action::Create {
            dataverse: has_dataverse,
            fin_ops,
        };
        match self.start(&id, action, now) {
            Ok(op) => Ok((id, op)),
            Err(e) => {
                self.state.ppac.remove(&id);
                Err(e)
            }
        }
    }

    /// Adds a Dataverse database to an environment without one.
    pub fn provision_instance(
        &mut self,
        id: &PpEnvId,
        spec: NewDataverse,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.read().environment(id)?;
        self.read().check_allowed(env, OpType::Provision)?;
        let (name, sku) = (env.display_name.clone(), env.sku);
        self.read().require_capacity("provisioned")?;
        let (data, _) = self.new_dataverse(&spec, &name, sku, Some(id), now)?;
        let op = self.start(
            id,
            Action::Provision {
                data: Box::new(data),
            },
            now,
        )?;
        self.env_mut(id)?.provisioning = ProvisioningState::LinkedDatabaseProvisioning;
        Ok(op)
    }

    /// Changes properties; `None` when nothing would change (the API answers 204).
    pub fn update(
        &mut self,
        id: &PpEnvId,
        mut patch: EnvironmentPatch,
        now: Timestamp,
    ) -> Result<Option<OperationId>, SimError> {
        let env = self.read().environment(id)?;
        if let Some(name) = &patch.display_name
            && (name.trim().is_empty() || name.len() > 100)
        {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                "displayName must be 1 to 100 characters.",
            )
            .at("displayName"));
        }
        // Drop what already matches.
        let d = env.dataverse.as_ref();
        if patch.display_name.as_deref() == Some(env.display_name.as_str()) {
            patch.display_name = None;
        }
        if patch.description.as_deref() == Some(env.description.as_str()) {
            patch.description = None;
        }
        if patch.admin_mode == Some(env.admin_mode) {
            patch.admin_mode = None;
        }
        if patch.cadence.as_deref() == Some(env.cadence.as_str()) {
            patch.cadence = None;
        }
        if patch.background_operations.is_some()
            && patch.background_operations == d.map(|d| d.background_operations)
        {
            patch.background_operations = None;
        }
        if let Some(domain) = &patch.domain
            && d.is_some_and(|d| d.domain.eq_ignore_ascii_case(domain.trim()))
        {
            patch.domain = None;
        }
        if patch == EnvironmentPatch::default() {
            return Ok(None);
        }
        self.read().check_allowed(env, OpType::Edit)?;
        if patch.background_operations.is_some() && d.is_none() {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                "Background operations belong to the Dataverse database; this environment has \
                 none.",
            ));
        }
        if let Some(domain) = &patch.domain {
            if d.is_none() {
                return Err(SimError::new(
                    ErrorCode::LifecycleOperationNotAllowed,
                    "The domain name belongs to the Dataverse database; this environment has none.",
                ));
            }
            if let Some(link) = &env.linked_app {
                let whose = match link.kind {
                    LinkedAppKind::Linked => format!(
                        "This environment is linked to the finance and operations environment {} \
                         in Lifecycle Services, and the link is irreversible",
                        link.id
                    ),
                    LinkedAppKind::Internal => {
                        "This environment hosts finance and operations apps".to_string()
                    }
                };
                return Err(SimError::new(
                    ErrorCode::OperationNotSupportedForLinkedFinOpsEnvironment,
                    format!(
                        "The finance and operations environment does not support domain name \
                         changes. {whose}; keep the domain {}.",
                        d.map_or("", |d| d.domain.as_str())
                    ),
                )
                .at("domainName"));
            }
            patch.domain = Some(super::capacity::check_domain(
                &self.state,
                domain,
                Some(id),
                now,
            )?);
        }
        self.start(id, Action::Edit(patch), now).map(Some)
    }

    /// Converts between production and sandbox.
    pub fn modify_sku(
        &mut self,
        id: &PpEnvId,
        sku: Sku,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.read().environment(id)?;
        self.read().check_allowed(env, OpType::Convert)?;
        if !matches!(sku, Sku::Production | Sku::Sandbox) {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "An environment can be converted to Production or Sandbox, not {}.",
                    sku.as_str()
                ),
            )
            .at("environmentSku"));
        }
        if sku == env.sku {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!("The environment is already of type {}.", sku.as_str()),
            )
            .at("environmentSku"));
        }
        self.start(id, Action::Convert(sku), now)
    }

    /// Deletes an environment (soft: recoverable for 7 days).
    pub fn delete(&mut self, id: &PpEnvId, now: Timestamp) -> Result<OperationId, SimError> {
        let env = self.read().environment(id)?;
        self.read().check_allowed(env, OpType::Delete)?;
        let op = self.start(id, Action::Delete, now)?;
        self.env_mut(id)?.provisioning = ProvisioningState::Deleting;
        Ok(op)
    }

    /// Recovers a deleted environment.
    pub fn recover(&mut self, id: &PpEnvId, now: Timestamp) -> Result<OperationId, SimError> {
        let found = self
            .read()
            .deleted(now)
            .find(|e| &e.id == id)
            .map(|e| e.dataverse.as_ref().map(|d| d.domain.clone()));
        let Some(domain) = found else {
            return Err(SimError::new(
                ErrorCode::EnvironmentNotFound,
                format!(
                    "No deleted environment '{id}' can be recovered in tenant '{}': environments \
                     are recoverable for 7 days after deletion. List them with GET \
                     /providers/Microsoft.BusinessAppPlatform/scopes/admin/deletedEnvironments",
                    self.state.id
                ),
            ));
        };
        self.read().require_capacity("recovered")?;
        if let Some(d) = &domain {
            let taken = self.state.ppac.domain_in_use(d, None);
            if taken {
                return Err(SimError::new(
                    ErrorCode::DomainNameInUse,
                    format!(
                        "The domain name '{d}' is now used by another environment; it cannot be recovered."
                    ),
                ));
            }
            self.state.ppac.blocked_domains.retain(|(b, _)| b != d);
        }
        // Recovery runs on a live record so that polling works; it shows Creating meanwhile.
        let op = self.start(id, Action::Recover, now)?;
        let mut e = self.env_mut(id)?;
        e.deleted_at = None;
        e.provisioning = ProvisioningState::Creating;
        Ok(op)
    }
}
