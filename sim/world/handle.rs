//! A tenant as the rest of the simulator holds it: [`TenantRef`], a shared handle whose state is
//! reached only through [`TenantRef::settled`]. Taking the lock applies everything due by the
//! tenant's now (stage ends, timeline events) before the caller sees the state, so "lock,
//! settle, then act" is the type, not a habit each handler has to remember.

use super::identity::TenantId;
use super::tenant::Tenant;
use crate::ops::OperationId;
use jiff::Timestamp;
use parking_lot::{Mutex, MutexGuard};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A tenant behind its own lock. Cloning the handle shares the tenant.
#[derive(Debug, Clone)]
pub struct TenantRef(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    /// The tenant's id, fixed for its life (a reset keeps it), readable without the lock.
    id: TenantId,
    tenant: Mutex<Tenant>,
}

impl TenantRef {
    /// Shares `tenant`.
    pub(crate) fn new(tenant: Tenant) -> TenantRef {
        TenantRef(Arc::new(Shared {
            id: tenant.id(),
            tenant: Mutex::new(tenant),
        }))
    }

    /// The tenant's id (no lock taken).
    pub fn id(&self) -> TenantId {
        self.0.id
    }

    /// Locks the tenant and applies everything due by its now, given the shared clock's now.
    /// Blocks while another request holds the tenant. Never take a second tenant while holding
    /// one: a holder of one tenant never waits for another, so tenants cannot deadlock.
    pub fn settled(&self, clock_now: Timestamp) -> Settled<'_> {
        let mut tenant = self.0.tenant.lock();
        let (now, finished) = tenant.settle(clock_now);
        Settled {
            tenant,
            now,
            finished,
        }
    }
}

/// A locked tenant with everything due applied; the lock is released when it is dropped.
#[derive(Debug)]
pub struct Settled<'a> {
    tenant: MutexGuard<'a, Tenant>,
    now: Timestamp,
    finished: Vec<OperationId>,
}

impl Settled<'_> {
    /// The tenant's virtual now when it was settled.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The operations that finished while settling, in the order they finished.
    pub fn finished(&self) -> &[OperationId] {
        &self.finished
    }
}

impl Deref for Settled<'_> {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.tenant
    }
}

impl DerefMut for Settled<'_> {
    fn deref_mut(&mut self) -> &mut Tenant {
        // Whoever may change the tenant makes what was derived from it stale.
        self.tenant.changing();
        &mut self.tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SimError;
    use crate::world::setup::{CapacityDelta, TenantExtras, TimelineAction, TimelineSpec};
    use crate::world::tenant::TenantSpec;
    use jiff::SignedDuration;

    #[test]
    fn taking_a_tenant_applies_the_events_due_by_its_now() -> Result<(), SimError> {
        let start = Timestamp::UNIX_EPOCH;
        let extras = TenantExtras {
            timeline: vec![TimelineSpec {
                at: SignedDuration::from_hours(1),
                note: None,
                action: TimelineAction::CapacityChange(CapacityDelta {
                    database_mb: 1024,
                    ..CapacityDelta::default()
                }),
            }],
            ..TenantExtras::default()
        };
        let id = TenantId::parse("8f0c3a52-4d1e-4c3b-9a57-2b6f1e0d7c41")?;
        let tenant = Tenant::build_with(
            id,
            TenantSpec::default(),
            extras,
            SignedDuration::ZERO,
            1,
            start,
        )?;
        let before = tenant.state.capacity.database_mb;
        let shared = TenantRef::new(tenant);
        assert_eq!(shared.id(), id);
        let early = start + SignedDuration::from_mins(59);
        assert_eq!(shared.settled(early).state.capacity.database_mb, before);
        let due = shared.settled(start + SignedDuration::from_hours(2));
        assert_eq!(due.now(), start + SignedDuration::from_hours(2));
        assert_eq!(due.state.capacity.database_mb, before + 1024);
        Ok(())
    }
}
