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

/// The README's `sh` blocks marked `<!-- runs in tests/api/readme.rs as "NAME" -->`, grouped by
/// name, in order: each group is one shell session.
fn runnable_groups() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let marker = "<!-- runs in tests/api/readme.rs as \"";
    let mut groups: Vec<(String, String)> = Vec::new();
    let mut rest = readme.as_str();
    while let Some(at) = rest.find(marker) {
        let after = &rest[at + marker.len()..];
        let name = &after[..after.find('"').unwrap()];
        let start = after.find("```sh\n").unwrap() + "```sh\n".len();
        let end = start + after[start..].find("```").unwrap();
        let block = &after[start..end];
        match groups.iter_mut().find(|(n, _)| n == name) {
            Some((_, text)) => text.push_str(block),
            None => groups.push((name.to_string(), block.to_string())),
        }
        rest = &after[end..];
    }
    groups
}

/// One expectation: the output since the previous one must match `pattern`.
struct Expect {
    /// The README line(s), for messages.
    shown: String,
    pattern: String,
}

/// The group as a script that prints a marker where each expectation stands, and the
/// expectations. A `cargo run --release -- ARGS` line (the README's "start it in another shell")
/// and a `lifecycle-sim ... &` line start the simulator in the background and wait for it.
fn script_of(block: &str) -> (String, Vec<Expect>) {
    let mut script = String::from("trap 'kill $(jobs -p) 2>/dev/null' EXIT\n");
    let mut expects: Vec<Expect> = Vec::new();
    let mark = |script: &mut String, n: usize| {
        script.push_str(&format!("printf '\\n<<<{n}>>>\\n'\n"));
    };
    for line in block.lines() {
        if let Some(shown) = line.strip_prefix("# -> ") {
            mark(&mut script, expects.len());
            expects.push(Expect {
                shown: shown.to_string(),
                pattern: shown.to_string(),
            });
        } else if let Some(more) = line.strip_prefix("#    ")
            && let Some(last) = expects.last_mut()
        {
            last.shown.push('\n');
            last.shown.push_str(more);
            last.pattern.push_str(more);
        } else if line.starts_with('#') {
            continue;
        } else if let Some(args) = line.strip_prefix("cargo run --release -- ") {
            script.push_str(&format!(
                "lifecycle-sim {args} > sim.log 2>&1 &\nlifecycle-sim health --wait > /dev/null\n"
            ));
        } else if line.starts_with("lifecycle-sim ") && line.trim_end().ends_with('&') {
            let command = line.split(" #").next().unwrap().trim_end();
            script.push_str(&format!(
                "{} > sim.log 2>&1 &\nlifecycle-sim health --wait > /dev/null\n",
                command.trim_end_matches('&')
            ));
        } else if let Some((command, inline)) = line.split_once("  # \"") {
            // A command with a fragment of its answer as a comment.
            script.push_str(command);
            script.push('\n');
            mark(&mut script, expects.len());
            expects.push(Expect {
                shown: format!("\"{inline}"),
                pattern: format!("\"{inline}"),
            });
        } else {
            script.push_str(line);
            script.push('\n');
        }
    }
    mark(&mut script, expects.len());
    (script, expects)
}

/// Whether `output` matches `pattern`: whitespace and case do not count, `...` and `…` stand
/// for anything, a leading status (`201 `, `202, `) is not in a `curl -s` body, and a trailing
/// `   (explanation)` is prose.
fn matches(output: &str, pattern: &str) -> bool {
    const ANY: char = '\u{1}';
    let pattern = pattern.split("   (").next().unwrap();
    // The wildcards first, so that "free. ..." keeps its full stop.
    let pattern = pattern.replace('…', "...").replace("...", &ANY.to_string());
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let mut pattern = squash(&pattern);
    let output = squash(output);
    let status = pattern.len() > 3
        && pattern.as_bytes()[..3].iter().all(u8::is_ascii_digit)
        && !pattern.as_bytes()[3].is_ascii_digit();
    if status {
        // Shown for the reader; checked when the output has a status line (`curl -i`).
        let code = pattern[..3].to_string();
        if output.starts_with("http/") && !output.starts_with(&format!("http/1.1{code}")) {
            return false;
        }
        let printed = output.len() > 3 && output.as_bytes()[..3].iter().all(u8::is_ascii_digit);
        if printed && !output.starts_with(&code) {
            return false;
        }
        pattern = pattern[3..].trim_start_matches(',').to_string();
    }
    // `a,...,b` may stand for nothing between a and b.
    let pattern = pattern.replace(&format!(",{ANY},"), &format!(",{ANY}"));
    let mut at = 0;
    for piece in pattern.split(ANY).filter(|p| !p.is_empty()) {
        match output[at..].find(piece) {
            Some(found) => at += found + piece.len(),
            None => return false,
        }
    }
    true
}

#[test]
fn the_readme_walkthroughs_run_and_answer_as_shown() {
    let groups = runnable_groups();
    let names: Vec<&str> = groups.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.len() >= 7, "{names:?}");
    let bin_dir = std::env::temp_dir().join(format!("lsim-readme-bin-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("lifecycle-sim")).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    for (name, block) in groups {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port().to_string();
        drop(free);
        let (script, expects) = script_of(&block.replace("4747", &port));
        let dir = bin_dir.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let output = Command::new("bash")
            .args(["-ec", &script])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("LIFECYCLE_SIM_PORT", &port)
            .env_remove("LIFECYCLE_SIM_URL")
            .env_remove("LIFECYCLE_SIM_CONTROL_TOKEN")
            .env_remove("HTTPS_PROXY")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout).to_string();
        let err = String::from_utf8_lossy(&output.stderr);
        let log = std::fs::read_to_string(dir.join("sim.log")).unwrap_or_default();
        assert!(
            output.status.success(),
            "README block '{name}' failed:\n{script}\n--- out\n{out}\n--- err\n{err}\n--- log\n{log}"
        );
        let mut segments = Vec::new();
        let mut rest = out.as_str();
        for n in 0..=expects.len() {
            let marker = format!("\n<<<{n}>>>\n");
            let at = rest
                .find(&marker)
                .unwrap_or_else(|| panic!("{name}: no marker {n}"));
            segments.push(&rest[..at]);
            rest = &rest[at + marker.len()..];
        }
        for (expect, segment) in expects.iter().zip(&segments) {
            assert!(
                matches(segment, &expect.pattern),
                "README block '{name}': expected\n{}\nbut got\n{segment:?}",
                expect.shown.replace(&port, "4747")
            );
        }
    }
}

#[test]
fn the_walkthrough_matcher_is_strict_where_it_should_be() {
    assert!(matches(r#"{"a": 1, "b": [2]}"#, r#"{"a":1,...}"#));
    assert!(matches("HTTP/1.1 401 Unauthorized\r\n\r\n{}", "401 {}"));
    assert!(!matches("HTTP/1.1 200 OK\r\n\r\n{}", "401 {}"));
    assert!(
        !matches("200 http://x", "202 http://x"),
        "a printed status counts"
    );
    assert!(matches(r#"{"state":"x"}"#, r#"201 {"state":"x"}"#));
    assert!(!matches(r#"{"state":"y"}"#, r#"{"state":"x"}"#));
    assert!(
        !matches(r#"{"b":1,"a":2}"#, r#"{"a":2,..."b":1}"#),
        "order counts"
    );
    assert!(matches(
        "refused, curl exit 56",
        "refused, curl exit 56   (why)"
    ));
    assert!(matches(r#"{"a":1,"b":2}"#, r#"{"a":1,...,"b":2}"#));
    assert!(!matches("is free. Then", "is free. ... then select"));
    assert!(matches(
        "is free. Free some. Then select",
        "is free. ... then select"
    ));
}

#[test]
fn every_image_the_readme_shows_is_in_the_repository() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut shown = 0;
    for (at, _) in readme.match_indices("](docs/") {
        let path = &readme[at + 2..];
        let path = &path[..path.find(')').unwrap()];
        assert!(
            std::path::Path::new(root).join(path).is_file(),
            "the README shows {path}, which is not there"
        );
        shown += 1;
    }
    assert!(shown >= 8, "{shown} images");
}
