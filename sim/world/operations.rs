//! How the world plugs into the operation engine.
//!
//! Each operation carries a [`Work`]: what it is (kind, portal, target) and an [`Effect`] that the
//! engine calls at its stage boundaries and when it finishes. A capability adds an operation kind
//! by adding an [`Effect`] variant (its data here, its rules in `world::effects`).

use super::integration::SetupEffect;
use super::lcs::LcsEffect;
use super::ppac::PpacEffect;
use serde::Serialize;

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

/// What an operation does to the tenant as it runs: one variant per capability, each with the
/// data its stage ends and its end need. The engine calls them in deadline order with the tenant
/// locked (see `world::effects`); they must not block. Effects are data, tagged by `type` in a
/// snapshot, so a running operation survives a snapshot and a load, and a tenant's state clones.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(tag = "type")]
pub enum Effect {
    /// An LCS environment lifecycle or database operation.
    #[serde(rename = "lcs")]
    Lcs(LcsEffect),
    /// A Dataverse environment operation.
    #[serde(rename = "ppac")]
    Ppac(PpacEffect),
    /// A Power Platform integration step (setup, add-in, dual-write).
    #[serde(rename = "powerPlatformIntegration")]
    Integration(SetupEffect),
    /// A test probe (unit tests of the engine in a tenant).
    #[cfg(test)]
    #[serde(rename = "testProbe")]
    Probe(super::effects::tests::Probe),
}

/// The payload of every operation in a tenant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    /// Kind, e.g. `lcs.deploy`, `ppac.copy`, `powerPlatformIntegration.setup`.
    pub kind: String,
    /// The portal the operation belongs to.
    pub portal: Portal,
    /// What it acts on.
    pub target: Target,
    /// What it does to the world.
    pub effect: Effect,
}
