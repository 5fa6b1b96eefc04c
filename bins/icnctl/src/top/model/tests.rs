use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A page with the series `top` reads, RPC latency for two methods.
fn page(
    received: u64,
    sent: u64,
    entries: u64,
    digest: u64,
    status: [u64; 4],
    pay: [u64; 4],
) -> String {
    let histogram = |method: &str, counts: [u64; 4]| {
        let bounds = ["0.001", "0.005", "0.01", "+Inf"];
        let mut text = String::new();
        for (bound, count) in bounds.iter().zip(counts) {
            text.push_str(&format!(
                "icn_rpc_request_duration_seconds_bucket{{method=\"{method}\",le=\"{bound}\"}} {count}\n"
            ));
        }
        text.push_str(&format!(
            "icn_rpc_request_duration_seconds_sum{{method=\"{method}\"}} 0.5\n\
             icn_rpc_request_duration_seconds_count{{method=\"{method}\"}} {}\n",
            counts[3]
        ));
        text
    };
    format!(
        "# TYPE icn_network_connections_active gauge\n\
         icn_network_connections_active 3\n\
         # TYPE icn_network_messages_received_total counter\n\
         icn_network_messages_received_total {received}\n\
         # TYPE icn_network_messages_sent_total counter\n\
         icn_network_messages_sent_total {sent}\n\
         # TYPE icn_gossip_entries_total gauge\n\
         icn_gossip_entries_total 42\n\
         # TYPE icn_gossip_entries_received_total counter\n\
         icn_gossip_entries_received_total {entries}\n\
         # TYPE icn_ledger_transactions_total counter\n\
         icn_ledger_transactions_total 7\n\
         # TYPE icn_ledger_state_digest_prefix gauge\n\
         icn_ledger_state_digest_prefix {digest}\n\
         # TYPE icn_system_uptime_seconds gauge\n\
         icn_system_uptime_seconds 65.5\n\
         # TYPE process_resident_memory_bytes gauge\n\
         process_resident_memory_bytes 52428800\n\
         # TYPE icn_rpc_request_duration_seconds histogram\n\
         {}{}",
        histogram("status", status),
        histogram("pay", pay)
    )
}

fn snapshot(at: u64, digest: u64) -> Snapshot {
    Snapshot {
        at: secs(at),
        digest_prefix: Some(digest),
        ..Snapshot::default()
    }
}

fn model(n: usize) -> Model {
    Model::new((0..n).map(|i| format!("127.0.0.1:{}", 9090 + i)), secs(1))
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() < 1e-12)
}

#[test]
fn a_page_is_read_into_a_snapshot() {
    let text = page(10, 20, 3, 0xabcdef, [1, 2, 3, 4], [0, 1, 1, 1]);
    let s = Snapshot::parse(&text, secs(2)).unwrap();
    assert_eq!(s.at, secs(2));
    assert_eq!(s.peers, Some(3.0));
    assert_eq!(s.messages_received, Some(10.0));
    assert_eq!(s.messages_sent, Some(20.0));
    assert_eq!(s.gossip_entries, Some(42.0));
    assert_eq!(s.entries_received, Some(3.0));
    assert_eq!(s.ledger_transfers, Some(7.0));
    assert_eq!(s.digest_prefix, Some(0xabcdef));
    assert_eq!(s.uptime_seconds, Some(65.5));
    assert_eq!(s.resident_memory_bytes, Some(52_428_800.0));
    // Summed over both methods, ascending, +Inf last.
    assert_eq!(
        s.rpc_buckets,
        vec![
            (0.001, 1.0),
            (0.005, 3.0),
            (0.01, 4.0),
            (f64::INFINITY, 5.0)
        ]
    );

    let empty = Snapshot::parse("# nothing here\n", secs(0)).unwrap();
    assert_eq!(empty, Snapshot::default());
}

#[test]
fn rates_are_per_second_between_the_last_two_scrapes() {
    let mut m = model(1);
    let first = page(100, 50, 10, 1, [0; 4], [0; 4]);
    let second = page(160, 70, 16, 1, [0; 4], [0; 4]);
    m.update(vec![Ok(Snapshot::parse(&first, secs(1)).unwrap())]);
    let row = &m.rows()[0];
    assert!(row.up);
    assert_eq!(row.peers, Some(3));
    // One scrape: no rates yet.
    assert_eq!(row.messages_in_per_second, None);
    assert_eq!(row.rpc_p99_seconds, None);

    m.update(vec![Ok(Snapshot::parse(&second, secs(3)).unwrap())]);
    let row = &m.rows()[0];
    assert_eq!(row.messages_in_per_second, Some(30.0));
    assert_eq!(row.messages_out_per_second, Some(10.0));
    assert_eq!(row.entries_in_per_second, Some(3.0));
    assert_eq!(row.transfers_per_second, Some(0.0));
    assert_eq!(row.gossip_entries, Some(42));
    assert_eq!(row.digest_prefix.as_deref(), Some("000000000001"));
    assert_eq!(row.resident_memory_mib, Some(50.0));
    assert_eq!(row.uptime_seconds, Some(65.5));
    // No RPC request between the scrapes.
    assert_eq!(row.rpc_p99_seconds, None);
    assert_eq!(m.message_history(0), vec![None, Some(40.0)]);
    assert_eq!(m.entry_history(0), vec![None, Some(3.0)]);
}

#[test]
fn a_counter_that_went_down_was_reset() {
    assert_eq!(rate(Some(100.0), Some(20.0), 2.0), Some(10.0));
    assert_eq!(rate(Some(10.0), Some(20.0), 0.0), None);
    assert_eq!(rate(None, Some(20.0), 1.0), None);
}

#[test]
fn rpc_p99_comes_from_bucket_deltas_summed_over_methods() {
    let mut m = model(1);
    let before = page(0, 0, 0, 1, [10, 20, 20, 20], [0, 0, 0, 0]);
    // Between the scrapes: status +40 in (0.001, 0.005]; pay +58 there and +2 in (0.005, 0.01].
    let after = page(0, 0, 0, 1, [10, 60, 60, 60], [0, 58, 60, 60]);
    m.update(vec![Ok(Snapshot::parse(&before, secs(1)).unwrap())]);
    m.update(vec![Ok(Snapshot::parse(&after, secs(2)).unwrap())]);
    // 100 requests, rank 99: the 1st of the 2 in (0.005, 0.01] -> 0.005 + 0.005 * 1/2.
    let p99 = m.rows()[0].rpc_p99_seconds;
    assert!(close(p99, 0.0075), "{p99:?}");
}

#[test]
fn quantile_edge_cases() {
    let bounds = |counts: [f64; 3]| {
        vec![
            (0.001, counts[0]),
            (0.01, counts[1]),
            (f64::INFINITY, counts[2]),
        ]
    };
    // Everything in the first bucket: interpolated from 0.
    let p = quantile_between(0.99, &bounds([0.0; 3]), &bounds([100.0, 100.0, 100.0]));
    assert!(close(p, 0.00099), "{p:?}");
    // The rank falls in +Inf: the largest finite bound.
    assert_eq!(
        quantile_between(0.99, &bounds([0.0; 3]), &bounds([1.0, 2.0, 100.0])),
        Some(0.01)
    );
    // No request in between.
    assert_eq!(
        quantile_between(0.99, &bounds([5.0, 6.0, 7.0]), &bounds([5.0, 6.0, 7.0])),
        None
    );
    assert_eq!(quantile_between(0.99, &[], &[]), None);
    // Reset: the new counts are the increase.
    let p = quantile_between(0.5, &bounds([50.0, 60.0, 70.0]), &bounds([0.0, 10.0, 10.0]));
    assert!(close(p, 0.001 + 0.009 * 5.0 / 10.0), "{p:?}");
}

#[test]
fn agreement_counts_distinct_digests_of_nodes_that_are_up() {
    let mut m = model(3);
    assert_eq!(m.agreement(), Agreement::Unknown);
    m.update(vec![
        Ok(snapshot(1, 7)),
        Ok(snapshot(1, 7)),
        Ok(snapshot(1, 7)),
    ]);
    assert_eq!(m.agreement(), Agreement::Agree);
    m.update(vec![
        Ok(snapshot(2, 7)),
        Ok(snapshot(2, 8)),
        Ok(snapshot(2, 9)),
    ]);
    assert_eq!(m.agreement(), Agreement::Disagree(3));
    let summary = m.summary();
    assert_eq!(summary.digests_distinct, 3);
    assert!(!summary.digests_agree);
    // A node that is down does not count, whatever it last said.
    m.update(vec![
        Ok(snapshot(3, 7)),
        Ok(snapshot(3, 7)),
        Err("connection refused".into()),
    ]);
    assert_eq!(m.agreement(), Agreement::Agree);
    assert!(m.summary().digests_agree);
}

#[test]
fn a_down_node_has_a_row_and_its_error() {
    let mut m = model(2);
    m.update(vec![Ok(snapshot(1, 1)), Err("connection refused".into())]);
    m.update(vec![Ok(snapshot(2, 1)), Err("timed out".into())]);
    let rows = m.rows();
    assert!(rows[0].up);
    let down = &rows[1];
    assert_eq!(down.instance, "127.0.0.1:9091");
    assert!(!down.up);
    assert_eq!(down.error.as_deref(), Some("timed out"));
    assert_eq!(down.peers, None);
    assert_eq!(down.digest_prefix, None);
    assert_eq!(m.errors(), vec![("127.0.0.1:9091", "timed out")]);
    assert!(m.any_answered());
    assert_eq!(m.message_history(1), vec![None, None]);

    // Back up: rates are averaged over the gap.
    let back = Snapshot {
        messages_received: Some(30.0),
        ..snapshot(4, 1)
    };
    let mut m = model(1);
    m.update(vec![Ok(Snapshot {
        messages_received: Some(10.0),
        ..snapshot(1, 1)
    })]);
    m.update(vec![Err("refused".into())]);
    assert!(!m.rows()[0].up);
    m.update(vec![Ok(back)]);
    let row = &m.rows()[0];
    assert!(row.up && row.error.is_none());
    assert!(close(row.messages_in_per_second, 20.0 / 3.0));

    let mut never = model(1);
    never.update(vec![Err("refused".into())]);
    assert!(!never.any_answered());
}

#[test]
fn histories_keep_the_last_samples() {
    let mut m = model(2);
    for t in 0..(HISTORY as u64 + 10) {
        let s = Snapshot {
            messages_sent: Some((t * t) as f64),
            ..snapshot(t, 1)
        };
        m.update(vec![Ok(s.clone()), Ok(s)]);
    }
    let history = m.message_history(0);
    assert_eq!(history.len(), HISTORY);
    // Rate between t-1 and t is 2t-1; the last t is HISTORY+9.
    assert_eq!(history.last(), Some(&Some((2 * (HISTORY + 9) - 1) as f64)));
    assert_eq!(
        m.cluster_message_history().last(),
        Some(&Some((2 * (2 * (HISTORY + 9) - 1)) as f64))
    );
    assert_eq!(m.cluster_entry_history().last(), Some(&None));
}
