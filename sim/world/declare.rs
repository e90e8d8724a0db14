//! Applying what a scenario declares beyond a tenant's spec: its extras (Dataverse environments,
//! links, duration overrides, planned failures) at build time, and its timeline's events as the
//! tenant's clock passes them. The declarations themselves are data in `setup.rs`.

use super::setup::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::{OperationId, RunState};
use crate::world::identity::ObjectId;
use crate::world::integration::SetupRequest;
use crate::world::lcs::{EnvironmentId, ProjectId};
use crate::world::ppac::{NewEnvironment, PpEnvId};
use crate::world::tenant::{CapacityPatch, DurationOverride, Tenant, TenantState, operation_kinds};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

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
        let actor = crate::world::ppac::Actor::of(&self.state, Some(self.load_admin()?), None)?;
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
        let (_, op) = self
            .ppac_mut(&actor)
            .create(spec, now)
            .map_err(|e| e.respelled(scenario_field))?;
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
            for e in p.environments() {
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
            .environments()
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
            let actor = crate::world::ppac::Actor::of(&self.state, Some(self.load_admin()?), None)?;
            let op = self
                .ppac_mut(&actor)
                .modify_sku(&dv, sku, now)
                .map_err(|e| e.at("convertedTo"))?;
            self.finish_at_load(op, now)
                .map_err(|e| e.at("convertedTo"))?;
        }
        Ok(())
    }
}

/// How a scenario's `powerPlatformEnvironments` entry spells a field the domain names neutrally.
fn scenario_field(field: &str) -> String {
    match field {
        "displayName" => "name".to_string(),
        "environmentSku" => "type".to_string(),
        "domainName" => "dataverse.domain".to_string(),
        "baseLanguage" => "dataverse.language".to_string(),
        "currency" => "dataverse.currency".to_string(),
        other => other.to_string(),
    }
}
