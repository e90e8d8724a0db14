//! The CI examples in `examples/` stay true: their YAML parses, every `LIFECYCLE_SIM_*` variable
//! and `/_sim` route they use exists, their health checks are the image's, their shell steps run
//! against a real simulator, and the Python and Node snippets are valid source. (The Rust one,
//! `examples/testcontainers.rs`, is compiled by `cargo test` itself.)

use crate::helpers::{builder, spawn_app, spawn_with};
use clap::CommandFactory;
use lifecycle_sim::Cli;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EXAMPLES: [&str; 6] = [
    "github-actions.yml",
    "gitlab-ci.yml",
    "docker-compose.yml",
    "testcontainers.rs",
    "testcontainers_test.py",
    "testcontainers.test.mjs",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap()
}

fn yaml(name: &str) -> Value {
    serde_saphyr::from_str(&read(&format!("examples/{name}")))
        .unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

/// Every environment variable the binary reads, across its subcommands.
fn env_vars() -> BTreeSet<String> {
    fn walk(command: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&Cli::command(), &mut out);
    out
}

/// The words in `text` that start with `prefix` and go on with characters `part` accepts.
fn words<'a>(text: &'a str, prefix: &str, part: fn(char) -> bool) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !part(c)).unwrap_or(tail.len());
        found.push(tail[..end].trim_end_matches('.'));
        rest = &tail[end..];
    }
    found
}

#[test]
fn every_environment_variable_in_the_examples_is_one_the_binary_reads() {
    let known = env_vars();
    assert!(known.contains("LIFECYCLE_SIM_URL") && known.contains("LIFECYCLE_SIM_SCENARIO_DIR"));
    let mut used = 0;
    for name in EXAMPLES
        .iter()
        .map(|e| format!("examples/{e}"))
        .chain(["Dockerfile".into()])
    {
        for var in words(&read(&name), "LIFECYCLE_SIM_", |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
        }) {
            if var == "LIFECYCLE_SIM_" {
                continue; // "LIFECYCLE_SIM_*" in prose
            }
            used += 1;
            assert!(
                known.contains(var),
                "{name} sets {var}, which lifecycle-sim does not read"
            );
        }
    }
    assert!(used > 10, "{used}");
}

#[tokio::test]
async fn every_control_route_in_the_examples_is_routed_and_every_scenario_is_built_in() {
    let app = spawn_app().await;
    let (_, scenarios) = app.get("/_sim/scenarios").await;
    let built_in: Vec<&str> = scenarios["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in EXAMPLES {
        let text = read(&format!("examples/{name}"));
        for path in words(&text, "/_sim/", |c| {
            c.is_ascii_alphanumeric() || "_-/.".contains(c)
        }) {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_ne!(status, 404, "{name}: {path} {body}");
            if let Some(scenario) = path.strip_prefix("/_sim/scenarios/") {
                assert!(
                    built_in.contains(&scenario),
                    "{name}: no built-in scenario {scenario}"
                );
            }
        }
    }
}

#[test]
fn the_examples_ports_and_health_checks_are_the_images() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("EXPOSE 4747 4748"));
    assert!(dockerfile.contains("LIFECYCLE_SIM_PROXY_PORT=4748"));
    assert!(dockerfile.contains(r#"CMD ["/lifecycle-sim", "health""#));

    let compose = yaml("docker-compose.yml");
    let sim = &compose["services"]["lifecycle-sim"];
    assert_eq!(
        sim["healthcheck"]["test"],
        serde_json::json!(["CMD", "/lifecycle-sim", "health"])
    );
    assert_eq!(sim["ports"][0], "4747:4747");
    assert_eq!(sim["ports"][1], "4748:4748", "the image's proxy port");
    assert_eq!(
        sim["volumes"][0], "../scenarios:/scenarios:ro",
        "the documented mount path"
    );
    assert_eq!(sim["volumes"][1], "ca:/ca", "the image's CA directory");
    assert_eq!(sim["environment"]["LIFECYCLE_SIM_TLS_CA_DIR"], "/ca");
    assert_eq!(
        compose["services"]["tests"]["environment"]["HTTPS_PROXY"],
        "http://lifecycle-sim:4748"
    );
    assert_eq!(
        compose["services"]["tests"]["depends_on"]["lifecycle-sim"]["condition"],
        "service_healthy"
    );

    let actions = yaml("github-actions.yml");
    let service = &actions["jobs"]["integration"]["services"]["lifecycle-sim"];
    assert_eq!(service["ports"][0], "4747:4747");
    assert_eq!(service["ports"][1], "4748:4748");

    let gitlab = yaml("gitlab-ci.yml");
    assert_eq!(
        gitlab["integration"]["services"][0]["alias"],
        "lifecycle-sim"
    );
    assert_eq!(
        gitlab["integration"]["variables"]["LIFECYCLE_SIM_URL"],
        "http://lifecycle-sim:4747"
    );
}

/// The argv of the Dockerfile's HEALTHCHECK (exec form: a JSON array after `CMD`).
fn image_healthcheck() -> Vec<String> {
    let dockerfile = read("Dockerfile");
    let at = dockerfile
        .find("HEALTHCHECK ")
        .expect("the image has a HEALTHCHECK");
    let rest = &dockerfile[at..];
    let cmd = &rest[rest.find("CMD ").expect("HEALTHCHECK ... CMD") + 4..];
    let line = cmd.lines().next().unwrap().trim();
    assert!(
        line.starts_with('['),
        "the HEALTHCHECK must be exec form: the image has no shell to run {line}"
    );
    serde_json::from_str(line).unwrap()
}

/// What a container runtime executes for a health check Docker-style: `--health-cmd` (GitHub
/// Actions' and `docker run`'s), `CMD-SHELL` and a plain string go through `/bin/sh -c`;
/// `["CMD", ...]` is run as it is; none at all is the image's own.
fn health_argv(check: Option<&Value>, options: Option<&str>) -> Vec<String> {
    if let Some(options) = options
        && let Some(at) = options.find("--health-cmd")
    {
        let command = options[at + "--health-cmd".len()..].trim();
        return vec!["/bin/sh".into(), "-c".into(), command.into()];
    }
    match check {
        None => image_healthcheck(),
        Some(Value::String(command)) => vec!["/bin/sh".into(), "-c".into(), command.clone()],
        Some(Value::Array(test)) if test[0] == "CMD-SHELL" => {
            vec![
                "/bin/sh".into(),
                "-c".into(),
                test[1].as_str().unwrap().into(),
            ]
        }
        Some(Value::Array(test)) if test[0] == "CMD" => test[1..]
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
        Some(other) => panic!("not a health check: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_examples_health_checks_run_in_the_image_and_pass() {
    // The final stages are scratch plus the binary and a CA directory: no /bin/sh.
    let dockerfile = read("Dockerfile");
    let copied = |stage: &str| -> Vec<String> {
        let at = dockerfile
            .find(stage)
            .unwrap_or_else(|| panic!("no stage {stage}"));
        let body = &dockerfile[at + stage.len()..];
        let body = &body[..body.find("\nFROM ").unwrap_or(body.len())];
        body.lines()
            .filter(|l| l.starts_with("COPY"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(copied("FROM scratch AS base"), ["/ca/"]);
    assert_eq!(copied("FROM base AS prebuilt"), ["/lifecycle-sim"]);
    assert_eq!(copied("FROM base AS image"), ["/lifecycle-sim"]);
    let in_image = |path: &str| path == "/lifecycle-sim";

    let actions = yaml("github-actions.yml");
    let service = &actions["jobs"]["integration"]["services"]["lifecycle-sim"];
    let compose = yaml("docker-compose.yml");
    let checks = [
        (
            "github-actions.yml",
            health_argv(None, service["options"].as_str()),
        ),
        (
            "docker-compose.yml",
            health_argv(
                Some(&compose["services"]["lifecycle-sim"]["healthcheck"]["test"]),
                None,
            ),
        ),
        ("Dockerfile", image_healthcheck()),
    ];
    let app = spawn_app().await;
    let port = app.sim.address().port().to_string();
    for (name, argv) in checks {
        assert!(
            in_image(&argv[0]),
            "{name}: the runner would execute {argv:?}, and the image has no {}",
            argv[0]
        );
        // Run what the runtime runs, the binary in the image's place, with the image's
        // LIFECYCLE_SIM_PORT pointing at a simulator.
        let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_lifecycle-sim"))
            .args(&argv[1..])
            .env("LIFECYCLE_SIM_PORT", &port)
            .env_remove("LIFECYCLE_SIM_URL")
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success(), "{name}: {argv:?} failed: {status}");
    }
}

#[test]
fn the_examples_name_the_image_as_the_readme_builds_it() {
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("lifecycle-sim:{version}");
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("docker build -t {tag} .")),
        "the README builds {tag}"
    );
    let names = [
        (
            "github-actions.yml",
            format!("ghcr.io/${{{{ github.repository_owner }}}}/{tag}"),
        ),
        ("gitlab-ci.yml", format!("$CI_REGISTRY_IMAGE/{tag}")),
        ("docker-compose.yml", tag.clone()),
        (
            "testcontainers.rs",
            format!(r#"GenericImage::new("lifecycle-sim", "{version}")"#),
        ),
        (
            "testcontainers_test.py",
            format!(r#"DockerContainer("{tag}")"#),
        ),
        (
            "testcontainers.test.mjs",
            format!(r#"GenericContainer("{tag}")"#),
        ),
    ];
    for (name, image) in names {
        let text = read(&format!("examples/{name}"));
        assert!(text.contains(&image), "{name} names the image {image}");
        assert!(!text.contains("lifecycle-sim:latest"), "{name}: no :latest");
        assert!(
            !text.contains("example.com"),
            "{name}: no placeholder registry"
        );
    }
}

/// Runs `script` with `sh`, the simulator's URL in place of the example's host and its proxy as
/// `HTTPS_PROXY`.
fn shell(script: &str, host: &str, url: &str, proxy: &str) {
    // A step that runs the binary inside the service container runs the built one.
    let script = script.replace(host, url).replace(
        "docker exec ${{ job.services.lifecycle-sim.id }} /lifecycle-sim",
        env!("CARGO_BIN_EXE_lifecycle-sim"),
    );
    let output = Command::new("sh")
        .args(["-ec", &script])
        .env("LIFECYCLE_SIM_URL", url)
        .env("HTTPS_PROXY", proxy)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn steps(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str().or_else(|| s["run"].as_str()))
        .filter(|s| !s.contains("run-integration-tests") && !s.contains("apt-get"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_examples_shell_steps_succeed_against_a_simulator() {
    let actions = yaml("github-actions.yml");
    let gitlab = yaml("gitlab-ci.yml");
    let compose = yaml("docker-compose.yml");
    let cases = [
        (
            steps(&actions["jobs"]["integration"]["steps"]),
            "http://localhost:4747",
        ),
        (
            steps(&gitlab["integration"]["before_script"])
                .into_iter()
                .chain(steps(&gitlab["integration"]["script"]))
                .collect(),
            "http://lifecycle-sim:4747",
        ),
        (
            // Compose writes a literal $ as $$.
            vec![
                compose["services"]["tests"]["command"][2]
                    .as_str()
                    .unwrap()
                    .replace("$$", "$"),
            ],
            "http://lifecycle-sim:4747",
        ),
    ];
    for (scripts, host) in cases {
        assert!(!scripts.is_empty());
        let app = spawn_with(builder().proxy()).await;
        let url = app.sim.uri().to_string();
        let proxy = app.sim.proxy_uri().unwrap();
        for script in scripts {
            let host = host.to_string();
            let (url, proxy) = (url.clone(), proxy.clone());
            tokio::task::spawn_blocking(move || shell(&script, &host, &url, &proxy))
                .await
                .unwrap();
        }
    }
}

#[test]
fn the_python_and_node_snippets_are_valid_source() {
    // Compiled in memory: no __pycache__ next to the example.
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
        ])
        .arg(Path::new(ROOT).join("examples/testcontainers_test.py"))
        .output()
        .expect("python3 runs");
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let node = Command::new("node")
        .arg("--check")
        .arg(Path::new(ROOT).join("examples/testcontainers.test.mjs"))
        .output()
        .expect("node runs");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
}
