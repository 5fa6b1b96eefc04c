//! Ledger commands: currency create, credit-limit set, pay, balance, history, ledger digest.

use icn_rpc::PayRequest;

use crate::node::{Node, OTHER_DID, OUR_DID, OVERSPEND, stderr, success};

#[tokio::test]
async fn pay_reports_the_op_or_the_nodes_refusal() {
    let node = Node::start().await;
    let out = node
        .icnctl(&["pay", "HOUR", OTHER_DID, "40", "--memo", "lunch"])
        .await;
    assert_eq!(
        success(&out),
        format!(
            "paid 40 HOUR to {OTHER_DID} (seq 7, op {})\n",
            "ee".repeat(32)
        )
    );
    assert_eq!(
        *node.backend.payments.lock().unwrap(),
        vec![PayRequest {
            currency: "HOUR".into(),
            to: OTHER_DID.into(),
            amount: 40,
            memo: "lunch".into(),
        }]
    );

    let out = node.icnctl(&["pay", "HOUR", OTHER_DID, "150"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("icnctl: error: {OVERSPEND} (HTTP 400)\n")
    );
    assert!(out.stdout.is_empty());
    assert_eq!(node.backend.payments.lock().unwrap().len(), 1);
    node.stop().await;
}

#[tokio::test]
async fn balance_as_json_and_as_a_table() {
    let node = Node::start().await;
    let out = node.icnctl(&["balance", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            { "currency": "HOUR", "account": OUR_DID, "balance": -40, "limit": 100 },
            { "currency": "KWH", "account": OUR_DID, "balance": 12, "limit": 50 },
        ])
    );

    let out = node
        .icnctl(&["balance", "KWH", "--account", OTHER_DID])
        .await;
    assert_eq!(
        success(&out),
        format!("CURRENCY  BALANCE  LIMIT  ACCOUNT\nKWH       12       50     {OUR_DID}\n")
    );
    assert_eq!(
        *node.backend.balance_queries.lock().unwrap(),
        vec![(None, None), (Some("KWH".into()), Some(OTHER_DID.into()))]
    );
    node.stop().await;
}

#[tokio::test]
async fn currency_credit_limit_history_and_digest() {
    let node = Node::start().await;
    let out = node
        .icnctl(&["currency", "create", "HOUR", "--limit", "100"])
        .await;
    assert_eq!(
        success(&out),
        format!("created currency HOUR (op {})\n", "c0".repeat(32))
    );

    let out = node
        .icnctl(&["credit-limit", "set", "HOUR", OTHER_DID, "250", "--json"])
        .await;
    let json: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
    assert_eq!(json, serde_json::json!({ "op_id": "c1".repeat(32) }));

    let out = node.icnctl(&["history"]).await;
    let text = success(&out);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("TIME  "), "{text}");
    let row = lines.next().unwrap();
    for cell in [
        "2023-11-14T22:13:20Z",
        "bbbbbbbbbbbb",
        "transfer",
        "HOUR",
        "z6MkOurNode -> z6MkOtherAcc 40 seq 1",
        "applied",
    ] {
        assert!(row.contains(cell), "{cell:?} not in {row:?}");
    }
    assert!(row.ends_with("lunch"), "{row}");
    assert_eq!(lines.next(), None);

    let out = node.icnctl(&["ledger", "digest"]).await;
    assert_eq!(
        success(&out),
        format!(
            "digest:            {}\nops:               3\napplied transfers: 1\n",
            "d1".repeat(32)
        )
    );
    node.stop().await;
}
