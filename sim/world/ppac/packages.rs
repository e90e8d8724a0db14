//! Application packages installed into Dataverse environments, and tenant settings.

use super::handle::{Pp, PpMut};
use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::{Operation, OperationId};
use crate::world::identity::random_uuid;
use crate::world::operations::Work;
use jiff::Timestamp;

impl<'a> Pp<'a> {
    /// The package install with this operation id in an environment.
    pub fn install_operation(
        self,
        id: &PpEnvId,
        op: OperationId,
    ) -> Result<(&'a InstalledPackage, &'a Operation<Work>), SimError> {
        let env = self.environment(id)?;
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
        Ok((p, self.tenant.operation(op)?))
    }
}

impl PpMut<'_> {
    /// Starts installing an application package.
    pub fn install(
        &mut self,
        id: &PpEnvId,
        unique_name: &str,
        now: Timestamp,
    ) -> Result<(OperationId, InstalledPackage), SimError> {
        self.install_from(id, unique_name, Vec::new(), None, now)
    }

    /// Starts installing an application package, from PPAC or (with `origin`) from LCS, recording
    /// the settings given with it.
    pub(crate) fn install_from(
        &mut self,
        id: &PpEnvId,
        unique_name: &str,
        settings: Vec<(String, String)>,
        origin: Option<LcsOrigin>,
        now: Timestamp,
    ) -> Result<(OperationId, InstalledPackage), SimError> {
        let env = self.read().environment(id)?;
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
            self.read().check_idle(env)?;
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
        let op = self.start(
            id,
            Action::Install {
                unique_name: pkg.unique_name.into(),
                origin,
            },
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
        let mut env = self.env_mut(id)?;
        env.packages
            .retain(|p| !p.unique_name.eq_ignore_ascii_case(pkg.unique_name));
        env.packages.push(record.clone());
        Ok((op, record))
    }
}
