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
        "LIFECYCLE_SIM_SCENARIO_DIR",
        "LIFECYCLE_SIM_FAULT",
        "LIFECYCLE_SIM_DURATION",
        "LIFECYCLE_SIM_CONTROL_TOKEN",
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
        &["--control-token", ""],
        &["--control-token", "two words"],
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
        crate::helpers::http()
            .get(format!("{url}/_sim/health"))
            .send()
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
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}

/// The `lifecycle_sim::http` lines a server logs at `--log level` for a successful read, a
/// refused read and a change, in that order: (method, path, status).
fn request_lines(level: &str) -> Vec<(String, String, u64)> {
    let mut child = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--log-format",
            "json",
            "--paused",
            "--log",
            level,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let addr = ready["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    for request in [
        "GET /_sim/clock HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /_sim/no-such-thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /_sim/clock/advance HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"by\":\"1m\"}",
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        use std::io::Write;
        s.write_all(request.as_bytes()).unwrap();
        std::io::Read::read_to_end(&mut s, &mut Vec::new()).unwrap();
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    lines
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|l| l["target"] == "lifecycle_sim::http")
        .map(|l| {
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (
                text("method"),
                text("path"),
                l["status"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn changes_and_refusals_are_logged_at_info_and_successful_reads_at_debug() {
    let change = ("POST".to_string(), "/_sim/clock/advance".to_string(), 200);
    let refused = ("GET".to_string(), "/_sim/no-such-thing".to_string(), 404);
    let read = ("GET".to_string(), "/_sim/clock".to_string(), 200);
    assert_eq!(request_lines("info"), [refused.clone(), change.clone()]);
    assert_eq!(request_lines("debug"), [read, refused, change]);
}

/// Runs the binary with `args` off the runtime's threads; returns (exit code, stdout, stderr).
async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(BIN)
            .args(&args)
            .env_remove("LIFECYCLE_SIM_URL")
            .env_remove("LIFECYCLE_SIM_PORT")
            .env_remove("LIFECYCLE_SIM_CONTROL_TOKEN")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn health_exits_zero_for_a_healthy_simulator_and_one_when_nothing_answers() {
    // Arrange
    let app = crate::helpers::spawn_app().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);

    // Act
    let healthy = run(&["health", "--url", app.sim.uri()]).await;
    let by_port = run(&["--port", &app.sim.address().port().to_string(), "health"]).await;
    let json = run(&["health", "--json", "--url", app.sim.uri()]).await;
    let nothing = run(&["--port", &closed_port, "health", "--timeout", "2s"]).await;

    // Assert
    assert_eq!(healthy.0, Some(0), "{healthy:?}");
    assert!(
        healthy.1.starts_with("healthy: lifecycle-sim "),
        "{healthy:?}"
    );
    assert_eq!(
        by_port.0,
        Some(0),
        "the port flag finds loopback: {by_port:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&json.1).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(nothing.0, Some(1), "{nothing:?}");
    assert!(
        nothing.2.contains("cannot reach the simulator"),
        "{nothing:?}"
    );
    assert!(nothing.2.contains("Connection refused"), "{nothing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_fails_for_a_server_that_is_not_a_simulator() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/_sim/health"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("<html>hi</html>"))
        .mount(&server)
        .await;

    let (code, _, stderr) = run(&["health", "--url", &server.uri()]).await;

    assert_eq!(code, Some(1));
    assert!(stderr.contains("not JSON"), "{stderr}");
}

/// Starts an LCS deploy in the default tenant that takes exactly 2 virtual hours; its id.
async fn deploy_taking_two_hours(app: &crate::helpers::TestApp) -> String {
    use crate::helpers::DEFAULT_TENANT;
    let (status, _) = app
        .client
        .put(app.url(&format!(
            "/_sim/tenants/{DEFAULT_TENANT}/durations/lcs.deploy"
        )))
        .json(&serde_json::json!({"duration": "2h"}))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert!(status.is_success());
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let (status, op) = app
        .send(
            reqwest::Method::POST,
            "/_portal/lcs/projects/1234567/environments",
            &token,
            Some(
                serde_json::json!({"name": "Contoso-TEST", "type": "Sandbox", "region": "eastus"}),
            ),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{op}");
    op["target"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_shows_advances_pauses_and_scales_a_running_simulator() {
    // Arrange: the test simulator is paused at 09:00 with the default tenant.
    let app = crate::helpers::spawn_app().await;
    let url = app.sim.uri().to_string();

    // Act
    let shown = run(&["clock", "--url", &url]).await;
    let deploy = deploy_taking_two_hours(&app).await;
    let advanced = run(&["clock", "advance", "3h", "--url", &url]).await;
    let to = run(&[
        "clock",
        "advance",
        "--to",
        "2026-01-01T13:00:00Z",
        "--url",
        &url,
    ])
    .await;
    let scaled = run(&["clock", "scale", "60", "--json", "--url", &url]).await;
    let resumed = run(&["clock", "resume", "--url", &url]).await;
    let paused = run(&["clock", "pause", "--url", &url]).await;

    // Assert
    assert_eq!(
        shown,
        (
            Some(0),
            "2026-01-01T09:00:00Z (paused, scale 1.0)\n".into(),
            String::new()
        )
    );
    assert_eq!(advanced.0, Some(0), "{advanced:?}");
    assert!(
        advanced
            .1
            .starts_with("2026-01-01T12:00:00Z: 1 operation(s) finished\n"),
        "{advanced:?}"
    );
    assert!(
        advanced
            .1
            .contains(&format!("lcs.deploy succeeded {deploy}")),
        "{advanced:?}"
    );
    assert_eq!(to.1, "2026-01-01T13:00:00Z: 0 operation(s) finished\n");
    let scaled: serde_json::Value = serde_json::from_str(&scaled.1).unwrap();
    assert_eq!(scaled["scale"], 60.0);
    assert!(resumed.1.contains("(running, scale 60.0)"), "{resumed:?}");
    assert!(paused.1.contains("(paused, scale 60.0)"), "{paused:?}");
    let (_, clock) = app.get("/_sim/clock").await;
    assert_eq!(clock["paused"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_reports_a_refusal_with_its_code_and_exits_one() {
    let app = crate::helpers::spawn_app().await;

    let back = run(&[
        "clock",
        "advance",
        "--to",
        "2020-01-01T00:00:00Z",
        "--url",
        app.sim.uri(),
    ])
    .await;
    let nonsense = run(&["clock", "advance", "soon", "--url", app.sim.uri()]).await;

    assert_eq!(back.0, Some(1));
    assert!(
        back.2.contains("400 ClockCannotGoBack: cannot advance to"),
        "{back:?}"
    );
    assert_eq!(nonsense.0, Some(1));
    assert!(nonsense.2.contains("400 InvalidDuration"), "{nonsense:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_sends_the_control_token_of_a_guarded_simulator() {
    // Arrange: a binary guarding its control plane (the token from the environment, as in a
    // container).
    let (_served, url) = serve(&["--paused"], &[("LIFECYCLE_SIM_CONTROL_TOKEN", "s3cret")]);

    // Act
    let without = run(&["clock", "--url", &url]).await;
    let wrong = run(&["clock", "--url", &url, "--control-token", "guess"]).await;
    let with = run(&[
        "clock",
        "advance",
        "15m",
        "--url",
        &url,
        "--control-token",
        "s3cret",
    ])
    .await;
    let health = run(&["health", "--url", &url]).await;

    // Assert
    assert_eq!(without.0, Some(1), "{without:?}");
    assert!(
        without.2.contains("401 ControlTokenRequired"),
        "{without:?}"
    );
    assert!(without.2.contains("--control-token"), "{without:?}");
    assert_eq!(wrong.0, Some(1), "{wrong:?}");
    assert!(wrong.2.contains("401 ControlTokenInvalid"), "{wrong:?}");
    assert_eq!(with.0, Some(0), "{with:?}");
    assert!(with.1.contains("operation(s) finished"), "{with:?}");
    assert_eq!(health.0, Some(0), "health needs no token: {health:?}");
}

#[test]
fn a_bad_control_token_stops_the_start_with_its_rule() {
    let output = Command::new(BIN)
        .env("LIFECYCLE_SIM_CONTROL_TOKEN", "semi;colon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("1 to 256 characters"), "{stderr}");
    // The value is the operator's secret; clap's error may quote it, --help must not.
    let help = Command::new(BIN)
        .arg("--help")
        .env("LIFECYCLE_SIM_CONTROL_TOKEN", "hidden-value")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8(help.stdout)
            .unwrap()
            .contains("hidden-value")
    );
}

#[test]
fn version_and_completions_are_printed() {
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("lifecycle-sim {}\n", env!("CARGO_PKG_VERSION"))
    );
    for (shell, says) in [
        ("bash", "complete -F _lifecycle__sim"),
        ("zsh", "#compdef lifecycle-sim"),
        ("fish", "complete -c lifecycle-sim"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(says), "{shell}: {script}");
        for sub in ["health", "clock", "advance", "validate"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
    }
}

/// A served binary, killed when dropped (also when an assertion fails).
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a free port with JSON logs; returns it and the URL from its ready line.
fn serve(args: &[&str], envs: &[(&str, &str)]) -> (Served, String) {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--log-format", "json"])
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut lines = BufReader::new(stdout).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let url = first["url"].as_str().unwrap().to_string();
    (served, url)
}

async fn tenant_domains(url: &str) -> Vec<String> {
    let tenants: serde_json::Value = crate::helpers::http()
        .get(format!("{url}/_sim/tenants"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut domains: Vec<String> = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["domain"].as_str().unwrap().to_string())
        .collect();
    domains.sort();
    domains
}

fn scenario_dir(name: &str, files: &[&str]) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in files {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(file);
        std::fs::copy(from, dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a scenario").unwrap();
    std::fs::write(dir.join(".hidden.yaml"), "not: [valid").unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_directory_loads_every_scenario_file_in_it_in_name_order() {
    let dir = scenario_dir(
        "scenario-dir",
        &["missing-license.yaml", "linked-sandbox-pair.yaml"],
    );
    let dir = dir.to_str().unwrap();

    let (_by_flag, flag_url) = serve(&["--scenario", dir], &[]);
    let (_by_env, env_url) = serve(&[], &[("LIFECYCLE_SIM_SCENARIO_DIR", dir)]);
    let (_absent, absent_url) = serve(&[], &[("LIFECYCLE_SIM_SCENARIO_DIR", "/no/such/dir")]);

    let from_flag = tenant_domains(&flag_url).await;
    let from_env = tenant_domains(&env_url).await;
    let from_absent = tenant_domains(&absent_url).await;
    assert_eq!(from_flag, ["alpineskihouse.test", "tailspin.test"]);
    assert_eq!(
        from_env, from_flag,
        "the directory replaces the default scenario"
    );
    assert_eq!(from_absent, ["contoso.test"], "no directory, the default");
}

#[test]
fn a_scenario_directory_without_scenarios_is_refused_by_name() {
    let dir = scenario_dir("empty-scenario-dir", &[]);

    let output = Command::new(BIN)
        .args(["--port", "0", "--scenario", dir.to_str().unwrap()])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let all = String::from_utf8_lossy(&output.stdout);
    assert!(all.contains("has no .yaml, .yml or .json file"), "{all}");
}

#[test]
fn sigterm_right_after_the_ready_line_is_a_clean_exit() {
    // The handler must exist before the ready line: as PID 1 an unhandled SIGTERM is ignored,
    // and elsewhere it kills the process (no clean exit).
    for _ in 0..5 {
        let (mut served, _) = serve(&[], &[]);
        let killed = Command::new("kill")
            .args(["-TERM", &served.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = served.0.wait().unwrap();
        assert!(status.success(), "exit after an early SIGTERM: {status}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_wait_waits_for_a_simulator_that_starts_later_and_gives_up_at_its_timeout() {
    // Arrange: a port the test holds until the waiter has knocked on it once.
    let knock = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = knock.local_addr().unwrap().port().to_string();

    // Act: wait (the port after the command); once its first attempt arrives, close that
    // connection without a lingering close (so the port is free at once) and start the simulator.
    let waiting = {
        let port = port.clone();
        tokio::spawn(async move { run(&["health", "--wait", "--port", &port]).await })
    };
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), knock.accept())
        .await
        .expect("health --wait tries the port")
        .unwrap()
        .0;
    first.set_zero_linger().unwrap();
    drop((first, knock));
    let _served = Served(
        Command::new(BIN)
            .args(["--port", &port])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let waited = waiting.await.unwrap();
    let once = run(&["health", "--port", &port]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let started = std::time::Instant::now();
    let gave_up = run(&["health", "--wait", "--timeout", "600ms", "-p", &closed_port]).await;

    // Assert
    assert_eq!(waited.0, Some(0), "{waited:?}");
    assert!(waited.1.starts_with("healthy: "), "{waited:?}");
    assert_eq!(once.0, Some(0), "--port after the command: {once:?}");
    assert_eq!(gave_up.0, Some(1), "{gave_up:?}");
    assert!(
        gave_up.2.contains("not healthy within 600ms") && gave_up.2.contains("Connection refused"),
        "{gave_up:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(500) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn client_commands_show_client_flags_only() {
    let help = |args: &[&str]| {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    for args in [
        &["scenario", "validate", "--help"][..],
        &["completions", "--help"],
    ] {
        let text = help(args);
        for server_only in ["--control-token", "--proxy-port", "--bind", "--seed"] {
            assert!(
                !text.contains(server_only),
                "{args:?} shows {server_only}:\n{text}"
            );
        }
    }
    for args in [
        &["health", "--help"][..],
        &["clock", "--help"],
        &["operations", "--help"],
    ] {
        let text = help(args);
        assert!(text.contains("--port"), "{args:?}:\n{text}");
        assert!(
            text.contains("The simulator's control token (its --control-token)"),
            "{args:?} describes the token as a client sends it:\n{text}"
        );
        assert!(
            !text.contains("Guard the control plane"),
            "{args:?}:\n{text}"
        );
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `lifecycle-sim completions bash | head -1`: the reader is gone before the writer is done.
    for args in [&["completions", "bash"][..], &["completions", "zsh"]] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn the_ready_line_names_the_training_ui_and_the_scenarios_and_request_lines_the_virtual_time() {
    let scenario = format!(
        "{}/scenarios/capacity-shortfall.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let cases = [
        (
            vec![],
            "the built-in default scenario (fresh-tenant)".to_string(),
        ),
        (vec!["--scenario", scenario.as_str()], scenario.clone()),
    ];
    for (args, named) in cases {
        let mut child = Command::new(BIN)
            .args(["--port", "0", "--log-format", "json", "--paused"])
            .args(["--start-time", "2026-03-01T08:00:00Z"])
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: serde_json::Value =
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        let url = ready["url"].as_str().unwrap().to_string();
        let _ =
            std::net::TcpStream::connect(url.trim_start_matches("http://")).and_then(|mut s| {
                use std::io::Write;
                // A refused read: logged at the default level, as changes are.
                s.write_all(b"GET /_sim/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                std::io::Read::read_to_end(&mut s, &mut Vec::new())
            });
        let request: serde_json::Value = lines
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .find(|l| l["target"] == "lifecycle_sim::http")
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();

        assert_eq!(ready["ui"], format!("{url}/_ui"), "{ready}");
        assert_eq!(ready["scenarios"], named, "{ready}");
        assert_eq!(ready["tenants"], 1, "{ready}");
        let message = ready["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("training UI on {url}/_ui")) && message.contains(&named),
            "{message}"
        );
        assert_eq!(request["virtual_now"], "2026-03-01T08:00:00Z", "{request}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_lists_and_watches_the_running_setup_to_its_end() {
    // Arrange: Power Platform integration started on Contoso-UAT.
    let app = crate::helpers::spawn_app().await;
    let token = app
        .user_token(crate::helpers::DEFAULT_TENANT, "admin@contoso.test")
        .await;
    let started = app
        .client
        .post(app.url(
            "/_portal/lcs/projects/1234567/environments/c0de0001-0000-4000-8000-000000000002/power-platform-integration",
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({"acceptTerms": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let url = app.sim.uri().to_string();

    // Act
    let table = run(&["operations", "--url", &url]).await;
    let json = run(&[
        "operations",
        "--url",
        &url,
        "--json",
        "--tenant",
        "contoso.test",
    ])
    .await;
    let none = run(&["operations", "--url", &url, "--tenant", "nobody.test"]).await;
    let mut watching = Command::new(BIN)
        .args([
            "operations",
            "--watch",
            "--interval",
            "100ms",
            "--url",
            &url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watching.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    app.advance("30m").await;
    let moved = lines.next().unwrap().unwrap();
    app.advance("2h").await;
    let ended = lines.next().unwrap().unwrap();
    let _ = watching.kill();
    let _ = watching.wait();
    let running_only = run(&["operations", "--url", &url, "--running"]).await;

    // Assert
    assert_eq!(table.0, Some(0), "{table:?}");
    let rows: Vec<&str> = table.1.lines().collect();
    assert!(
        rows[0].starts_with("TENANT") && rows[0].contains("PROGRESS"),
        "{table:?}"
    );
    assert!(
        rows[1].contains("contoso.test")
            && rows[1].contains("powerPlatformIntegration.setup")
            && rows[1].contains("running")
            && rows[1].contains("0%"),
        "{table:?}"
    );
    let listed: serde_json::Value = serde_json::from_str(&json.1).unwrap();
    assert_eq!(listed["operations"][0]["state"], "running", "{json:?}");
    assert_eq!(none.0, Some(1));
    assert!(
        none.2
            .contains("no tenant has the id or domain 'nobody.test'"),
        "{none:?}"
    );
    assert!(first.contains("running 0%"), "{first}");
    assert!(
        first.starts_with("2026-01-01T09:00:00Z contoso.test"),
        "{first}"
    );
    assert!(
        moved.starts_with("2026-01-01T09:30:00Z") && moved.contains("running"),
        "{moved}"
    );
    assert!(!moved.contains(" 0% "), "progress moved: {moved}");
    assert!(ended.contains("succeeded 100%"), "{ended}");
    assert_eq!(running_only.1.trim(), "no operations", "{running_only:?}");
}

#[test]
fn the_readme_generate_example_writes_a_world_that_starts() {
    // The README's block, run as written (in a scratch directory), the server on a free port.
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let intro = readme
        .find("`lifecycle-sim scenario generate` writes such a world")
        .unwrap();
    let block = &readme[intro..];
    let block = &block[block.find("```sh\n").unwrap() + 6..];
    let lines: Vec<&str> = block[..block.find("```").unwrap()].lines().collect();
    let [generate, start] = lines.as_slice() else {
        panic!("two commands: {lines:?}")
    };
    let dir = std::env::temp_dir().join(format!("readme-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = |line: &str| -> Vec<String> {
        let rest = line.strip_prefix("lifecycle-sim ").unwrap();
        rest.split_whitespace().map(String::from).collect()
    };
    let made = Command::new(BIN)
        .args(args(generate))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let file = std::fs::read_to_string(dir.join("big.yaml")).unwrap();
    assert_eq!(file.matches("type: Sandbox}").count(), 100_000);
    assert_eq!(file.matches("type: DevTestDev}").count(), 1_000);
    assert!(
        file.len() < 4 * 1024 * 1024,
        "fits the default body limit: {}",
        file.len()
    );

    let mut child = Command::new(BIN)
        .args(args(start))
        .args(["--port", "0", "--log-format", "json"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(ready["tenants"], 1, "{ready}");
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}
