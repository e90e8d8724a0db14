//! How the world plugs into the operation engine.
//!
//! Each operation carries a [`Work`]: what it is (kind, portal, target) and an [`Effect`] that the
//! engine calls at its stage boundaries and when it finishes. Capabilities add operation kinds by
//! implementing [`Effect`]; the engine and the tenant stay unchanged.

use super::tenant::TenantState;
use crate::ops::{OpError, Operation};
use jiff::Timestamp;
use serde::Serialize;
use std::fmt;

/// Which portal an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Portal {
    /// Lifecycle Services (the F&O half).
    Lcs,
    /// Power Platform admin center (the Dataverse half).
    Ppac,
}

/// What an operation acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// e.g. `lcsEnvironment`, `dataverseEnvironment`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The target's id (for a deploy, the new environment's id).
    pub id: String,
}

/// What an operation does to the tenant as it runs. Called by the engine in deadline order, with
/// the tenant locked; implementations must not block. Effects are data (tagged by name in a
/// snapshot), so a running operation survives a snapshot and a load.
#[typetag::serde(tag = "type")]
pub trait Effect: Send + Sync + fmt::Debug {
    /// Stage `stage` has run its time. Return an error to fail the operation at this stage (e.g. a
    /// prerequisite that no longer holds); the next stage starts at `at` otherwise.
    fn stage_ended(
        &self,
        _tenant: &mut TenantState,
        _op: &Operation<Work>,
        _stage: usize,
        _at: Timestamp,
    ) -> Result<(), OpError> {
        Ok(())
    }

    /// The operation reached a terminal state (check `op.state()`).
    fn finished(&self, _tenant: &mut TenantState, _op: &Operation<Work>, _at: Timestamp) {}
}

/// The payload of every operation in a tenant.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    /// Kind, e.g. `lcs.deploy`, `ppac.copy`, `powerPlatformIntegration.setup`.
    pub kind: String,
    /// The portal the operation belongs to.
    pub portal: Portal,
    /// What it acts on.
    pub target: Target,
    /// What it does to the world.
    pub effect: Box<dyn Effect>,
}
