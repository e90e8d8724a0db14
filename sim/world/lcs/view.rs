//! F&O environments read with their operations: whether one is busy, what the portal shows as
//! its status, and each history entry's status, end and error are derived from the operation
//! engine's records at read time, never copied into the environment.

use super::model::{
    EnvironmentState, FoEnvironment, HistoryEntry, HistoryKind, Infrastructure, OpStatus,
};
use crate::ops::{Operation, OperationId, Ops, RunState};
use jiff::Timestamp;

impl FoEnvironment {
    /// The environment read with the tenant's operations, which say whether it is busy and how
    /// its history stands.
    pub fn with<'a, P>(&'a self, ops: &'a Ops<P>) -> FoView<'a, P> {
        FoView { env: self, ops }
    }
}

/// A history entry read with its operation: status, end and error as the operation stands now.
/// An entry whose operation is gone (a hand-written snapshot) reads as completed.
#[derive(Debug, Clone, Copy)]
pub struct Activity<'a, P> {
    /// The entry.
    pub entry: &'a HistoryEntry,
    op: Option<&'a Operation<P>>,
}

impl<P> Activity<'_, P> {
    /// `Status`: queued in the first stage, preparing in a package's second, then in progress
    /// until the operation ends.
    pub fn status(&self) -> OpStatus {
        let Some(op) = self.op else {
            return OpStatus::Completed;
        };
        match (op.state(), op.current_stage()) {
            (RunState::Succeeded, _) => OpStatus::Completed,
            (RunState::Failed, _) => OpStatus::Failed,
            (_, None | Some(0)) => OpStatus::NotStarted,
            (_, Some(1)) if self.entry.kind == HistoryKind::Package => {
                OpStatus::PreparingEnvironment
            }
            _ => OpStatus::InProgress,
        }
    }

    /// When it ended (its latest attempt), once it has.
    pub fn ended(&self) -> Option<Timestamp> {
        self.op.and_then(Operation::finished_at)
    }

    /// Why it failed, while failed.
    pub fn error(&self) -> Option<&str> {
        self.op
            .filter(|op| op.state() == RunState::Failed)
            .and_then(Operation::error)
            .map(|e| e.message.as_str())
    }
}

/// An F&O environment with the operations that act on it: busy, status and history are derived
/// from them at read time. Derefs to the environment.
#[derive(Debug)]
pub struct FoView<'a, P> {
    env: &'a FoEnvironment,
    ops: &'a Ops<P>,
}

impl<P> Clone for FoView<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for FoView<'_, P> {}

impl<'a, P> FoView<'a, P> {
    /// The environment, for as long as the view's borrow of the tenant.
    pub fn env(&self) -> &'a FoEnvironment {
        self.env
    }
}

impl<P> std::ops::Deref for FoView<'_, P> {
    type Target = FoEnvironment;

    fn deref(&self) -> &FoEnvironment {
        self.env
    }
}

impl<'a, P> FoView<'a, P> {
    fn activity(&self, entry: &'a HistoryEntry) -> Activity<'a, P> {
        Activity {
            entry,
            op: self.ops.get(entry.activity),
        }
    }

    /// The activity running now, if any: only the latest can be (a new one needs the
    /// environment idle).
    pub fn running(&self) -> Option<&'a HistoryEntry> {
        self.env.history.last().filter(|h| {
            self.activity(h)
                .op
                .is_some_and(|op| op.state() == RunState::Running)
        })
    }

    /// Whether an operation is running on the environment.
    pub fn is_busy(&self) -> bool {
        self.running().is_some()
    }

    /// The history, newest first.
    pub fn history(&self) -> impl Iterator<Item = Activity<'a, P>> + '_ {
        self.env.history.iter().rev().map(|h| self.activity(h))
    }

    /// The history entry of an activity.
    pub fn entry(&self, activity: OperationId) -> Option<Activity<'a, P>> {
        self.env
            .history
            .iter()
            .rev()
            .find(|h| h.activity == activity)
            .map(|h| self.activity(h))
    }

    /// `DeploymentStatusDisplay`: what the portal shows as the environment's status.
    pub fn status_display(&self) -> &'static str {
        match self.running().map(|h| h.kind) {
            Some(HistoryKind::Deploy) => "Deploying",
            Some(HistoryKind::Start) => "Starting",
            Some(HistoryKind::Stop) => "Stopping",
            Some(HistoryKind::Deallocate) => "Deallocating",
            Some(HistoryKind::Delete) => "Deleting",
            Some(_) => "Servicing",
            None => self.env.state.as_str(),
        }
    }

    /// `DeploymentState`: the state of the most recent operation.
    pub fn deployment_state(&self) -> &'static str {
        if self.is_busy() {
            return "InProgress";
        }
        match self.env.state {
            EnvironmentState::Stopped | EnvironmentState::Deallocated => "Stopped",
            EnvironmentState::Failed => "Failed",
            _ => match self.env.history.last().map(|h| self.activity(h).status()) {
                Some(OpStatus::Failed) => "Failed",
                _ => "Finished",
            },
        }
    }

    /// Whether the API would start it now.
    pub fn can_start(&self) -> bool {
        self.env.infrastructure == Infrastructure::CustomerManaged
            && !self.is_busy()
            && matches!(
                self.env.state,
                EnvironmentState::Stopped | EnvironmentState::Deallocated
            )
    }

    /// Whether the API would stop it now.
    pub fn can_stop(&self) -> bool {
        self.env.infrastructure == Infrastructure::CustomerManaged
            && !self.is_busy()
            && self.env.state == EnvironmentState::Deployed
    }
}
