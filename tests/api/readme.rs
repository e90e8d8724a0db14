//! The README's *Point real tools at it* stays true: its host table is the code's, and its
//! quick-start block runs, as written, against a simulator with a proxy.

use super::helpers::{builder, spawn_with};
use lifecycle_sim::tls::hosts;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lifecycle-sim");

fn section() -> String {
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let start = readme.find("## Point real tools at it").unwrap();
    let end = start + readme[start..].find("\n## Lifecycle Services").unwrap();
    readme[start..end].to_string()
}

#[test]
fn the_readme_host_table_is_the_codes() {
    let section = section();
    let table = &section[section.find("| host | what it serves |").unwrap()..];
    let rows: Vec<(String, String)> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            (
                cells[0].trim().trim_matches('`').to_string(),
                cells[1].trim().to_string(),
            )
        })
        .collect();
    let code: Vec<(String, String)> = hosts::TABLE
        .iter()
        .map(|r| (r.pattern.to_string(), r.note.to_string()))
        .collect();
    assert_eq!(rows, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_proxy_example_runs_as_written() {
    let section = section();
    let marker = "<!-- The block below is run by tests/api/readme.rs";
    let after = &section[section.find(marker).unwrap()..];
    let start = after.find("```sh\n").unwrap() + "```sh\n".len();
    let block = &after[start..start + after[start..].find("```").unwrap()];

    let dir = std::env::temp_dir().join(format!("lsim-readme-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let app = spawn_with(builder().proxy().tls_ca_dir(dir.join("ca"))).await;
    let plain = app.sim.address().port().to_string();
    let proxy = app.sim.proxy_uri().unwrap();
    let proxy_port = proxy.rsplit(':').next().unwrap().to_string();
    let script = block
        .replace(
            "lifecycle-sim tls ca",
            &format!("{BIN} tls ca --url {}", app.sim.uri()),
        )
        .replace("4748", &proxy_port)
        .replace("4747", &plain);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-ec", &script])
            .current_dir(&dir)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("CURL_CA_BUNDLE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}{err}");
    for expected in block
        .lines()
        .filter_map(|l| l.strip_prefix("# -> "))
        .map(|l| l.split("   ").next().unwrap().trim())
    {
        assert!(
            out.contains(expected),
            "'{expected}' missing from:\n{out}{err}"
        );
    }
}
