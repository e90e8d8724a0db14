//! lifecycle-sim as a container in a Rust test, with testcontainers.
//!
//! Build the image first (`docker build -t lifecycle-sim:0.1.0 .` in this repository), then:
//! `cargo run --example testcontainers`. The container is removed when `sim` is dropped.
//!
//! In a test suite, the same lines go in a `#[tokio::test]`. Tests that do not need a
//! container can start the simulator in-process instead (`lifecycle_sim::Simulator::builder()`).

use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let sim = GenericImage::new("lifecycle-sim", "0.1.0")
        .with_exposed_port(4747.tcp())
        // The first log line is the ready line: "lifecycle-sim listening on http://0.0.0.0:4747".
        .with_wait_for(WaitFor::message_on_stdout("listening on"))
        .with_env_var("LIFECYCLE_SIM_PAUSED", "true")
        .with_env_var("LIFECYCLE_SIM_SEED", "7")
        // Scenario files mounted at /scenarios load at start instead of the default tenant.
        .with_mount(Mount::bind_mount(scenarios, "/scenarios"))
        .start()
        .await?;
    let base = format!(
        "http://{}:{}",
        sim.get_host().await?,
        sim.get_host_port_ipv4(4747).await?
    );

    let health: serde_json::Value = reqwest::get(format!("{base}/_sim/health"))
        .await?
        .json()
        .await?;
    assert_eq!(health["status"], "ok");
    let advanced: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/_sim/clock/advance"))
        .json(&serde_json::json!({"by": "90m"}))
        .send()
        .await?
        .json()
        .await?;
    println!("simulator at {base}, virtual now {}", advanced["now"]);
    Ok(())
}
