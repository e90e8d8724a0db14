//! What a request costs and how it grows with a tenant, measured against the release binary in
//! one run (the load shares the machine with the server: compare ratios within a run, not
//! figures across runs).
//!
//! `cargo bench --bench serve` prints:
//! - **cold start**: spawn to the first `GET /_sim/health` answer, median of 20 (default scenario);
//! - **hot reads against the floor**: req/s and p99 of the BAP environment list of the default
//!   tenant (one environment) and of an LCS environment detail, over 8 kept-alive connections,
//!   against a bare axum server (this bench re-run as `LIFECYCLE_SIM_FLOOR`) answering the same
//!   bytes from memory; 3 s rounds, simulator and floor alternated 3 times; the same list with
//!   the per-request log line switched off (`--log warn`), for what logging costs; the median
//!   latency of one request at a time on one connection, the simulator's list and the floor's;
//!   the server's resident memory after the load;
//! - **scale** at 1,000 / 10,000 / 100,000 Power Platform environments (`SERVE_BENCH_SIZES`,
//!   comma-separated, to choose others), each a new server loading the world
//!   `lifecycle-sim scenario generate` writes: the scenario load; get-by-id (500 GETs of the last
//!   environment) and a list page (`$top=100` of the Power Platform API, 200 GETs), median and
//!   p99; creates through BAP (median of 1,000); one `POST /_sim/clock/advance` settling N
//!   pending creates; resident memory with the N environments and with the N more created; the
//!   whole (unpaged) BAP list, with resident memory before
//!   and after it; then the scenario load of as many LCS development
//!   environments (one project of a second tenant).
//!
//! The figures are also written to `target/serve-bench.json`, and the issue's targets are checked
//! and printed beside them (a miss is reported, not fatal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_lifecycle-sim");
const FLOOR: &str = "LIFECYCLE_SIM_FLOOR";
const DEFAULT_TENANT: &str = "c0de0000-0000-4000-8000-000000000001";
const SCALE_TENANT: &str = "5ca1e000-0000-4000-8000-000000000001";
const BAP: &str = "/providers/Microsoft.BusinessAppPlatform";
const LIST: &str =
    "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2021-04-01";
const DETAIL: &str = "/environmentinfo/v1/detail/project/1234567";
const CONNECTIONS: usize = 8;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process on a free port, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn spawn(command: &mut Command, port: u16) -> Server {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no server on {addr}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        Server { child, addr }
    }

    fn simulator(args: &[&str]) -> Server {
        let port = free_port();
        let mut command = Command::new(BIN);
        command
            .args(["--port", &port.to_string(), "--seed", "1", "--paused"])
            .args(args);
        Server::spawn(&mut command, port)
    }

    /// Resident memory, MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// One request on `sender`, refusing anything but a success: the time it took (ms) and the body.
async fn ok(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (f64, Bytes) {
    let started = Instant::now();
    sender.ready().await.unwrap();
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status < 300,
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
    );
    (started.elapsed().as_secs_f64() * 1000.0, bytes)
}

/// Median and p99 of `times` (ms).
fn spread(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Requests per second and per-request times (ms) of one round of `path` on `addr`.
async fn round(addr: SocketAddr, path: &'static str) -> (f64, Vec<f64>) {
    let deadline = Instant::now() + ROUND;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    times.push(ok(&mut sender, "GET", path, &[], b"").await.0);
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    (times.len() as f64 / started.elapsed().as_secs_f64(), times)
}

/// req/s (mean of the rounds) and p99 (ms) of each server, rounds alternated.
async fn side_by_side(servers: &[SocketAddr], path: &'static str) -> Vec<(f64, f64)> {
    for &addr in servers {
        round(addr, path).await; // warm up
    }
    let mut rates = vec![Vec::new(); servers.len()];
    let mut times = vec![Vec::new(); servers.len()];
    for _ in 0..ROUNDS {
        for (i, &addr) in servers.iter().enumerate() {
            let (rate, t) = round(addr, path).await;
            rates[i].push(rate);
            times[i].extend(t);
        }
    }
    rates
        .into_iter()
        .zip(times)
        .map(|(r, t)| (r.iter().sum::<f64>() / r.len() as f64, spread(t).1))
        .collect()
}

fn cold_start() -> f64 {
    let times = (0..20)
        .map(|_| {
            let port = free_port();
            let started = Instant::now();
            let mut command = Command::new(BIN);
            command.args(["--port", &port.to_string(), "--log", "warn"]);
            let server = Server::spawn(&mut command, port);
            let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /_sim/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    spread(times).0
}

async fn hot_reads() -> Value {
    let lcs = ["--auth", "none", "--lcs-throttling", "off"];
    let sim = Server::simulator(&lcs);
    let quiet = Server::simulator(&[&lcs[..], &["--log", "warn"]].concat());
    let mut sender = connect(sim.addr).await;
    let dir = std::env::temp_dir().join(format!("serve-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, path) in [("list", LIST), ("detail", DETAIL)] {
        let (_, body) = ok(&mut sender, "GET", path, &[], b"").await;
        std::fs::write(dir.join(name), body).unwrap();
    }
    let port = free_port();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.env(FLOOR, &dir).arg(port.to_string());
    let floor = Server::spawn(&mut command, port);
    // One request at a time on one connection: the latency a sequential client sees.
    let mut sequential = Vec::new();
    for addr in [sim.addr, floor.addr] {
        let mut c = connect(addr).await;
        let mut times = Vec::new();
        for _ in 0..2000 {
            times.push(ok(&mut c, "GET", LIST, &[], b"").await.0);
        }
        sequential.push(spread(times).0);
    }
    println!(
        "one request at a time: BAP list {:.3} ms median, the floor {:.3} ms",
        sequential[0], sequential[1]
    );
    let list = side_by_side(&[sim.addr, floor.addr, quiet.addr], LIST).await;
    let detail = side_by_side(&[sim.addr, floor.addr], DETAIL).await;
    let rss = sim.rss_mib();
    let _ = std::fs::remove_dir_all(&dir);
    let row = |name: &str, (rate, p99): (f64, f64), floor: (f64, f64)| {
        println!(
            "{name:<34} {rate:>9.0} req/s ({:.2}x floor)   p99 {p99:>6.2} ms ({:.2}x floor)",
            rate / floor.0,
            p99 / floor.1
        );
        json!({"reqPerSec": rate, "p99Ms": p99, "rateOfFloor": rate / floor.0, "p99OfFloor": p99 / floor.1})
    };
    println!("hot reads, {CONNECTIONS} connections, {ROUNDS} rounds of {ROUND:?}:");
    let out = json!({
        "bapList": row("BAP list (1 environment)", list[0], list[1]),
        "bapListFloor": row("  floor (same bytes, bare axum)", list[1], list[1]),
        "bapListNoRequestLog": row("  with --log warn", list[2], list[1]),
        "lcsDetail": row("LCS detail (1 environment)", detail[0], detail[1]),
        "lcsDetailFloor": row("  floor", detail[1], detail[1]),
        "rssAfterLoadMib": rss,
        "sequentialListMs": sequential[0],
        "sequentialFloorMs": sequential[1],
    });
    println!("resident memory after the load: {rss:.1} MiB");
    let share = list[2].0 / list[0].0 - 1.0;
    println!(
        "the per-request log line costs {:.1} % of the list's rate",
        share * 100.0
    );
    out
}

/// The scenario file `lifecycle-sim scenario generate` writes with `args`.
fn generated(args: &[&str]) -> Vec<u8> {
    let file = std::env::temp_dir().join(format!("serve-bench-{}.yaml", std::process::id()));
    let status = Command::new(BIN)
        .args(["scenario", "generate"])
        .args(args)
        .arg("--out")
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    text
}

async fn scale(n: usize) -> Value {
    let text = generated(&["--environments", &n.to_string()]);
    let sim = Server::simulator(&[
        "--no-default-tenant",
        "--log",
        "warn",
        "--max-body-bytes",
        "67108864",
    ]);
    let mut c = connect(sim.addr).await;
    let yaml = [("content-type", "application/yaml")];
    let (load_ms, _) = ok(&mut c, "POST", "/_sim/scenarios", &yaml, &text).await;
    let form = format!(
        "grant_type=password&client_id=x&username=admin%40scale.test&password=x&resource={}",
        "https%3A%2F%2Fservice.powerapps.com"
    );
    let form_type = [("content-type", "application/x-www-form-urlencoded")];
    let token_path = format!("/{SCALE_TENANT}/oauth2/token");
    let (_, token) = ok(&mut c, "POST", &token_path, &form_type, form.as_bytes()).await;
    let token: Value = serde_json::from_slice(&token).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let auth = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let page_path = "/environmentmanagement/environments?api-version=2022-03-01-preview&$top=100";
    let (_, page) = ok(&mut c, "GET", page_path, &auth, b"").await;
    let page: Value = serde_json::from_slice(&page).unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 100.min(n + 1));
    // The last environment: the page after the last full one.
    let mut last = page["value"][0]["id"].as_str().unwrap().to_string();
    let mut next = page["@odata.nextLink"].as_str().map(str::to_string);
    while let Some(link) = next {
        let path = &link[link.find("/environmentmanagement").unwrap()..];
        let (_, page) = ok(&mut c, "GET", path, &auth, b"").await;
        let page: Value = serde_json::from_slice(&page).unwrap();
        let items = page["value"].as_array().unwrap();
        last = items[items.len() - 1]["id"].as_str().unwrap().to_string();
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    let get_path = format!("{BAP}/scopes/admin/environments/{last}?api-version=2023-06-01");
    let mut gets = Vec::new();
    for _ in 0..500 {
        gets.push(ok(&mut c, "GET", &get_path, &auth, b"").await.0);
    }
    let mut pages = Vec::new();
    for _ in 0..200 {
        pages.push(ok(&mut c, "GET", page_path, &auth, b"").await.0);
    }
    // The whole BAP list (unpaged, as the real one), and what stays resident after it.
    let rss_before_list = sim.rss_mib();
    let (whole_ms, whole) = ok(
        &mut c,
        "GET",
        &format!("{BAP}/scopes/admin/environments?api-version=2023-06-01"),
        &auth,
        b"",
    )
    .await;
    let whole_mb = whole.len() as f64 / 1e6;
    drop(whole);
    let rss_after_list = sim.rss_mib();
    let create_path = format!("{BAP}/environments?api-version=2023-06-01");
    let create = br#"{"location":"unitedstates","properties":{"displayName":"New","environmentSku":"Sandbox"}}"#;
    let mut creates = Vec::new();
    for _ in 0..1000 {
        creates.push(ok(&mut c, "POST", &create_path, &auth, create).await.0);
    }
    // The same creates as the server timed them (the journal's durationMs, from the request's
    // arrival to its answer being ready): the round trip above also holds the client's own work
    // and the loopback, which the floor's sequential round trip shows to be ~0.1 ms by itself.
    let (_, journal) = ok(&mut c, "GET", "/_sim/journal?limit=1000", &auth, b"").await;
    let journal: Value = serde_json::from_slice(&journal).unwrap();
    let served: Vec<f64> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "POST")
        .map(|e| e["durationMs"].as_f64().unwrap())
        .collect();
    assert_eq!(served.len(), 1000, "the journal holds the 1,000 creates");
    // Up to n pending creates in all, from 8 connections at once.
    let more = n.saturating_sub(1000);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let (addr, bearer, path) = (sim.addr, bearer.clone(), create_path.clone());
            let count = more / CONNECTIONS + usize::from(i < more % CONNECTIONS);
            tokio::spawn(async move {
                let mut c = connect(addr).await;
                let auth = [
                    ("authorization", bearer.as_str()),
                    ("content-type", "application/json"),
                ];
                for _ in 0..count {
                    ok(&mut c, "POST", &path, &auth, create).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let pending = 1000 + more;
    let filling = started.elapsed().as_secs_f64();
    let json_type = [("content-type", "application/json")];
    let (settle_ms, _) = ok(
        &mut c,
        "POST",
        "/_sim/clock/advance",
        &json_type,
        br#"{"by":"1h"}"#,
    )
    .await;
    let (get, get99) = spread(gets);
    let (page, page99) = spread(pages);
    let (create, _) = spread(creates);
    let (create_served, create_served99) = spread(served);
    let rss = sim.rss_mib();
    // The same number of F&O environments, in one LCS project of a second tenant.
    let lcs = generated(&[
        "--environments",
        "0",
        "--fo-environments",
        &n.to_string(),
        "--tenant",
        "5ca1e000-0000-4000-8000-000000000002",
        "--domain",
        "scale-lcs.test",
    ]);
    let (lcs_ms, _) = ok(&mut c, "POST", "/_sim/scenarios", &yaml, &lcs).await;
    println!(
        "{n:>7} environments: load {load_ms:>7.1} ms | get-by-id {get:.3} / p99 {get99:.3} ms | \
         list page {page:.3} / p99 {page99:.3} ms | create {:.0} µs round trip, served in \
         {:.0} µs (p99 {:.0}) | settle {pending} pending \
         {settle_ms:.1} ms | RSS with {n} {rss_before_list:.0} MiB, with {} {rss:.0} MiB | LCS load {lcs_ms:.1} ms | whole BAP list \
         {whole_ms:.0} ms, {whole_mb:.1} MB, RSS {rss_before_list:.0} -> {rss_after_list:.0} MiB \
         (filling took {filling:.1} s)",
        create * 1000.0,
        create_served * 1000.0,
        create_served99 * 1000.0,
        n + pending,
    );
    json!({
        "environments": n, "scenarioLoadMs": load_ms, "getByIdMs": get, "getByIdP99Ms": get99,
        "listPageMs": page, "listPageP99Ms": page99, "createUs": create * 1000.0,
        "createServedUs": create_served * 1000.0, "createServedP99Us": create_served99 * 1000.0,
        "pendingSettled": pending, "settleMs": settle_ms, "rssMib": rss_before_list, "rssWithPendingMib": rss, "lcsScenarioLoadMs": lcs_ms,
        "wholeBapListMs": whole_ms, "wholeBapListMb": whole_mb,
        "rssBeforeWholeListMib": rss_before_list, "rssAfterWholeListMib": rss_after_list,
    })
}

/// The floor: a bare axum server answering the bytes the simulator answered, from memory.
fn floor(dir: &str) {
    let list = Bytes::from(std::fs::read(format!("{dir}/list")).unwrap());
    let detail = Bytes::from(std::fs::read(format!("{dir}/detail")).unwrap());
    let port: u16 = std::env::args().nth(1).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let answer = move |uri: axum::http::Uri| {
            let body = if uri.path().starts_with("/providers") {
                list.clone()
            } else {
                detail.clone()
            };
            async move { ([("content-type", "application/json")], body) }
        };
        let app = axum::Router::new().fallback(answer);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

fn main() {
    if let Ok(dir) = std::env::var(FLOOR) {
        return floor(&dir);
    }
    let sizes: Vec<usize> = std::env::var("SERVE_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("SERVE_BENCH_SIZES: comma-separated counts")
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cold = cold_start();
    println!("cold start (spawn to the first health answer, median of 20): {cold:.1} ms");
    let hot = runtime.block_on(hot_reads());
    let scale: Vec<Value> = sizes.iter().map(|&n| runtime.block_on(scale(n))).collect();
    let report =
        json!({"coldStartMs": cold, "hotReads": hot, "scale": scale, "tenant": DEFAULT_TENANT});
    targets(&report);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/serve-bench.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("written to {}", out.display());
}

/// The issue's targets, met or missed.
fn targets(report: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let list = &report["hotReads"]["bapList"];
    let mut checks = vec![
        (
            "BAP list req/s >= 0.8x floor",
            f(&list["rateOfFloor"]) >= 0.8,
        ),
        ("BAP list p99 <= 1.5x floor", f(&list["p99OfFloor"]) <= 1.5),
    ];
    if let Some(big) = report["scale"]
        .as_array()
        .and_then(|s| s.iter().find(|r| r["environments"] == 100_000))
    {
        checks.extend([
            ("100k: get-by-id p99 < 5 ms", f(&big["getByIdP99Ms"]) < 5.0),
            ("100k: list page p99 < 5 ms", f(&big["listPageP99Ms"]) < 5.0),
            (
                "100k: create < 100 µs (served; the round trip is printed beside it)",
                f(&big["createServedUs"]) < 100.0,
            ),
            ("100k: RSS < 500 MiB", f(&big["rssMib"]) < 500.0),
            (
                "100k: scenario load < 3 s",
                f(&big["scenarioLoadMs"]) < 3000.0,
            ),
            (
                "100k: settle 100k pending < 1 s",
                f(&big["settleMs"]) < 1000.0,
            ),
        ]);
    }
    for (what, met) in checks {
        println!("target {what}: {}", if met { "met" } else { "MISSED" });
    }
}
