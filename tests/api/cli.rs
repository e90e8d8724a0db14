//! The binary: flags and environment variables, the ready line, health, clean shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lifecycle-sim");

#[test]
fn help_lists_every_flag_with_its_environment_variable() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for var in [
        "LIFECYCLE_SIM_BIND",
        "LIFECYCLE_SIM_PORT",
        "LIFECYCLE_SIM_TIME_SCALE",
        "LIFECYCLE_SIM_PAUSED",
        "LIFECYCLE_SIM_START_TIME",
        "LIFECYCLE_SIM_SEED",
        "LIFECYCLE_SIM_AUTH",
        "LIFECYCLE_SIM_LOG_FORMAT",
        "LIFECYCLE_SIM_LOG",
        "LIFECYCLE_SIM_MAX_BODY_BYTES",
        "LIFECYCLE_SIM_JOURNAL_SIZE",
        "LIFECYCLE_SIM_TOKEN_LIFETIME",
        "LIFECYCLE_SIM_ENFORCE_TOKEN_EXPIRY",
        "LIFECYCLE_SIM_NO_DEFAULT_TENANT",
        "LIFECYCLE_SIM_SCENARIO",
        "LIFECYCLE_SIM_FAULT",
        "LIFECYCLE_SIM_DURATION",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    assert!(help.contains("[default: 4747]"));
}

#[test]
fn bad_flags_are_refused_before_starting() {
    for args in [
        &["--time-scale", "0"][..],
        &["--start-time", "yesterday"],
        &["--auth", "maybe"],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
    }
}

#[test]
fn bad_start_up_faults_durations_and_scenarios_stop_the_start_with_a_reason() {
    for (args, says) in [
        (
            &["--fault", "{match: {surface: nope}, error: {status: 503}}"][..],
            "'nope' is not a surface",
        ),
        (
            &["--duration", "lcs.nothing=1h"],
            "'lcs.nothing' is not an operation kind",
        ),
        (
            &["--scenario", "/no/such/file.yaml"],
            "cannot read scenario /no/such/file.yaml",
        ),
    ] {
        let output = Command::new(BIN)
            .args(["--port", "0"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(all.contains(says), "{args:?}: {all}");
    }
}

#[test]
fn the_first_log_line_names_the_address_and_sigterm_stops_cleanly() {
    let mut child = Command::new(BIN)
        .env("LIFECYCLE_SIM_PORT", "0")
        .env("LIFECYCLE_SIM_LOG_FORMAT", "json")
        .env("LIFECYCLE_SIM_SEED", "5")
        .env("LIFECYCLE_SIM_PAUSED", "true")
        .env("LIFECYCLE_SIM_START_TIME", "2026-03-01T08:00:00Z")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["target"], "lifecycle_sim::ready");
    assert_eq!(first["seed"], 5);
    let url = first["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let health: serde_json::Value = runtime.block_on(async {
        reqwest::get(format!("{url}/_sim/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(
        health["virtualNow"], "2026-03-01T08:00:00Z",
        "flags come from the environment"
    );
    assert_eq!(health["seed"], 5);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("request")),
        "one line per request: {rest:?}"
    );
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}
