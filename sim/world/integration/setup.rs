//! Setting up Power Platform integration from LCS: refusals, linking, resume.

use super::effect::*;
use super::views::{AddinView, IntegrationView};
use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::{OperationId, RunState, StageSpec};
use crate::world::lcs::{EnvironmentId, FoEnvironment, Integration, ProjectId};
use crate::world::operations::{Effect, Portal, Target, Work};
use crate::world::ppac::{Actor, LinkedAppKind, PpEnvId, PpEnvironment, ProvisioningState};
use crate::world::tenant::Tenant;
use jiff::Timestamp;

impl Tenant {
    pub(super) fn fo_for(
        &self,
        project: ProjectId,
        actor: crate::world::identity::ObjectId,
        env: EnvironmentId,
    ) -> Result<&FoEnvironment, SimError> {
        self.project_for(project, actor)?.environment(env)
    }

    /// The live Dataverse environment linked to `fo`, if any.
    pub(crate) fn linked_dataverse(&self, fo: &FoEnvironment) -> Option<&PpEnvironment> {
        let id = fo.integration.as_ref()?.dataverse.as_ref()?;
        live_dv(&self.state, id)
    }

    /// Why Setup is not offered for `fo`, or `None` when it is.
    pub(super) fn setup_refusal(&self, fo: &FoEnvironment) -> Option<SimError> {
        if let Some(i) = &fo.integration {
            let message = match self.operation(i.setup).map(|op| op.state()).ok() {
                Some(RunState::Failed) => format!(
                    "Power Platform integration setup of {} failed; fix the cause and Resume it \
                     (POST .../power-platform-integration/resume) instead of starting again",
                    fo.name
                ),
                Some(RunState::Running | RunState::Pending) => format!(
                    "Power Platform integration setup of {} is already in progress",
                    fo.name
                ),
                _ => format!(
                    "{} is already linked to the Power Platform environment {}. The link is \
                     irreversible: it cannot be removed or pointed elsewhere; deleting the \
                     environment in LCS is the only way to break it",
                    fo.name,
                    i.dataverse.as_ref().map_or("(unknown)", PpEnvId::as_str)
                ),
            };
            return Some(SimError::new(
                ErrorCode::PowerPlatformIntegrationExists,
                message,
            ));
        }
        if sku_name(fo.env_type).is_none() {
            return Some(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment. Power Platform integration is set up after \
                     deployment for sandbox and production environments only; cloud-hosted \
                     development environments connect during their deployment",
                    fo.name,
                    fo.env_type.as_str()
                ),
            ));
        }
        self.check_ready(fo).err()
    }

    /// The "Power Platform integration" section of an environment's details.
    pub fn integration_of<'a>(&'a self, fo: &'a FoEnvironment) -> IntegrationView<'a> {
        let setup = fo
            .integration
            .as_ref()
            .and_then(|i| self.operation(i.setup).ok());
        let dataverse = self.linked_dataverse(fo);
        let state = match setup {
            None => IntegrationState::NotSetUp,
            Some(op) => match op.state() {
                RunState::Succeeded => IntegrationState::Completed,
                RunState::Failed => IntegrationState::Failed,
                _ => {
                    let existing = fo.integration.as_ref().is_some_and(|i| i.existing);
                    let stage = op.current_stage().unwrap_or(0);
                    if !existing && stage < 2 {
                        IntegrationState::Provisioning
                    } else {
                        IntegrationState::InProgress
                    }
                }
            },
        };
        let dv_name = dataverse.map_or_else(String::new, |d| d.display_name.clone());
        let status_message = match state {
            IntegrationState::NotSetUp => "Power Platform integration is not set up. Select \
                                           Setup to connect this environment to a new or an \
                                           existing Power Platform environment."
                .to_string(),
            IntegrationState::Provisioning => "The Power Platform environment is being \
                                               provisioned. This takes a few minutes; then the \
                                               status reads \"Environment setup is in progress\"."
                .to_string(),
            IntegrationState::InProgress => "Environment setup is in progress".to_string(),
            IntegrationState::Failed => {
                let (stage, message) = setup
                    .and_then(|op| {
                        let stage = op.current_stage().and_then(|i| op.stage_name(i))?;
                        Some((stage, op.error()?.message.as_str()))
                    })
                    .unwrap_or(("setup", ""));
                format!("Environment setup failed at stage '{stage}'. {message}")
            }
            IntegrationState::Completed => format!(
                "Environment setup is complete: linked to the Power Platform environment \
                 {dv_name}. Dual-write platform components are installed."
            ),
        };
        let completed = state == IntegrationState::Completed;
        let dual_write = if completed {
            DualWriteState::of(
                dataverse
                    .and_then(|d| {
                        d.packages
                            .iter()
                            .find(|p| p.unique_name.eq_ignore_ascii_case(DUAL_WRITE_PACKAGE))
                    })
                    .map(|p| p.state(self.ops())),
            )
        } else {
            DualWriteState::NotAvailable
        };
        let addins = dataverse
            .map(|d| {
                d.packages
                    .iter()
                    .filter_map(|p| {
                        ADDINS
                            .iter()
                            .find(|a| a.package.eq_ignore_ascii_case(&p.unique_name))
                            .map(|addin| AddinView {
                                addin,
                                package: p,
                                state: p.state(self.ops()),
                                error: p.error(self.ops()),
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let unavailable = if state == IntegrationState::NotSetUp {
            self.setup_refusal(fo).map(|e| e.message)
        } else {
            None
        };
        let actions = match state {
            IntegrationState::NotSetUp if unavailable.is_none() => vec!["setup"],
            IntegrationState::Failed => vec!["resume"],
            IntegrationState::Completed => vec!["installAddin", "dualWriteApplication"],
            _ => Vec::new(),
        };
        IntegrationView {
            state,
            status_message,
            setup,
            dataverse_id: fo.integration.as_ref().and_then(|i| i.dataverse.clone()),
            dataverse,
            dual_write,
            addins,
            actions,
            unavailable,
        }
    }

    /// Starts Power Platform integration setup from an F&O environment's details.
    pub fn setup_integration(
        &mut self,
        project: ProjectId,
        actor: crate::world::identity::ObjectId,
        env: EnvironmentId,
        request: SetupRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let fo = self.fo_for(project, actor, env)?;
        if !request.accept_terms {
            return Err(SimError::new(
                ErrorCode::TermsNotAccepted,
                "Accept the terms and conditions to set up Power Platform integration: send \
                 \"acceptTerms\": true",
            )
            .at("acceptTerms"));
        }
        if let Some(e) = self.setup_refusal(fo) {
            return Err(e);
        }
        let existing = match &request.existing {
            Some(id) => Some(self.linkable(fo, id)?),
            None => None,
        };
        let work = Work {
            kind: SETUP_KIND.into(),
            portal: Portal::Lcs,
            target: Target {
                kind: "lcsEnvironment".into(),
                id: env.to_string(),
            },
            effect: Effect::Integration(SetupEffect {
                project,
                env,
                existing: existing.is_some(),
            }),
        };
        let specs: Vec<StageSpec> = steps(existing.is_some()).iter().map(|s| s.spec()).collect();
        let op = self.start_operation(work, &specs, None, now)?;
        if let Some(id) = &existing
            && let Some(mut dv) = dv_mut(&mut self.state, id)
        {
            dv.operations.push(op);
        }
        self.state
            .lcs
            .project_mut(project)?
            .environment_mut(env)?
            .integration = Some(Integration {
            setup: op,
            dataverse: existing,
            existing: request.existing.is_some(),
        });
        Ok(op)
    }

    /// Checks that the Dataverse environment `id` can be linked to `fo`.
    pub(super) fn linkable(&self, fo: &FoEnvironment, id: &PpEnvId) -> Result<PpEnvId, SimError> {
        let dv = live_dv(&self.state, id).ok_or_else(|| {
            SimError::new(
                ErrorCode::EnvironmentNotFound,
                format!(
                    "The Power Platform environment {id} could not be found in the tenant {}; \
                         list them with GET /providers/Microsoft.BusinessAppPlatform/scopes/admin/\
                         environments",
                    self.state.id
                ),
            )
            .at("existingDataverseEnvironmentId")
        })?;
        let refuse = |message: String| {
            Err(
                SimError::new(ErrorCode::DataverseEnvironmentNotLinkable, message)
                    .at("existingDataverseEnvironmentId"),
            )
        };
        if let Some(link) = &dv.linked_app {
            return match link.kind {
                LinkedAppKind::Linked => {
                    let other = self
                        .state
                        .lcs
                        .find_environment(EnvironmentId(link.id))
                        .map_or_else(
                            || link.id.to_string(),
                            |(_, e)| format!("{} ({})", e.name, e.id),
                        );
                    refuse(format!(
                        "The Power Platform environment {} is already linked to the finance and \
                         operations environment {other}. The link is irreversible; delete {other} \
                         in LCS to free {}, then link it again",
                        dv.display_name, dv.display_name
                    ))
                }
                LinkedAppKind::Internal => refuse(format!(
                    "The Power Platform environment {} hosts its own finance and operations apps \
                     (a unified environment); it cannot be linked to an LCS environment",
                    dv.display_name
                )),
            };
        }
        if dv.dataverse.is_none() {
            return refuse(format!(
                "The Power Platform environment {} has no Dataverse database; add one first",
                dv.display_name
            ));
        }
        let wanted = sku_name(fo.env_type);
        if Some(dv.sku) != wanted {
            return refuse(format!(
                "{} is a {} environment and {} a {} one: Power Platform integration links \
                 environments of the same type (sandbox to sandbox, production to production)",
                fo.name,
                fo.env_type.as_str(),
                dv.display_name,
                dv.sku.as_str()
            ));
        }
        if dv.busy(self.ops()).is_some() || dv.provisioning != ProvisioningState::Succeeded {
            return Err(dataverse_busy(&dv.id, "retry"));
        }
        Ok(dv.id.clone())
    }

    /// Resumes a failed setup from its failed stage.
    pub fn resume_integration(
        &mut self,
        project: ProjectId,
        actor: crate::world::identity::ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let fo = self.fo_for(project, actor, env)?;
        let Some(i) = fo.integration.clone() else {
            return Err(SimError::new(
                ErrorCode::OperationNotResumable,
                format!(
                    "Power Platform integration was never set up for {}; there is nothing to \
                     resume. Start it with POST .../power-platform-integration",
                    fo.name
                ),
            ));
        };
        let name = fo.name.clone();
        let state = self.operation(i.setup)?.state();
        if state != RunState::Failed {
            return Err(SimError::new(
                ErrorCode::OperationNotResumable,
                format!(
                    "Power Platform integration setup of {name} {}; only a failed setup can be \
                     resumed",
                    if state == RunState::Succeeded {
                        "has completed"
                    } else {
                        "is still in progress"
                    }
                ),
            ));
        }
        if let Some(id) = &i.dataverse
            && let Some(dv) = live_dv(&self.state, id)
            && (dv.busy(self.ops()).is_some() || dv.provisioning == ProvisioningState::Deleting)
        {
            return Err(dataverse_busy(&dv.id, "resume"));
        }
        self.resume_operation(i.setup, now)?;
        if let Some(id) = &i.dataverse
            && let Some(mut dv) = dv_mut(&mut self.state, id)
        {
            dv.operations.push(i.setup);
            if dv.provisioning == ProvisioningState::Failed {
                dv.provisioning = ProvisioningState::Creating;
            }
        }
        Ok(i.setup)
    }

    /// The linked Dataverse environment of a completed integration, and the actor of `user`.
    pub(super) fn completed_link(
        &self,
        project: ProjectId,
        user: crate::world::identity::ObjectId,
        env: EnvironmentId,
        what: &str,
    ) -> Result<(PpEnvId, Actor), SimError> {
        let fo = self.fo_for(project, user, env)?;
        let view = self.integration_of(fo);
        let id = match (view.state, view.dataverse) {
            (IntegrationState::Completed, Some(dv)) => dv.id.clone(),
            _ => {
                return Err(SimError::new(
                    ErrorCode::PowerPlatformIntegrationRequired,
                    format!(
                        "{what} needs Power Platform integration, and {} is {}. Set up the \
                         integration first and wait for it to complete",
                        fo.name,
                        match view.state {
                            IntegrationState::NotSetUp => "not integrated",
                            IntegrationState::Failed => "integrated only partly (setup failed)",
                            _ => "still being set up",
                        }
                    ),
                ));
            }
        };
        self.check_ready(fo)?;
        let actor = crate::world::ppac::Actor::of(&self.state, Some(user), None)?;
        Ok((id, actor))
    }
}
