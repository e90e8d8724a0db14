//! The Power Platform half of a tenant as one actor sees and acts on it: `tenant.ppac(&actor)`
//! reads (what the actor may see, what it may do next), `tenant.ppac_mut(&actor)` runs commands.
//! The commands themselves live by group beside this file (`lifecycle.rs`, `copies.rs`,
//! `packages.rs`, `access.rs`); rules that do not depend on who asks (capacity, entitlements,
//! domains, settings) are functions of the tenant state in `capacity.rs` and `mod.rs`.

use super::Actor;
use crate::world::tenant::Tenant;
use std::ops::{Deref, DerefMut};

/// Reads of the Power Platform half as `actor` sees it; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Pp<'a> {
    pub(super) tenant: &'a Tenant,
    pub(super) actor: &'a Actor,
}

/// Commands on the Power Platform half, run as `actor`.
#[derive(Debug)]
pub struct PpMut<'a> {
    tenant: &'a mut Tenant,
    pub(super) actor: &'a Actor,
}

impl Tenant {
    /// The Power Platform half as `actor` sees it.
    pub fn ppac<'a>(&'a self, actor: &'a Actor) -> Pp<'a> {
        Pp {
            tenant: self,
            actor,
        }
    }

    /// The Power Platform half for `actor` to act on.
    pub fn ppac_mut<'a>(&'a mut self, actor: &'a Actor) -> PpMut<'a> {
        PpMut {
            tenant: self,
            actor,
        }
    }
}

impl PpMut<'_> {
    /// The same actor's reads, for a command's checks.
    pub(super) fn read(&self) -> Pp<'_> {
        Pp {
            tenant: self.tenant,
            actor: self.actor,
        }
    }
}

impl Deref for PpMut<'_> {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        self.tenant
    }
}

impl DerefMut for PpMut<'_> {
    fn deref_mut(&mut self) -> &mut Tenant {
        self.tenant
    }
}
