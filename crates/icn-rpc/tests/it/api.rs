//! Round trips through the typed client and the HTTP-level contract (status codes, JSON errors).

use icn_rpc::{ClientError, ErrorBody, RpcClient, RpcToken};
use serde_json::json;

use crate::backend::{BAD_TARGET, DIALED_DID, DOWN_TARGET, fixed_peers, fixed_status};
use crate::harness::{Harness, raw};

#[tokio::test]
async fn status_peers_and_dial_round_trip() {
    let h = Harness::start().await;
    let client = h.client();

    assert_eq!(client.status().await.unwrap(), fixed_status());
    assert_eq!(client.peers().await.unwrap(), fixed_peers());
    let dialed = client
        .dial("did:icn:z6MkDialedPeer@127.0.0.1:4003")
        .await
        .unwrap();
    assert_eq!(dialed.did, DIALED_DID);
    assert_eq!(
        *h.backend.dialed.lock().unwrap(),
        vec!["did:icn:z6MkDialedPeer@127.0.0.1:4003".to_string()]
    );
    h.stop().await;
}

#[tokio::test]
async fn backend_errors_become_json_statuses() {
    let h = Harness::start().await;
    let client = h.client();

    match client.dial(BAD_TARGET).await.unwrap_err() {
        ClientError::Server { status, message } => {
            assert_eq!(status, 400);
            assert_eq!(message, "cannot parse dial target \"bad\"");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    match client.dial(DOWN_TARGET).await.unwrap_err() {
        ClientError::Server { status, message } => {
            assert_eq!(status, 503);
            assert_eq!(message, "node has no identity");
        }
        other => panic!("expected a 503, got {other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn malformed_or_empty_dial_bodies_are_400_json() {
    let h = Harness::start().await;
    let http = raw();
    let url = h.url("/v1/dial");

    let not_json = http
        .post(&url)
        .bearer_auth(h.token.expose())
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: ErrorBody = not_json.json().await.unwrap();
    assert!(!body.error.is_empty());

    let empty = http
        .post(&url)
        .bearer_auth(h.token.expose())
        .json(&json!({ "target": "  " }))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    let body: ErrorBody = empty.json().await.unwrap();
    assert_eq!(body.error, "dial target is empty");
    // The backend never saw either request.
    assert!(h.backend.dialed.lock().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn missing_and_wrong_tokens_are_401() {
    let h = Harness::start().await;
    let http = raw();

    let none = http.get(h.url("/v1/status")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let body: ErrorBody = none.json().await.unwrap();
    assert!(
        body.error.contains("missing bearer token"),
        "{}",
        body.error
    );

    let wrong = http
        .get(h.url("/v1/status"))
        .bearer_auth(RpcToken::generate().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: ErrorBody = wrong.json().await.unwrap();
    assert_eq!(body.error, "invalid RPC token");

    let basic = http
        .get(h.url("/v1/peers"))
        .header("authorization", format!("Basic {}", h.token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    // The typed client reports a refused token as such.
    let client = RpcClient::new(h.addr, RpcToken::generate()).unwrap();
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized), "{err:?}");
    assert!(err.to_string().contains("refused the RPC token"));
    h.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let h = Harness::start().await;
    let http = raw();

    let unknown = http
        .get(h.url("/v1/nope"))
        .bearer_auth(h.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: ErrorBody = unknown.json().await.unwrap();
    assert_eq!(body.error, "no RPC method at /v1/nope");

    let wrong_verb = http
        .get(h.url("/v1/dial"))
        .bearer_auth(h.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_verb.status(), 405);
    let body: ErrorBody = wrong_verb.json().await.unwrap();
    assert_eq!(body.error, "GET is not allowed on /v1/dial");
    h.stop().await;
}
