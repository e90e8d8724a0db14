//! The `lifecycle-sim` binary: parse flags, start logging, serve until Ctrl-C or SIGTERM.

use clap::Parser;
use lifecycle_sim::config::{Command, ScenarioCommand};
use lifecycle_sim::{App, Cli, scenario, shutdown_signal, telemetry};
use std::process::ExitCode;

/// `scenario validate`: one line per file, problems with line and column; 1 if any failed.
fn validate(files: &[std::path::PathBuf]) -> ExitCode {
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
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Scenario {
        action: ScenarioCommand::Validate { files },
    }) = &cli.command
    {
        return validate(files);
    }
    if let Err(e) = telemetry::init(cli.log_format, &cli.log) {
        eprintln!("lifecycle-sim: {e}");
        return ExitCode::from(2);
    }
    let config = match cli.config() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
