//! Real clients on Microsoft's host names, measured: what the proxy costs against the plain port,
//! in one run (the load generator shares the machine, so compare the ratio, not the figures
//! across runs).
//!
//! `cargo bench --bench proxy` reports:
//! - `first request`: a new client's first answer from `api.bap.microsoft.com` over the proxy
//!   (TCP connect, CONNECT, TLS handshake with certificate check, then the BAP environment
//!   list), against a new connection's first answer on the plain port; median and p90 of 200;
//! - `keep-alive`: BAP environment lists per second over kept-alive connections (8 at once, 3 s
//!   per round, plain and proxy rounds alternated 3 times), and the proxy's share of the plain
//!   port's rate (the goal is 0.7 or more).
//!
//! The figures are also written to `target/proxy-bench.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use lifecycle_sim::Simulator;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TENANT: &str = "c0de0000-0000-4000-8000-000000000001";
const HOST: &str = "api.bap.microsoft.com";
const PATH: &str =
    "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2021-04-01";
const FIRSTS: usize = 200;
const CONNECTIONS: usize = 8;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// How to reach the simulator.
#[derive(Clone)]
enum Way {
    Plain(SocketAddr),
    Proxy(SocketAddr, tokio_rustls::TlsConnector),
}

/// A new HTTP/1.1 connection, through a tunnel for [`Way::Proxy`].
async fn connect(way: &Way) -> SendRequest<Empty<Bytes>> {
    match way {
        Way::Plain(addr) => {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            handshake(stream).await
        }
        Way::Proxy(addr, tls) => {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            stream
                .write_all(
                    format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").as_bytes(),
                )
                .await
                .unwrap();
            // The answer to CONNECT ends with an empty line and has no body.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                stream.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&head)
            );
            let name = ServerName::try_from(HOST).unwrap();
            handshake(tls.connect(name, stream).await.unwrap()).await
        }
    }
}

async fn handshake<I>(io: I) -> SendRequest<Empty<Bytes>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// One BAP list on `sender`; the body's length.
async fn list(sender: &mut SendRequest<Empty<Bytes>>, host: &str, token: &str) -> usize {
    sender.ready().await.unwrap();
    let request = Request::get(PATH)
        .header("host", host)
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

fn host_of(way: &Way) -> String {
    match way {
        Way::Plain(addr) => addr.to_string(),
        Way::Proxy(..) => HOST.to_string(),
    }
}

/// Median and p90 of `FIRSTS` first answers on new connections, in milliseconds.
async fn firsts(way: &Way, token: &str) -> (f64, f64) {
    let host = host_of(way);
    let mut times = Vec::with_capacity(FIRSTS);
    for _ in 0..FIRSTS {
        let started = Instant::now();
        let mut sender = connect(way).await;
        list(&mut sender, &host, token).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[FIRSTS / 2], times[FIRSTS * 9 / 10])
}

/// Lists per second over `CONNECTIONS` kept-alive connections for one round.
async fn rate(way: &Way, token: &str) -> f64 {
    let host = host_of(way);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + ROUND;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (way, host, token, done) = (way.clone(), host.clone(), token.to_string(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&way).await;
            while Instant::now() < deadline {
                list(&mut sender, &host, &token).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The simulator on its own runtime (2 workers, like the machines CI runs on); the load on
    // another.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = server.block_on(async {
        Simulator::builder()
            .seed(7)
            .paused()
            .proxy()
            .configure(|c| c.journal_size = 0)
            .start()
            .await
            .unwrap()
    });
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let token = server
        .block_on(sim.control().token(
            TENANT,
            "admin@contoso.test",
            "https://service.powerapps.com/",
        ))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(sim.ca_pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    let proxy_addr: SocketAddr = sim.proxy_uri().unwrap()["http://".len()..].parse().unwrap();
    let plain = Way::Plain(sim.address());
    let proxy = Way::Proxy(proxy_addr, tls);

    client.block_on(async {
        let bytes = list(&mut connect(&plain).await, &host_of(&plain), &token).await;
        // Warm up both ways (certificate minted, key ready, connections pooled by the OS).
        rate(&plain, &token).await;
        rate(&proxy, &token).await;

        let (plain_first, plain_first_p90) = firsts(&plain, &token).await;
        let (proxy_first, proxy_first_p90) = firsts(&proxy, &token).await;
        println!("BAP environment list, {bytes} bytes per answer");
        println!(
            "first request   plain  median {plain_first:6.2} ms  p90 {plain_first_p90:6.2} ms (new connection)"
        );
        println!(
            "first request   proxy  median {proxy_first:6.2} ms  p90 {proxy_first_p90:6.2} ms (CONNECT + TLS handshake + request)"
        );

        let (mut plain_rates, mut proxy_rates) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            plain_rates.push(rate(&plain, &token).await);
            proxy_rates.push(rate(&proxy, &token).await);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (p, x) = (mean(&plain_rates), mean(&proxy_rates));
        println!(
            "keep-alive      plain  {p:8.0} req/s  (rounds: {})",
            plain_rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
        println!(
            "keep-alive      proxy  {x:8.0} req/s  (rounds: {})",
            proxy_rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
        println!("proxy / plain   {:.2}x  (goal: 0.7x or more)", x / p);
        let report = serde_json::json!({
            "answerBytes": bytes,
            "firstRequestMs": {"plain": {"median": plain_first, "p90": plain_first_p90},
                               "proxy": {"median": proxy_first, "p90": proxy_first_p90}},
            "keepAliveRequestsPerSecond": {"plain": p, "proxy": x, "ratio": x / p,
                                           "connections": CONNECTIONS, "roundSeconds": ROUND.as_secs(), "rounds": ROUNDS},
        });
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/proxy-bench.json");
        std::fs::write(out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    });
    drop(sim);
}
