//! The `lifecycle-sim` binary: parse flags; serve until Ctrl-C or SIGTERM, or run one of the
//! client commands (`health`, `clock`, `scenario validate`, `completions`).

use clap::Parser;
use lifecycle_sim::{App, Cli, cli, shutdown_signal, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for the process (the simulator's listeners and any client it builds).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        return cli::run(&cli, command).await;
    }
    if let Err(e) = telemetry::init(cli.log_format, &cli.log) {
        eprintln!("lifecycle-sim: {e}");
        return ExitCode::from(2);
    }
    // Before anything else: as PID 1 a SIGTERM with no handler yet would be ignored.
    let shutdown = shutdown_signal();
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
    match app.run_until_stopped(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
