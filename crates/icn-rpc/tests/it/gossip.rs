//! Gossip calls: publish, entries, subscribe, unsubscribe, topics (watch is in `watch`).

use icn_rpc::{EntryInfo, ErrorBody, TopicInfo, TopicResult};
use serde_json::json;

use crate::backend::entry;
use crate::harness::{Harness, refusal};

fn topic_result(topic: &str, joined: bool) -> TopicResult {
    TopicResult {
        topic: topic.into(),
        joined,
    }
}

#[tokio::test]
async fn subscribe_publish_list_and_leave() {
    let h = Harness::start().await;
    let client = h.client();

    assert_eq!(
        client.subscribe("news").await.unwrap(),
        topic_result("news", true)
    );
    assert_eq!(
        client.subscribe("news").await.unwrap(),
        topic_result("news", false)
    );
    assert_eq!(
        client.topics().await.unwrap(),
        vec![TopicInfo {
            topic: "news".into(),
            entries: 0
        }]
    );

    let first = client.publish("news", b"hello".to_vec()).await.unwrap();
    assert_eq!(first.id, format!("{:064x}", 1));
    let second = client.publish("news", vec![0u8, 255, 10]).await.unwrap();
    assert_eq!(second.id, format!("{:064x}", 2));

    let all = client.entries("news", None).await.unwrap();
    assert_eq!(
        all,
        vec![entry("news", 1, b"hello"), entry("news", 2, &[0, 255, 10])]
    );
    let latest = client.entries("news", Some(1)).await.unwrap();
    assert_eq!(latest, vec![entry("news", 2, &[0, 255, 10])]);
    // The node applies the documented default.
    assert_eq!(*h.backend.entry_limits.lock().unwrap(), vec![100, 1]);
    assert_eq!(client.entries("other", None).await.unwrap(), vec![]);

    assert_eq!(
        client.topics().await.unwrap(),
        vec![TopicInfo {
            topic: "news".into(),
            entries: 2
        }]
    );
    assert_eq!(
        client.unsubscribe("news").await.unwrap(),
        topic_result("news", true)
    );
    assert_eq!(
        client.unsubscribe("news").await.unwrap(),
        topic_result("news", false)
    );
    assert_eq!(client.topics().await.unwrap(), vec![]);
    h.stop().await;
}

#[tokio::test]
async fn payloads_travel_as_base64() {
    let h = Harness::start().await;

    let published = h
        .raw_post(
            "/v1/publish",
            &json!({ "topic": "bin", "payload": "AAEC/w==" }),
        )
        .await;
    assert_eq!(published.status(), 200);
    let body: serde_json::Value = published.json().await.unwrap();
    assert_eq!(body, json!({ "id": format!("{:064x}", 1) }));
    assert_eq!(
        h.backend.topics.lock().unwrap()["bin"][0].payload,
        vec![0, 1, 2, 255]
    );

    let listed = h.raw_get("/v1/entries?topic=bin&limit=5").await;
    assert_eq!(listed.status(), 200);
    let body: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(
        body,
        json!([{
            "id": format!("{:064x}", 1),
            "topic": "bin",
            "author": "did:icn:z6MkOurNode",
            "timestamp_ms": 1_700_000_001_000_u64,
            "payload": "AAEC/w==",
        }])
    );
    // And the typed client decodes it back to bytes.
    let typed: Vec<EntryInfo> = h.client().entries("bin", Some(5)).await.unwrap();
    assert_eq!(typed[0].payload, vec![0, 1, 2, 255]);

    let not_base64 = h
        .raw_post(
            "/v1/publish",
            &json!({ "topic": "bin", "payload": "not base64!" }),
        )
        .await;
    assert_eq!(not_base64.status(), 400);
    let body: ErrorBody = not_base64.json().await.unwrap();
    assert!(
        body.error.contains("payload is not valid base64"),
        "{}",
        body.error
    );
    assert_eq!(h.backend.topics.lock().unwrap()["bin"].len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn entries_limit_and_topic_are_checked() {
    let h = Harness::start().await;
    let client = h.client();

    let (status, message) = refusal(client.entries("news", Some(0)).await);
    assert_eq!(status, 400);
    assert_eq!(message, "limit must be between 1 and 10000, got 0");
    let (status, message) = refusal(client.entries("news", Some(10_001)).await);
    assert_eq!(status, 400);
    assert_eq!(message, "limit must be between 1 and 10000, got 10001");
    client.entries("news", Some(10_000)).await.unwrap();
    assert_eq!(*h.backend.entry_limits.lock().unwrap(), vec![10_000]);

    let no_topic = h.raw_get("/v1/entries?limit=3").await;
    assert_eq!(no_topic.status(), 400);
    let body: ErrorBody = no_topic.json().await.unwrap();
    assert!(body.error.contains("topic"), "{}", body.error);
    let bad_limit = h.raw_get("/v1/entries?topic=news&limit=-1").await;
    assert_eq!(bad_limit.status(), 400);

    let (status, message) = refusal(client.entries(" ", None).await);
    assert_eq!((status, message.as_str()), (400, "topic is empty"));
    let (status, message) = refusal(client.publish("", b"x".to_vec()).await);
    assert_eq!((status, message.as_str()), (400, "topic is empty"));
    let (status, message) = refusal(client.subscribe("").await);
    assert_eq!((status, message.as_str()), (400, "topic is empty"));
    let (status, message) = refusal(client.unsubscribe("").await);
    assert_eq!((status, message.as_str()), (400, "topic is empty"));
    h.stop().await;
}

#[tokio::test]
async fn the_backends_refusal_reaches_the_client() {
    let h = Harness::start().await;
    let (status, message) = refusal(h.client().publish("a\nb", b"x".to_vec()).await);
    assert_eq!(status, 400);
    assert_eq!(message, "topic name contains a control character");
    assert!(h.backend.topics.lock().unwrap().is_empty());
    h.stop().await;
}
