//! Application packages installed into Dataverse environments, and tenant settings.

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::{Operation, OperationId};
use crate::world::identity::random_uuid;
use crate::world::operations::Work;
use crate::world::tenant::Tenant;
use jiff::Timestamp;
use serde_json::{Value, json};

impl Tenant {
    /// Starts installing an application package.
    pub fn ppac_install(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        unique_name: &str,
        now: Timestamp,
    ) -> Result<(OperationId, InstalledPackage), SimError> {
        self.ppac_install_from(actor, id, unique_name, Vec::new(), None, now)
    }

    /// Starts installing an application package, from PPAC or (with `origin`) from LCS, recording
    /// the settings given with it.
    pub(crate) fn ppac_install_from(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        unique_name: &str,
        settings: Vec<(String, String)>,
        origin: Option<LcsOrigin>,
        now: Timestamp,
    ) -> Result<(OperationId, InstalledPackage), SimError> {
        let env = self.ppac_environment(actor, id)?;
        let pkg = package(unique_name).ok_or_else(|| {
            SimError::new(
                ErrorCode::PackageNotFound,
                format!(
                    "The application package '{unique_name}' is not in the tenant catalogue; list \
                     it with GET /appmanagement/applicationPackages"
                ),
            )
        })?;
        if env.dataverse.is_none() {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                "Application packages install into Dataverse; this environment has none.",
            ));
        }
        if env.provisioning != ProvisioningState::Succeeded {
            self.ppac_check_idle(env)?;
        }
        if env.packages.iter().any(|p| {
            p.unique_name.eq_ignore_ascii_case(pkg.unique_name)
                && matches!(
                    p.state(self.ops()),
                    PackageState::InstallRequested | PackageState::Installing
                )
        }) {
            return Err(SimError::new(
                ErrorCode::OperationNotStartable,
                format!(
                    "{} is already being installed in environment {id}.",
                    pkg.name
                ),
            ));
        }
        let op = self.ppac_start(
            id,
            Action::Install {
                unique_name: pkg.unique_name.into(),
                origin,
            },
            actor,
            now,
        )?;
        let instance_id = random_uuid(&mut self.state.rng);
        let record = InstalledPackage {
            unique_name: pkg.unique_name.into(),
            instance_id,
            operation: Some(op),
            requested_at: now,
            settings,
        };
        let env = self.ppac_env_mut(id)?;
        env.packages
            .retain(|p| !p.unique_name.eq_ignore_ascii_case(pkg.unique_name));
        env.packages.push(record.clone());
        Ok((op, record))
    }

    /// The package install with this operation id in an environment.
    pub fn ppac_install_operation(
        &self,
        actor: &Actor,
        id: &PpEnvId,
        op: OperationId,
    ) -> Result<(&InstalledPackage, &Operation<Work>), SimError> {
        let env = self.ppac_environment(actor, id)?;
        let p = env
            .packages
            .iter()
            .find(|p| p.operation == Some(op))
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::OperationNotFound,
                    format!("No application package operation '{op}' in environment {id}."),
                )
            })?;
        Ok((p, self.operation(op)?))
    }

    /// Tenant settings as `listTenantSettings` answers them.
    pub fn ppac_settings(&self) -> Value {
        let mut s = self.state.ppac.settings.clone();
        s["disableEnvironmentCreationByNonAdminUsers"] = json!(
            self.state
                .governance
                .restrict_environment_creation_to_admins
        );
        s
    }

    /// Merges a partial settings object (keys matched case-insensitively); answers the result.
    pub fn ppac_update_settings(&mut self, patch: &Value) -> Result<Value, SimError> {
        let mut merged = self.ppac_settings();
        merge(&mut merged, patch, "")?;
        if let Some(v) = merged
            .get("disableEnvironmentCreationByNonAdminUsers")
            .and_then(Value::as_bool)
        {
            self.state
                .governance
                .restrict_environment_creation_to_admins = v;
        }
        if let Some(m) = merged.as_object_mut() {
            m.remove("disableEnvironmentCreationByNonAdminUsers");
        }
        self.state.ppac.settings = merged;
        Ok(self.ppac_settings())
    }
}
