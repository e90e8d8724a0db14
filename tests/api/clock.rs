use crate::helpers::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_paused_clock_reads_its_start_time_until_advanced() {
    let app = spawn_app().await;
    let (status, clock) = app.get("/_sim/clock").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        clock,
        json!({"now": "2026-01-01T09:00:00Z", "scale": 1.0, "paused": true})
    );

    let advanced = app.advance("90m").await;
    assert_eq!(
        advanced,
        json!({"now": "2026-01-01T10:30:00Z", "completed": []})
    );
    assert_eq!(app.advance("1h30m").await["now"], "2026-01-01T12:00:00Z");
    assert_eq!(app.advance("PT15M").await["now"], "2026-01-01T12:15:00Z");
    assert_eq!(app.advance("1d").await["now"], "2026-01-02T12:15:00Z");

    let (status, body) = app
        .post("/_sim/clock/advance", json!({"to": "2026-01-03T00:00:00Z"}))
        .await;
    assert_eq!(
        (status, body["now"].as_str()),
        (StatusCode::OK, Some("2026-01-03T00:00:00Z"))
    );
    let (_, clock) = app.get("/_sim/clock").await;
    assert_eq!(clock["now"], "2026-01-03T00:00:00Z");
}

#[tokio::test]
async fn scale_and_pause_can_be_changed_and_time_stays_continuous() {
    let app = spawn_app().await;
    let (status, clock) = app
        .patch("/_sim/clock", json!({"scale": 3600, "paused": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{clock}");
    assert_eq!(
        (clock["scale"].as_f64(), clock["paused"].as_bool()),
        (Some(3600.0), Some(false))
    );
    let started: jiff::Timestamp = clock["now"].as_str().unwrap().parse().unwrap();

    let (_, clock) = app.patch("/_sim/clock", json!({"paused": true})).await;
    assert_eq!(clock["paused"], true);
    let paused_at: jiff::Timestamp = clock["now"].as_str().unwrap().parse().unwrap();
    assert!(paused_at >= started, "virtual time never goes back");
    let (_, again) = app.get("/_sim/clock").await;
    assert_eq!(again["now"], clock["now"], "a paused clock stands still");
    assert_eq!(again["scale"], 3600.0, "pausing keeps the scale");
}

#[tokio::test]
async fn the_clock_never_goes_back() {
    let app = spawn_app().await;
    let reply = app
        .post("/_sim/clock/advance", json!({"to": "2025-12-31T00:00:00Z"}))
        .await;
    let message = assert_error(&reply, StatusCode::BAD_REQUEST, "ClockCannotGoBack");
    assert!(message.contains("2026-01-01T09:00:00Z"), "{message}");
    assert_eq!(reply.1["error"]["target"], "to");
    let reply = app.post("/_sim/clock/advance", json!({"by": "-5m"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ClockCannotGoBack");
    let (_, clock) = app.get("/_sim/clock").await;
    assert_eq!(clock["now"], "2026-01-01T09:00:00Z", "nothing moved");
}

#[tokio::test]
async fn bad_clock_input_gets_a_4xx_with_a_code() {
    let app = spawn_app().await;
    let cases = [
        (json!({"by": "soon"}), "InvalidDuration", Some("by")),
        (json!({"by": "3mo"}), "InvalidDuration", Some("by")),
        (json!({"to": "tomorrow"}), "InvalidTimestamp", Some("to")),
        (json!({"by": 90}), "InvalidBody", Some("by")),
        (
            json!({"by": "1m", "to": "2026-01-02T00:00:00Z"}),
            "InvalidBody",
            None,
        ),
        (json!({}), "InvalidBody", None),
        (json!({"for": "1m"}), "InvalidBody", Some("for")),
        (json!({"by": "5000000d"}), "ClockOutOfRange", Some("by")),
    ];
    for (body, code, target) in cases {
        let reply = app.post("/_sim/clock/advance", body.clone()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code);
        assert_eq!(reply.1["error"]["target"].as_str(), target, "{body}");
    }
    let reply = app.post_raw("/_sim/clock/advance", "{\"by\":").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidJson");

    for body in [
        json!({"scale": 0}),
        json!({"scale": -1}),
        json!({"scale": 1e9}),
    ] {
        let reply = app.patch("/_sim/clock", body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidScale");
    }
    let reply = app.patch("/_sim/clock", json!({"paused": "yes"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidBody");
    assert_eq!(reply.1["error"]["target"], "paused");
    let (_, clock) = app.get("/_sim/clock").await;
    assert_eq!(
        clock,
        json!({"now": "2026-01-01T09:00:00Z", "scale": 1.0, "paused": true})
    );
}

#[tokio::test]
async fn a_tenant_clock_advances_alone() {
    let app = spawn_app().await;
    let a = app.create_tenant(json!({})).await;
    let b = app.create_tenant(json!({})).await;
    let a_id = a["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/_sim/tenants/{a_id}/clock/advance"),
            json!({"by": "2h"}),
        )
        .await;
    assert_eq!(
        (status, body["now"].as_str()),
        (StatusCode::OK, Some("2026-01-01T11:00:00Z"))
    );
    let (_, clock) = app.get(&format!("/_sim/tenants/{a_id}/clock")).await;
    assert_eq!(
        (clock["now"].as_str(), clock["offset"].as_str()),
        (Some("2026-01-01T11:00:00Z"), Some("2h"))
    );
    let (_, b) = app
        .get(&format!("/_sim/tenants/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        b["now"], "2026-01-01T09:00:00Z",
        "other tenants keep the shared time"
    );
    let (_, shared) = app.get("/_sim/clock").await;
    assert_eq!(shared["now"], "2026-01-01T09:00:00Z");

    // The shared clock moves every tenant, offsets included.
    app.advance("1h").await;
    let (_, clock) = app.get(&format!("/_sim/tenants/{a_id}/clock")).await;
    assert_eq!(clock["now"], "2026-01-01T12:00:00Z");
    let reply = app
        .post(
            &format!("/_sim/tenants/{a_id}/clock/advance"),
            json!({"to": "2026-01-01T11:59:00Z"}),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ClockCannotGoBack");
}

/// One advance answers the operations of every tenant in the order they finished, each as the
/// operations route shows it: a tenant whose clock runs ahead finishes its work later on the
/// shared timeline's answer, though it is listed first among the tenants.
#[tokio::test]
async fn one_advance_lists_every_tenants_operations_in_the_order_they_finished() {
    let app = spawn_app().await;
    let mut tenants = Vec::new();
    for domain in ["ahead.test", "behind.test"] {
        let tenant = app.create_tenant(json!({"domain": domain})).await;
        let id = tenant["id"].as_str().unwrap().to_string();
        let upn = tenant["users"][0]["upn"].as_str().unwrap().to_string();
        let token = app.user_token(&id, &upn).await;
        tenants.push((id, token));
    }
    let ahead = format!("/_sim/tenants/{}/clock/advance", tenants[0].0);
    let (status, body) = app.post(&ahead, json!({"by": "1h"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (_, token) in &tenants {
        let create = json!({"location": "unitedstates",
                            "properties": {"displayName": "New", "environmentSku": "Sandbox"}});
        let path = "/providers/Microsoft.BusinessAppPlatform/environments?api-version=2023-06-01";
        let answer = app
            .call(token, reqwest::Method::POST, path, Some(create))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let (status, advanced) = app.post("/_sim/clock/advance", json!({"by": "2h"})).await;
    assert_eq!(status, StatusCode::OK, "{advanced}");
    let completed = advanced["completed"].as_array().unwrap();
    let owners: Vec<&str> = completed
        .iter()
        .map(|op| op["tenantId"].as_str().unwrap())
        .filter(|t| tenants.iter().any(|(id, _)| id == t))
        .collect();
    assert_eq!(
        owners,
        [tenants[1].0.as_str(), tenants[0].0.as_str()],
        "the tenant behind finished first: {advanced}"
    );
    let finished: Vec<&str> = completed
        .iter()
        .map(|op| op["finishedAt"].as_str().unwrap())
        .collect();
    assert!(finished.is_sorted(), "{finished:?}");
    for op in completed {
        let path = format!(
            "/_sim/tenants/{}/operations/{}",
            op["tenantId"].as_str().unwrap(),
            op["id"].as_str().unwrap()
        );
        let (status, shown) = app.get(&path).await;
        assert_eq!((status, &shown), (StatusCode::OK, op));
    }
}
