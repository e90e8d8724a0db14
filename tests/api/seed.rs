use crate::helpers::{builder, spawn_with};
use serde_json::{Value, json};

async fn ids_for(seed: u64) -> Value {
    let app = spawn_with(builder().seed(seed)).await;
    let a = app.create_tenant(json!({})).await;
    let b = app
        .create_tenant(json!({"users": [{"upn": "x@b.test"}, {"upn": "y@b.test"}]}))
        .await;
    json!([a, b])
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids_and_a_different_seed_different_ones() {
    let first = ids_for(7).await;
    assert_eq!(
        first,
        ids_for(7).await,
        "tenant ids, object ids, client ids and secrets repeat"
    );
    let other = ids_for(8).await;
    assert_ne!(first[0]["id"], other[0]["id"]);
    assert_ne!(
        first[1]["users"][0]["objectId"],
        other[1]["users"][0]["objectId"]
    );
}

#[tokio::test]
async fn a_tenant_with_a_given_id_gets_the_same_ids_whatever_else_happened_before() {
    let spec = json!({"id": "22222222-3333-4444-8555-666666666666"});
    let quiet = spawn_with(builder().seed(3)).await;
    let alone = quiet.create_tenant(spec.clone()).await;
    let busy = spawn_with(builder().seed(3)).await;
    for _ in 0..3 {
        busy.create_tenant(json!({})).await;
    }
    let after_others = busy.create_tenant(spec).await;
    assert_eq!(alone, after_others, "each tenant draws from its own stream");
}
