//! Start-up: the shared state and the server ([`App`], used by `main` and by the in-process
//! [`Simulator`](crate::Simulator) alike): the plain port, and when asked the TLS port and the
//! proxy, all serving the one router.

use crate::api;
use crate::config::Config;
use crate::error::SimError;
use crate::serve::{self, Connections};
use crate::state::{AppState, Listening};
use crate::telemetry::READY_TARGET;
use crate::tls::listen::TlsContext;
use crate::tls::{self, CaOrigin};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};

/// How long open connections may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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
