//! Ledger calls: currency, credit limit, pay, balance, history, digest.

use icn_rpc::{CreditLimitRequest, CurrencyRequest, ErrorBody, PayRequest};
use serde_json::json;

use crate::backend::{OTHER_DID, OUR_DID, OVERSPEND, fixed_balances, fixed_digest, fixed_history};
use crate::harness::{Harness, refusal};

#[tokio::test]
async fn ledger_calls_round_trip() {
    let h = Harness::start().await;
    let client = h.client();

    let created = client.create_currency("HOUR", 100).await.unwrap();
    assert_eq!(created.op_id, "c0".repeat(32));
    assert_eq!(
        *h.backend.currencies.lock().unwrap(),
        vec![CurrencyRequest {
            code: "HOUR".into(),
            limit: 100
        }]
    );

    let set = client
        .set_credit_limit("HOUR", OTHER_DID, 250)
        .await
        .unwrap();
    assert_eq!(set.op_id, "c1".repeat(32));
    assert_eq!(
        *h.backend.credit_limits.lock().unwrap(),
        vec![CreditLimitRequest {
            currency: "HOUR".into(),
            account: OTHER_DID.into(),
            limit: 250
        }]
    );

    let paid = client.pay("HOUR", OTHER_DID, 40, "lunch").await.unwrap();
    assert_eq!(paid.op_id, "ee".repeat(32));
    assert_eq!(paid.seq, 7);
    assert_eq!(
        *h.backend.payments.lock().unwrap(),
        vec![PayRequest {
            currency: "HOUR".into(),
            to: OTHER_DID.into(),
            amount: 40,
            memo: "lunch".into()
        }]
    );

    assert_eq!(client.balance(None, None).await.unwrap(), fixed_balances());
    let one = client.balance(Some("KWH"), Some(OTHER_DID)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        (
            one[0].currency.as_str(),
            one[0].account.as_str(),
            one[0].balance,
            one[0].limit
        ),
        ("KWH", OTHER_DID, 12, 50)
    );
    assert_eq!(
        *h.backend.balance_queries.lock().unwrap(),
        vec![(None, None), (Some("KWH".into()), Some(OTHER_DID.into()))]
    );

    assert_eq!(client.history(None).await.unwrap(), fixed_history());
    client.history(Some(OTHER_DID)).await.unwrap();
    assert_eq!(
        *h.backend.history_queries.lock().unwrap(),
        vec![None, Some(OTHER_DID.into())]
    );

    assert_eq!(client.ledger_digest().await.unwrap(), fixed_digest());
    h.stop().await;
}

#[tokio::test]
async fn an_overspend_is_a_400_with_the_nodes_message() {
    let h = Harness::start().await;
    let (status, message) = refusal(h.client().pay("HOUR", OTHER_DID, 150, "").await);
    assert_eq!(status, 400);
    assert_eq!(message, OVERSPEND);
    assert!(h.backend.payments.lock().unwrap().is_empty());

    let (status, message) = refusal(h.client().create_currency("bad code", 1).await);
    assert_eq!(
        (status, message.as_str()),
        (400, "invalid currency code \"bad code\"")
    );
    h.stop().await;
}

#[tokio::test]
async fn required_fields_and_defaults_over_http() {
    let h = Harness::start().await;
    let client = h.client();

    let (status, message) = refusal(client.pay("HOUR", " ", 1, "").await);
    assert_eq!((status, message.as_str()), (400, "payee is empty"));
    let (status, message) = refusal(client.pay("", OTHER_DID, 1, "").await);
    assert_eq!((status, message.as_str()), (400, "currency is empty"));
    let (status, message) = refusal(client.create_currency("", 1).await);
    assert_eq!((status, message.as_str()), (400, "currency code is empty"));
    let (status, message) = refusal(client.set_credit_limit("HOUR", "", 1).await);
    assert_eq!((status, message.as_str()), (400, "account is empty"));
    assert!(h.backend.payments.lock().unwrap().is_empty());

    // A memo may be left out of the JSON; a negative amount does not decode.
    let no_memo = h
        .raw_post(
            "/v1/pay",
            &json!({ "currency": "HOUR", "to": OTHER_DID, "amount": 3 }),
        )
        .await;
    assert_eq!(no_memo.status(), 200);
    let body: serde_json::Value = no_memo.json().await.unwrap();
    assert_eq!(body, json!({ "op_id": "ee".repeat(32), "seq": 7 }));
    assert_eq!(h.backend.payments.lock().unwrap()[0].memo, "");
    let negative = h
        .raw_post(
            "/v1/pay",
            &json!({ "currency": "HOUR", "to": OTHER_DID, "amount": -3 }),
        )
        .await;
    assert_eq!(negative.status(), 400);
    let body: ErrorBody = negative.json().await.unwrap();
    assert!(body.error.contains("amount"), "{}", body.error);

    // Blank query fields mean "the default", like absent ones.
    let balances = h.raw_get("/v1/balance?currency=&account=").await;
    assert_eq!(balances.status(), 200);
    let body: serde_json::Value = balances.json().await.unwrap();
    assert_eq!(body[0]["account"], OUR_DID);
    assert_eq!(body[0]["balance"], -40);
    let history = h.raw_get("/v1/history?account=").await;
    assert_eq!(history.status(), 200);
    let body: serde_json::Value = history.json().await.unwrap();
    assert_eq!(body[2]["status"], "rejected: over the credit limit");
    assert_eq!(body[0]["to"], serde_json::Value::Null);
    assert_eq!(
        *h.backend.balance_queries.lock().unwrap(),
        vec![(None, None)]
    );
    assert_eq!(*h.backend.history_queries.lock().unwrap(), vec![None]);

    let digest = h.raw_get("/v1/ledger/digest").await;
    let body: serde_json::Value = digest.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "digest": "d1".repeat(32), "ops": 3, "applied_transfers": 1 })
    );
    h.stop().await;
}
