//! Add-ins and dual-write of a linked environment, installed from LCS.

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::lcs::{EnvironmentId, ProjectId};
use crate::world::ppac::{LcsOrigin, PackageState, PpEnvId};
use crate::world::tenant::Tenant;
use jiff::Timestamp;
use uuid::Uuid;

impl Tenant {
    /// Installs an add-in from the LCS environment details.
    pub fn install_addin(
        &mut self,
        project: ProjectId,
        user: crate::world::identity::ObjectId,
        env: EnvironmentId,
        name: &str,
        settings: Vec<(String, String)>,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let addin = addin(name)?;
        for (key, _) in &settings {
            if !addin.settings.iter().any(|s| s.key == key) {
                return Err(SimError::new(
                    ErrorCode::InvalidAddin,
                    format!(
                        "{} takes no setting '{key}'{}",
                        addin.name,
                        if addin.settings.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; it takes: {}",
                                addin
                                    .settings
                                    .iter()
                                    .map(|s| s.key)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ),
                )
                .at(format!("settings.{key}")));
            }
        }
        for s in addin.settings {
            match settings.iter().find(|(k, _)| k == s.key) {
                None => {
                    return Err(SimError::new(
                        ErrorCode::InvalidAddin,
                        format!("{} needs the {} (setting '{}')", addin.name, s.label, s.key),
                    )
                    .at(format!("settings.{}", s.key)));
                }
                Some((_, v)) if Uuid::parse_str(v.trim()).is_err() => {
                    return Err(SimError::new(
                        ErrorCode::InvalidAddin,
                        format!("The {} must be a GUID, not '{v}'", s.label),
                    )
                    .at(format!("settings.{}", s.key)));
                }
                Some(_) => {}
            }
        }
        let (dv, actor) = self.completed_link(project, user, env, "Installing an add-in")?;
        self.refuse_reinstall(&dv, addin.package, addin.name)?;
        let origin = LcsOrigin {
            kind: ADDIN_KIND.to_string(),
            env,
        };
        let (op, _) =
            self.ppac_mut(&actor)
                .install_from(&dv, addin.package, settings, Some(origin), now)?;
        Ok(op)
    }

    /// Enables the dual-write application from the LCS environment details.
    pub fn enable_dual_write(
        &mut self,
        project: ProjectId,
        user: crate::world::identity::ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (dv, actor) = self.completed_link(project, user, env, "The dual-write application")?;
        self.refuse_reinstall(&dv, DUAL_WRITE_PACKAGE, "The dual-write application")?;
        let origin = LcsOrigin {
            kind: DUAL_WRITE_KIND.to_string(),
            env,
        };
        let (op, _) = self.ppac_mut(&actor).install_from(
            &dv,
            DUAL_WRITE_PACKAGE,
            Vec::new(),
            Some(origin),
            now,
        )?;
        Ok(op)
    }

    pub(super) fn refuse_reinstall(
        &self,
        dv: &PpEnvId,
        package: &str,
        what: &str,
    ) -> Result<(), SimError> {
        let state = self
            .state
            .ppac
            .get(dv)
            .and_then(|e| {
                e.packages
                    .iter()
                    .find(|p| p.unique_name.eq_ignore_ascii_case(package))
            })
            .map(|p| p.state(self.ops()));
        match state {
            Some(PackageState::Installed) => Err(SimError::new(
                ErrorCode::AddinAlreadyInstalled,
                format!("{what} is already installed in the linked environment {dv}"),
            )),
            Some(PackageState::InstallRequested | PackageState::Installing) => Err(SimError::new(
                ErrorCode::AddinAlreadyInstalled,
                format!("{what} is being installed in the linked environment {dv}; wait for it"),
            )),
            _ => Ok(()),
        }
    }
}
