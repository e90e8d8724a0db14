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

use super::identity::{License, ObjectId, Role, Upn};
use super::lcs::{EnvironmentId, ProjectId};
use super::link::SetupRequest;
use super::ppac::{NewDataverse, NewEnvironment, PpEnvId, Sku};
use super::tenant::{
    CapacityPatch, DurationOverride, Governance, Tenant, TenantState, operation_kinds,
};
use crate::error::{ErrorCode, SimError};
use crate::faults::OperationFault;
use crate::ops::{OperationId, RunState};
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
    events: Vec<TimelineEvent>,
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
    fn fired(&self) -> usize {
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

impl TenantState {
    /// Fires the next pending event (due at `at`); a failure is recorded on the event.
    pub(crate) fn fire_next_event(&mut self, at: Timestamp) {
        let i = self.timeline.fired();
        if i >= self.timeline.events.len() {
            return;
        }
        let action = self.timeline.events[i].action.clone();
        let outcome = self.apply_timeline(&action);
        let event = &mut self.timeline.events[i];
        event.fired_at = Some(at);
        event.error = outcome.err().map(|e| e.message);
    }

    fn apply_timeline(&mut self, action: &TimelineAction) -> Result<(), SimError> {
        match action {
            TimelineAction::Capacity(c) => {
                let patch = CapacityPatch {
                    database_mb: c.database_mb,
                    file_mb: c.file_mb,
                    log_mb: c.log_mb,
                };
                patch.validate()?;
                patch.apply(&mut self.capacity);
            }
            TimelineAction::CapacityChange(d) => {
                let shift = |v: u64, by: i64| v.saturating_add_signed(by);
                self.capacity.database_mb = shift(self.capacity.database_mb, d.database_mb);
                self.capacity.file_mb = shift(self.capacity.file_mb, d.file_mb);
                self.capacity.log_mb = shift(self.capacity.log_mb, d.log_mb);
            }
            TimelineAction::User(change) => {
                let i = self
                    .users
                    .iter()
                    .position(|u| u.upn == change.upn)
                    .ok_or_else(|| self.no_user(change.upn.as_str()))?;
                let user = &mut self.users[i];
                user.licenses
                    .retain(|l| !change.remove_licenses.contains(l));
                for l in &change.add_licenses {
                    if !user.licenses.contains(l) {
                        user.licenses.push(l.clone());
                    }
                }
                user.roles.retain(|r| !change.remove_roles.contains(r));
                for r in &change.add_roles {
                    if !user.roles.contains(r) {
                        user.roles.push(*r);
                    }
                }
            }
            TimelineAction::Governance(g) => self.governance = *g,
            TimelineAction::OperationFault(rule) => {
                self.operation_faults
                    .add(rule.clone(), &operation_kinds().collect::<Vec<_>>())?;
            }
        }
        Ok(())
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

impl Tenant {
    /// Applies a scenario's extras at `now` (the tenant's now). On error the tenant is left
    /// half-built; callers build a fresh tenant and drop it on failure.
    pub fn apply_extras(&mut self, extras: &TenantExtras, now: Timestamp) -> Result<(), SimError> {
        let instant = DurationOverride {
            min: SignedDuration::ZERO,
            max: SignedDuration::ZERO,
        };
        self.state.durations = operation_kinds()
            .map(|k| (k.to_string(), instant))
            .collect();
        for (i, env) in extras.ppac.iter().enumerate() {
            self.declare_ppac(env, now)
                .map_err(|e| e.within(format!("powerPlatformEnvironments[{i}]")))?;
        }
        for (i, link) in extras.links.iter().enumerate() {
            self.declare_link(link, now)
                .map_err(|e| e.within(format!("links[{i}]")))?;
        }
        self.state.durations = BTreeMap::new();
        for (kind, d) in &extras.durations {
            self.set_duration(kind, Some(*d))
                .map_err(|e| e.at(format!("durations.{kind}")))?;
        }
        for (i, rule) in extras.operation_faults.iter().enumerate() {
            self.add_operation_fault(rule.clone())
                .map_err(|e| e.within(format!("faults[{i}]")))?;
        }
        for spec in &extras.timeline {
            let at = crate::clock::add(now, spec.at)?;
            self.state.timeline.schedule(TimelineEvent {
                at,
                note: spec.note.clone(),
                action: spec.action.clone(),
                fired_at: None,
                error: None,
            });
        }
        Ok(())
    }

    /// The first admin of the tenant (Global, Dynamics 365 or Power Platform admin), else the
    /// first user.
    fn load_admin(&self) -> Result<ObjectId, SimError> {
        let users = &self.state.users;
        users
            .iter()
            .find(|u| !u.roles.is_empty())
            .or_else(|| users.first())
            .map(|u| u.object_id)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidScenario,
                    "the tenant has no users; declare at least one admin to create environments",
                )
                .at("users")
            })
    }

    fn declare_ppac(&mut self, env: &PpacEnvironmentSpec, now: Timestamp) -> Result<(), SimError> {
        let actor = self.ppac_actor(Some(self.load_admin()?), None)?;
        let spec = NewEnvironment {
            display_name: env.name.clone(),
            description: env.description.clone(),
            sku: Some(env.sku),
            location: env.location.clone(),
            azure_region: None,
            cadence: None,
            used_by: false,
            managed: false,
            dataverse: env.dataverse.clone(),
        };
        let (_, op) = self.ppac_create(&actor, spec, now)?;
        self.finish_at_load(op, now)
    }

    /// Runs an operation started at load to its end (it has zero duration) and reports a failure.
    fn finish_at_load(&mut self, op: OperationId, now: Timestamp) -> Result<(), SimError> {
        self.settle_at(now);
        let op = self.operation(op)?;
        match (op.state(), op.error()) {
            (RunState::Succeeded, _) => Ok(()),
            (_, Some(e)) => Err(SimError::new(
                ErrorCode::InvalidScenario,
                format!(
                    "{} failed at load: {} ({})",
                    op.payload.kind, e.message, e.code
                ),
            )),
            _ => Err(SimError::internal(format!(
                "{} did not finish at load",
                op.payload.kind
            ))),
        }
    }

    fn find_fo(&self, r: &EnvRef) -> Result<(ProjectId, EnvironmentId, ObjectId), SimError> {
        let wanted = r.0.trim();
        for p in &self.state.lcs.projects {
            for e in &p.environments {
                if e.name.eq_ignore_ascii_case(wanted) || e.id.to_string() == wanted {
                    let manager = p
                        .members
                        .iter()
                        .find(|m| m.role.may_manage())
                        .map(|m| m.user)
                        .ok_or_else(|| {
                            SimError::new(
                                ErrorCode::InvalidScenario,
                                format!(
                                    "project {} has no owner or environment manager to set up \
                                     the integration of {}",
                                    p.id, e.name
                                ),
                            )
                        })?;
                    return Ok((p.id, e.id, manager));
                }
            }
        }
        Err(SimError::new(
            ErrorCode::InvalidScenario,
            format!(
                "no finance and operations environment named '{wanted}'; name one declared under \
                 projects[].environments (by name or id)"
            ),
        )
        .at("finOpsEnvironment"))
    }

    fn find_ppac(&self, r: &EnvRef) -> Result<PpEnvId, SimError> {
        let wanted = r.0.trim();
        self.state
            .ppac
            .environments
            .iter()
            .find(|e| {
                e.live() && (e.display_name.eq_ignore_ascii_case(wanted) || e.id.as_str() == wanted)
            })
            .map(|e| e.id.clone())
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidScenario,
                    format!(
                        "no Power Platform environment named '{wanted}'; declare it under \
                         powerPlatformEnvironments first"
                    ),
                )
                .at("dataverseEnvironment")
            })
    }

    fn declare_link(&mut self, link: &LinkSpec, now: Timestamp) -> Result<(), SimError> {
        let (project, env, manager) = self.find_fo(&link.finops)?;
        let existing = link
            .existing
            .as_ref()
            .map(|r| self.find_ppac(r))
            .transpose()?;
        let request = SetupRequest {
            accept_terms: true,
            existing,
        };
        let op = self.setup_integration(project, manager, env, request, now)?;
        self.finish_at_load(op, now)?;
        for (i, (name, settings)) in link.addins.iter().enumerate() {
            let op = self
                .install_addin(project, manager, env, name, settings.clone(), now)
                .map_err(|e| e.within(format!("addins[{i}]")))?;
            self.finish_at_load(op, now)
                .map_err(|e| e.at(format!("addins[{i}]")))?;
        }
        if link.dual_write {
            let op = self.enable_dual_write(project, manager, env, now)?;
            self.finish_at_load(op, now)
                .map_err(|e| e.at("dualWrite"))?;
        }
        if let Some(sku) = link.converted_to {
            let fo = self.state.lcs.project(project)?.environment(env)?;
            let dv = self
                .linked_dataverse(fo)
                .map(|e| e.id.clone())
                .ok_or_else(|| SimError::internal("a completed setup has no Dataverse half"))?;
            let actor = self.ppac_actor(Some(self.load_admin()?), None)?;
            let op = self
                .ppac_modify_sku(&actor, &dv, sku, now)
                .map_err(|e| e.at("convertedTo"))?;
            self.finish_at_load(op, now)
                .map_err(|e| e.at("convertedTo"))?;
        }
        Ok(())
    }
}
