//! Database movement between F&O environments: refresh, export, import, point-in-time restore.

use super::*;
use crate::error::{ErrorCode, SimError};
use crate::ops::OperationId;
use crate::world::identity::ObjectId;
use crate::world::tenant::Tenant;
use jiff::Timestamp;

impl Tenant {
    /// Refreshes `target`'s database from `source` (API: sandbox targets only; portal: also the
    /// sandbox → production copy before go-live).
    pub fn database_refresh(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        source: EnvironmentId,
        target: EnvironmentId,
        via: Via,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.project_for(project, actor)?;
        if source == target {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                "The source and target environments are the same; a refresh copies one \
                 environment's database over another's",
            ));
        }
        let s = p.environment(source)?;
        let t = p.environment(target)?;
        match (s.env_type, t.env_type, via) {
            (_, EnvironmentType::Production, Via::Api) => {
                return Err(SimError::new(
                    ErrorCode::OperationNotAllowed,
                    format!(
                        "{} is a production environment. The API refreshes sandbox environments \
                         only; copying a sandbox to production before go-live is done in LCS",
                        t.name
                    ),
                ));
            }
            (EnvironmentType::Sandbox, EnvironmentType::Production, Via::Portal) => {}
            (_, EnvironmentType::Production, Via::Portal) => {
                return Err(SimError::new(
                    ErrorCode::OperationNotAllowed,
                    "Only a sandbox can be copied to production",
                ));
            }
            (st, tt, _) if st.is_tier1() || tt.is_tier1() => {
                let tier1 = if st.is_tier1() { s } else { t };
                return Err(SimError::new(
                    ErrorCode::OperationNotAllowed,
                    format!(
                        "{} is a Tier-1 ({}) environment. Database refresh is supported between \
                         Production and Sandbox (Tier-2+) environments only; move Tier-1 data \
                         with an export and a bacpac import",
                        tier1.name,
                        tier1.env_type.as_str()
                    ),
                ));
            }
            _ => {}
        }
        self.check_ready(s)?;
        self.check_ready(t)?;
        if s.region.name != t.region.name {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "The databases must be in the same Azure region: {} is in {}, {} is in {}",
                    s.name, s.region.name, t.name, t.region.name
                ),
            ));
        }
        if s.release != t.release {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "The application releases differ: {} runs {}, {} runs {}. Update one so \
                     that both run the same release, then refresh",
                    s.name, s.release, t.name, t.release
                ),
            ));
        }
        if s.database.size_mb > t.env_type.max_database_mb() {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{}'s database ({} GB) exceeds what {} can hold ({} GB)",
                    s.name,
                    s.database.size_mb / 1024,
                    t.name,
                    t.env_type.max_database_mb() / 1024
                ),
            ));
        }
        Self::check_budget(t, via, now)?;
        let data = Database {
            origin: DataOrigin::Refresh {
                source,
                source_name: s.name.clone(),
            },
            as_of: now,
            ..s.database.clone()
        };
        self.begin(
            project,
            target,
            Action::Refresh { data },
            "Refresh database".into(),
            via,
            now,
        )
    }

    /// Exports a sandbox's database to the project's asset library as `backup_name`.
    pub fn database_export(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        backup_name: &str,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.project_for(project, actor)?;
        let e = p.environment(env)?;
        let name = backup_name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.contains(['/', '\\']) {
            return Err(SimError::new(
                ErrorCode::InvalidAsset,
                "The backup name must have 1 to 100 characters and no slashes",
            ));
        }
        if e.env_type != EnvironmentType::Sandbox {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment; databases can be exported only from sandbox (UAT) \
                     environments",
                    e.name,
                    e.env_type.as_str()
                ),
            ));
        }
        self.check_ready(e)?;
        if e.database.size_mb > MAX_EXPORT_MB {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{}'s database is {} GB; exports are limited to 50 GB. Clean up data \
                     before exporting",
                    e.name,
                    e.database.size_mb / 1024
                ),
            ));
        }
        Self::check_budget(e, Via::Api, now)?;
        let action = Action::Export {
            backup_name: name.to_string(),
            data: e.database.clone(),
        };
        self.begin(
            project,
            env,
            action,
            "Export database".into(),
            Via::Api,
            now,
        )
    }

    /// Imports a database backup from the asset library into a sandbox (portal only).
    pub fn import_database(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        backup: AssetId,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.project_for(project, actor)?;
        let e = p.environment(env)?;
        let a = Self::live_asset(p, backup, now)?;
        if a.file_type != FileType::BACKUP || a.validation(now) != Validation::Valid {
            return Err(SimError::new(
                ErrorCode::AssetNotReady,
                format!("Asset '{}' is not a valid database backup", a.name),
            ));
        }
        if e.env_type != EnvironmentType::Sandbox {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment; backups can be imported into sandbox environments only",
                    e.name,
                    e.env_type.as_str()
                ),
            ));
        }
        self.check_ready(e)?;
        Self::check_budget(e, Via::Portal, now)?;
        let data = Database {
            size_mb: e.database.size_mb,
            release: e.release,
            origin: DataOrigin::Import {
                backup,
                backup_name: a.name.clone(),
            },
            as_of: a.created,
        };
        self.begin(
            project,
            env,
            Action::Import { data },
            "Import database".into(),
            Via::Portal,
            now,
        )
    }

    /// Point-in-time restore (portal only): a sandbox in place, or production into a sandbox.
    pub fn point_in_time_restore(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        env: EnvironmentId,
        source: Option<EnvironmentId>,
        point: Timestamp,
        now: Timestamp,
    ) -> Result<OperationId, SimError> {
        let p = self.project_for(project, actor)?;
        let e = p.environment(env)?;
        let s = match source {
            Some(id) if id != env => p.environment(id)?,
            _ => e,
        };
        if e.env_type != EnvironmentType::Sandbox {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "{} is a {} environment; point-in-time restore targets sandbox environments \
                     only",
                    e.name,
                    e.env_type.as_str()
                ),
            ));
        }
        if s.id != e.id && s.env_type != EnvironmentType::Production {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "Point-in-time restore into a sandbox comes from production or from the \
                     sandbox itself; {} is a {}",
                    s.name,
                    s.env_type.as_str()
                ),
            ));
        }
        let retention = if s.env_type == EnvironmentType::Production {
            PRODUCTION_PITR_RETENTION
        } else {
            SANDBOX_PITR_RETENTION
        };
        let oldest = now
            .checked_sub(retention)
            .unwrap_or(Timestamp::MIN)
            .max(s.created);
        if point > now || point < oldest {
            return Err(SimError::new(
                ErrorCode::OperationNotAllowed,
                format!(
                    "The point in time must be between {oldest} and {now} ({} keeps {} days of \
                     backups)",
                    s.name,
                    retention.as_hours() / 24
                ),
            )
            .at("pointInTime"));
        }
        self.check_ready(e)?;
        Self::check_budget(e, Via::Portal, now)?;
        let data = Database {
            origin: DataOrigin::PointInTimeRestore {
                source: s.id,
                source_name: s.name.clone(),
                point_in_time: point,
            },
            as_of: point,
            ..s.database.clone()
        };
        self.begin(
            project,
            env,
            Action::PointInTimeRestore { data },
            "Point-in-time restore".into(),
            Via::Portal,
            now,
        )
    }
}
