//! Start-up: the shared state and the server ([`App`], used by `main` and by the in-process
//! [`Simulator`](crate::Simulator) alike): the plain port, and when asked the TLS port and the
//! proxy, all serving the one router.

use crate::api::{self, auth::TokenSigner};
use crate::clock::{Clock, Stopwatch};
use crate::config::{AuthMode, Config, DEFAULT_TENANT_ID, ScenarioSource};
use crate::error::SimError;
use crate::events::Events;
use crate::faults::{RequestFaults, RequestRule, SharedRequestFaults};
use crate::journal::Journal;
use crate::scenario::{self, ClockSettings, LoadOptions, Scenario};
use crate::serve::{self, Connections};
use crate::telemetry::READY_TARGET;
use crate::tls::listen::TlsContext;
use crate::tls::{self, Authority, CaOrigin};
use crate::world::World;
use crate::world::lcs::{EnvironmentId, ProjectId};
use crate::world::tenant::{RngStream, seeded_rng};
use jiff::Timestamp;
use parking_lot::Mutex;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};
use uuid::Uuid;

/// How long open connections may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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
            scenario::load(&state, scenario, options)
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

/// The default tenant's LCS project.
pub const DEFAULT_PROJECT_ID: ProjectId = ProjectId(1_234_567);
/// The default project's production environment.
pub const DEFAULT_PRODUCTION_ID: EnvironmentId =
    EnvironmentId(Uuid::from_u128(0xc0de0001_0000_4000_8000_000000000001));
/// The default project's sandbox.
pub const DEFAULT_SANDBOX_ID: EnvironmentId =
    EnvironmentId(Uuid::from_u128(0xc0de0001_0000_4000_8000_000000000002));
/// The default project's cloud-hosted development box.
pub const DEFAULT_DEVBOX_ID: EnvironmentId =
    EnvironmentId(Uuid::from_u128(0xc0de0001_0000_4000_8000_000000000003));

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: io::Error,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] SimError),
    /// A scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Scenario {
        /// The file asked for.
        path: std::path::PathBuf,
        /// Why reading it failed.
        source: io::Error,
    },
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

/// A bound, not yet serving, simulator.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    tls_listener: Option<TcpListener>,
    proxy_listener: Option<TcpListener>,
    listening: Listening,
    state: Arc<AppState>,
    /// Every surface, built once (routes and the OpenAPI document); cheap to clone.
    router: axum::Router,
}

/// Binds `port` on `bind` (0 picks a free port).
async fn bind(bind: std::net::IpAddr, port: u16) -> Result<(TcpListener, SocketAddr), StartError> {
    let addr = SocketAddr::new(bind, port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok((listener, bound))
}

impl App {
    /// Builds the state and binds the listeners (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<App, StartError> {
        let state = Arc::new(AppState::new(config)?);
        let config = &state.config;
        let (listener, plain) = bind(config.bind, config.port).await?;
        let (tls_listener, tls) = match config.tls_port {
            Some(port) => bind(config.bind, port)
                .await
                .map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        let (proxy_listener, proxy) = match config.proxy_port {
            Some(port) => bind(config.bind, port)
                .await
                .map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        let listening = Listening { plain, tls, proxy };
        let _ = state.listening.set(listening);
        let router = api::router(state.clone());
        Ok(App {
            listener,
            tls_listener,
            proxy_listener,
            listening,
            state,
            router,
        })
    }

    /// The plain port's address.
    pub fn address(&self) -> SocketAddr {
        self.listening.plain
    }

    /// Every address listened on.
    pub fn listening(&self) -> Listening {
        self.listening
    }

    /// `http://address`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.listening.plain)
    }

    /// The shared state (for in-process control and tests).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// The router that serves every surface (for in-process calls without a socket).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Serves until `shutdown` completes, then lets open requests finish (for at most 10 s).
    /// Logs the ready line (with the bound addresses) first.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let url = self.base_url();
        let Listening { tls, proxy, .. } = self.listening;
        let ca = match self.state.authority.origin() {
            CaOrigin::Generated => "in memory".to_string(),
            CaOrigin::Created(dir) => format!("created in {}", dir.display()),
            CaOrigin::Loaded(dir) => format!("loaded from {}", dir.display()),
        };
        let ui = format!("{url}/_ui");
        let scenarios = match self.state.startup_scenarios.as_slice() {
            [] => "no scenario (no tenant)".to_string(),
            names => names.join(", "),
        };
        let tenants = self.state.world.tenant_count();
        let mut line = format!("lifecycle-sim listening on {url}");
        if let Some(proxy) = proxy {
            line.push_str(&format!("; HTTPS proxy on http://{proxy}"));
        }
        if let Some(tls) = tls {
            line.push_str(&format!("; TLS on {tls}"));
        }
        line.push_str(&format!(
            "; training UI on {ui}; loaded {scenarios}: {tenants} tenant(s)"
        ));
        info!(
            target: READY_TARGET,
            address = %self.listening.plain,
            url = %url,
            proxy = proxy.map(tracing::field::display),
            tls = tls.map(tracing::field::display),
            ca = (proxy.is_some() || tls.is_some()).then_some(ca.as_str()),
            seed = self.state.seed,
            virtual_now = %self.state.clock.now(),
            ui = %ui,
            scenarios = %scenarios,
            tenants,
            "{line}"
        );
        let connections = Connections::default();
        let cx = TlsContext {
            authority: self.state.authority.clone(),
            router: self.router.clone(),
            connections: connections.clone(),
            plain_url: url,
        };
        let mut loops = Vec::new();
        let (router, open) = (self.router, connections.clone());
        loops.push(tokio::spawn(serve::accept(
            self.listener,
            connections.clone(),
            move |stream, _| serve::serve_plain(stream, router.clone(), open.clone()),
        )));
        if let Some(listener) = self.tls_listener {
            let cx = cx.clone();
            loops.push(tokio::spawn(serve::accept(
                listener,
                connections.clone(),
                move |stream, peer| tls::listen::accept_tls_port(stream, peer, cx.clone()),
            )));
        }
        if let Some(listener) = self.proxy_listener {
            let cx = cx.clone();
            loops.push(tokio::spawn(serve::accept(
                listener,
                connections.clone(),
                move |stream, peer| tls::proxy::accept_proxy_port(stream, peer, cx.clone()),
            )));
        }
        drop(cx);
        shutdown.await;
        info!("shutting down: finishing open requests");
        // Event streams never end by themselves; end them so draining can finish.
        self.state.events.close();
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, connections.drain());
        let stopped = async {
            for accepting in loops {
                let _ = accepting.await;
            }
        };
        let ((), drained) = tokio::join!(stopped, drained);
        if drained.is_err() {
            warn!(
                "requests still open {DRAIN_TIMEOUT:?} after the shutdown signal; stopping anyway"
            );
        }
        Ok(())
    }
}

/// A future that completes on Ctrl-C or SIGTERM (what `docker stop` sends to PID 1).
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// process that is PID 1 (in a container) ignores any signal it has no handler for, so a SIGTERM
/// that arrived between start-up and the first poll would otherwise be lost. Call it before
/// binding. Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let recv = |s: io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = recv(interrupt) => {},
                () = recv(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
