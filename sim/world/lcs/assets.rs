//! The project's asset library: file assets created, committed and deleted.

use super::*;
use crate::clock;
use crate::error::{ErrorCode, SimError};
use crate::world::identity::{ObjectId, random_uuid};
use crate::world::tenant::Tenant;
use jiff::{SignedDuration, Timestamp};
use rand::RngExt;

impl Tenant {
    /// Creates an asset slot awaiting its upload.
    pub fn create_asset(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        spec: AssetSpec,
        now: Timestamp,
    ) -> Result<&Asset, SimError> {
        self.project_for(project, actor)?;
        for (field, value, max) in [
            ("Name", &spec.name, 200),
            ("FileName", &spec.file_name, 250),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(SimError::new(
                    ErrorCode::InvalidAsset,
                    format!("{field} must have 1 to {max} characters"),
                )
                .at(field));
            }
        }
        let created_by = self
            .state
            .user_by_id(actor)
            .map_or_else(String::new, |u| u.display_name.clone());
        let id = AssetId(random_uuid(&mut self.state.rng));
        let p = self.state.lcs.project_mut(project)?;
        p.assets.retain(|a| {
            a.is_committed() || clock::saturating_add(a.created, PENDING_ASSET_LIFETIME) > now
        });
        p.assets.push(Asset {
            id,
            name: spec.name.trim().to_string(),
            file_name: spec.file_name.trim().to_string(),
            description: spec.description.filter(|d| !d.trim().is_empty()),
            file_type: spec.file_type,
            declared_size: spec.size,
            blob: id.0.simple().to_string(),
            created: now,
            modified: now,
            created_by,
            state: AssetState::AwaitingUpload,
        });
        let last = p.assets.len() - 1;
        Ok(&p.assets[last])
    }

    /// Commits an uploaded asset: validation starts and ends a few virtual minutes later.
    pub fn commit_asset(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        asset: AssetId,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let p = self.project_for(project, actor)?;
        let a = Self::live_asset(p, asset, now)?;
        if a.is_committed() {
            return Ok(());
        }
        let blob = self
            .state
            .blobs
            .get(ASSET_CONTAINER, &a.blob)
            .ok_or_else(|| {
                SimError::new(
                    ErrorCode::AssetNotReady,
                    format!(
                        "Nothing has been uploaded for asset {asset}; PUT the file to its \
                     FileLocation before committing"
                    ),
                )
            })?;
        let outcome = files::validate(a.file_type, &blob.data);
        let secs = self.state.rng.random_range(60..=180);
        let until = clock::saturating_add(now, SignedDuration::from_secs(secs));
        let a = self
            .state
            .lcs
            .project_mut(project)?
            .assets
            .iter_mut()
            .find(|a| a.id == asset)
            .ok_or_else(|| SimError::internal("asset vanished"))?;
        a.state = AssetState::Validating { until, outcome };
        a.modified = now;
        Ok(())
    }

    /// Deletes an asset and its file.
    pub fn delete_asset(
        &mut self,
        project: ProjectId,
        actor: ObjectId,
        asset: AssetId,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let p = self.project_for(project, actor)?;
        let blob = Self::live_asset(p, asset, now)?.blob.clone();
        self.state.blobs.delete(ASSET_CONTAINER, &blob);
        self.state
            .lcs
            .project_mut(project)?
            .assets
            .retain(|a| a.id != asset);
        Ok(())
    }

    /// An asset that has not expired unfinished.
    pub fn live_asset(p: &Project, asset: AssetId, now: Timestamp) -> Result<&Asset, SimError> {
        let a = p.asset(asset)?;
        if !a.is_committed() && clock::saturating_add(a.created, PENDING_ASSET_LIFETIME) <= now {
            return Err(SimError::new(
                ErrorCode::AssetNotFound,
                format!(
                    "Asset {asset} was created at {} and never committed; pending assets expire \
                     after 24 hours. Create it again",
                    a.created
                ),
            ));
        }
        Ok(a)
    }
}
