//! The integration as the portals show it: an environment's integration section, its add-ins,
//! and conceptual environments (both halves however joined).

use super::*;
use crate::ops::{Operation, RunState};
use crate::world::lcs::{EnvironmentId, EnvironmentType};
use crate::world::operations::Work;
use crate::world::ppac::{LinkedAppKind, PpEnvId, Sku};
use crate::world::tenant::Tenant;
use std::collections::HashMap;

/// An add-in of a linked environment with its package record in Dataverse.
#[derive(Debug, Clone)]
pub struct AddinView<'a> {
    /// The catalogue entry.
    pub addin: &'static Addin,
    /// Its package in the linked Dataverse environment (settings, operation).
    pub package: &'a InstalledPackage,
    /// Where its install stands, read from the install operation.
    pub state: PackageState,
    /// Why the latest install failed, while it has.
    pub error: Option<&'a str>,
}

/// The "Power Platform integration" section of an F&O environment's details.
#[derive(Debug, Clone)]
pub struct IntegrationView<'a> {
    /// Where it stands.
    pub state: IntegrationState,
    /// What the section's Status says.
    pub status_message: String,
    /// The setup operation, once started.
    pub setup: Option<&'a Operation<Work>>,
    /// The Dataverse environment's id, once known.
    pub dataverse_id: Option<PpEnvId>,
    /// The Dataverse environment, while it exists.
    pub dataverse: Option<&'a PpEnvironment>,
    /// The dual-write application.
    pub dual_write: DualWriteState,
    /// Installed (or installing) add-ins.
    pub addins: Vec<AddinView<'a>>,
    /// What the page offers now: `setup`, `resume`, `installAddin`, `dualWriteApplication`.
    pub actions: Vec<&'static str>,
    /// Why Setup is not offered, when it is not.
    pub unavailable: Option<String>,
}

/// One conceptual environment: both halves, however they are joined.
#[derive(Debug, Clone)]
pub struct Conceptual<'a> {
    /// The F&O half in LCS.
    pub fo: Option<(&'a Project, &'a FoEnvironment)>,
    /// The Dataverse half in PPAC.
    pub dv: Option<&'a PpEnvironment>,
    /// The join.
    pub link: LinkState,
    /// Running operations on either half, oldest first.
    pub operations: Vec<&'a Operation<Work>>,
    /// What an admin should know.
    pub warnings: Vec<Warning>,
}

impl Tenant {
    /// The warning PPAC gives when converting a Dataverse environment linked to F&O.
    pub fn linked_convert_warning(&self, id: &PpEnvId, to: Sku) -> Option<String> {
        let dv = self.state.ppac.get(id)?;
        let link = dv.linked_app.as_ref()?;
        if link.kind != LinkedAppKind::Linked {
            return None;
        }
        let (_, fo) = self.state.lcs.find_environment(EnvironmentId(link.id))?;
        let mut text = format!(
            "Converting {} to {} is not recommended: it is linked to the finance and operations \
             environment {} ({}), which stays {} because LCS cannot change an environment's type.",
            dv.display_name,
            to.as_str(),
            fo.name,
            fo.id,
            fo.env_type.as_str()
        );
        if to == Sku::Sandbox && fo.env_type == EnvironmentType::Production {
            text.push_str(&format!(
                " The link is irreversible, so {} can never be linked to another production \
                 Dataverse environment without deleting environments.",
                fo.name
            ));
        }
        Some(text)
    }

    /// Every conceptual environment of the tenant: each F&O environment with its Dataverse half,
    /// then each Power Platform environment not joined to an F&O environment.
    pub fn conceptual_environments(&self) -> Vec<Conceptual<'_>> {
        let mut running: HashMap<&str, Vec<&Operation<Work>>> = HashMap::new();
        for op in self
            .operations()
            .filter(|op| op.state() == RunState::Running)
        {
            running
                .entry(op.payload.target.id.as_str())
                .or_default()
                .push(op);
        }
        let ops_of = |ids: &[&str]| -> Vec<&Operation<Work>> {
            let mut v: Vec<&Operation<Work>> = ids
                .iter()
                .filter_map(|id| running.get(id))
                .flatten()
                .copied()
                .collect();
            v.sort_by_key(|op| op.started_at());
            v.dedup_by_key(|op| op.id());
            v
        };
        let mut out = Vec::new();
        let mut joined: Vec<&PpEnvId> = Vec::new();
        for p in &self.state.lcs.projects {
            for fo in p.environments() {
                let dv = self.linked_dataverse(fo);
                let link = match fo
                    .integration
                    .as_ref()
                    .and_then(|i| self.operation(i.setup).ok())
                    .map(|op| op.state())
                {
                    None => LinkState::None,
                    Some(RunState::Succeeded) => LinkState::Linked,
                    Some(RunState::Failed) => LinkState::SetupFailed,
                    Some(_) => LinkState::SettingUp,
                };
                if let Some(d) = dv {
                    joined.push(&d.id);
                }
                let fo_id = fo.id.to_string();
                let ids: Vec<&str> = [Some(fo_id.as_str()), dv.map(|d| d.id.as_str())]
                    .into_iter()
                    .flatten()
                    .collect();
                let warnings = match (link, dv) {
                    (LinkState::Linked, Some(d)) => type_warnings(fo, d),
                    _ => Vec::new(),
                };
                out.push(Conceptual {
                    fo: Some((p, fo)),
                    dv,
                    link,
                    operations: ops_of(&ids),
                    warnings,
                });
            }
        }
        for d in self.state.ppac.environments().iter().filter(|d| d.live()) {
            if joined.contains(&&d.id) {
                continue;
            }
            let link = if d
                .linked_app
                .as_ref()
                .is_some_and(|l| l.kind == LinkedAppKind::Internal)
            {
                LinkState::Unified
            } else {
                LinkState::None
            };
            out.push(Conceptual {
                fo: None,
                dv: Some(d),
                link,
                operations: ops_of(&[d.id.as_str()]),
                warnings: Vec::new(),
            });
        }
        out
    }
}
