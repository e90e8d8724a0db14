//! An F&O environment's lifecycle: start, stop, packages, deallocate, delete, type changes, and
//! the checks and throttles every LCS operation starts through.

use super::*;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::{OperationId, RunState};
use crate::world::identity::ObjectId;
use crate::world::operations::{Effect, Portal, Target, Work};
use crate::world::tenant::Tenant;
use jiff::{SignedDuration, Timestamp};

impl Tenant {
    /// Starts a customer-managed environment; `None` when it is already running (which the
    /// API reports as success).
    pub fn start_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<Option<OperationId>, SimError> {
        let e = self.project_for(project, actor)?.environment(env)?;
        self.check_start_stop(e, "started")?;
        match e.state {
            EnvironmentState::Deployed => Ok(None),
            EnvironmentState::Stopped | EnvironmentState::Deallocated => self
                .begin(
                    project,
                    env,
                    Action::Start,
                    "Start environment".into(),
                    Via::Api,
                    now,
                )
                .map(Some),
            _ => Err(Self::not_ready(e)),
        }
    }

    /// Stops a running customer-managed environment.
    pub fn stop_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let e = self.project_for(project, actor)?.environment(env)?;
        self.check_start_stop(e, "stopped")?;
        match e.state {
            EnvironmentState::Deployed => self.begin(
                project,
                env,
                Action::Stop,
                "Stop environment".into(),
                Via::Api,
                now,
            ),
            EnvironmentState::Stopped | EnvironmentState::Deallocated => Err(SimError::new(
                ErrorCode::EnvironmentNotReady,
                format!("{} is already stopped", e.name),
            )),
            _ => Err(Self::not_ready(e)),
        }
    }

    pub(super) fn check_start_stop(&self, e: &FoEnvironment, verb: &str) -> Result<(), SimError> {
        if e.infrastructure != Infrastructure::CustomerManaged {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is {}; only customer-managed environments can be {verb} through the API",
                    e.name,
                    e.infrastructure.as_str()
                ),
            ));
        }
        self.check_idle(e)
    }

    /// Deploys a validated software deployable package from the asset library.
    pub fn apply_package(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        asset: AssetId,
        update_name: Option<&str>,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.project_for(project, actor)?;
        let e = p.environment(env)?;
        let a = Self::live_asset(p, asset, now)?;
        if a.file_type != FileType::PACKAGE {
            return Err(SimError::new(
                ErrorCode::AssetNotReady,
                format!(
                    "Asset '{}' is a {}; only software deployable packages can be deployed",
                    a.name,
                    a.file_type.0.as_str()
                ),
            ));
        }
        match a.validation(now) {
            Validation::Valid => {}
            Validation::Process => {
                return Err(SimError::new(
                    ErrorCode::AssetNotReady,
                    format!(
                        "Asset '{}' is still being validated; wait until its status is Valid",
                        a.name
                    ),
                ));
            }
            Validation::NotCommitted => {
                return Err(SimError::new(
                    ErrorCode::AssetNotReady,
                    format!(
                        "Asset '{}' has not been committed; upload and commit it first",
                        a.name
                    ),
                ));
            }
            Validation::Invalid(why) => {
                return Err(SimError::new(
                    ErrorCode::AssetNotReady,
                    format!("Asset '{}' failed validation: {why}", a.name),
                ));
            }
        }
        if e.env_type == EnvironmentType::Production {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a production environment; package deployment to production cannot be \
                     automated. Schedule it in LCS",
                    e.name
                ),
            ));
        }
        let update_name = update_name.map(str::trim).filter(|n| !n.is_empty());
        if e.infrastructure == Infrastructure::SelfService && update_name.is_none() {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is self-service; name the update with ?updateName=",
                    e.name
                ),
            ));
        }
        self.check_ready(e)?;
        let name = update_name.unwrap_or(&a.name).to_string();
        self.begin(
            project,
            env,
            Action::Package { name: name.clone() },
            name,
            Via::Api,
            now,
        )
    }

    /// Deallocates a customer-managed environment (portal only).
    pub fn deallocate_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let e = self.project_for(project, actor)?.environment(env)?;
        if e.infrastructure != Infrastructure::CustomerManaged {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is {}; only customer-managed (cloud-hosted) environments can be \
                     deallocated. Delete it instead",
                    e.name,
                    e.infrastructure.as_str()
                ),
            ));
        }
        self.check_idle(e)?;
        match e.state {
            EnvironmentState::Deployed | EnvironmentState::Stopped => self.begin(
                project,
                env,
                Action::Deallocate,
                "Deallocate environment".into(),
                Via::Portal,
                now,
            ),
            _ => Err(Self::not_ready(e)),
        }
    }

    /// Deletes an environment (portal only); it disappears when the operation finishes.
    pub fn delete_environment(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.project_for(project, actor)?;
        let e = p.environment(env)?;
        self.check_idle(e)?;
        if let Some(target) = p.environments().iter().find(|t| {
            self.fo(t)
                .running()
                .is_some_and(|h| h.kind == HistoryKind::Refresh && h.source == Some(env))
        }) {
            return Err(SimError::new(
                ErrorCode::EnvironmentBusy,
                format!(
                    "{} is the source of the database refresh running on {}; wait for the refresh \
                     to finish before deleting it",
                    e.name, target.name
                ),
            ));
        }
        if let Some(i) = &e.integration
            && self
                .operation(i.setup)
                .is_ok_and(|op| op.state() == RunState::Running)
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentBusy,
                format!(
                    "Power Platform integration setup is running on {}; wait until it has \
                     finished or failed before deleting the environment",
                    e.name
                ),
            ));
        }
        if e.env_type == EnvironmentType::Production && e.state != EnvironmentState::Failed {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a production environment; LCS does not delete production \
                     environments. Submit a support request",
                    e.name
                ),
            ));
        }
        if e.infrastructure == Infrastructure::CustomerManaged
            && e.state == EnvironmentState::Deployed
        {
            return Err(SimError::new(
                ErrorCode::EnvironmentNotReady,
                format!(
                    "{} is running; stop or deallocate it before deleting it",
                    e.name
                ),
            ));
        }
        self.begin(
            project,
            env,
            Action::Delete,
            "Delete environment".into(),
            Via::Portal,
            now,
        )
    }

    /// LCS cannot change an environment's type.
    pub fn change_environment_type(
        &self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        wanted: &str,
    ) -> Result<(), SimError> {
        let e = self.project_for(project, actor)?.environment(env)?;
        Err(SimError::new(
            ErrorCode::EnvironmentTypeImmutable,
            format!(
                "{} is a {} environment and LCS cannot change an environment's type (asked for \
                 '{wanted}'). Deploy a new environment of the type you need",
                e.name,
                e.env_type.as_str()
            ),
        ))
    }

    /// The history entry of an activity on an environment.
    pub fn activity(
        &self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        activity: &str,
    ) -> Result<Activity<'_, Work>, SimError> {
        let e = self.project_for(project, actor)?.environment(env)?;
        OperationId::parse(activity)
            .ok()
            .and_then(|id| self.fo(e).entry(id))
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::ActivityNotFound,
                    format!(
                        "Operation activity '{activity}' was not found for environment {env}. \
                         For a refresh pass the target environment, for an export the source"
                    ),
                )
            })
    }

    /// An F&O environment read with the tenant's operations (busy, status, history).
    pub(crate) fn fo<'a>(&'a self, e: &'a FoEnvironment) -> FoView<'a, Work> {
        e.with(self.ops())
    }

    pub(super) fn check_idle(&self, e: &FoEnvironment) -> Result<(), SimError> {
        match self.fo(e).running() {
            Some(h) => Err(SimError::new(
                ErrorCode::EnvironmentBusy,
                format!(
                    "{} is undergoing another operation ({}, activity {}); wait for it to finish",
                    e.name,
                    h.kind.display(),
                    h.activity
                ),
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn check_ready(&self, e: &FoEnvironment) -> Result<(), SimError> {
        self.check_idle(e)?;
        if e.state != EnvironmentState::Deployed {
            return Err(Self::not_ready(e));
        }
        Ok(())
    }

    pub(super) fn not_ready(e: &FoEnvironment) -> SimError {
        SimError::new(
            ErrorCode::EnvironmentNotReady,
            format!(
                "{} is {}; this needs a deployed, running environment",
                e.name,
                e.state.as_str().to_ascii_lowercase()
            ),
        )
    }

    /// The documented budget: 3 database operations per environment per 24 hours (portal
    /// operations count; only the API is refused).
    pub(super) fn check_budget(
        e: &FoEnvironment,
        via: Via,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let since = clock::saturating_add(now, SignedDuration::from_hours(-24));
        if via == Via::Api
            && e.database_operations_since(since).len() >= DATABASE_OPERATIONS_PER_DAY
        {
            return Err(SimError::new(
                ErrorCode::DatabaseOperationLimit,
                format!(
                    "Maximum allowed API operations are {DATABASE_OPERATIONS_PER_DAY} from {}",
                    lcs_ticks(since)
                ),
            ));
        }
        Ok(())
    }

    /// Starts an LCS operation on an environment and records it in the history.
    pub(super) fn begin(
        &mut self,
        project: ProjectId,
        env: EnvironmentId,
        action: Action,
        name: String,
        via: Via,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let kind = action.kind();
        let stages = action.stages();
        let source = match &action {
            Action::Refresh { data } => match data.origin {
                DataOrigin::Refresh { source, .. } => Some(source),
                _ => None,
            },
            _ => None,
        };
        let work = Work {
            kind: action.engine_kind().to_string(),
            portal: Portal::Lcs,
            target: Target {
                kind: "lcsEnvironment".to_string(),
                id: env.to_string(),
            },
            effect: Effect::Lcs(LcsEffect {
                project,
                env,
                action,
            }),
        };
        let id = self.start_operation(work, &stages, None, now)?;
        let e = self.state.lcs.project_mut(project)?.environment_mut(env)?;
        e.history.push(HistoryEntry {
            activity: id,
            name,
            kind,
            started: now,
            via_api: via == Via::Api,
            source,
        });
        Ok(id)
    }
}
