//! The binary's commands besides serving: `scenario validate` and `generate`, and the thin clients of a running
//! simulator's control plane (`health`, `clock`, `tls ca`), plus `completions`.
//!
//! Exit codes: 0 success; 1 the check failed, the simulator refused, or it could not be reached;
//! 2 bad flags (from clap).

use crate::config::{
    Cli, ClientArgs, ClockCommand, Command, ControlToken, ScenarioCommand, TlsCommand,
};
use crate::control::ControlError;
use crate::scenario;
use clap::CommandFactory;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How long a control-plane call of `clock` may take.
const CLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a command other than serving.
pub async fn run(cli: &Cli, command: &Command) -> ExitCode {
    match command {
        Command::Scenario {
            action: ScenarioCommand::Validate { files },
        } => validate(files),
        Command::Scenario {
            action:
                ScenarioCommand::Generate {
                    environments,
                    dataverse,
                    fo_environments,
                    tenant,
                    domain,
                    out,
                },
        } => generate(
            &crate::generate::World {
                tenant: tenant.to_string(),
                domain: domain.clone(),
                environments: *environments,
                dataverse: *dataverse,
                fo_environments: *fo_environments,
            },
            out.as_deref(),
        ),
        Command::Health {
            client,
            wait,
            timeout,
        } => health(&Server::of(cli, client), client.json, *wait, *timeout).await,
        Command::Clock { client, action } => {
            let action = action.clone().unwrap_or(ClockCommand::Show);
            clock(&Server::of(cli, client), client, action).await
        }
        Command::Operations {
            client,
            tenant,
            running,
            watch,
            interval,
        } => {
            let query = OperationsQuery {
                tenant: tenant.as_deref(),
                running: *running,
                json: client.json,
            };
            let server = Server::of(cli, client);
            if *watch {
                watch_operations(&server, &query, *interval).await
            } else {
                list_operations(&server, &query).await
            }
        }
        Command::Tls {
            action: TlsCommand::Ca { client, dir },
        } => tls_ca(&Server::of(cli, client), dir.as_deref()).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "lifecycle-sim", &mut script);
            let _ = write_out(&script);
            ExitCode::SUCCESS
        }
    }
}

/// Writes to standard output. A reader that stopped reading (`| head`) is not an error worth a
/// panic: the caller just stops writing (`Err`).
fn write_out(bytes: &[u8]) -> Result<(), ()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|_| ())
}

/// [`write_out`] of one line.
fn say(line: impl std::fmt::Display) -> Result<(), ()> {
    write_out(format!("{line}\n").as_bytes())
}

/// `scenario validate`: one line per file, problems with line and column; 1 if any failed.
fn validate(files: &[PathBuf]) -> ExitCode {
    let anchor = jiff::Timestamp::now();
    let mut failed = false;
    for path in files {
        let name = path.display();
        match std::fs::read_to_string(path) {
            Err(e) => {
                failed = true;
                eprintln!("{name}: cannot read: {e}");
            }
            Ok(text) => match scenario::check(&text, anchor) {
                Ok(s) => {
                    let _ = say(format_args!("{name}: ok ({} tenant(s))", s.tenants.len()));
                }
                Err(problem) => {
                    failed = true;
                    eprintln!("{name}: {problem}");
                }
            },
        }
    }
    exit(!failed)
}

fn generate(world: &crate::generate::World, out: Option<&std::path::Path>) -> ExitCode {
    let text = crate::generate::scenario(world);
    let written = match out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .map_err(|e| format!("standard output: {e}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the scenario: {e}");
            ExitCode::FAILURE
        }
    }
}

fn exit(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Why a control-plane call did not give an answer.
enum CallError {
    /// No connection, a timeout, or an answer that is not JSON.
    Unreachable(String),
    /// The simulator answered with an error envelope.
    Refused(ControlError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(why) => write!(f, "{why}"),
            CallError::Refused(error) => write!(f, "{error}"),
        }
    }
}

/// A running simulator a client command talks to.
struct Server<'a> {
    /// Its base URL.
    url: String,
    /// The control token to send (`--control-token`), if any.
    token: Option<&'a ControlToken>,
}

impl<'a> Server<'a> {
    /// The simulator the flags name.
    fn of(cli: &'a Cli, client: &'a ClientArgs) -> Server<'a> {
        Server {
            url: cli.client_url(client),
            token: cli.client_token(client),
        }
    }
}

/// One JSON call to the control plane.
async fn call(
    server: &Server<'_>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    timeout: Duration,
) -> Result<Value, CallError> {
    let url = &server.url;
    let unreachable = |e: reqwest::Error| unreachable(url, &e);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(unreachable)?;
    let mut request = client.request(method, format!("{url}{path}"));
    if let Some(token) = server.token {
        request = request.bearer_auth(token.as_str());
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    let value: Value = serde_json::from_str(&text).map_err(|_| {
        CallError::Unreachable(format!(
            "{url}{path} answered {status} with something that is not JSON; is {url} a \
             lifecycle-sim?"
        ))
    })?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(CallError::Refused(ControlError::from_envelope(
            status.as_u16(),
            &value,
        )))
    }
}

/// The simulator at `url` could not be reached (or answered nonsense).
fn unreachable(url: &str, e: &reqwest::Error) -> CallError {
    // reqwest's own message ("error sending request") hides the cause; name every layer.
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    CallError::Unreachable(format!(
        "cannot reach the simulator at {url} ({why}); is it running? (set --url or \
         LIFECYCLE_SIM_URL to where it listens)"
    ))
}

/// `tls ca`: the CA certificate, from a CA directory or from the running simulator.
async fn tls_ca(server: &Server<'_>, dir: Option<&std::path::Path>) -> ExitCode {
    if let Some(dir) = dir {
        return match crate::tls::Authority::new(Some(dir)) {
            Ok(ca) => {
                let _ = write_out(ca.ca_pem().as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lifecycle-sim tls ca: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let url = &server.url;
    let fetched = async {
        let client = reqwest::Client::builder()
            .timeout(CLOCK_TIMEOUT)
            .build()
            .map_err(|e| unreachable(url, &e))?;
        let response = client
            .get(format!("{url}/_sim/tls/ca.pem"))
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| unreachable(url, &e))?;
        if status.is_success() && text.starts_with("-----BEGIN CERTIFICATE-----") {
            Ok(text)
        } else {
            Err(CallError::Unreachable(format!(
                "{url}/_sim/tls/ca.pem answered {status} without a certificate; is {url} a \
                 lifecycle-sim?"
            )))
        }
    };
    match fetched.await {
        Ok(pem) => {
            let _ = write_out(pem.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifecycle-sim tls ca: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How long `health` waits by default: one try, or `--wait`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);
const HEALTH_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `health --wait` asks again.
const HEALTH_RETRY: Duration = Duration::from_millis(100);
/// The least time one `health --wait` attempt gets, so that the last attempt before the timeout
/// reports why the simulator cannot be reached rather than that the budget ran out mid-request.
const HEALTH_ATTEMPT_MIN: Duration = Duration::from_millis(250);

/// `health`: 0 when `/_sim/health` says ok within the timeout; with `wait`, asked again until
/// it does or the timeout passes.
async fn health(
    server: &Server<'_>,
    json: bool,
    wait: bool,
    timeout: Option<Duration>,
) -> ExitCode {
    let url = &server.url;
    let limit = timeout.unwrap_or(if wait {
        HEALTH_WAIT_TIMEOUT
    } else {
        HEALTH_TIMEOUT
    });
    let deadline = tokio::time::Instant::now() + limit;
    let last = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let budget = if wait {
            left.max(HEALTH_ATTEMPT_MIN)
        } else {
            left
        };
        let answer = call(server, reqwest::Method::GET, "/_sim/health", None, budget).await;
        let healthy = matches!(&answer, Ok(body) if body["status"] == "ok");
        let refused = matches!(&answer, Err(CallError::Refused(_)));
        if healthy || refused || !wait || tokio::time::Instant::now() + HEALTH_RETRY >= deadline {
            break answer;
        }
        tokio::time::sleep(HEALTH_RETRY).await;
    };
    match last {
        Ok(body) if body["status"] == "ok" && json => {
            let _ = say(&body);
            ExitCode::SUCCESS
        }
        Ok(body) if body["status"] == "ok" => {
            let _ = say(format_args!(
                "healthy: lifecycle-sim {} at {url}, up {}s, virtual now {}",
                body["version"].as_str().unwrap_or("?"),
                body["uptimeSeconds"],
                body["virtualNow"].as_str().unwrap_or("?"),
            ));
            ExitCode::SUCCESS
        }
        Ok(body) => {
            eprintln!("unhealthy: {url}/_sim/health answered {body}");
            ExitCode::FAILURE
        }
        Err(e) if wait => {
            eprintln!("unhealthy: not healthy within {limit:?}: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `clock ...`: one call, then a one-line summary (or the JSON answer with `--json`).
async fn clock(server: &Server<'_>, client: &ClientArgs, action: ClockCommand) -> ExitCode {
    use reqwest::Method;
    let (method, path, body) = match &action {
        ClockCommand::Show => (Method::GET, "/_sim/clock", None),
        ClockCommand::Advance { by: Some(by), .. } => (
            Method::POST,
            "/_sim/clock/advance",
            Some(json!({ "by": by })),
        ),
        ClockCommand::Advance { to, .. } => (
            Method::POST,
            "/_sim/clock/advance",
            Some(json!({ "to": to })),
        ),
        ClockCommand::Pause => (Method::PATCH, "/_sim/clock", Some(json!({"paused": true}))),
        ClockCommand::Resume => (Method::PATCH, "/_sim/clock", Some(json!({"paused": false}))),
        ClockCommand::Scale { scale } => (
            Method::PATCH,
            "/_sim/clock",
            Some(json!({ "scale": scale })),
        ),
    };
    match call(server, method, path, body, CLOCK_TIMEOUT).await {
        Ok(answer) if client.json => {
            let _ = say(&answer);
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            match action {
                ClockCommand::Advance { .. } => print_advanced(&answer),
                _ => print_clock(&answer),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifecycle-sim clock: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_clock(clock: &Value) {
    let state = if clock["paused"] == true {
        "paused"
    } else {
        "running"
    };
    let _ = say(format_args!(
        "{} ({state}, scale {})",
        clock["now"].as_str().unwrap_or("?"),
        clock["scale"]
    ));
}

fn print_advanced(answer: &Value) {
    let completed = answer["completed"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let _ = say(format_args!(
        "{}: {} operation(s) finished",
        answer["now"].as_str().unwrap_or("?"),
        completed.len()
    ));
    for op in completed {
        let _ = say(format_args!(
            "  {} {} {} {}",
            op["finishedAt"].as_str().unwrap_or("?"),
            op["kind"].as_str().unwrap_or("?"),
            op["state"].as_str().unwrap_or("?"),
            op["target"]["id"].as_str().unwrap_or("?"),
        ));
    }
}

/// What `operations` shows.
struct OperationsQuery<'a> {
    /// A tenant's id or domain; every tenant's when absent.
    tenant: Option<&'a str>,
    /// Only running operations.
    running: bool,
    /// JSON instead of a table.
    json: bool,
}

/// One operation as `operations` prints it.
#[derive(Debug, Clone, PartialEq)]
struct OperationRow {
    id: String,
    tenant: String,
    /// The tenant's virtual now when it was read.
    now: String,
    kind: String,
    target: String,
    state: String,
    progress: u64,
    /// The running (or failed) stage's name, else the last one's.
    stage: String,
    /// When it finishes (running: planned) or finished.
    ends_at: String,
    error: Option<String>,
    /// The control plane's JSON of it.
    json: Value,
}

impl OperationRow {
    fn of(tenant: &Value, op: &Value) -> OperationRow {
        let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
        let stages = op["stages"].as_array().map_or(&[][..], Vec::as_slice);
        let stage = stages
            .iter()
            .find(|s| s["state"] == "running" || s["state"] == "failed")
            .or(stages.last())
            .map_or_else(String::new, |s| text(&s["name"]));
        OperationRow {
            id: text(&op["id"]),
            tenant: text(&tenant["domain"]),
            now: text(&tenant["now"]),
            kind: text(&op["kind"]),
            target: format!(
                "{} {}",
                text(&op["target"]["type"]),
                text(&op["target"]["id"])
            ),
            state: text(&op["state"]),
            progress: op["progress"].as_u64().unwrap_or(0),
            stage,
            ends_at: text(op.get("finishedAt").unwrap_or(&op["endsAt"])),
            error: op["error"]["code"].as_str().map(str::to_string),
            json: op.clone(),
        }
    }

    /// What `--watch` compares to tell that an operation moved.
    fn moved_from(&self, before: &OperationRow) -> bool {
        (&self.state, self.progress, &self.stage) != (&before.state, before.progress, &before.stage)
    }

    /// One line for `--watch` on a pipe.
    fn event_line(&self) -> String {
        let mut line = format!(
            "{} {} {} {} {} {}% {}",
            self.now, self.tenant, self.kind, self.target, self.state, self.progress, self.stage
        );
        if let Some(code) = &self.error {
            line.push_str(&format!(" ({code})"));
        }
        line
    }
}

/// Every operation the query asks for, oldest first within each tenant.
async fn fetch_operations(
    server: &Server<'_>,
    query: &OperationsQuery<'_>,
) -> Result<Vec<OperationRow>, CallError> {
    use reqwest::Method;
    let list = call(server, Method::GET, "/_sim/tenants", None, CLOCK_TIMEOUT).await?;
    let tenants = list["tenants"].as_array().map_or(&[][..], Vec::as_slice);
    let chosen: Vec<&Value> = match query.tenant {
        None => tenants.iter().collect(),
        Some(name) => {
            let wanted = name.trim().to_ascii_lowercase();
            let found: Vec<&Value> = tenants
                .iter()
                .filter(|t| t["id"] == wanted.as_str() || t["domain"] == wanted.as_str())
                .collect();
            if found.is_empty() {
                return Err(CallError::Unreachable(format!(
                    "no tenant has the id or domain '{name}' (lifecycle-sim operations without \
                     --tenant lists every tenant's)"
                )));
            }
            found
        }
    };
    let mut rows = Vec::new();
    for tenant in chosen {
        let id = tenant["id"].as_str().unwrap_or_default();
        let path = format!("/_sim/tenants/{id}/operations");
        let answer = call(server, Method::GET, &path, None, CLOCK_TIMEOUT).await?;
        let operations = answer["operations"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        rows.extend(
            operations
                .iter()
                .map(|op| OperationRow::of(tenant, op))
                .filter(|row| !query.running || row.state == "running"),
        );
    }
    Ok(rows)
}

/// The rows as an aligned table (a header, then one line each).
fn table(rows: &[OperationRow]) -> String {
    let header = [
        "TENANT", "KIND", "TARGET", "STATE", "PROGRESS", "STAGE", "ENDS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let state = match &r.error {
                Some(code) => format!("{} ({code})", r.state),
                None => r.state.clone(),
            };
            [
                r.tenant.clone(),
                r.kind.clone(),
                r.target.clone(),
                state,
                format!("{}%", r.progress),
                r.stage.clone(),
                r.ends_at.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |row: &[String]| {
        let mut out = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header.map(str::to_string));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// `operations`: the table once (or the JSON list with `--json`).
async fn list_operations(server: &Server<'_>, query: &OperationsQuery<'_>) -> ExitCode {
    match fetch_operations(server, query).await {
        Ok(rows) if query.json => {
            let list: Vec<&Value> = rows.iter().map(|r| &r.json).collect();
            let _ = say(json!({ "operations": list }));
            ExitCode::SUCCESS
        }
        Ok(rows) if rows.is_empty() => {
            let _ = say("no operations");
            ExitCode::SUCCESS
        }
        Ok(rows) => {
            let _ = write_out(table(&rows).as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifecycle-sim operations: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `operations --watch`: asks every `interval` until interrupted or the reader goes away. On a
/// terminal the table is redrawn; otherwise each operation that appeared or moved is one line
/// (its JSON with `--json`).
async fn watch_operations(
    server: &Server<'_>,
    query: &OperationsQuery<'_>,
    interval: Duration,
) -> ExitCode {
    use std::io::IsTerminal;
    let redraw = std::io::stdout().is_terminal() && !query.json;
    let mut seen: std::collections::HashMap<String, OperationRow> = Default::default();
    loop {
        let rows = match fetch_operations(server, query).await {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("lifecycle-sim operations: {e}");
                return ExitCode::FAILURE;
            }
        };
        let written = if redraw {
            let body = if rows.is_empty() {
                "no operations\n".to_string()
            } else {
                table(&rows)
            };
            // Home the cursor and clear the screen, then the table.
            write_out(format!("\x1b[H\x1b[2J{body}").as_bytes())
        } else {
            let mut out = String::new();
            for row in &rows {
                if seen
                    .get(&row.id)
                    .is_none_or(|before| row.moved_from(before))
                {
                    out.push_str(&if query.json {
                        row.json.to_string()
                    } else {
                        row.event_line()
                    });
                    out.push('\n');
                }
            }
            write_out(out.as_bytes())
        };
        if written.is_err() {
            return ExitCode::SUCCESS;
        }
        seen = rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        tokio::time::sleep(interval).await;
    }
}
