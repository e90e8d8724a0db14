//! What an LCS operation does to its environment at each stage end and when it finishes.

use super::*;
use crate::error::ErrorCode;
use crate::ops::{OpError, Operation, RunState};
use crate::world::identity::random_uuid;
use crate::world::operations::Work;
use crate::world::tenant::TenantState;
use bytes::Bytes;
use jiff::Timestamp;

impl LcsEffect {
    /// The F&O environment this operation deleted, once it has (its Dataverse link goes too).
    pub(crate) fn deleted(&self, op: &Operation<Work>) -> Option<EnvironmentId> {
        (op.state() == RunState::Succeeded && matches!(self.action, Action::Delete))
            .then_some(self.env)
    }

    fn environment<'a>(&self, state: &'a mut TenantState) -> Option<&'a mut FoEnvironment> {
        state
            .lcs
            .project_mut(self.project)
            .ok()?
            .environment_mut(self.env)
            .ok()
    }
}

impl LcsEffect {
    pub(crate) fn stage_ended(
        &self,
        tenant: &mut TenantState,
        _op: &Operation<Work>,
        _stage: usize,
        _at: Timestamp,
    ) -> Result<(), OpError> {
        // The history entry's status follows the operation by itself; a stage only needs the
        // environment to still be there.
        self.environment(tenant).map(|_| ()).ok_or_else(|| {
            OpError::new(
                ErrorCode::EnvironmentNotFound.as_str(),
                format!("environment {} no longer exists", self.env),
            )
        })
    }

    pub(crate) fn finished(&self, tenant: &mut TenantState, op: &Operation<Work>, at: Timestamp) {
        let succeeded = op.state() == RunState::Succeeded;
        let mut new_asset = None;
        if let Some(env) = self.environment(tenant) {
            match (&self.action, succeeded) {
                (Action::Deploy, true) => {
                    env.state = EnvironmentState::Deployed;
                    env.deployed_on = Some(at);
                    env.database.as_of = at;
                }
                (Action::Deploy, false) => env.state = EnvironmentState::Failed,
                (
                    Action::Refresh { data }
                    | Action::Import { data }
                    | Action::PointInTimeRestore { data },
                    true,
                ) => {
                    env.database = data.clone();
                    env.release = data.release;
                }
                (Action::Export { backup_name, data }, true) => {
                    new_asset = Some((backup_name.clone(), env.name.clone(), data.clone()));
                }
                (Action::Package { name }, true) => env.packages.push(name.clone()),
                (Action::Start, true) => env.state = EnvironmentState::Deployed,
                (Action::Stop, true) => env.state = EnvironmentState::Stopped,
                (Action::Deallocate, true) => env.state = EnvironmentState::Deallocated,
                _ => {}
            }
        }
        if succeeded
            && matches!(self.action, Action::Delete)
            && let Ok(project) = tenant.lcs.project_mut(self.project)
        {
            project.remove(self.env);
        }
        if let Some((backup_name, source, data)) = new_asset {
            let id = AssetId(random_uuid(&mut tenant.rng));
            let content = Bytes::from(files::bacpac(&source, &data, at));
            let blob = id.0.simple().to_string();
            tenant
                .blobs
                .put(ASSET_CONTAINER, &blob, content.clone(), None, at);
            if let Ok(project) = tenant.lcs.project_mut(self.project) {
                project.assets.push(Asset {
                    id,
                    name: backup_name.clone(),
                    file_name: format!("{backup_name}.bacpac"),
                    description: Some(format!("Database export of {source}")),
                    file_type: FileType::BACKUP,
                    declared_size: content.len() as u64,
                    blob,
                    created: at,
                    modified: at,
                    created_by: "Lifecycle Services".to_string(),
                    state: AssetState::Validating {
                        until: at,
                        outcome: Ok(()),
                    },
                });
            }
        }
    }
}
