//! Microsoft's Power Platform SDK (`powerplatform-management`, pinned) drives the simulator with
//! only its base URL changed: `tests/python/sdk_lifecycle.py` walks the environment lifecycle.
//! The test installs the SDK into a virtual environment under `target/` on first run.

use super::helpers::{DEFAULT_TENANT, builder, spawn_with};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SDK version the script was written against.
const SDK: &str = "powerplatform-management==2.0.3578.333";

pub fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("could not run {command:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("{command:?} failed ({}):\n{text}", output.status))
    }
}

/// A virtual environment with the pinned SDK; created (python3 -m venv, pip install) when missing.
fn python() -> Result<PathBuf, String> {
    python_with("python-sdk", SDK)
}

/// The python of a virtual environment `target/<name>` holding `requirement` (pinned packages,
/// separated by spaces), created when missing.
pub fn python_with(name: &str, requirement: &str) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join(name);
    let python = venv.join("bin").join("python");
    let marker = venv.join("installed.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(requirement) {
        return Ok(python);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).map_err(|e| {
        format!("{e}\nThis test needs python3 with the venv module (Debian: apt-get install python3-venv)")
    })?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(requirement.split_whitespace()))?;
    std::fs::write(&marker, requirement).map_err(|e| e.to_string())?;
    Ok(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_power_platform_python_sdk_walks_the_environment_lifecycle() {
    let app = spawn_with(builder()).await;
    let token = app.user_token(DEFAULT_TENANT, "admin@contoso.test").await;
    let base = app.sim.uri().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/sdk_lifecycle.py");
    let result = tokio::task::spawn_blocking(move || {
        let python = python()?;
        run(Command::new(python).arg(script).arg(&base).arg(&token))
    })
    .await
    .unwrap();
    match result {
        Ok(out) => {
            println!("{out}");
            assert!(
                out.contains("ok - deleting freed 1 GB of database capacity"),
                "{out}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}
