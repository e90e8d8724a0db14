//! A tenant as a scenario describes it: the [`TenantSpec`] (directory, capacity, governance, LCS
//! projects) plus what only the portals' own operations produce: Power Platform environments,
//! existing Power Platform integrations with their add-ins, dual-write and later conversions,
//! duration overrides, planned failures, and a timeline of scripted events.
//!
//! Everything beyond the spec is made by the same operations a client would run, started by the
//! tenant's admins at load time with zero duration, so a declared link is indistinguishable from
//! one a client set up (its history shows a setup that started and ended at load). A prerequisite
//! that fails (no licence, no capacity) fails the load with the operation's own message.
//!
//! The timeline lives in the tenant and fires as the tenant's clock passes each event, in order
//! with the operations' stage ends (an operation stage ending at the same instant applies first).

use super::identity::{License, Role, Upn};
use super::ppac::{NewDataverse, Sku};
use super::tenant::{DurationOverride, Governance};
use crate::world::faults::OperationFault;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Power Platform environment that exists when the scenario loads.
#[derive(Debug, Clone, PartialEq)]
pub struct PpacEnvironmentSpec {
    /// Display name, unique among the tenant's environments.
    pub name: String,
    /// Type (Production, Sandbox, Trial, Developer).
    pub sku: Sku,
    /// Geography, e.g. `unitedstates`.
    pub location: String,
    /// Description.
    pub description: String,
    /// The Dataverse database, if it has one.
    pub dataverse: Option<NewDataverse>,
}

/// An environment named by display name or id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvRef(pub String);

/// A Power Platform integration that exists when the scenario loads.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSpec {
    /// The F&O environment (name or id in any project).
    pub finops: EnvRef,
    /// Link this existing Power Platform environment (name or id) instead of a new one.
    pub existing: Option<EnvRef>,
    /// Add-ins installed since, with their settings.
    pub addins: Vec<(String, Vec<(String, String)>)>,
    /// The dual-write application is enabled.
    pub dual_write: bool,
    /// The Dataverse half was converted to this type in PPAC afterwards.
    pub converted_to: Option<Sku>,
}

/// What a timeline event does to the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TimelineAction {
    /// New capacity totals (MB); unset figures stay.
    Capacity(CapacityFigures),
    /// Capacity gained (positive) or lost (negative), in MB.
    CapacityChange(CapacityDelta),
    /// Licenses and roles of a user gained or lost.
    User(UserChange),
    /// New governance settings.
    Governance(Governance),
    /// Plans a failure of the next matching operation(s) from this moment.
    OperationFault(OperationFault),
}

/// Capacity totals in MB, as a timeline event sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityFigures {
    /// Database total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_mb: Option<u64>,
    /// File total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mb: Option<u64>,
    /// Log total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_mb: Option<u64>,
}

/// Capacity changes in MB (negative: lost); totals never fall below zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityDelta {
    /// Database change.
    #[serde(default)]
    pub database_mb: i64,
    /// File change.
    #[serde(default)]
    pub file_mb: i64,
    /// Log change.
    #[serde(default)]
    pub log_mb: i64,
}

/// Licenses and roles a user gains or loses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserChange {
    /// The user.
    pub upn: Upn,
    /// Licenses added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_licenses: Vec<License>,
    /// Licenses removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_licenses: Vec<License>,
    /// Roles added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_roles: Vec<Role>,
    /// Roles removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_roles: Vec<Role>,
}

/// A scripted event at an offset from the moment the scenario loads.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineSpec {
    /// Offset from load.
    pub at: SignedDuration,
    /// What it is, for people reading the timeline.
    pub note: Option<String>,
    /// What it does.
    pub action: TimelineAction,
}

/// A scheduled event in a tenant's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEvent {
    /// When it fires (the tenant's virtual time).
    pub at: Timestamp,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What it does.
    pub action: TimelineAction,
    /// When it fired; `None` while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<Timestamp>,
    /// Why it could not apply, if it could not (e.g. the user was removed meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A tenant's timeline: events in firing order, fired ones kept for inspection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timeline {
    pub(crate) events: Vec<TimelineEvent>,
}

impl Timeline {
    /// Adds an event, keeping firing order (events at the same instant fire in the order added).
    pub fn schedule(&mut self, event: TimelineEvent) {
        let at = self.events.partition_point(|e| e.at <= event.at);
        self.events.insert(at, event);
    }

    /// When the next pending event is due, if by `now`.
    pub fn next_due(&self, now: Timestamp) -> Option<Timestamp> {
        self.events
            .get(self.fired())
            .map(|e| e.at)
            .filter(|at| *at <= now)
    }

    /// How many events have fired: they fire in order, so they are a prefix.
    pub(crate) fn fired(&self) -> usize {
        self.events.partition_point(|e| e.fired_at.is_some())
    }

    /// Every event, in firing order.
    pub fn events(&self) -> &[TimelineEvent] {
        &self.events
    }

    /// Drops every event (fired or not).
    pub fn clear(&mut self) {
        self.events.clear();
    }
}

/// Everything a scenario says about one tenant beyond its [`TenantSpec`](super::tenant::TenantSpec).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantExtras {
    /// Power Platform environments.
    pub ppac: Vec<PpacEnvironmentSpec>,
    /// Existing Power Platform integrations.
    pub links: Vec<LinkSpec>,
    /// Total-duration overrides by operation kind.
    pub durations: BTreeMap<String, DurationOverride>,
    /// Planned failures.
    pub operation_faults: Vec<OperationFault>,
    /// Scripted events.
    pub timeline: Vec<TimelineSpec>,
}

impl TenantExtras {
    /// Whether there is nothing beyond the spec.
    pub fn is_empty(&self) -> bool {
        *self == TenantExtras::default()
    }
}
