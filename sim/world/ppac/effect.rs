//! What a PPAC operation does to its Dataverse environment at each stage end and when it finishes.

use super::*;
use crate::clock;
use crate::error::ErrorCode;
use crate::ops::{OpError, Operation, Ops, RunState};
use crate::world::operations::Work;
use crate::world::tenant::TenantState;
use jiff::Timestamp;

fn env_mut<'a>(state: &'a mut TenantState, id: &PpEnvId) -> Option<EnvMut<'a>> {
    state.ppac.get_mut(id)
}

impl PpacEffect {
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        ops: &Ops<Work>,
        _op: &Operation<Work>,
        stage: usize,
        _at: Timestamp,
    ) -> Result<(), OpError> {
        let Some(env) = env_mut(tenant, &self.env) else {
            return Err(OpError::new(
                ErrorCode::EnvironmentNotFound.as_str(),
                format!("The environment '{}' no longer exists.", self.env),
            ));
        };
        if let (Action::Install { unique_name, .. }, 0) = (&self.action, stage) {
            // The package's state follows this operation: installing once this check passes,
            // failed if it does not.
            install_check(&env, ops, unique_name).map_err(|m| OpError::new("InstallFailed", m))?;
        }
        Ok(())
    }

    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, at: Timestamp) {
        let ok = op.state() == RunState::Succeeded;
        let mut blocked = None;
        if let Some(mut env) = env_mut(tenant, &self.env) {
            env.modified_at = at;
            match (&self.action, ok) {
                (Action::Create { .. }, true) => env.provisioning = ProvisioningState::Succeeded,
                (Action::Create { .. }, false) => env.provisioning = ProvisioningState::Failed,
                (Action::Provision { data }, true) => {
                    env.provisioning = ProvisioningState::Succeeded;
                    env.dataverse = Some((**data).clone());
                }
                (Action::Provision { .. }, false) => {
                    env.provisioning = ProvisioningState::Succeeded;
                }
                (Action::Edit(patch), true) => apply_patch(&mut env, patch),
                (Action::Convert(sku), true) => env.sku = *sku,
                (Action::Delete, true) => {
                    env.deleted_at = Some(at);
                    env.provisioning = ProvisioningState::Succeeded;
                    if let Some(d) = &env.dataverse {
                        let block = if env
                            .linked_app
                            .as_ref()
                            .is_some_and(|l| l.kind == LinkedAppKind::Internal)
                        {
                            RECOVERY_WINDOW
                        } else {
                            DOMAIN_BLOCK
                        };
                        blocked = Some((d.domain.clone(), clock::saturating_add(at, block)));
                    }
                }
                (Action::Delete, false) => env.provisioning = ProvisioningState::Succeeded,
                (
                    Action::Copy { data, name }
                    | Action::Restore { data, name }
                    | Action::Reset { data, name },
                    true,
                ) => {
                    env.dataverse = Some((**data).clone());
                    if let Some(name) = name {
                        env.display_name = name.clone();
                    }
                    if matches!(self.action, Action::Reset { .. }) {
                        env.backups.clear();
                        env.packages.clear();
                    } else {
                        // Copy and restore leave the target in admin mode with background
                        // operations disabled.
                        env.admin_mode = true;
                        if let Some(d) = env.dataverse.as_mut() {
                            d.background_operations = false;
                        }
                    }
                }
                (Action::Recover, true) => {
                    env.deleted_at = None;
                    env.provisioning = ProvisioningState::Succeeded;
                }
                (Action::Recover, false) => {
                    env.deleted_at = Some(op.started_at());
                    env.provisioning = ProvisioningState::Succeeded;
                }
                _ => {}
            }
        }
        if let Some(b) = blocked {
            tenant.ppac.blocked_domains.push(b);
        }
    }
}
