//! The ledger over real QUIC: concurrent payments from every node, a partition in the middle,
//! and agreement afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use icn_identity::Did;
use icn_ledger::LedgerHandle;
use icn_testkit::{Cluster, Topology, wait_until};
use rand::{Rng, SeedableRng};

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn four_nodes_pay_each_other_through_a_partition_and_agree() {
    let cluster = Cluster::start_with(4, Topology::FullMesh, |_, c| {
        c.gossip.anti_entropy_interval = Duration::from_millis(500);
    })
    .await
    .unwrap();
    wait_until(T, "mesh", || async {
        (0..4).all(|i| cluster.peers_of(i).len() == 3)
    })
    .await
    .unwrap();
    let ledger = |i: usize| cluster.node(i).ledger().unwrap().clone();
    ledger(0).create_currency("HOUR", 500).await.unwrap();
    wait_until(T, "currency everywhere", || async {
        let mut ok = true;
        for i in 0..4 {
            ok &= ledger(i).balances(Some("HOUR".into()), None).await.is_ok();
        }
        ok
    })
    .await
    .unwrap();

    let dids: Vec<Did> = (0..4).map(|i| cluster.did(i)).collect();
    let mut expected: BTreeMap<Did, i64> = dids.iter().map(|d| (*d, 0)).collect();
    let mut acknowledged = 0u64;
    let mut refused = 0u64;
    for round in 0..2 {
        if round == 1 {
            cluster.partition(&[0, 1], &[2, 3]).await;
        }
        // 100 transfers per round, issued from all nodes concurrently.
        let mut tasks = Vec::new();
        for i in 0..4 {
            let handle = ledger(i);
            let dids = dids.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64((round * 4 + i) as u64);
                let mut done = Vec::new();
                for _ in 0..25 {
                    let mut to = dids[rng.gen_range(0..4)];
                    if to == dids[i] {
                        to = dids[(i + 1) % 4];
                    }
                    let amount = rng.gen_range(1..=20u64);
                    let result = handle.pay("HOUR", to, amount, String::new()).await;
                    done.push((dids[i], to, amount, result.is_ok()));
                }
                done
            }));
        }
        for task in tasks {
            for (from, to, amount, ok) in task.await.unwrap() {
                if ok {
                    acknowledged += 1;
                    *expected.get_mut(&from).unwrap() -= amount as i64;
                    *expected.get_mut(&to).unwrap() += amount as i64;
                } else {
                    refused += 1;
                }
            }
        }
        if round == 1 {
            cluster.heal(&[0, 1], &[2, 3]).await;
        }
    }
    assert!(
        acknowledged >= 150,
        "only {acknowledged} payments went through ({refused} refused)"
    );

    wait_until(T, "digests agree", || async {
        let mut digests = Vec::new();
        for i in 0..4 {
            digests.push(ledger(i).digest().await.unwrap());
        }
        digests.windows(2).all(|w| w[0] == w[1]) && digests[0].applied_transfers == acknowledged
    })
    .await
    .unwrap();

    for i in 0..4 {
        for did in &dids {
            let rows = ledger(i)
                .balances(Some("HOUR".into()), Some(*did))
                .await
                .unwrap();
            assert_eq!(rows[0].balance, expected[did], "node {i}'s view of {did}");
            assert!(rows[0].balance >= -500);
        }
        let page = cluster.scrape(i).await.unwrap();
        assert_eq!(
            page.get("icn_ledger_transactions_total"),
            acknowledged as f64,
            "node {i}"
        );
        assert_eq!(page.get("icn_ledger_currencies_total"), 1.0);
        assert_eq!(
            page.histogram("icn_ledger_transaction_amount")
                .unwrap()
                .count,
            acknowledged as f64
        );
        assert_eq!(page.get("icn_ledger_equivocations_total"), 0.0);
    }
    assert_eq!(expected.values().sum::<i64>(), 0);
    cluster.shutdown().await.unwrap();
}

/// Signs `op` with `key` and hands it to gossip on `icn/ledger` from node `via`, as a peer would.
async fn inject(cluster: &Cluster, via: usize, key: &icn_identity::Keypair, op: icn_ledger::Op) {
    let signed = op.sign(key);
    cluster
        .node(via)
        .gossip()
        .unwrap()
        .publish(
            icn_gossip::Topic::new(icn_ledger::LEDGER_TOPIC).unwrap(),
            signed.encode(),
        )
        .await
        .unwrap();
}

fn transfer(from: Did, to: Did, amount: u64, seq: u64, timestamp_ms: u64) -> icn_ledger::Op {
    icn_ledger::Op::Transfer(icn_ledger::Transfer {
        currency: icn_ledger::CurrencyCode::new("HOUR").unwrap(),
        from,
        to,
        amount,
        seq,
        timestamp_ms,
        memo: String::new(),
    })
}

#[tokio::test]
async fn hostile_ops_are_counted_by_reason() {
    use icn_identity::Keypair;
    let cluster = Cluster::start(2, Topology::Line).await.unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    let l0 = cluster.node(0).ledger().unwrap().clone();
    l0.create_currency("HOUR", 50).await.unwrap();
    let created = l0.history(None).await.unwrap()[0].op.op.timestamp_ms();
    let now = created + 1_000;
    let sink = cluster.did(0);
    let (over, equiv, gap, late) = (
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
    );
    // Overspend: 100 against a limit of 50.
    inject(&cluster, 1, &over, transfer(over.did(), sink, 100, 1, now)).await;
    // Equivocation: two transfers with the same seq.
    inject(
        &cluster,
        1,
        &equiv,
        transfer(equiv.did(), sink, 5, 1, now + 1),
    )
    .await;
    inject(
        &cluster,
        1,
        &equiv,
        transfer(equiv.did(), sink, 6, 1, now + 2),
    )
    .await;
    // A seq gap: pending until seq 1 and 2 show up.
    inject(&cluster, 1, &gap, transfer(gap.did(), sink, 1, 3, now + 3)).await;
    // An op older than what the ledger already folded: a replay.
    inject(
        &cluster,
        1,
        &late,
        transfer(late.did(), sink, 2, 1, created + 1),
    )
    .await;
    // Not an op at all.
    cluster
        .node(1)
        .gossip()
        .unwrap()
        .publish(
            icn_gossip::Topic::new(icn_ledger::LEDGER_TOPIC).unwrap(),
            b"not an op".to_vec(),
        )
        .await
        .unwrap();

    wait_until(T, "node 0 to fold everything", || async {
        let page = cluster.scrape(0).await.unwrap();
        let reason = |r| {
            page.value_with("icn_ledger_transactions_rejected_total", &[("reason", r)])
                .unwrap_or(0.0)
        };
        reason("over_limit") == 1.0
            && reason("equivocation") == 1.0
            && reason("bad_seq") == 1.0
            && reason("malformed") == 1.0
            && page.get("icn_ledger_equivocations_total") == 1.0
            && page.get("icn_ledger_replays_total") >= 1.0
            && page.get("icn_ledger_pending_ops") == 1.0
            // equivocation winner + the late transfer
            && page.get("icn_ledger_transactions_total") == 2.0
    })
    .await
    .unwrap();
    let page = cluster.scrape(0).await.unwrap();
    assert!(
        page.histogram("icn_ledger_apply_duration_seconds")
            .unwrap()
            .count
            >= 1.0
    );
    assert_eq!(page.get("icn_ledger_accounts_total"), 3.0);
    // Both nodes agree on the outcome.
    wait_until(T, "digests agree", || async {
        cluster.node(0).ledger().unwrap().digest().await.unwrap()
            == cluster.node(1).ledger().unwrap().digest().await.unwrap()
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn graceful_restart_keeps_every_acknowledged_op() {
    let mut cluster = Cluster::start(2, Topology::Line).await.unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    let l1 = cluster.node(1).ledger().unwrap().clone();
    l1.create_currency("HOUR", 100).await.unwrap();
    let to = cluster.did(0);
    for amount in 1..=10 {
        l1.pay("HOUR", to, amount, format!("#{amount}"))
            .await
            .unwrap();
    }
    let before = l1.digest().await.unwrap();
    assert_eq!(before.applied_transfers, 10);
    cluster.restart(1).await.unwrap();
    let after = cluster.node(1).ledger().unwrap().digest().await.unwrap();
    assert_eq!(after, before);
    let balance = cluster
        .node(1)
        .ledger()
        .unwrap()
        .balances(Some("HOUR".into()), None)
        .await
        .unwrap();
    assert_eq!(balance[0].balance, -55);
    // The restarted node goes on with the next seq.
    let (_, seq) = cluster
        .node(1)
        .ledger()
        .unwrap()
        .pay("HOUR", to, 1, String::new())
        .await
        .unwrap();
    assert_eq!(seq, 11);
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn digest_prefix_gauge_matches_the_digest_on_every_node() {
    let cluster = Cluster::start(2, Topology::Line).await.unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    let l0 = cluster.node(0).ledger().unwrap().clone();
    l0.create_currency("HOUR", 10).await.unwrap();
    l0.pay("HOUR", cluster.did(1), 3, String::new())
        .await
        .unwrap();
    let digest = l0.digest().await.unwrap().digest;
    let mut prefix = [0u8; 8];
    prefix[2..].copy_from_slice(&digest[..6]);
    let expected = u64::from_be_bytes(prefix) as f64;
    wait_until(T, "both gauges show the digest", || async {
        cluster
            .scrape(0)
            .await
            .unwrap()
            .get("icn_ledger_state_digest_prefix")
            == expected
            && cluster
                .scrape(1)
                .await
                .unwrap()
                .get("icn_ledger_state_digest_prefix")
                == expected
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn future_dated_ops_are_applied_once_their_time_comes() {
    use icn_identity::Keypair;
    let cluster = Cluster::start_with(2, Topology::Line, |_, c| {
        c.ledger.max_clock_skew_ms = 500;
    })
    .await
    .unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    let l0 = cluster.node(0).ledger().unwrap().clone();
    l0.create_currency("HOUR", 50).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let early = Keypair::generate();
    inject(
        &cluster,
        1,
        &early,
        transfer(early.did(), cluster.did(0), 7, 1, now + 2_500),
    )
    .await;
    wait_until(T, "refused as future-dated first", || async {
        cluster.scrape(0).await.unwrap().value_with(
            "icn_ledger_transactions_rejected_total",
            &[("reason", "future_timestamp")],
        ) >= Some(1.0)
    })
    .await
    .unwrap();
    wait_until(T, "applied once its time came, on both nodes", || async {
        l0.digest().await.unwrap().applied_transfers == 1
            && cluster
                .node(1)
                .ledger()
                .unwrap()
                .digest()
                .await
                .unwrap()
                .applied_transfers
                == 1
    })
    .await
    .unwrap();
    assert_eq!(
        l0.digest().await.unwrap(),
        cluster.node(1).ledger().unwrap().digest().await.unwrap()
    );
    cluster.shutdown().await.unwrap();
}

/// Two connected nodes; node 0 has created currency HOUR with `limit`. Returns the cluster and
/// both ledgers.
async fn payer_and_payee(limit: u64) -> (Cluster, LedgerHandle, LedgerHandle) {
    let cluster = Cluster::start(2, Topology::Line).await.unwrap();
    wait_until(T, "connected", || async { cluster.peers_of(0).len() == 1 })
        .await
        .unwrap();
    let (l0, l1) = (
        cluster.node(0).ledger().unwrap().clone(),
        cluster.node(1).ledger().unwrap().clone(),
    );
    l0.create_currency("HOUR", limit).await.unwrap();
    (cluster, l0, l1)
}

/// Waits until `ledger` applied `n` transfers and agrees with `other`.
async fn applied_and_agreed(ledger: &LedgerHandle, other: &LedgerHandle, n: u64) {
    wait_until(T, "every payment applied at the peer", || async {
        ledger.digest().await.unwrap().applied_transfers == n
    })
    .await
    .unwrap();
    assert_eq!(
        ledger.digest().await.unwrap(),
        other.digest().await.unwrap()
    );
}

#[tokio::test]
async fn a_burst_of_payments_travels_in_few_entries_and_every_peer_applies_it() {
    const PAYMENTS: u64 = 200;
    let (cluster, l0, l1) = payer_and_payee(1_000).await;
    let to = cluster.did(1);
    let payments: Vec<_> = (0..PAYMENTS)
        .map(|_| {
            let l0 = l0.clone();
            tokio::spawn(async move { l0.pay("HOUR", to, 1, String::new()).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for payment in payments {
        seqs.push(payment.await.unwrap().unwrap().1);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=PAYMENTS).collect::<Vec<_>>());
    applied_and_agreed(&l1, &l0, PAYMENTS).await;
    let topic = icn_gossip::Topic::new(icn_ledger::LEDGER_TOPIC).unwrap();
    let entries = |i: usize| {
        cluster
            .node(i)
            .gossip()
            .unwrap()
            .entries(&topic, usize::MAX)
    };
    let (held0, held1) = (entries(0).unwrap().len(), entries(1).unwrap().len());
    assert_eq!(held0, held1, "the peer holds the same entries");
    // The currency alone, then the payments several per entry.
    let ops = PAYMENTS as usize + 1;
    assert!(held0 * 2 <= ops, "{held0} entries for {ops} ops");
    cluster.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_payments_in_a_burst_leave_no_gap_in_the_seqs() {
    let (cluster, l0, l1) = payer_and_payee(100).await;
    let to = cluster.did(1);
    // Every third payment is over the limit on its own; the others fit together.
    let payments: Vec<_> = (0..90u64)
        .map(|i| {
            let l0 = l0.clone();
            let amount = if i % 3 == 0 { 1_000 } else { 1 };
            tokio::spawn(async move { (amount, l0.pay("HOUR", to, amount, String::new()).await) })
        })
        .collect();
    let mut seqs = Vec::new();
    for payment in payments {
        match payment.await.unwrap() {
            (1, Ok((_, seq))) => seqs.push(seq),
            (1, Err(e)) => panic!("a payment that fits was refused: {e}"),
            (_, Ok(_)) => panic!("an overspend was accepted"),
            (_, Err(e)) => assert!(e.to_string().contains("limit"), "{e}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
    applied_and_agreed(&l1, &l0, 60).await;
    cluster.shutdown().await.unwrap();
}
