//! Copies, backups, restores and resets of Dataverse environments.

use super::handle::{Pp, PpMut};
use super::*;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::identity::random_uuid;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

impl<'a> Pp<'a> {
    pub(super) fn copy_source(
        self,
        source: &PpEnvId,
        target: &PpEnvId,
    ) -> Result<(&'a PpEnvironment, &'a PpEnvironment), SimError> {
        let s = self.environment(source)?;
        let t = self.environment(target)?;
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

    /// Unexpired manual backups, newest first.
    pub fn backups(self, id: &PpEnvId, now: Timestamp) -> Result<Vec<&'a Backup>, SimError> {
        let env = self.environment(id)?;
        let mut list: Vec<&Backup> = env.backups.iter().filter(|b| b.expires > now).collect();
        list.reverse();
        Ok(list)
    }

    /// Environments `target` can be copied or restored from (same rules as a copy).
    pub fn copy_candidates(
        self,
        target: &'a PpEnvId,
    ) -> Result<impl Iterator<Item = &'a PpEnvironment>, SimError> {
        self.environment(target)?;
        Ok(self
            .environments()
            .filter(move |e| self.copy_source(&e.id, target).is_ok()))
    }
}

impl PpMut<'_> {
    /// Copies `req.source` over `target` (a sandbox).
    pub fn copy(
        &mut self,
        target: &PpEnvId,
        req: CopyRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (s, t) = self.read().copy_source(&req.source, target)?;
        self.read().check_allowed(t, OpType::Copy)?;
        self.read().require_capacity("copied")?;
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
        self.start(
            target,
            Action::Copy {
                data: Box::new(data),
                name: req.name,
            },
            now,
        )
    }

    /// Takes a manual backup (immediate; does not consume capacity).
    pub fn backup(
        &mut self,
        id: &PpEnvId,
        label: Option<String>,
        notes: Option<String>,
        now: Timestamp,
    ) -> Result<Backup, SimError> {
        let actor = self.actor;
        let env = self.read().environment(id)?;
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
        self.env_mut(id)?.backups.push(backup.clone());
        Ok(backup)
    }

    /// Deletes a manual backup.
    pub fn delete_backup(&mut self, id: &PpEnvId, backup: Uuid) -> Result<(), SimError> {
        self.read().environment(id)?;
        let mut env = self.env_mut(id)?;
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
    pub fn restore(
        &mut self,
        target: &PpEnvId,
        req: RestoreRequest,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let (s, t) = if req.source == *target {
            let t = self.read().environment(target)?;
            (t, t)
        } else {
            self.read().copy_source(&req.source, target)?
        };
        self.read().check_allowed(t, OpType::Restore)?;
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
            self.read().require_capacity("restored")?;
        }
        let mut data = data;
        data.org_id = dst.org_id;
        data.unique_name = dst.unique_name.clone();
        data.domain = dst.domain.clone();
        data.security_group = req.security_group.or(dst.security_group);
        self.start(
            target,
            Action::Restore {
                data: Box::new(data),
                name: req.name,
            },
            now,
        )
    }

    /// Resets a sandbox to a fresh database.
    pub fn reset(
        &mut self,
        id: &PpEnvId,
        name: Option<String>,
        spec: NewDataverse,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let env = self.read().environment(id)?;
        self.read().check_allowed(env, OpType::Reset)?;
        let (display, sku) = (
            name.clone().unwrap_or_else(|| env.display_name.clone()),
            env.sku,
        );
        let keep_domain = env.dataverse.as_ref().map(|d| d.domain.clone());
        let mut spec = spec;
        if spec.domain.as_deref().is_none_or(|d| d.trim().is_empty()) {
            spec.domain = keep_domain;
        }
        let (data, _) = self.new_dataverse(&spec, &display, sku, Some(id), now)?;
        self.start(
            id,
            Action::Reset {
                data: Box::new(data),
                name,
            },
            now,
        )
    }
}
