//! The in-process simulator for Rust tests: started on a random port like `wiremock::MockServer`,
//! configured with a builder, driven through a typed [`Control`] handle, stopped when dropped.

use crate::app::{App, StartError};
use crate::config::{AuthMode, Config, ControlToken, ScenarioSource};
use crate::control::Control;
use crate::state::{AppState, Listening};
use jiff::Timestamp;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A simulator running inside the current process on a random port, stopped when dropped.
///
/// Its [`uri`](Simulator::uri) is the base URL for every real client (LCS, BAP, Power Platform
/// API, token endpoints); [`control`](Simulator::control) drives the clock, tenants, faults and
/// snapshots. The walk below loads a shipped scenario whose tenant has too little capacity,
/// sets up Power Platform integration through the LCS portal route, watches it fail, adds
/// capacity, resumes, and jumps 90 minutes to the linked environment:
///
/// ```
/// use lifecycle_sim::Simulator;
/// use lifecycle_sim::control::CapacityChange;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let _ = rustls::crypto::ring::default_provider().install_default();
/// let sim = Simulator::builder()
///     .seed(7)
///     .paused()
///     .scenario("scenarios/capacity-shortfall.yaml")
///     .start()
///     .await?;
/// let control = sim.control();
/// let tenant = "5ce00001-0000-4000-8000-000000000001"; // fabrikam.test, 0.5 GB free
/// let token = control
///     .token(tenant, "admin@fabrikam.test", "https://lcsapi.lcs.dynamics.com")
///     .await?;
///
/// // A real client speaks HTTP to sim.uri(), with the token.
/// let http = reqwest::Client::new();
/// let details = format!(
///     "{}/_portal/lcs/projects/2000001/environments/5ce10001-0000-4000-8000-000000000001",
///     sim.uri()
/// );
/// let setup = http
///     .post(format!("{details}/power-platform-integration"))
///     .bearer_auth(&token)
///     .json(&serde_json::json!({"acceptTerms": true}))
///     .send()
///     .await?;
/// assert_eq!(setup.status(), 202);
///
/// // Ten virtual minutes later the setup has failed at "Reserve capacity".
/// let advanced = control.advance("10m").await?;
/// let failure = advanced.completed[0].error.clone().ok_or("the setup did not fail")?;
/// assert_eq!(failure.code, "InsufficientCapacity");
/// assert_eq!(failure.stage, "Reserve capacity");
///
/// // Fix the cause, Resume, and jump past the 60-90 minute provisioning.
/// let more = CapacityChange { database_mb: Some(4096), ..CapacityChange::default() };
/// control.set_capacity(tenant, more).await?;
/// let resume = http
///     .post(format!("{details}/power-platform-integration/resume"))
///     .bearer_auth(&token)
///     .send()
///     .await?;
/// assert_eq!(resume.status(), 202);
/// let advanced = control.advance("90m").await?;
/// assert_eq!(advanced.completed[0].state, "succeeded");
///
/// let page: serde_json::Value = http.get(&details).bearer_auth(&token).send().await?.json().await?;
/// assert_eq!(
///     page["powerPlatformIntegration"]["actions"],
///     serde_json::json!(["installAddin", "dualWriteApplication"])
/// );
///
/// // The tenant's state as a scenario file, to start the next test from here.
/// let snapshot = control.snapshot(tenant).await?;
/// assert!(snapshot.contains("fabrikam.test"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Simulator {
    base_url: String,
    address: SocketAddr,
    listening: Listening,
    state: Arc<AppState>,
    control: Control,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Simulator {
    /// A builder with test-friendly defaults: port 0 on loopback, random seed, clock running at
    /// scale 1, the built-in default scenario (tenant contoso.test), token auth.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder {
            config: Config {
                port: 0,
                ..Config::default()
            },
            scenario_files: Vec::new(),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:49152`.
    pub fn uri(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The HTTPS proxy's URL (`http://127.0.0.1:PORT`, what `HTTPS_PROXY` takes), when started
    /// with [`SimulatorBuilder::proxy`].
    pub fn proxy_uri(&self) -> Option<String> {
        self.listening.proxy.map(|a| format!("http://{a}"))
    }

    /// The TLS port's address, when started with [`SimulatorBuilder::tls`].
    pub fn tls_address(&self) -> Option<SocketAddr> {
        self.listening.tls
    }

    /// The CA certificate (PEM) the proxy's and the TLS port's certificates chain to.
    pub fn ca_pem(&self) -> &str {
        self.state.authority.ca_pem()
    }

    /// The typed control plane: clock, tenants, faults, scenarios, snapshots, tokens.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// The shared state, for reaching the world directly from Rust.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Configures an in-process [`Simulator`]. Methods read like the flags of the binary.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    config: Config,
    /// Scenario files, read at [`start`](SimulatorBuilder::start).
    scenario_files: Vec<PathBuf>,
}

impl SimulatorBuilder {
    /// Seed for every RNG (`--seed`): the same seed gives the same ids and durations.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Start with the clock paused (explicit time: it moves only by advance).
    pub fn paused(mut self) -> Self {
        self.config.paused = true;
        self
    }

    /// Virtual seconds per real second.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.config.time_scale = Some(scale);
        self
    }

    /// Virtual time at start.
    pub fn start_time(mut self, start: Timestamp) -> Self {
        self.config.start_time = Some(start);
        self
    }

    /// How callers are identified.
    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.config.auth = auth;
        self
    }

    /// Load this scenario file (YAML or JSON) at start instead of the built-in default; call
    /// again for several. Read when the simulator starts.
    pub fn scenario(mut self, path: impl Into<PathBuf>) -> Self {
        self.scenario_files.push(path.into());
        self
    }

    /// Load this scenario text at start instead of the built-in default; `name` appears in
    /// error messages.
    pub fn scenario_text(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.config.scenarios.push(ScenarioSource {
            name: name.into(),
            text: text.into(),
        });
        self
    }

    /// Guard the control plane with this token (`--control-token`): HTTP clients must send it
    /// as `Authorization: Bearer <token>`; [`Simulator::control`] sends it by itself.
    pub fn control_token(mut self, token: ControlToken) -> Self {
        self.config.control_token = Some(token);
        self
    }

    /// Also listen as an HTTPS proxy on a free port (`--proxy-port 0`); see
    /// [`Simulator::proxy_uri`].
    pub fn proxy(mut self) -> Self {
        self.config.proxy_port = Some(0);
        self
    }

    /// Also serve HTTPS on a free port, the certificate chosen by SNI (`--tls-port 0`); see
    /// [`Simulator::tls_address`].
    pub fn tls(mut self) -> Self {
        self.config.tls_port = Some(0);
        self
    }

    /// Keep the CA in this directory (`--tls-ca-dir`): read when there, else made and written.
    pub fn tls_ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.tls_ca_dir = Some(dir.into());
        self
    }

    /// Start without the built-in default tenant.
    pub fn without_default_tenant(mut self) -> Self {
        self.config.default_tenant = false;
        self
    }

    /// Any other setting.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Reads the scenario files, binds, starts serving on a background task, and returns the
    /// handle.
    pub async fn start(self) -> Result<Simulator, StartError> {
        let mut config = self.config;
        for path in self.scenario_files {
            let text = std::fs::read_to_string(&path).map_err(|source| StartError::Scenario {
                path: path.clone(),
                source,
            })?;
            config.scenarios.push(ScenarioSource {
                name: path.display().to_string(),
                text,
            });
        }
        let app = App::build(config).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let base_url = app.base_url();
        let address = app.address();
        let listening = app.listening();
        let state = app.state();
        let control = Control::new(app.router(), state.config.control_token.clone());
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(Simulator {
            base_url,
            address,
            listening,
            state,
            control,
            stop: Some(stop),
            task: Some(task),
        })
    }
}
