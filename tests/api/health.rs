use crate::helpers::{assert_error, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn health_reports_version_seed_and_virtual_time() {
    let app = spawn_app().await;
    let (status, body) = app.get("/_sim/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["seed"], 42);
    assert_eq!(body["virtualNow"], "2026-01-01T09:00:00Z");
    assert!(body["uptimeSeconds"].as_f64().unwrap() >= 0.0);
    let (status, body) = app.get("/_sim/ready").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[tokio::test]
async fn unknown_routes_get_a_json_404_and_wrong_methods_a_405() {
    let app = spawn_app().await;
    let reply = app.get("/no/such/route").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "RouteNotFound");
    let reply = app.get("/_sim/nothing-here").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "RouteNotFound");
    let reply = app.get("/_sim/clock/advance").await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
    let reply = app.delete("/_sim/health").await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = crate::helpers::spawn_with(
        crate::helpers::builder().configure(|c| c.max_body_bytes = 1024),
    )
    .await;
    let big = format!(
        r#"{{"domain":"a.test","displayName":"{}"}}"#,
        "x".repeat(4096)
    );
    let reply = app.post_raw("/_sim/tenants", &big).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    let (_, tenants) = app.get("/_sim/tenants").await;
    assert_eq!(
        tenants["tenants"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_stopped_simulator_no_longer_answers() {
    let app = spawn_app().await;
    let url = app.url("/_sim/health");
    assert_eq!(app.get("/_sim/health").await.0, StatusCode::OK);
    app.sim.stop().await.unwrap();
    assert!(reqwest::get(&url).await.is_err(), "the port is closed");
}

#[tokio::test]
async fn a_pasted_placeholder_in_the_path_gets_a_400_that_says_what_to_change() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app().await;
    let ask = |request: &'static str| {
        let address = app.sim.address();
        async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        }
    };

    let placeholder = ask("PATCH /_sim/tenants/<id>/capacity HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let fine = ask("GET /_sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;

    assert!(placeholder.starts_with("HTTP/1.1 400 "), "{placeholder}");
    let body: serde_json::Value =
        serde_json::from_str(placeholder.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "InvalidRequestLine", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("/_sim/tenants/<id>/capacity holds '<'")
            && message.contains("Replace placeholders such as <id>"),
        "{message}"
    );
    assert!(fine.starts_with("HTTP/1.1 200 "), "{fine}");
}
