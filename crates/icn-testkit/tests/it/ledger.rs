//! The ledger over real QUIC: concurrent payments from every node, a partition in the middle,
//! and agreement afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use icn_identity::Did;
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
