//! Who sees which Dataverse environment, and the checks every PPAC command starts with.

use super::handle::{Pp, PpMut};
use super::*;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::{Operation, OperationId};
use crate::world::identity::{ObjectId, Role, random_uuid};
use crate::world::operations::{Effect, Portal, Target, Work};
use crate::world::ppac::capacity::{free_database_mb, free_domain};
use crate::world::tenant::{Tenant, TenantState};
use jiff::Timestamp;
use uuid::Uuid;

impl Tenant {
    /// Creates the tenant's default environment while the tenant is built.
    pub(crate) fn build_ppac(state: &mut TenantState, now: Timestamp) {
        let system = Actor {
            id: ObjectId(Uuid::nil()),
            display_name: "SYSTEM".into(),
            upn: None,
            admin: true,
        };
        let domain = format!("org{}", &state.id.0.simple().to_string()[..8]);
        let org_id = random_uuid(&mut state.rng);
        let unique_name = format!("unq{}", random_uuid(&mut state.rng).simple());
        let dataverse = Dataverse::fresh(org_id, unique_name, domain, now);
        state.ppac.insert(PpEnvironment {
            id: PpEnvId::default_for(state.id.0),
            display_name: format!("{} (default)", state.display_name),
            description: String::new(),
            sku: Sku::Default,
            location: "unitedstates".into(),
            azure_region: "eastus".into(),
            created_at: now,
            created_by: system.clone(),
            modified_at: now,
            modified_by: system,
            provisioning: ProvisioningState::Succeeded,
            admin_mode: false,
            managed: false,
            cadence: "Moderate".into(),
            dataverse: Some(dataverse),
            linked_app: None,
            backups: Vec::new(),
            packages: Vec::new(),
            operations: Vec::new(),
            deleted_at: None,
        });
        state.ppac.settings = default_settings();
    }
}

impl Actor {
    /// The actor behind a user or service principal of this tenant.
    pub fn of(
        state: &TenantState,
        user: Option<ObjectId>,
        app: Option<ObjectId>,
    ) -> Result<Actor, SimError> {
        if let Some(id) = user {
            let u = state.user_by_id(id).ok_or_else(|| {
                SimError::new(
                    ErrorCode::UserNotFound,
                    format!("user {id} no longer exists"),
                )
            })?;
            return Ok(Actor {
                id,
                display_name: u.display_name.clone(),
                upn: Some(u.upn.to_string()),
                admin: Role::ALL.iter().any(|r| u.has_role(*r)),
            });
        }
        let id =
            app.ok_or_else(|| SimError::internal("an actor needs a user or an application"))?;
        let a = state.application_by_id(id).ok_or_else(|| {
            SimError::new(
                ErrorCode::ApplicationNotFound,
                format!("application {id} no longer exists"),
            )
        })?;
        Ok(Actor {
            id,
            display_name: a.display_name.clone(),
            upn: None,
            admin: true,
        })
    }
}

impl<'a> Pp<'a> {
    pub(crate) fn may_see(actor: &Actor, env: &PpEnvironment) -> bool {
        actor.admin || env.is_default() || env.created_by.id == actor.id
    }

    /// Live environments the actor may see, in creation order.
    pub fn environments(self) -> impl Iterator<Item = &'a PpEnvironment> {
        self.environments_from(0).map(|(_, e)| e)
    }

    /// As [`Pp::environments`], from position `from` of the creation order on (O(1) to start
    /// there), each with its position: the next page of a listing starts at the position after
    /// the last one shown.
    pub fn environments_from(
        self,
        from: usize,
    ) -> impl Iterator<Item = (usize, &'a PpEnvironment)> {
        let actor = self.actor;
        let all = self.tenant.state.ppac.environments();
        all.get(from..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(move |(i, e)| (from + i, e))
            .filter(move |(_, e)| e.live() && Self::may_see(actor, e))
    }

    pub(super) fn not_found(self, id: &str) -> SimError {
        SimError::new(
            ErrorCode::EnvironmentNotFound,
            format!(
                "The environment '{id}' could not be found in the tenant '{}'.",
                self.tenant.state.id
            ),
        )
    }

    /// A live environment the actor may see; 404 otherwise.
    pub fn environment(self, id: &PpEnvId) -> Result<&'a PpEnvironment, SimError> {
        self.seen(id).ok_or_else(|| self.not_found(id.as_str()))
    }

    /// The environment `id`, if it is live and the actor may see it.
    fn seen(self, id: &PpEnvId) -> Option<&'a PpEnvironment> {
        let actor = self.actor;
        self.tenant
            .state
            .ppac
            .get(id)
            .filter(|e| e.live() && Self::may_see(actor, e))
    }

    /// Environments deleted within the recovery window.
    pub fn deleted(self, now: Timestamp) -> impl Iterator<Item = &'a PpEnvironment> {
        let actor = self.actor;
        self.tenant.state.ppac.environments.iter().filter(move |e| {
            Self::may_see(actor, e)
                && e.deleted_at
                    .is_some_and(|d| clock::saturating_add(d, RECOVERY_WINDOW) > now)
        })
    }

    pub(super) fn require_capacity(self, what: &str) -> Result<(), SimError> {
        let free = free_database_mb(&self.tenant.state);
        if free < REQUIRED_FREE_MB {
            return Err(SimError::new(
                ErrorCode::InsufficientCapacity,
                format!(
                    "This environment can't be {what} because your org (tenant) needs at least 1 \
                     GB of database capacity. Free database capacity is {:.0} MB of {} MB; free \
                     some by deleting environments, or add capacity.",
                    free.max(0.0),
                    self.tenant.state.capacity.database_mb
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn check_idle(self, env: &PpEnvironment) -> Result<(), SimError> {
        if env.busy(self.tenant.ops()).is_some() || env.provisioning != ProvisioningState::Succeeded
        {
            return Err(SimError::new(
                ErrorCode::OperationNotStartable,
                format!(
                    "This operation cannot be performed because there is an active lifecycle \
                     operation on the environment {}. Retry when it has finished.",
                    env.id
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn check_allowed(self, env: &PpEnvironment, op: OpType) -> Result<(), SimError> {
        self.check_idle(env)?;
        match refusal(env, op) {
            Some(r) => Err(r.error()),
            None => Ok(()),
        }
    }

    /// A lifecycle operation and its engine record; 404 when it or its environment is gone.
    pub fn operation(
        self,
        id: OperationId,
    ) -> Result<(LifecycleOp<'a>, &'a Operation<Work>), SimError> {
        let gone = || {
            SimError::new(
                ErrorCode::OperationNotFound,
                format!(
                    "The lifecycle operation '{id}' could not be found (or its environment no longer exists)."
                ),
            )
        };
        let op = self.tenant.operation(id).map_err(|_| gone())?;
        let lo = lifecycle_of(op).ok_or_else(gone)?;
        if self.seen(lo.env).is_none() {
            return Err(gone());
        }
        Ok((lo, op))
    }

    /// Lifecycle operations of an environment, newest first.
    pub fn operations_of(
        self,
        env: &PpEnvId,
    ) -> Result<Vec<(LifecycleOp<'a>, &'a Operation<Work>)>, SimError> {
        let e = self.environment(env)?;
        Ok(e.operations
            .iter()
            .rev()
            .filter_map(|id| self.tenant.operation(*id).ok())
            .filter_map(|op| lifecycle_of(op).map(|lo| (lo, op)))
            .collect())
    }

    /// Lifecycle operations of every environment the actor may see, newest first.
    pub fn all_operations(self) -> impl Iterator<Item = (LifecycleOp<'a>, &'a Operation<Work>)> {
        self.tenant.operations().rev().filter_map(move |op| {
            let lo = lifecycle_of(op)?;
            self.seen(lo.env).map(|_| (lo, op))
        })
    }
}

impl PpMut<'_> {
    pub(super) fn env_mut(&mut self, id: &PpEnvId) -> Result<EnvMut<'_>, SimError> {
        let err = self.read().not_found(id.as_str());
        self.state.ppac.get_mut(id).ok_or(err)
    }

    pub(super) fn new_dataverse(
        &mut self,
        spec: &NewDataverse,
        display_name: &str,
        sku: Sku,
        except: Option<&PpEnvId>,
        now: Timestamp,
    ) -> Result<(Dataverse, bool), SimError> {
        let domain = match &spec.domain {
            Some(d) if !d.trim().is_empty() => {
                super::capacity::check_domain(&self.state, d, except, now)?
            }
            _ => free_domain(&self.state, display_name, now),
        };
        let language = spec.language.unwrap_or(1033);
        if !LANGUAGES.iter().any(|(l, _)| *l == language) {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "The language {language} is not available; list the languages with GET \
                     /providers/Microsoft.BusinessAppPlatform/locations/{{location}}/environmentLanguages"
                ),
            )
            .at("baseLanguage"));
        }
        let currency = spec
            .currency
            .clone()
            .unwrap_or_else(|| "USD".into())
            .to_ascii_uppercase();
        if !CURRENCIES.iter().any(|(c, _, _)| *c == currency) {
            return Err(SimError::new(
                ErrorCode::InvalidEnvironmentRequest,
                format!(
                    "The currency '{currency}' is not available; list the currencies with GET \
                     /providers/Microsoft.BusinessAppPlatform/locations/{{location}}/environmentCurrencies"
                ),
            )
            .at("currency"));
        }
        let mut fin_ops = false;
        let mut templates = Vec::new();
        for name in &spec.templates {
            let t = template(name).ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!(
                        "The template '{name}' does not exist; list the templates with GET \
                         /providers/Microsoft.BusinessAppPlatform/locations/{{location}}/templates"
                    ),
                )
                .at("templates")
            })?;
            if !super::tenancy::entitled(&self.state, t) {
                return Err(SimError::new(
                    ErrorCode::DynamicsEntitlementMissing,
                    format!(
                        "You do not have the required Dynamics 365 licenses to create databases \
                         with the '{}' Dynamics app. Assign one of: {}.",
                        t.display_name,
                        t.licenses.join(", ")
                    ),
                ));
            }
            if !t.skus.contains(&sku) {
                return Err(SimError::new(
                    ErrorCode::InvalidEnvironmentRequest,
                    format!(
                        "The template '{}' cannot be used for a {} environment.",
                        t.name,
                        sku.as_str()
                    ),
                )
                .at("templates"));
            }
            fin_ops |= t.fin_ops;
            templates.push(t.name.to_string());
        }
        let org_id = random_uuid(&mut self.state.rng);
        Ok((
            Dataverse {
                base_language: language,
                currency,
                database_mb: NEW_DATABASE_MB + 512.0 * templates.len() as f64,
                templates,
                security_group: spec.security_group,
                ..Dataverse::fresh(org_id, format!("unq{}", org_id.simple()), domain, now)
            },
            fin_ops,
        ))
    }

    pub(super) fn start(
        &mut self,
        env: &PpEnvId,
        action: Action,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let actor = self.actor;
        let op_type = action.op_type();
        let (kind, portal, target) = match &action {
            Action::Install {
                origin: Some(o), ..
            } => (
                o.kind.clone(),
                Portal::Lcs,
                Target {
                    kind: "lcsEnvironment".into(),
                    id: o.env.to_string(),
                },
            ),
            other => (
                match other {
                    Action::Install { .. } => INSTALL_KIND,
                    _ => op_type.engine_kind(),
                }
                .to_string(),
                Portal::Ppac,
                Target {
                    kind: "dataverseEnvironment".into(),
                    id: env.to_string(),
                },
            ),
        };
        let stages = stages_for(&action);
        let work = Work {
            kind,
            portal,
            target,
            effect: Effect::Ppac(PpacEffect {
                env: env.clone(),
                action: action.clone(),
                requested_by: actor.clone(),
            }),
        };
        let id = self.start_operation(work, &stages, None, now)?;
        let is_install = matches!(action, Action::Install { .. });
        let mut e = self.env_mut(env)?;
        e.modified_at = now;
        e.modified_by = actor.clone();
        if !is_install {
            e.operations.push(id);
        }
        Ok(id)
    }
}

/// The lifecycle operation `op` is, if it is one.
fn lifecycle_of(op: &Operation<Work>) -> Option<LifecycleOp<'_>> {
    match &op.payload.effect {
        Effect::Ppac(effect) => effect.lifecycle(op.id()),
        _ => None,
    }
}
