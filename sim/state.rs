//! What every request handler can reach ([`AppState`]): the configuration, the virtual clock,
//! the world, the journal, change notices, the token signer, the CA and the request faults. Below
//! the surfaces (which take it) and above the domain (which it holds); start-up (`app`) builds
//! it, from the configuration and the start-up scenarios.

use crate::clock::{Clock, Stopwatch};
use crate::config::{AuthMode, Config, DEFAULT_TENANT_ID, ScenarioSource};
use crate::error::SimError;
use crate::events::Events;
use crate::faults::{RequestFaults, RequestRule, SharedRequestFaults};
use crate::journal::Journal;
use crate::scenario::{self, ClockSettings, LoadOptions, Scenario};
use crate::tls::Authority;
use crate::tokens::TokenSigner;
use crate::world::World;
use crate::world::tenant::{RngStream, seeded_rng};
use jiff::Timestamp;
use parking_lot::Mutex;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// Everything a request handler can reach. Shared as `Arc<AppState>`; each part guards itself.
#[derive(Debug)]
pub struct AppState {
    /// The configuration the simulator started with.
    pub config: Config,
    /// The run's seed (the configured one, or the one drawn at start).
    pub seed: u64,
    /// The shared virtual clock.
    pub clock: Clock,
    /// Tenants and everything in them.
    pub world: World,
    /// Recent requests.
    pub journal: Journal,
    /// Change notices for live pages (`GET /_sim/events`).
    pub events: Events,
    /// Signs and checks bearer tokens.
    pub tokens: TokenSigner,
    /// The CA behind the TLS port and the proxy (served at `GET /_sim/tls/ca.pem`).
    pub authority: Arc<Authority>,
    /// The ports bound, once they are (health names them).
    pub listening: OnceLock<Listening>,
    /// Real time since start, for the health route.
    started: Stopwatch,
    /// Trace ids for error bodies; a sync lock held for one draw.
    traces: Mutex<ChaCha8Rng>,
    /// Signs the SAS URLs of the blob endpoint.
    pub blob_key: [u8; 32],
    /// Request fault rules (latency, errors, throttling) and their seeded RNG.
    pub request_faults: SharedRequestFaults,
    /// The request rules of the start-up scenarios, restored by a global reset.
    startup_rules: Vec<RequestRule>,
    /// The start-up scenarios' names (files' paths), for the ready line.
    pub startup_scenarios: Vec<String>,
}

/// The built-in default scenario: a fresh tenant ready for Power Platform integration.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/fresh-tenant.yaml");
/// How messages and the ready line name it.
pub const DEFAULT_SCENARIO_NAME: &str = "the built-in default scenario (fresh-tenant)";

/// Parses every start-up scenario with offsets counted from `anchor`.
fn parse_all(sources: &[ScenarioSource], anchor: Timestamp) -> Result<Vec<Scenario>, SimError> {
    sources
        .iter()
        .map(|s| {
            scenario::parse(&s.text, anchor).map_err(|p| {
                SimError::new(
                    crate::error::ErrorCode::InvalidScenario,
                    format!("{}: {p}", s.name),
                )
            })
        })
        .collect()
}

impl AppState {
    /// Builds the start-up state: seed, clock, and the start-up scenarios (the built-in default
    /// unless disabled or replaced by scenario files).
    pub fn new(config: Config) -> Result<AppState, SimError> {
        let seed = config.seed.unwrap_or_else(|| rand::rng().random());
        let sources = match (config.scenarios.is_empty(), config.default_tenant) {
            (false, _) => config.scenarios.clone(),
            (true, true) => vec![ScenarioSource {
                name: DEFAULT_SCENARIO_NAME.into(),
                text: DEFAULT_SCENARIO.into(),
            }],
            (true, false) => Vec::new(),
        };
        let provisional = config
            .start_time
            .unwrap_or_else(|| Timestamp::constant(Timestamp::now().as_second(), 0));
        let mut scenarios = parse_all(&sources, provisional)?;
        let start = config
            .start_time
            .or_else(|| scenarios.iter().find_map(|s| s.clock.start))
            .unwrap_or(provisional);
        if start != provisional {
            scenarios = parse_all(&sources, start)?;
        }
        let scale = config
            .time_scale
            .or_else(|| scenarios.iter().find_map(|s| s.clock.scale))
            .unwrap_or(1.0);
        let paused = config.paused || scenarios.iter().any(|s| s.clock.paused == Some(true));
        let clock = Clock::new(start, scale, paused)?;
        let authority = Authority::new(config.tls_ca_dir.as_deref()).map_err(|e| {
            SimError::new(
                crate::error::ErrorCode::InvalidConfig,
                format!("--tls-ca-dir: {e}"),
            )
        })?;
        let mut state = AppState {
            journal: Journal::new(config.journal_size),
            events: Events::default(),
            tokens: TokenSigner::new(),
            authority: Arc::new(authority),
            listening: OnceLock::new(),
            traces: Mutex::new(seeded_rng(seed, RngStream::Traces)),
            blob_key: seeded_rng(seed, RngStream::BlobKey).random(),
            request_faults: SharedRequestFaults::new(seeded_rng(seed, RngStream::Faults)),
            startup_rules: Vec::new(),
            startup_scenarios: sources.iter().map(|s| s.name.clone()).collect(),
            started: Stopwatch::start(),
            seed,
            clock,
            world: World::new(seed),
            config,
        };
        let durations = state
            .config
            .durations
            .iter()
            .map(|d| scenario::parse_duration_flag(d))
            .collect::<Result<Vec<_>, _>>()?;
        let faults = state
            .config
            .faults
            .iter()
            .map(|f| scenario::parse_fault_flag(f, start))
            .collect::<Result<Vec<_>, _>>()?;
        state.request_faults.with(|f| f.add_all(faults))?;
        for (mut scenario, source) in scenarios.into_iter().zip(&sources) {
            scenario.clock = ClockSettings::default();
            for tenant in &mut scenario.tenants {
                if tenant.declared.snapshot.is_none() {
                    tenant
                        .declared
                        .extras
                        .durations
                        .extend(durations.iter().cloned());
                }
            }
            let options = LoadOptions {
                startup: true,
                ..LoadOptions::default()
            };
            scenario::load(state.destination(), scenario, options)
                .map_err(|e| SimError::new(e.code, format!("{}: {}", source.name, e.message)))?;
        }
        state.startup_rules = state.request_faults.with(|f| f.list().to_vec());
        if state.config.auth == AuthMode::None && state.world.tenant(DEFAULT_TENANT_ID).is_err() {
            return Err(SimError::new(
                crate::error::ErrorCode::InvalidConfig,
                format!(
                    "--auth none acts as the default tenant's admin, so it needs the default \
                     tenant ({DEFAULT_TENANT_ID}); drop --no-default-tenant or declare it in a \
                     scenario"
                ),
            ));
        }
        Ok(state)
    }

    /// Where a scenario loads in this simulator.
    pub(crate) fn destination(&self) -> scenario::Destination<'_> {
        scenario::Destination {
            world: &self.world,
            request_faults: &self.request_faults,
            clock: &self.clock,
        }
    }

    /// Real seconds since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// A fresh id for an error body's trace or correlation id.
    pub fn trace_id(&self) -> Uuid {
        crate::world::identity::random_uuid(&mut *self.traces.lock())
    }

    /// Everything back to the start-up state: clock, tenants, journal.
    pub fn reset(&self) -> Result<(), SimError> {
        self.clock.reset();
        self.world.reset(self.clock.now())?;
        self.journal.clear();
        self.request_faults.with(|f| {
            *f = RequestFaults::new(seeded_rng(self.seed, RngStream::Faults));
            f.add_all(self.startup_rules.clone())
        })?;
        Ok(())
    }
}

/// The addresses a simulator listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// The plain HTTP port.
    pub plain: SocketAddr,
    /// The TLS port (`--tls-port`), if any.
    pub tls: Option<SocketAddr>,
    /// The HTTP proxy (`--proxy-port`), if any.
    pub proxy: Option<SocketAddr>,
}
