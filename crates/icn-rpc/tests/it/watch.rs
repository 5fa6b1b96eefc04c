//! The streaming watch: NDJSON lines, the typed reader, refusals, disconnects and shutdown.

use std::time::Duration;

use icn_rpc::EntryInfo;
use icn_testkit::wait_until;

use crate::backend::{UNWATCHABLE, entry, watched};
use crate::harness::{Harness, refusal};

/// Sends `entry` on every open watch of the backend.
fn feed(h: &Harness, entry: &EntryInfo) {
    for tx in h.backend.watchers.lock().unwrap().iter() {
        tx.try_send(entry.clone()).unwrap();
    }
}

#[tokio::test]
async fn the_client_reads_entries_as_they_come() {
    let h = Harness::start().await;
    // A short request timeout: the stream must outlive it.
    let client = h.client().with_timeout(Duration::from_millis(200));
    let mut stream = client.watch("news").await.unwrap();

    let [first, second] = <[EntryInfo; 2]>::try_from(watched("news")).unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), first);
    assert_eq!(stream.next().await.unwrap().unwrap(), second);

    // Longer than the request timeout, on purpose.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = entry("news", 3, b"later");
    feed(&h, &later);
    assert_eq!(stream.next().await.unwrap().unwrap(), later);

    // When the node closes the stream, the reader ends.
    h.backend.watchers.lock().unwrap().clear();
    assert!(stream.next().await.is_none());
    assert!(stream.next().await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn the_body_is_ndjson_with_base64_payloads() {
    let h = Harness::start().await;
    let mut response = h.raw_get("/v1/watch?topic=news").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");

    let mut text = String::new();
    while text.matches('\n').count() < 2 {
        let chunk = response.chunk().await.unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["payload"], "Zmlyc3Q=");
    assert_eq!(lines[0]["author"], "did:icn:z6MkOtherAccount");
    assert_eq!(lines[1]["payload"], "AJ+Slg==");
    assert_eq!(lines[1]["id"], format!("{:064x}", 902));
    assert_eq!(lines[1]["timestamp_ms"], 1_700_000_902_000_u64);
    h.stop().await;
}

#[tokio::test]
async fn a_refused_watch_is_a_json_error() {
    let h = Harness::start().await;
    let (status, message) = refusal(h.client().watch(UNWATCHABLE).await);
    assert_eq!(status, 404);
    assert_eq!(message, "not subscribed to missing");
    let (status, message) = refusal(h.client().watch("").await);
    assert_eq!((status, message.as_str()), (400, "topic is empty"));
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_closes_the_backends_channel() {
    let h = Harness::start().await;
    let mut stream = h.client().watch("news").await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    // The server notices at the latest when it next writes to the dead connection.
    wait_until(
        Duration::from_secs(5),
        "the watch channel closed",
        || async {
            let watchers = h.backend.watchers.lock().unwrap();
            for tx in watchers.iter() {
                let _ = tx.try_send(entry("news", 9, b"anyone?"));
            }
            watchers.iter().all(|tx| tx.is_closed())
        },
    )
    .await
    .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let h = Harness::start().await;
    let mut stream = h.client().watch("news").await.unwrap();
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();

    // `stop` fails if `serve` is still waiting for the stream after 5 s.
    h.stop().await;
    assert!(stream.next().await.is_none());
}
