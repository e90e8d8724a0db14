//! Real clients on Microsoft's own host names: the HTTPS proxy (`--proxy-port`), the TLS port
//! (`--tls-port`, certificate by SNI), the CA they chain to, and the URLs answers hand back
//! when a request came that way. Clients here trust only the simulator's CA.

use super::d365fo::{ADMIN, PROJECT};
use super::helpers::{DEFAULT_TENANT, TestApp, builder, spawn_with};
use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LCS: &str = "https://lcsapi.lcs.dynamics.com";
const BAP_LIST: &str = "https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2023-06-01";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration that trusts `ca_pem` only.
fn trusting(ca_pem: &str, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// An HTTPS client that trusts only the simulator's CA (HTTP/1.1).
fn https(ca_pem: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(trusting(ca_pem, &[b"http/1.1"]))
}

/// What a client with `HTTPS_PROXY=<proxy>` and the CA trusted uses.
fn through_proxy(app: &TestApp) -> reqwest::Client {
    let proxy = app.sim.proxy_uri().expect("the simulator has a proxy");
    https(app.sim.ca_pem())
        .proxy(reqwest::Proxy::all(&proxy).unwrap())
        .build()
        .unwrap()
}

/// `GET {base}/_sim/health` with `client`: the status, or the client's error.
async fn health(client: &reqwest::Client, base: &str) -> Result<StatusCode, reqwest::Error> {
    let response = client.get(format!("{base}/_sim/health")).send().await?;
    Ok(response.status())
}

async fn proxied() -> TestApp {
    spawn_with(builder().proxy().configure(|c| c.lcs_throttling = false)).await
}

/// Signs in on Entra's own host through `client`, as d365fo.tools does (v1 password grant).
async fn lcs_token(client: &reqwest::Client) -> String {
    let form = [
        ("resource", LCS),
        ("grant_type", "password"),
        ("client_id", "6f8a6e6e-1111-4222-8333-944444444444"),
        ("username", ADMIN),
        ("password", "secret"),
        ("scope", "openid"),
    ];
    let response = client
        .post("https://login.microsoftonline.com/common/oauth2/token")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Sends raw bytes to `addr` and reads the answer until the server closes or 2 s pass.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        stream.read_to_end(&mut answer),
    );
    let _ = read.await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn proxy_addr(app: &TestApp) -> SocketAddr {
    let uri = app.sim.proxy_uri().unwrap();
    uri.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn the_proxy_answers_microsoft_hosts_itself_under_the_simulators_ca() {
    let app = proxied().await;
    let client = through_proxy(&app);

    let token = lcs_token(&client).await;
    let response = client
        .get(BAP_LIST)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    assert!(!list["value"].as_array().unwrap().is_empty(), "{list}");

    // The journal records the host the client named, and that it came over TLS.
    let (_, journal) = app.get("/_sim/journal").await;
    let entries = journal["entries"].as_array().unwrap();
    let bap = entries
        .iter()
        .find(|e| {
            e["route"]
                .as_str()
                .unwrap_or("")
                .ends_with("/scopes/admin/environments")
        })
        .unwrap();
    assert_eq!(bap["host"], "api.bap.microsoft.com");
    assert_eq!(bap["scheme"], "https");
    let sign_in = entries
        .iter()
        .find(|e| e["path"] == "/common/oauth2/token")
        .unwrap();
    assert_eq!(sign_in["host"], "login.microsoftonline.com");
    let local = app.get("/_sim/health").await;
    assert_eq!(local.0, StatusCode::OK);
    assert_eq!(local.1["proxyPort"], proxy_addr(&app).port());
}

#[tokio::test]
async fn the_tunnel_speaks_http2_when_the_client_offers_it() {
    let app = proxied().await;
    let proxy = app.sim.proxy_uri().unwrap();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(trusting(app.sim.ca_pem(), &[b"h2", b"http/1.1"]))
        .proxy(reqwest::Proxy::all(&proxy).unwrap())
        .build()
        .unwrap();
    let response = client
        .get("https://api.powerplatform.com/_sim/health")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_connect_to_a_host_that_is_not_emulated_is_refused_and_never_forwarded() {
    let app = proxied().await;
    // A server on this machine the proxy could reach if it forwarded anything.
    let bystander = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = bystander.local_addr().unwrap();

    for host in ["example.com:443".to_string(), target.to_string()] {
        let answer = raw(
            proxy_addr(&app),
            format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
        let name = host.rsplit_once(':').unwrap().0;
        assert!(answer.contains("HostNotEmulated"), "{answer}");
        assert!(
            answer.contains(&format!("{name} is not a host the simulator emulates"))
                && answer.contains("nothing leaves this machine"),
            "{answer}"
        );
    }
    // Plain-HTTP proxy requests for other hosts likewise.
    let answer = raw(
        proxy_addr(&app),
        format!("GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(200), bystander.accept());
    assert!(accepted.await.is_err(), "the proxy connected to {target}");
}

#[tokio::test]
async fn a_connect_to_another_port_without_a_port_or_malformed_is_refused() {
    let app = proxied().await;
    let proxy = proxy_addr(&app);
    let answer = raw(
        proxy,
        b"CONNECT api.bap.microsoft.com:80 HTTP/1.1\r\nHost: api.bap.microsoft.com:80\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert!(answer.contains("ProxyPortRefused") && answer.contains("port 443 only"));

    let answer = raw(
        proxy,
        b"CONNECT api.bap.microsoft.com HTTP/1.1\r\nHost: api.bap.microsoft.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("InvalidProxyRequest") && answer.contains(":443"));

    let answer = raw(proxy, b"CONNECT \r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let answer = raw(proxy, b"\x16\x03\x01 not a request at all\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");

    // A client that opens a tunnel and leaves mid-handshake harms nothing.
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(b"CONNECT api.bap.microsoft.com:443 HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\x00")
        .await
        .unwrap();
    drop(stream);
    let client = through_proxy(&app);
    assert_eq!(
        health(&client, "https://api.bap.microsoft.com")
            .await
            .unwrap(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn absolute_form_requests_for_emulated_hosts_are_served_through_the_proxy() {
    let app = proxied().await;
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(app.sim.proxy_uri().unwrap()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        health(&client, "http://api.powerplatform.com")
            .await
            .unwrap(),
        StatusCode::OK
    );
    let (_, journal) = app.get("/_sim/journal?limit=2").await;
    assert_eq!(journal["entries"][0]["host"], "api.powerplatform.com");
    assert_eq!(journal["entries"][0]["scheme"], "http");
}

#[tokio::test]
async fn answers_over_tls_name_microsoft_hosts_and_sas_urls_work_on_the_blob_host() {
    let app = proxied().await;
    let client = through_proxy(&app);
    let token = lcs_token(&client).await;

    // CreateFileAsset on LCS's host: the SAS URL is on the tenant's storage host, over https.
    let created: Value = client
        .post(format!("{LCS}/box/fileasset/CreateFileAsset/{PROJECT}"))
        .bearer_auth(&token)
        .json(&json!({"Name": "pkg", "FileName": "pkg.zip", "FileType": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sas = created["FileLocation"].as_str().unwrap().to_string();
    let account = DEFAULT_TENANT.replace('-', "");
    assert!(
        sas.starts_with(&format!("https://{account}.blob.core.windows.net/")),
        "{sas}"
    );
    assert!(!sas.contains("/_blob/"), "{sas}");
    let put = client
        .put(&sas)
        .header("x-ms-blob-type", "BlockBlob")
        .body(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let got = client.get(&sas).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().len(), 22);

    // The same call on the plain port hands out the plain base.
    let plain = app
        .send(
            reqwest::Method::POST,
            &format!("/box/fileasset/CreateFileAsset/{PROJECT}"),
            &token,
            Some(json!({"Name": "pkg2", "FileName": "pkg2.zip", "FileType": 10})),
        )
        .await;
    let location = plain.1["FileLocation"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/_blob/{account}/", app.sim.uri())),
        "{location}"
    );

    // BAP's operation Location follows the host the request came to.
    let create = client
        .post("https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/environments?api-version=2023-06-01")
        .bearer_auth(&token)
        .json(&json!({"location": "unitedstates", "properties": {"displayName": "Over TLS", "environmentSku": "Sandbox"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::ACCEPTED);
    let location = create.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/lifecycleOperations/"),
        "{location}"
    );
    let poll = client
        .get(location)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), StatusCode::OK);

    // Discovery names Entra's and Graph's hosts.
    let config: Value = client
        .get(
            "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["token_endpoint"],
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    );
    assert_eq!(
        config["userinfo_endpoint"],
        "https://graph.microsoft.com/oidc/userinfo"
    );
}

#[tokio::test]
async fn the_tls_port_presents_the_certificate_its_sni_names() {
    let app = spawn_with(builder().tls()).await;
    let tls = app.sim.tls_address().unwrap();
    for host in [
        "login.microsoftonline.com",
        "api.bap.microsoft.com",
        "europe.api.bap.microsoft.com",
    ] {
        let client = https(app.sim.ca_pem()).resolve(host, tls).build().unwrap();
        let response = client
            .get(format!("https://{host}:{}/_sim/health", tls.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    // Discovery through it names the port it came to.
    let client = https(app.sim.ca_pem())
        .resolve("login.microsoftonline.com", tls)
        .build()
        .unwrap();
    let config: Value = client
        .get(format!(
            "https://login.microsoftonline.com:{}/{DEFAULT_TENANT}/v2.0/.well-known/openid-configuration",
            tls.port()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["token_endpoint"],
        format!(
            "https://login.microsoftonline.com:{}/{DEFAULT_TENANT}/oauth2/v2.0/token",
            tls.port()
        )
    );
    assert_eq!(
        app.get("/_sim/health").await.1["tlsPort"],
        json!(tls.port())
    );
}

/// A TLS handshake with `server_name` (an IP sends no SNI); `Err` with the client's reason.
async fn handshake(app: &TestApp, server_name: &str) -> Result<(), String> {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(trusting(app.sim.ca_pem(), &[b"http/1.1"])));
    let stream = TcpStream::connect(app.sim.tls_address().unwrap())
        .await
        .unwrap();
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    connector
        .connect(name, stream)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn bad_input_on_the_tls_port_is_refused_cleanly() {
    let app = spawn_with(builder().tls()).await;
    let tls = app.sim.tls_address().unwrap();

    assert!(handshake(&app, "api.bap.microsoft.com").await.is_ok());
    let unknown = handshake(&app, "example.com").await.unwrap_err();
    assert!(unknown.to_lowercase().contains("alert"), "{unknown}");
    let no_sni = handshake(&app, "127.0.0.1").await.unwrap_err();
    assert!(no_sni.to_lowercase().contains("alert"), "{no_sni}");

    // Plain HTTP gets a 400 that says where to go.
    let answer = raw(tls, b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        answer.contains("PlainHttpOnTlsPort") && answer.contains(app.sim.uri()),
        "{answer}"
    );
    // Bytes that start like TLS but are not, and a client that hangs up mid-handshake.
    let answer = raw(tls, b"\x16\x03\x01\x00\x05hello").await;
    assert!(answer.is_empty(), "{answer}");
    let mut stream = TcpStream::connect(tls).await.unwrap();
    stream
        .write_all(b"\x16\x03\x01\x02\x00\x01\x00")
        .await
        .unwrap();
    drop(stream);

    assert!(handshake(&app, "login.microsoftonline.com").await.is_ok());
    assert_eq!(app.get("/_sim/health").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_ca_directory_keeps_the_same_ca_across_starts() {
    let dir = std::env::temp_dir().join(format!("lsim-ca-test-{}", rand::random::<u64>()));
    let first = spawn_with(builder().proxy().tls_ca_dir(&dir)).await;
    let pem = first.sim.ca_pem().to_string();
    let text = first
        .client
        .get(first.url("/_sim/tls/ca.pem"))
        .send()
        .await
        .unwrap();
    assert_eq!(text.headers()["content-type"], "application/x-pem-file");
    assert_eq!(text.text().await.unwrap(), pem);
    first.sim.stop().await.unwrap();

    let second = spawn_with(builder().proxy().tls_ca_dir(&dir)).await;
    assert_eq!(second.sim.ca_pem(), pem);
    // A client that trusted the first start's CA reaches the second without change.
    let client = through_proxy(&second);
    assert_eq!(
        health(&client, "https://api.bap.microsoft.com")
            .await
            .unwrap(),
        StatusCode::OK
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused_by_its_own_tls_stack() {
    let app = proxied().await;
    let other = spawn_with(builder().proxy()).await;
    // Trusting another simulator's CA is not trusting this one's.
    let client = https(other.sim.ca_pem())
        .proxy(reqwest::Proxy::all(app.sim.proxy_uri().unwrap()).unwrap())
        .build()
        .unwrap();
    let error = health(&client, "https://api.bap.microsoft.com")
        .await
        .unwrap_err();
    assert!(error.is_connect() || error.is_request(), "{error:?}");
}

#[tokio::test]
async fn stopping_the_simulator_closes_open_tls_and_proxy_connections() {
    let app = spawn_with(builder().proxy().tls()).await;
    let client = through_proxy(&app);
    assert_eq!(
        health(&client, "https://api.bap.microsoft.com")
            .await
            .unwrap(),
        StatusCode::OK
    );
    // A tunnel kept alive, and a half-open TLS connection.
    let _idle = TcpStream::connect(app.sim.tls_address().unwrap())
        .await
        .unwrap();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), app.sim.stop());
    assert!(
        stopped.await.is_ok(),
        "stopping waited for idle connections"
    );
}
