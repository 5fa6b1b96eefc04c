//! RED metrics: every request counted once by method and outcome, timed, and tracked in flight.

use std::time::Duration;

use icn_rpc::{ClientError, RpcToken};
use icn_testkit::wait_until;

use crate::backend::{BAD_TARGET, DOWN_TARGET, HANG_TARGET};
use crate::harness::{Harness, raw};

const DURATION: &str = "icn_rpc_request_duration_seconds";
const ACTIVE: &str = "icn_rpc_active_requests";

fn duration_count(h: &Harness, method: &str) -> f64 {
    h.scrape()
        .histogram_with(DURATION, &[("method", method)])
        .map_or(0.0, |hist| hist.count)
}

#[tokio::test]
async fn every_series_starts_at_zero() {
    let h = Harness::start().await;
    for &method in icn_obs::labels::RpcMethod::VALUES {
        for status in ["ok", "client_error", "unauthorized", "server_error"] {
            assert_eq!(h.requests(method, status), 0.0, "{method}/{status}");
        }
    }
    assert_eq!(h.scrape().value(ACTIVE), Some(0.0));
    h.stop().await;
}

#[tokio::test]
async fn unauthorized_requests_are_counted_under_their_method() {
    let h = Harness::start().await;
    let http = raw();

    let none = http.get(h.url("/v1/status")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(h.requests("status", "unauthorized"), 1.0);
    assert_eq!(h.requests("status", "ok"), 0.0);

    let wrong = http
        .post(h.url("/v1/dial"))
        .bearer_auth(RpcToken::generate().expose())
        .json(&serde_json::json!({ "target": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(h.requests("dial", "unauthorized"), 1.0);
    assert_eq!(h.requests("status", "unauthorized"), 1.0);

    // An unknown path without a token is refused too, and labelled `unknown`.
    let unknown = http.get(h.url("/admin")).send().await.unwrap();
    assert_eq!(unknown.status(), 401);
    assert_eq!(h.requests("unknown", "unauthorized"), 1.0);

    // Refused requests never reached the backend, but were timed.
    assert!(h.backend.dialed.lock().unwrap().is_empty());
    assert_eq!(duration_count(&h, "status"), 1.0);
    assert_eq!(duration_count(&h, "dial"), 1.0);
    h.stop().await;
}

#[tokio::test]
async fn successful_calls_are_counted_and_timed() {
    let h = Harness::start().await;
    let client = h.client();
    for _ in 0..3 {
        client.status().await.unwrap();
    }
    for _ in 0..2 {
        client.peers().await.unwrap();
    }
    client.dial("127.0.0.1:4000").await.unwrap();

    assert_eq!(h.requests("status", "ok"), 3.0);
    assert_eq!(h.requests("peers", "ok"), 2.0);
    assert_eq!(h.requests("dial", "ok"), 1.0);
    assert_eq!(h.requests("unknown", "ok"), 0.0);

    let metrics = h.scrape();
    let status = metrics
        .histogram_with(DURATION, &[("method", "status")])
        .unwrap();
    assert_eq!(status.count, 3.0);
    assert!(status.sum > 0.0 && status.sum < 10.0, "sum {}", status.sum);
    assert_eq!(status.buckets.last().unwrap().1, 3.0, "+Inf bucket");
    assert_eq!(duration_count(&h, "peers"), 2.0);
    assert_eq!(duration_count(&h, "dial"), 1.0);
    assert_eq!(metrics.value(ACTIVE), Some(0.0));
    h.stop().await;
}

#[tokio::test]
async fn errors_are_classified() {
    let h = Harness::start().await;
    let client = h.client();
    let http = raw();

    client.dial(BAD_TARGET).await.unwrap_err();
    assert_eq!(h.requests("dial", "client_error"), 1.0);

    client.dial(DOWN_TARGET).await.unwrap_err();
    assert_eq!(h.requests("dial", "server_error"), 1.0);

    let unknown = http
        .get(h.url("/v1/nope"))
        .bearer_auth(h.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(h.requests("unknown", "client_error"), 1.0);
    assert_eq!(duration_count(&h, "unknown"), 1.0);

    // A wrong verb on a known path is that method's client error.
    let wrong_verb = http
        .delete(h.url("/v1/status"))
        .bearer_auth(h.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_verb.status(), 405);
    assert_eq!(h.requests("status", "client_error"), 1.0);

    assert_eq!(h.requests("dial", "ok"), 0.0);
    assert_eq!(h.scrape().value(ACTIVE), Some(0.0));
    h.stop().await;
}

#[tokio::test]
async fn in_flight_gauge_follows_requests_even_when_cancelled() {
    let h = Harness::start().await;
    let client = h.client().with_timeout(Duration::from_millis(300));

    let call = tokio::spawn(async move { client.dial(HANG_TARGET).await });
    wait_until(Duration::from_secs(5), "one request in flight", || async {
        h.scrape().value(ACTIVE) == Some(1.0)
    })
    .await
    .unwrap();

    // The client gives up and closes the connection; the server drops the request.
    let err = call.await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    wait_until(Duration::from_secs(5), "no request in flight", || async {
        h.scrape().value(ACTIVE) == Some(0.0)
    })
    .await
    .unwrap();
    // A request that never produced an answer has no outcome to count.
    assert_eq!(h.scrape().sum("icn_rpc_requests_total"), 0.0);
    h.stop().await;
}

#[tokio::test]
async fn gossip_and_ledger_calls_are_counted_under_their_method() {
    let h = Harness::start().await;
    let client = h.client();

    client.publish("news", b"x".to_vec()).await.unwrap();
    client.publish("news", b"y".to_vec()).await.unwrap();
    client.publish("", b"z".to_vec()).await.unwrap_err();
    client
        .pay("HOUR", "did:icn:z6MkOther", 5, "")
        .await
        .unwrap();
    client
        .pay("HOUR", "did:icn:z6MkOther", 500, "")
        .await
        .unwrap_err();
    client.ledger_digest().await.unwrap();

    assert_eq!(h.requests("publish", "ok"), 2.0);
    assert_eq!(h.requests("publish", "client_error"), 1.0);
    assert_eq!(h.requests("pay", "ok"), 1.0);
    assert_eq!(h.requests("pay", "client_error"), 1.0);
    assert_eq!(h.requests("ledger_digest", "ok"), 1.0);
    assert_eq!(duration_count(&h, "publish"), 3.0);
    assert_eq!(duration_count(&h, "pay"), 2.0);
    assert_eq!(h.requests("unknown", "ok"), 0.0);
    h.stop().await;
}

#[tokio::test]
async fn an_open_watch_is_counted_once_and_is_not_in_flight() {
    let h = Harness::start().await;
    let mut stream = h.client().watch("news").await.unwrap();
    stream.next().await.unwrap().unwrap();

    // Counted and timed when its head went out; the open stream is not an active request.
    assert_eq!(h.requests("watch", "ok"), 1.0);
    assert_eq!(duration_count(&h, "watch"), 1.0);
    assert_eq!(h.scrape().value(ACTIVE), Some(0.0));

    // Entries flowing later change nothing.
    for tx in h.backend.watchers.lock().unwrap().iter() {
        tx.try_send(crate::backend::entry("news", 3, b"more"))
            .unwrap();
    }
    stream.next().await.unwrap().unwrap();
    assert_eq!(h.requests("watch", "ok"), 1.0);
    assert_eq!(duration_count(&h, "watch"), 1.0);

    h.client()
        .watch(crate::backend::UNWATCHABLE)
        .await
        .unwrap_err();
    assert_eq!(h.requests("watch", "client_error"), 1.0);
    assert_eq!(h.scrape().value(ACTIVE), Some(0.0));
    h.stop().await;
}
