//! The domain model, free of HTTP: tenants and their identities, capacity and governance, and
//! (as capabilities land) LCS projects, F&O environments, Dataverse environments and links.
//!
//! [`World`] is the registry of tenants. Each tenant sits behind its own lock, so tenants never
//! contend with each other and parallel test suites, each with its own tenant, never see each
//! other's state.

pub(crate) mod blob;
mod declare;
pub(crate) mod effects;
pub(crate) mod faults;
mod handle;
pub(crate) mod identity;
pub(crate) mod integration;
pub(crate) mod lcs;
pub(crate) mod memo;
pub(crate) mod operations;
pub(crate) mod ppac;
pub(crate) mod serde_util;
pub(crate) mod setup;
pub(crate) mod spec;
pub(crate) mod tenant;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod wire;

use crate::error::{ErrorCode, SimError};
use foldhash::{HashMap, HashMapExt};
use identity::TenantId;
use jiff::Timestamp;
use parking_lot::RwLock;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use tenant::{RngStream, Tenant, TenantSpec, seeded_rng};

pub use handle::{Settled, TenantRef};

/// All tenants of a run.
#[derive(Debug)]
pub struct World {
    /// The run's seed; every RNG derives from it.
    seed: u64,
    /// Guards the set of tenants. Sync `RwLock`: lookups (every request) take the read side for a
    /// hash lookup and an `Arc` clone; only creating, deleting and resetting tenants write. Never
    /// held while taking a tenant's lock, so it cannot deadlock with a thread holding one.
    registry: RwLock<Registry>,
}

#[derive(Debug)]
struct Registry {
    /// Each tenant with its creation sequence number (for stable listings).
    tenants: HashMap<TenantId, (u64, TenantRef)>,
    /// Draws ids for tenants created without one.
    rng: ChaCha8Rng,
    /// Next creation sequence number.
    next_seq: u64,
    /// Tenants created at start-up, recreated by a global reset.
    startup: Vec<Declared>,
}

/// A tenant as declared (by the built-in default or a scenario file).
#[derive(Debug, Clone)]
pub struct Declared {
    /// Its id; drawn from the run's RNG when absent.
    pub id: Option<TenantId>,
    /// Directory, capacity, governance, LCS projects.
    pub spec: TenantSpec,
    /// Power Platform environments, links, durations, planned failures, timeline.
    pub extras: setup::TenantExtras,
    /// How far its clock runs ahead of the shared clock (negative: behind).
    pub offset: jiff::SignedDuration,
    /// An exact state to restore instead (a snapshot as JSON); spec and extras are then unused.
    pub snapshot: Option<Arc<tenant::TenantSnapshot>>,
}

impl Declared {
    /// A tenant described by a spec alone.
    pub fn spec(id: Option<TenantId>, spec: TenantSpec) -> Declared {
        Declared {
            id,
            spec,
            extras: setup::TenantExtras::default(),
            offset: jiff::SignedDuration::ZERO,
            snapshot: None,
        }
    }
}

/// How declared tenants take their place in the world.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placing {
    /// Replace tenants whose ids exist instead of refusing them.
    pub replace: bool,
    /// Keep them as start-up tenants, which [`World::reset`] recreates.
    pub startup: bool,
}

/// Whether errors name a tenant by its place in the list (`tenants[i]`), as a scenario file
/// lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    Listed,
    Alone,
}

impl World {
    /// An empty world for the given seed.
    pub fn new(seed: u64) -> World {
        World {
            seed,
            registry: RwLock::new(Registry {
                tenants: HashMap::new(),
                rng: seeded_rng(seed, RngStream::TenantIds),
                next_seq: 0,
                startup: Vec::new(),
            }),
        }
    }

    /// Creates a tenant at `now`; its id is drawn from the run's RNG unless given. Nothing is
    /// registered if the spec is invalid.
    pub fn create_tenant(
        &self,
        id: Option<TenantId>,
        spec: TenantSpec,
        now: Timestamp,
    ) -> Result<TenantRef, SimError> {
        let one = vec![Declared::spec(id, spec)];
        let mut created = self.insert(one, now, Placing::default(), Naming::Alone)?;
        created
            .pop()
            .ok_or_else(|| SimError::internal("no tenant was created"))
    }

    /// Creates every declared tenant, or none: a tenant that fails to build (or names an id
    /// in use, unless [`Placing::replace`]) leaves the world as it was. Errors name the tenant as
    /// `tenants[i]`, as a scenario file lists them. Start-up tenants are recreated by
    /// [`World::reset`].
    pub fn load(
        &self,
        declared: Vec<Declared>,
        now: Timestamp,
        how: Placing,
    ) -> Result<Vec<TenantRef>, SimError> {
        self.insert(declared, now, how, Naming::Listed)
    }

    /// [`World::load`] and [`World::create_tenant`].
    fn insert(
        &self,
        declared: Vec<Declared>,
        now: Timestamp,
        Placing { replace, startup }: Placing,
        naming: Naming,
    ) -> Result<Vec<TenantRef>, SimError> {
        let mut registry = self.registry.write();
        let within = |i: usize, e: SimError| {
            if naming == Naming::Listed {
                e.within(format!("tenants[{i}]"))
            } else {
                e
            }
        };
        let mut ids = Vec::with_capacity(declared.len());
        for (i, d) in declared.iter().enumerate() {
            let id = match d.id {
                Some(id) if ids.contains(&id) => {
                    return Err(within(
                        i,
                        SimError::new(
                            ErrorCode::TenantExists,
                            format!("tenant {id} is declared twice"),
                        )
                        .at("id"),
                    ));
                }
                Some(id) if !replace && registry.tenants.contains_key(&id) => {
                    return Err(within(
                        i,
                        SimError::new(
                            ErrorCode::TenantExists,
                            format!(
                                "tenant {id} already exists; delete it first (DELETE \
                             /_sim/tenants/{id}), reset it (POST /_sim/tenants/{id}/reset), or \
                             load with replace"
                            ),
                        )
                        .at("id"),
                    ));
                }
                Some(id) => id,
                None => registry.fresh_id(),
            };
            ids.push(id);
        }
        let mut built = Vec::with_capacity(declared.len());
        for (i, (d, id)) in declared.iter().zip(&ids).enumerate() {
            let tenant = match &d.snapshot {
                Some(snap) => Tenant::from_snapshot(*id, snap.clone(), self.seed, now),
                None => Tenant::build_with(
                    *id,
                    d.spec.clone(),
                    d.extras.clone(),
                    d.offset,
                    self.seed,
                    now,
                ),
            }
            .map_err(|e| within(i, e))?;
            built.push(tenant);
        }
        let mut refs = Vec::with_capacity(built.len());
        for ((tenant, id), d) in built.into_iter().zip(ids).zip(declared) {
            let tenant = TenantRef::new(tenant);
            let seq = match registry.tenants.get(&id) {
                Some((seq, _)) => *seq,
                None => {
                    registry.next_seq += 1;
                    registry.next_seq - 1
                }
            };
            registry.tenants.insert(id, (seq, tenant.clone()));
            if startup {
                registry.startup.retain(|s| s.id != Some(id));
                registry.startup.push(Declared { id: Some(id), ..d });
            }
            refs.push(tenant);
        }
        Ok(refs)
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: TenantId) -> Result<TenantRef, SimError> {
        self.registry
            .read()
            .tenants
            .get(&id)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| not_found(&id.to_string()))
    }

    /// The tenant named by id or by primary domain, as the token endpoint's `{tenant}` segment
    /// names it; `clock_now` is the shared clock's now (tenants are settled to read them).
    pub fn resolve(&self, name: &str, clock_now: Timestamp) -> Result<TenantRef, SimError> {
        if let Ok(id) = TenantId::parse(name) {
            return self.tenant(id);
        }
        let wanted = name.trim().to_ascii_lowercase();
        let matches: Vec<TenantRef> = self
            .tenants()
            .into_iter()
            .filter(|t| t.settled(clock_now).state.domain.as_str() == wanted)
            .collect();
        match matches.len() {
            0 => Err(not_found(name)),
            1 => Ok(matches.into_iter().next().ok_or_else(|| not_found(name))?),
            n => Err(SimError::new(
                ErrorCode::AmbiguousTenant,
                format!(
                    "{n} tenants use the domain '{name}'; name the tenant by its id instead \
                     (GET /_sim/tenants lists them)"
                ),
            )),
        }
    }

    /// How many tenants there are.
    pub fn tenant_count(&self) -> usize {
        self.registry.read().tenants.len()
    }

    /// Every tenant, in creation order.
    pub fn tenants(&self) -> Vec<TenantRef> {
        let mut all: Vec<(u64, TenantRef)> =
            self.registry.read().tenants.values().cloned().collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, t)| t).collect()
    }

    /// Whether a tenant other than `owner` has the F&O environment `id`, each tenant settled to
    /// `clock_now`. Blocks on each tenant in turn: call it holding no tenant's lock (a refusal
    /// about another tenant's environment is chosen after the caller's own tenant is released).
    pub fn lcs_environment_elsewhere(
        &self,
        id: lcs::EnvironmentId,
        owner: TenantId,
        clock_now: Timestamp,
    ) -> bool {
        self.elsewhere(owner, clock_now, |t| {
            t.state.lcs.find_environment(id).is_some()
        })
    }

    /// Whether a tenant other than `owner` has the live Power Platform environment `id`, each
    /// tenant settled to `clock_now`. Call it holding no tenant's lock.
    pub fn ppac_environment_elsewhere(
        &self,
        id: &ppac::PpEnvId,
        owner: TenantId,
        clock_now: Timestamp,
    ) -> bool {
        self.elsewhere(owner, clock_now, |t| {
            t.state.ppac.get(id).is_some_and(|e| e.live())
        })
    }

    /// Whether a tenant other than `owner` satisfies `has`. Every tenant is looked at (waiting
    /// for one another request holds), so the answer does not depend on timing.
    fn elsewhere(
        &self,
        owner: TenantId,
        clock_now: Timestamp,
        has: impl Fn(&Tenant) -> bool,
    ) -> bool {
        self.tenants()
            .into_iter()
            .filter(|t| t.id() != owner)
            .any(|t| has(&t.settled(clock_now)))
    }

    /// Deletes a tenant; its tokens stop working.
    pub fn delete_tenant(&self, id: TenantId) -> Result<(), SimError> {
        self.registry
            .write()
            .tenants
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| not_found(&id.to_string()))
    }

    /// Back to the start-up state: only the start-up tenants, as created, and the id stream
    /// rewound so that tenants created afterwards get the same ids as in a fresh run.
    pub fn reset(&self, now: Timestamp) -> Result<(), SimError> {
        let startup = {
            let mut registry = self.registry.write();
            let startup = std::mem::take(&mut registry.startup);
            registry.tenants.clear();
            registry.rng = seeded_rng(self.seed, RngStream::TenantIds);
            registry.next_seq = 0;
            startup
        };
        let how = Placing {
            replace: false,
            startup: true,
        };
        self.load(startup, now, how).map(|_| ())
    }
}

impl Registry {
    /// A tenant id drawn from the run's RNG that no tenant uses.
    fn fresh_id(&mut self) -> TenantId {
        loop {
            let id = TenantId::random(&mut self.rng);
            if !self.tenants.contains_key(&id) {
                return id;
            }
        }
    }
}

fn not_found(name: &str) -> SimError {
    SimError::new(
        ErrorCode::TenantNotFound,
        format!(
            "Tenant '{name}' not found. Create it with POST /_sim/tenants or list the existing ones \
             with GET /_sim/tenants"
        ),
    )
}
