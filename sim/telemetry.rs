//! Logging: one subscriber for the binary (text or JSON lines on stdout) and, for tests, an opt-in
//! one (`TEST_LOG=1`). The first line a server logs is its ready line, with the bound address.

use clap::ValueEnum;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Target of the ready line; always enabled, whatever the filter, so that waiting for it works.
pub const READY_TARGET: &str = "lifecycle_sim::ready";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber writing to stdout. `filter` uses `EnvFilter` syntax.
pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| format!("invalid log filter '{filter}': {e}"))?
        .add_directive(
            format!("{READY_TARGET}=info")
                .parse()
                .map_err(|e| format!("{e}"))?,
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("could not install the logger: {e}"))
}

/// For tests: logs at `debug` to the test output when `TEST_LOG` is set, otherwise nothing.
/// Safe to call many times.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("lifecycle_sim=debug"))
            .with_test_writer()
            .try_init();
    }
}
