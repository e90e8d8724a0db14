//! Copies, backups, restores and resets of Dataverse environments.

use super::*;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::identity::random_uuid;
use crate::world::tenant::Tenant;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

impl Tenant {
    pub(super) fn ppac_copy_source(
        &self,
        actor: &Actor,
        source: &PpEnvId,
        target: &PpEnvId,
    ) -> Result<(&PpEnvironment, &PpEnvironment), SimError> {
        let s = self.ppac_environment(actor, source)?;
        let t = self.ppac_environment(actor, target)?;
        if s.id == t.id {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                "The source and target environments are the same.",
            )
            .at("sourceEnvironmentId"));
        }
        if matches!(s.sku, Sku::Default | Sku::Trial) {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "Environment {} is of type {}, which cannot be copied or restored from.",
                    s.display_name,
                    s.sku.as_str()
                ),
            )
            .at("sourceEnvironmentId"));
        }
        if s.dataverse.is_none() {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "Environment {} has no Dataverse database to copy.",
                    s.display_name
                ),
            )
            .at("sourceEnvironmentId"));
        }
        if s.location != t.location {
            return Err(SimError::new(
                ErrorCode::LifecycleOperationNotAllowed,
                format!(
                    "Copy and restore work within one region: {} is in {}, {} is in {}.",
                    s.display_name, s.location, t.display_name, t.location
                ),
            ));
        }
        Ok((s, t))
    }

    /// Copies `req.source` over `target` (a sandbox).
    pub fn ppac_copy(
        &mut self,
        actor: &Actor,
        target: &PpEnvId,
        req: CopyRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (s, t) = self.ppac_copy_source(actor, &req.source, target)?;
        self.ppac_check_allowed(t, OpType::Copy)?;
        self.ppac_require_capacity("copied")?;
        let (Some(src), Some(dst)) = (&s.dataverse, &t.dataverse) else {
            return Err(SimError::internal(
                "copy between environments without Dataverse",
            ));
        };
        let mut data = src.clone();
        data.org_id = dst.org_id;
        data.unique_name = dst.unique_name.clone();
        data.domain = dst.domain.clone();
        data.security_group = req.security_group.or(dst.security_group);
        data.content = Content::CopyOf {
            source: s.id.clone(),
            at: now,
        };
        if !req.full {
            data.database_mb = NEW_DATABASE_MB.min(src.database_mb);
        }
        self.ppac_start(
            target,
            Action::Copy {
                data: Box::new(data),
                name: req.name,
            },
            actor,
            now,
        )
    }

    /// Takes a manual backup (immediate; does not consume capacity).
    pub fn ppac_backup(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        label: Option<String>,
        notes: Option<String>,
        now: Timestamp,
    ) -> Result<Backup, SimError> {
        let env = self.ppac_environment(actor, id)?;
        if let Some(r) = refusal(env, OpType::Backup) {
            return Err(r.error());
        }
        let Some(data) = env.dataverse.clone() else {
            return Err(SimError::internal("backup without Dataverse"));
        };
        let expires =
            clock::saturating_add(now, SignedDuration::from_hours(24 * env.retention_days()));
        let backup = Backup {
            id: random_uuid(&mut self.state.rng),
            label: label.filter(|l| !l.trim().is_empty()),
            notes,
            point: now,
            expires,
            created_by: actor.clone(),
            data,
        };
        self.ppac_env_mut(id)?.backups.push(backup.clone());
        Ok(backup)
    }

    /// Unexpired manual backups, newest first.
    pub fn ppac_backups(
        &self,
        actor: &Actor,
        id: &PpEnvId,
        now: Timestamp,
    ) -> Result<Vec<&Backup>, SimError> {
        let env = self.ppac_environment(actor, id)?;
        let mut list: Vec<&Backup> = env.backups.iter().filter(|b| b.expires > now).collect();
        list.reverse();
        Ok(list)
    }

    /// Deletes a manual backup.
    pub fn ppac_delete_backup(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        backup: Uuid,
    ) -> Result<(), SimError> {
        self.ppac_environment(actor, id)?;
        let env = self.ppac_env_mut(id)?;
        let before = env.backups.len();
        env.backups.retain(|b| b.id != backup);
        if env.backups.len() == before {
            return Err(SimError::new(
                ErrorCode::BackupNotFound,
                format!(
                    "No backup {backup} exists for environment {id}; list them with GET …/backups"
                ),
            ));
        }
        Ok(())
    }

    /// Restores a backup (or a point in time within retention) of `req.source` over `target`.
    pub fn ppac_restore(
        &mut self,
        actor: &Actor,
        target: &PpEnvId,
        req: RestoreRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (s, t) = if req.source == *target {
            let t = self.ppac_environment(actor, target)?;
            (t, t)
        } else {
            self.ppac_copy_source(actor, &req.source, target)?
        };
        self.ppac_check_allowed(t, OpType::Restore)?;
        let Some(dst) = t.dataverse.clone() else {
            return Err(SimError::internal(
                "restore into an environment without Dataverse",
            ));
        };
        let from_backup = match (req.backup, req.point) {
            (Some(b), _) => Some(
                s.backups
                    .iter()
                    .find(|x| x.id == b && x.expires > now)
                    .ok_or_else(|| {
                        SimError::new(
                            ErrorCode::BackupNotFound,
                            format!("No backup {b} exists for environment {}.", s.id),
                        )
                    })?,
            ),
            (None, Some(p)) => s.backups.iter().find(|x| x.point == p && x.expires > now),
            (None, None) => s
                .backups
                .iter()
                .filter(|x| x.expires > now)
                .max_by_key(|x| x.point),
        };
        let data = match (from_backup, req.point) {
            (Some(b), _) => b.data.clone(),
            (None, point) => {
                let point = point.unwrap_or(now);
                let src = s
                    .dataverse
                    .as_ref()
                    .ok_or_else(|| SimError::internal("no Dataverse"))?;
                let earliest = clock::saturating_add(
                    now,
                    SignedDuration::from_hours(-24 * s.retention_days()),
                )
                .max(src.created_at);
                if point < earliest || point > now {
                    return Err(SimError::new(
                        ErrorCode::BackupNotFound,
                        format!(
                            "No restore point at {point} for environment {}: system backups cover \
                             {earliest} to {now} ({} days of retention).",
                            s.id,
                            s.retention_days()
                        ),
                    )
                    .at("restorePointDateTime"));
                }
                let mut d = src.clone();
                d.content = Content::RestoredFrom {
                    source: s.id.clone(),
                    point,
                };
                d
            }
        };
        if req.source != *target {
            self.ppac_require_capacity("restored")?;
        }
        let mut data = data;
        data.org_id = dst.org_id;
        data.unique_name = dst.unique_name.clone();
        data.domain = dst.domain.clone();
        data.security_group = req.security_group.or(dst.security_group);
        self.ppac_start(
            target,
            Action::Restore {
                data: Box::new(data),
                name: req.name,
            },
            actor,
            now,
        )
    }

    /// Resets a sandbox to a fresh database.
    pub fn ppac_reset(
        &mut self,
        actor: &Actor,
        id: &PpEnvId,
        name: Option<String>,
        spec: NewDataverse,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.ppac_environment(actor, id)?;
        self.ppac_check_allowed(env, OpType::Reset)?;
        let (display, sku) = (
            name.clone().unwrap_or_else(|| env.display_name.clone()),
            env.sku,
        );
        let keep_domain = env.dataverse.as_ref().map(|d| d.domain.clone());
        let mut spec = spec;
        if spec.domain.as_deref().is_none_or(|d| d.trim().is_empty()) {
            spec.domain = keep_domain;
        }
        let (data, _) = self.ppac_new_dataverse(&spec, &display, sku, Some(id), now)?;
        self.ppac_start(
            id,
            Action::Reset {
                data: Box::new(data),
                name,
            },
            actor,
            now,
        )
    }

    /// Environments `target` can be copied or restored from (same rules as a copy).
    pub fn ppac_copy_candidates<'a>(
        &'a self,
        actor: &'a Actor,
        target: &'a PpEnvId,
    ) -> Result<impl Iterator<Item = &'a PpEnvironment>, SimError> {
        self.ppac_environment(actor, target)?;
        Ok(self
            .ppac_environments(actor)
            .filter(move |e| self.ppac_copy_source(actor, &e.id, target).is_ok()))
    }
}
