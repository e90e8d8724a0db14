//! Configuration: the command line (every flag also read from a `LIFECYCLE_SIM_*` environment
//! variable, for containers) and the [`Config`] the library starts from.

use crate::clock::{self, MAX_SCALE};
use crate::telemetry::LogFormat;
use crate::world::identity::TenantId;
use clap::{Parser, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use std::net::{IpAddr, Ipv4Addr};
use uuid::Uuid;

/// Default port: clear of common dev servers (3000, 4200, 5000, 5173, 8000, 8080, 8888...).
pub const DEFAULT_PORT: u16 = 4747;
/// Default bind address: loopback only. Containers pass `--bind 0.0.0.0`.
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Id of the built-in default tenant (fixed, so scripts and docs can name it).
pub const DEFAULT_TENANT_ID: TenantId =
    TenantId(Uuid::from_u128(0xc0de0000_0000_4000_8000_000000000001));
/// Default request body limit (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default number of requests the journal keeps.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;
/// Largest file the blob endpoint accepts in one request (Put Blob or Put Block).
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 512 * 1024 * 1024;
/// Default access-token lifetime, as Entra ID issues them.
pub const DEFAULT_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(1);

/// How portal API calls identify their caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Calls need a bearer token from the simulator's token endpoint (as the real services do).
    Token,
    /// Calls without a valid token act as the default tenant's admin (for the laziest setups).
    None,
}

/// Everything the simulator starts from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Virtual seconds per real second; the first scenario's `clock.scale`, else 1, when unset.
    pub time_scale: Option<f64>,
    /// Start with the clock paused (time moves only by advance).
    pub paused: bool,
    /// Virtual time at start; the first scenario's `clock.start`, else the real time (to the
    /// second), when unset.
    pub start_time: Option<Timestamp>,
    /// Seed of every RNG; a random one (logged) when unset.
    pub seed: Option<u64>,
    /// How portal API calls identify their caller.
    pub auth: AuthMode,
    /// Create the built-in default tenant at start (and after a global reset).
    pub default_tenant: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How many recent requests the journal keeps.
    pub journal_size: usize,
    /// Lifetime of issued access tokens (virtual time).
    pub token_lifetime: SignedDuration,
    /// Refuse tokens whose `exp` has passed on the virtual clock.
    pub enforce_token_expiry: bool,
    /// Apply the LCS API's documented per-minute throttles (429 + Retry-After).
    pub lcs_throttling: bool,
    /// Largest body the blob endpoint accepts per request.
    pub max_upload_bytes: usize,
    /// How Power Platform operation polls answer while running.
    pub pp_polling: PollStyle,
    /// Scenario files to load at start, in order; the built-in default scenario when empty
    /// (unless `default_tenant` is off).
    pub scenarios: Vec<ScenarioSource>,
    /// Global request-fault rules to add at start, each as the JSON or YAML body
    /// `POST /_sim/faults` takes.
    pub faults: Vec<String>,
    /// Duration overrides (`kind=75m` or `kind=1h..2h`) for every start-up tenant.
    pub durations: Vec<String>,
    /// When set, `/_sim` (but its health, readiness, OpenAPI and CA routes) answers only requests
    /// that carry this token ([`ControlToken`]).
    pub control_token: Option<ControlToken>,
    /// Also listen as an HTTP proxy on this port (0 picks one): `CONNECT host:443` to an
    /// emulated host is answered here under the simulator's CA, any other host refused.
    pub proxy_port: Option<u16>,
    /// Also serve HTTPS on this port (0 picks one), the certificate chosen by SNI.
    pub tls_port: Option<u16>,
    /// Keep the CA in this directory (read if there, else made and written), instead of making
    /// a new one in memory.
    pub tls_ca_dir: Option<std::path::PathBuf>,
}

/// The secret that guards the control plane (`--control-token`): 1 to 256 characters of
/// letters, digits and `-._~+/=` (a bearer token's alphabet, which is also a cookie value's).
/// Its `Debug` does not show it, and it has no `==`: the guard compares digests, so the time taken
/// says nothing about the token.
#[derive(Clone)]
pub struct ControlToken(String);

/// Longest control token accepted.
pub const MAX_CONTROL_TOKEN_LEN: usize = 256;

impl ControlToken {
    /// The token, if `text` is one.
    pub fn new(text: &str) -> Result<ControlToken, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
        if text.is_empty() || text.len() > MAX_CONTROL_TOKEN_LEN || !text.chars().all(allowed) {
            return Err(format!(
                "a control token is 1 to {MAX_CONTROL_TOKEN_LEN} characters of letters, digits \
                 and - . _ ~ + / = (e.g. the output of 'openssl rand -hex 16')"
            ));
        }
        Ok(ControlToken(text.to_string()))
    }

    /// The token as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(..)")
    }
}

impl std::str::FromStr for ControlToken {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ControlToken::new(text)
    }
}

/// A scenario file's name (for messages) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioSource {
    /// Where it came from, e.g. its path.
    pub name: String,
    /// Its YAML or JSON text.
    pub text: String,
}

impl ScenarioSource {
    /// A scenario file, named by its path.
    pub fn read(path: &std::path::Path) -> std::io::Result<ScenarioSource> {
        Ok(ScenarioSource {
            name: path.display().to_string(),
            text: std::fs::read_to_string(path)?,
        })
    }
}

/// How a poll of a running Power Platform lifecycle operation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PollStyle {
    /// 202 for api-versions before 2020 (the PowerShell module's), 200 otherwise.
    Auto,
    /// Always 200 with `Retry-After` until terminal.
    Ok,
    /// Always 202 until terminal.
    Accepted,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: DEFAULT_BIND,
            port: DEFAULT_PORT,
            time_scale: None,
            paused: false,
            start_time: None,
            seed: None,
            auth: AuthMode::Token,
            default_tenant: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            journal_size: DEFAULT_JOURNAL_SIZE,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            enforce_token_expiry: false,
            lcs_throttling: true,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            pp_polling: PollStyle::Auto,
            scenarios: Vec::new(),
            faults: Vec::new(),
            durations: Vec::new(),
            control_token: None,
            proxy_port: None,
            tls_port: None,
            tls_ca_dir: None,
        }
    }
}

/// An on/off flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// In-memory emulator of the Dynamics Lifecycle Services and Power Platform admin APIs, with a
/// virtual clock you can pause and fast-forward.
#[derive(Debug, Parser)]
#[command(name = "lifecycle-sim", version, about, long_about = None)]
pub struct Cli {
    /// Address to listen on (use 0.0.0.0 inside a container)
    #[arg(long, env = "LIFECYCLE_SIM_BIND", default_value_t = DEFAULT_BIND)]
    pub bind: IpAddr,

    /// Port to listen on; 0 picks a free port (the first log line names it)
    #[arg(long, short, env = "LIFECYCLE_SIM_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Virtual seconds per real second, e.g. 60 makes a 90-minute setup take 90 seconds
    /// (default: the scenario's clock.scale, else 1)
    #[arg(long, env = "LIFECYCLE_SIM_TIME_SCALE", value_parser = parse_scale)]
    pub time_scale: Option<f64>,

    /// Start with the virtual clock paused; it then moves only through POST /_sim/clock/advance
    #[arg(long, env = "LIFECYCLE_SIM_PAUSED")]
    pub paused: bool,

    /// Virtual time at start, RFC 3339 (default: the real time now)
    #[arg(long, env = "LIFECYCLE_SIM_START_TIME", value_parser = parse_start)]
    pub start_time: Option<Timestamp>,

    /// Seed for every random choice (ids, durations); the same seed reproduces a run exactly
    #[arg(long, env = "LIFECYCLE_SIM_SEED")]
    pub seed: Option<u64>,

    /// How portal API calls identify their caller: `token` (a bearer token from the simulator's
    /// token endpoint) or `none` (calls without one act as the default tenant's admin)
    #[arg(long, env = "LIFECYCLE_SIM_AUTH", value_enum, default_value_t = AuthMode::Token)]
    pub auth: AuthMode,

    /// Do not create the built-in default tenant (contoso.test)
    #[arg(long, env = "LIFECYCLE_SIM_NO_DEFAULT_TENANT")]
    pub no_default_tenant: bool,

    /// Load this scenario file (YAML or JSON) at start instead of the built-in default; repeat
    /// for several. A directory stands for every .yaml, .yml and .json file in it, in name order.
    /// A global reset recreates them.
    #[arg(
        long = "scenario",
        env = "LIFECYCLE_SIM_SCENARIO",
        value_delimiter = ','
    )]
    pub scenarios: Vec<std::path::PathBuf>,

    /// Also load every scenario file in this directory at start, if it exists and has any; an
    /// absent or empty directory leaves the default. The container image sets /scenarios, so
    /// mounting files there is enough.
    #[arg(long, env = "LIFECYCLE_SIM_SCENARIO_DIR")]
    pub scenario_dir: Option<std::path::PathBuf>,

    /// Add a global request-fault rule at start, written as the body of POST /_sim/faults in
    /// JSON or YAML flow style, e.g. '{match: {surface: bap}, error: {status: 503}, count: 2}';
    /// repeat for several
    #[arg(long = "fault", env = "LIFECYCLE_SIM_FAULT", value_delimiter = ';')]
    pub faults: Vec<String>,

    /// Override an operation kind's duration in every start-up tenant: KIND=75m or KIND=1h..2h,
    /// e.g. powerPlatformIntegration.setup=75m; repeat for several
    #[arg(
        long = "duration",
        env = "LIFECYCLE_SIM_DURATION",
        value_delimiter = ','
    )]
    pub durations: Vec<String>,

    /// Largest request body accepted, in bytes
    #[arg(long, env = "LIFECYCLE_SIM_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// How many recent requests GET /_sim/journal keeps
    #[arg(long, env = "LIFECYCLE_SIM_JOURNAL_SIZE", default_value_t = DEFAULT_JOURNAL_SIZE)]
    pub journal_size: usize,

    /// Lifetime of issued access tokens, e.g. 1h or 90m
    #[arg(long, env = "LIFECYCLE_SIM_TOKEN_LIFETIME", default_value = "1h", value_parser = parse_lifetime)]
    pub token_lifetime: SignedDuration,

    /// Refuse tokens whose expiry has passed on the virtual clock (off by default: clients cache
    /// tokens by real time, so a clock jump would otherwise break them)
    #[arg(long, env = "LIFECYCLE_SIM_ENFORCE_TOKEN_EXPIRY")]
    pub enforce_token_expiry: bool,

    /// LCS API throttles (6 metadata calls per project per minute, start/stop once per 5
    /// minutes...): `on` as documented, `off` for suites that do not want 429s.
    #[arg(long, env = "LIFECYCLE_SIM_LCS_THROTTLING", value_enum, default_value_t = Switch::On)]
    pub lcs_throttling: Switch,

    /// Largest file, in bytes, the blob endpoint accepts in one Put Blob or Put Block.
    #[arg(long, env = "LIFECYCLE_SIM_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: usize,

    /// How Power Platform lifecycle-operation polls answer while the operation runs: `ok` (200
    /// with Retry-After, what current clients expect), `accepted` (202, what the old PowerShell
    /// module's wait loop expects), `auto` (202 for api-versions before 2020, else 200)
    #[arg(long, env = "LIFECYCLE_SIM_PP_POLLING", value_enum, default_value_t = PollStyle::Auto)]
    pub pp_polling: PollStyle,

    /// Guard the control plane (/_sim) with this token: requests must carry it as
    /// 'Authorization: Bearer TOKEN' (health, readiness, the OpenAPI document and the CA stay
    /// open). Letters, digits and -._~+/=, at most 256
    #[arg(long, env = "LIFECYCLE_SIM_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<ControlToken>,

    /// Also listen as an HTTP proxy on this port (0 picks a free one), for clients that keep
    /// Microsoft's host names: set HTTPS_PROXY=http://127.0.0.1:PORT and trust the CA
    /// (GET /_sim/tls/ca.pem). CONNECT to an emulated host is answered by the simulator over TLS;
    /// every other host is refused and nothing is forwarded
    #[arg(long, env = "LIFECYCLE_SIM_PROXY_PORT")]
    pub proxy_port: Option<u16>,

    /// Also serve HTTPS on this port (0 picks a free one), the certificate chosen by SNI, for
    /// clients that map Microsoft's host names to the simulator (/etc/hosts, --add-host)
    #[arg(long, env = "LIFECYCLE_SIM_TLS_PORT")]
    pub tls_port: Option<u16>,

    /// Keep the CA in this directory (ca.pem, and ca-key.pem readable by its owner only): read
    /// when present, else made and written on first start, so clients trust it once (default: a
    /// new CA in memory each start)
    #[arg(long, env = "LIFECYCLE_SIM_TLS_CA_DIR")]
    pub tls_ca_dir: Option<std::path::PathBuf>,

    /// Log format: text or json (one object per line)
    #[arg(long, env = "LIFECYCLE_SIM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, e.g. info, debug, or lifecycle_sim=debug,tower_http=info
    #[arg(long, env = "LIFECYCLE_SIM_LOG", default_value = "info")]
    pub log: String,

    /// What to do; serve when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands besides serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Work with scenario files.
    Scenario {
        /// What to do with them.
        #[command(subcommand)]
        action: ScenarioCommand,
    },
    /// Ask a running simulator whether it is healthy: exit 0 if `GET /_sim/health` answers ok,
    /// 1 otherwise (for scripts and a container's HEALTHCHECK). With --wait, ask until it is (for
    /// CI steps that start it in the background).
    Health {
        /// Where the simulator is.
        #[command(flatten)]
        client: ClientArgs,
        /// Ask again every 100 ms until the simulator answers healthy or the timeout passes
        #[arg(long)]
        wait: bool,
        /// Give up after this long, e.g. 2s or 500ms [default: 3s, with --wait 30s]
        #[arg(long, value_parser = parse_timeout)]
        timeout: Option<std::time::Duration>,
    },
    /// List a running simulator's operations (every tenant's, or one's) with their state,
    /// progress and current stage; --watch keeps following them.
    Operations {
        /// Where the simulator is.
        #[command(flatten)]
        client: ClientArgs,
        /// Only this tenant's (its id or domain, e.g. contoso.test)
        #[arg(long)]
        tenant: Option<String>,
        /// Only the running ones
        #[arg(long)]
        running: bool,
        /// Keep following: on a terminal the table is redrawn, otherwise a line is printed each
        /// time an operation starts, changes stage or progress, or ends. Stop with Ctrl-C
        #[arg(long)]
        watch: bool,
        /// How often --watch asks, e.g. 1s or 250ms
        #[arg(long, default_value = "1s", value_parser = parse_timeout)]
        interval: std::time::Duration,
    },
    /// Read or move a running simulator's virtual clock (through its control plane).
    Clock {
        /// Where the simulator is.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do; show the clock when absent.
        #[command(subcommand)]
        action: Option<ClockCommand>,
    },
    /// Work with the certificate authority behind the TLS port and the proxy.
    Tls {
        /// What to do.
        #[command(subcommand)]
        action: TlsCommand,
    },
    /// Print a shell completion script, e.g. `lifecycle-sim completions bash > /etc/bash_completion.d/lifecycle-sim`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Where a client command finds the simulator, and how it speaks to it.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Base URL of the simulator (default: http://127.0.0.1 at --port, or at the address --bind
    /// names when that is not a wildcard)
    #[arg(long, env = "LIFECYCLE_SIM_URL", global = true)]
    pub url: Option<String>,
    /// Port of the simulator, when --url is not given [default: LIFECYCLE_SIM_PORT, else 4747]
    #[arg(long, short, global = true)]
    pub port: Option<u16>,
    /// The simulator's control token (its --control-token), sent as 'Authorization: Bearer
    /// TOKEN' to its control plane
    #[arg(
        long,
        env = "LIFECYCLE_SIM_CONTROL_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub control_token: Option<ControlToken>,
    /// Print the control plane's JSON answer instead of a summary
    #[arg(long, global = true)]
    pub json: bool,
}

/// `lifecycle-sim clock ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClockCommand {
    /// Show virtual now, the scale and whether the clock is paused.
    Show,
    /// Move virtual time forward by a duration (90m, 1h30m, 2d, PT1H30M) or to a moment; every
    /// operation that falls due is applied, and the ones that finished are listed.
    Advance {
        /// How far, e.g. 90m.
        #[arg(required_unless_present = "to", conflicts_with = "to")]
        by: Option<String>,
        /// Or to this moment (RFC 3339), e.g. 2026-01-01T10:30:00Z.
        #[arg(long)]
        to: Option<String>,
    },
    /// Stop virtual time; it then moves only by `clock advance`.
    Pause,
    /// Let virtual time flow again.
    Resume,
    /// Set virtual seconds per real second, e.g. 60.
    Scale {
        /// The scale.
        #[arg(value_parser = parse_scale)]
        scale: f64,
    },
}

/// `lifecycle-sim tls ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TlsCommand {
    /// Print the CA certificate (PEM) that clients must trust, e.g.
    /// `lifecycle-sim tls ca > lifecycle-sim-ca.pem`: a running simulator's (at --url), or with
    /// --dir the one kept in a CA directory (made there if it has none, as --tls-ca-dir does).
    Ca {
        /// Where the simulator is.
        #[command(flatten)]
        client: ClientArgs,
        /// Read (or make) the CA in this directory instead of asking a running simulator
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

/// `lifecycle-sim scenario ...`
#[derive(Debug, clap::Subcommand)]
pub enum ScenarioCommand {
    /// Check scenario files (syntax, names, and that their world builds); prints each problem
    /// with its line and column and exits non-zero if any file has one.
    Validate {
        /// The files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Write the scenario file of a large world, for benchmarks and load tests: one tenant
    /// (its Global admin is admin@DOMAIN) with N Power Platform sandboxes and one LCS project
    /// of M development environments. Load it with --scenario or POST /_sim/scenarios.
    Generate {
        /// Power Platform sandboxes, named S0, S1, ...
        #[arg(long, default_value_t = 100_000)]
        environments: usize,
        /// Give each sandbox a Dataverse database (and the tenant the capacity they need).
        #[arg(long)]
        dataverse: bool,
        /// LCS development environments in project 3000001, named D0, D1, ...
        #[arg(long, default_value_t = 0)]
        fo_environments: usize,
        /// The tenant's id.
        #[arg(long, default_value = "5ca1e000-0000-4000-8000-000000000001")]
        tenant: uuid::Uuid,
        /// The tenant's domain (letters, digits, dots and hyphens).
        #[arg(long, default_value = "scale.test", value_parser = parse_domain)]
        domain: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        out: Option<std::path::PathBuf>,
    },
}

fn parse_domain(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "'{text}' is not a domain name: use letters, digits, dots and hyphens, e.g. scale.test"
        ))
    }
}

impl Cli {
    /// The base URL a client command talks to: `--url`, else loopback (or the bound address)
    /// at the command's `--port`, else the server's (`--port` before the command, or
    /// `LIFECYCLE_SIM_PORT`).
    pub fn client_url(&self, client: &ClientArgs) -> String {
        match &client.url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host = if self.bind.is_unspecified() {
                    DEFAULT_BIND
                } else {
                    self.bind
                };
                let port = client.port.unwrap_or(self.port);
                format!("http://{}", std::net::SocketAddr::new(host, port))
            }
        }
    }

    /// The control token a client command sends: its own `--control-token` (or
    /// `LIFECYCLE_SIM_CONTROL_TOKEN`), else one given before the command.
    pub fn client_token<'a>(&'a self, client: &'a ClientArgs) -> Option<&'a ControlToken> {
        client
            .control_token
            .as_ref()
            .or(self.control_token.as_ref())
    }

    /// The library configuration these flags describe, with the scenario files read.
    pub fn config(&self) -> Result<Config, String> {
        let mut files = Vec::new();
        for path in &self.scenarios {
            if path.is_dir() {
                let found = scenario_files(path)?;
                if found.is_empty() {
                    return Err(format!(
                        "scenario directory {} has no .yaml, .yml or .json file",
                        path.display()
                    ));
                }
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        if let Some(dir) = self.scenario_dir.as_ref().filter(|d| d.is_dir()) {
            files.extend(scenario_files(dir)?);
        }
        let scenarios = files
            .iter()
            .map(|path| {
                ScenarioSource::read(path)
                    .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            bind: self.bind,
            port: self.port,
            time_scale: self.time_scale,
            paused: self.paused,
            start_time: self.start_time,
            seed: self.seed,
            auth: self.auth,
            default_tenant: !self.no_default_tenant,
            max_body_bytes: self.max_body_bytes,
            journal_size: self.journal_size,
            token_lifetime: self.token_lifetime,
            enforce_token_expiry: self.enforce_token_expiry,
            lcs_throttling: self.lcs_throttling == Switch::On,
            max_upload_bytes: self.max_upload_bytes,
            pp_polling: self.pp_polling,
            scenarios,
            faults: self.faults.clone(),
            durations: self.durations.clone(),
            control_token: self.control_token.clone(),
            proxy_port: self.proxy_port,
            tls_port: self.tls_port,
            tls_ca_dir: self.tls_ca_dir.clone(),
        })
    }
}

/// The scenario files of a directory (`.yaml`, `.yml`, `.json`, not hidden), in name order.
fn scenario_files(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read scenario directory {}: {e}", dir.display()))?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let visible = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'));
            let scenario = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json")
            });
            visible && scenario && path.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_SCALE => Ok(v),
        _ => Err(format!(
            "expected a number greater than 0 and at most {MAX_SCALE}"
        )),
    }
}

fn parse_start(text: &str) -> Result<Timestamp, String> {
    clock::parse_timestamp(text).map_err(|e| e.message)
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match clock::parse_duration(text) {
        Ok(d) if d.is_positive() => d.try_into().map_err(|e| format!("{e}")),
        Ok(_) => Err("a timeout must be longer than 0".into()),
        Err(e) => Err(e.message),
    }
}

fn parse_lifetime(text: &str) -> Result<SignedDuration, String> {
    match clock::parse_duration(text) {
        Ok(d) if d.as_secs() >= 60 => Ok(d),
        Ok(_) => Err("a token lifetime must be at least 1m".into()),
        Err(e) => Err(e.message),
    }
}
