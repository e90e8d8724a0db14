//! The binary's commands besides serving: `scenario validate`, and the thin clients of a running
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
        Command::Health { client, timeout } => {
            health(&Server::of(cli, client), client.json, *timeout).await
        }
        Command::Clock { client, action } => {
            let action = action.clone().unwrap_or(ClockCommand::Show);
            clock(&Server::of(cli, client), client, action).await
        }
        Command::Tls {
            action: TlsCommand::Ca { client, dir },
        } => tls_ca(&Server::of(cli, client), dir.as_deref()).await,
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(
                *shell,
                &mut command,
                "lifecycle-sim",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
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
                Ok(s) => println!("{name}: ok ({} tenant(s))", s.tenants.len()),
                Err(problem) => {
                    failed = true;
                    eprintln!("{name}: {problem}");
                }
            },
        }
    }
    exit(!failed)
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
    fn of(cli: &'a Cli, client: &ClientArgs) -> Server<'a> {
        Server {
            url: cli.client_url(client),
            token: cli.control_token.as_ref(),
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
                print!("{}", ca.ca_pem());
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
            print!("{pem}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifecycle-sim tls ca: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `health`: 0 when `/_sim/health` says ok within the timeout.
async fn health(server: &Server<'_>, json: bool, timeout: Duration) -> ExitCode {
    let url = &server.url;
    match call(server, reqwest::Method::GET, "/_sim/health", None, timeout).await {
        Ok(body) if body["status"] == "ok" && json => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Ok(body) if body["status"] == "ok" => {
            println!(
                "healthy: lifecycle-sim {} at {url}, up {}s, virtual now {}",
                body["version"].as_str().unwrap_or("?"),
                body["uptimeSeconds"],
                body["virtualNow"].as_str().unwrap_or("?"),
            );
            ExitCode::SUCCESS
        }
        Ok(body) => {
            eprintln!("unhealthy: {url}/_sim/health answered {body}");
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
            println!("{answer}");
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
    println!(
        "{} ({state}, scale {})",
        clock["now"].as_str().unwrap_or("?"),
        clock["scale"]
    );
}

fn print_advanced(answer: &Value) {
    let completed = answer["completed"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    println!(
        "{}: {} operation(s) finished",
        answer["now"].as_str().unwrap_or("?"),
        completed.len()
    );
    for op in completed {
        println!(
            "  {} {} {} {}",
            op["finishedAt"].as_str().unwrap_or("?"),
            op["kind"].as_str().unwrap_or("?"),
            op["state"].as_str().unwrap_or("?"),
            op["target"]["id"].as_str().unwrap_or("?"),
        );
    }
}
