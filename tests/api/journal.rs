use crate::helpers::{DEFAULT_TENANT, assert_error, builder, spawn_app, spawn_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_journal_records_each_request_with_real_and_virtual_time() {
    let app = spawn_app().await;
    app.advance("10m").await;
    app.get(&format!("/_sim/tenants/{DEFAULT_TENANT}")).await;
    app.get("/_sim/tenants/00000000-0000-0000-0000-000000000009")
        .await;

    let (status, journal) = app.get("/_sim/journal").await;
    assert_eq!(status, StatusCode::OK);
    let entries = journal["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        3,
        "the journal call itself is recorded after answering"
    );
    assert_eq!(entries[0]["method"], "POST");
    assert_eq!(entries[0]["path"], "/_sim/clock/advance");
    assert_eq!(entries[0]["virtualTime"], "2026-01-01T09:00:00Z");
    assert_eq!(entries[1]["virtualTime"], "2026-01-01T09:10:00Z");
    assert_eq!(entries[1]["tenant"], DEFAULT_TENANT);
    assert_eq!(entries[1]["status"], 200);
    assert_eq!(entries[2]["status"], 404);
    assert_eq!(entries[2]["errorCode"], "TenantNotFound");
    assert!(entries[0]["realTime"].is_string() && entries[0]["durationMs"].is_number());
    assert_eq!(entries[0]["seq"], 1);
}

#[tokio::test]
async fn the_journal_filters_pages_and_stays_bounded() {
    let app = spawn_with(builder().configure(|c| c.journal_size = 5)).await;
    let tenant = app.create_tenant(json!({})).await;
    let id = tenant["id"].as_str().unwrap();
    for _ in 0..3 {
        app.get(&format!("/_sim/tenants/{id}")).await;
        app.get("/_sim/health").await;
    }
    let (_, all) = app.get("/_sim/journal").await;
    let entries = all["entries"].as_array().unwrap();
    assert_eq!((all["capacity"].as_u64(), entries.len()), (Some(5), 5));
    assert_eq!(entries[4]["seq"], 7, "the oldest were dropped");

    let (_, mine) = app.get(&format!("/_sim/journal?tenant={id}")).await;
    assert!(
        mine["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant"] == id)
    );
    let (_, page) = app.get("/_sim/journal?since=6&limit=1").await;
    let page = page["entries"].as_array().unwrap();
    assert_eq!((page.len(), page[0]["seq"].as_u64()), (1, Some(9)));

    let reply = app.get("/_sim/journal?tenant=nope").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidTenantId");
    assert_eq!(reply.1["error"]["target"], "tenant");
    assert_error(
        &app.get("/_sim/journal?limit=-1").await,
        StatusCode::BAD_REQUEST,
        "InvalidQuery",
    );
    assert_error(
        &app.get("/_sim/journal?tenantt=x").await,
        StatusCode::BAD_REQUEST,
        "InvalidQuery",
    );
}
