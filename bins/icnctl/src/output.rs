//! Human-readable rendering. Pure functions returning text, so they are tested without a node.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icn_rpc::{BalanceInfo, DigestInfo, EntryInfo, HistoryItem, PeerInfo, StatusInfo, TopicInfo};

/// Characters kept of a DID's key or of a hex id in tables (as `Did::short` in logs).
const SHORT_LEN: usize = 12;

/// `key: value` lines, values aligned.
pub fn status(status: &StatusInfo) -> String {
    let rows = [
        (
            "did",
            status
                .did
                .clone()
                .unwrap_or_else(|| "none (no identity: run `icnd init`)".into()),
        ),
        ("version", status.version.clone()),
        ("uptime", duration(status.uptime_seconds)),
        (
            "listen addr",
            status
                .listen_addr
                .clone()
                .unwrap_or_else(|| "not listening".into()),
        ),
        ("peers", status.peers.to_string()),
    ];
    key_values(&rows)
}

/// `digest`, `ops` and `applied transfers` lines.
pub fn digest(digest: &DigestInfo) -> String {
    key_values(&[
        ("digest", digest.digest.clone()),
        ("ops", digest.ops.to_string()),
        ("applied transfers", digest.applied_transfers.to_string()),
    ])
}

/// `key: value` lines, values aligned.
fn key_values(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(key, _)| key.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{:<width$} {value}", format!("{key}:"));
    }
    out
}

/// One line per entry (see [`entry_line`]), or `no entries`.
pub fn entries(entries: &[EntryInfo]) -> String {
    if entries.is_empty() {
        return "no entries\n".into();
    }
    entries.iter().map(entry_line).collect()
}

/// `TIME  AUTHOR  ID  PAYLOAD`: UTC time, the author's and the id's first characters, and the
/// payload as text if it is UTF-8 (control characters escaped, so it stays one line), else
/// `<N bytes>`.
pub fn entry_line(entry: &EntryInfo) -> String {
    format!(
        "{}  {:<SHORT_LEN$}  {}  {}\n",
        timestamp(entry.timestamp_ms),
        short_did(&entry.author),
        short(&entry.id),
        payload(&entry.payload)
    )
}

/// A table TOPIC / ENTRIES, or `no topics`.
pub fn topics(topics: &[TopicInfo]) -> String {
    if topics.is_empty() {
        return "no topics\n".into();
    }
    let header = ["TOPIC", "ENTRIES"].map(String::from);
    let rows: Vec<[String; 2]> = topics
        .iter()
        .map(|t| [t.topic.clone(), t.entries.to_string()])
        .collect();
    table(&header, &rows)
}

/// A table CURRENCY / BALANCE / LIMIT / ACCOUNT, or `no balances`.
pub fn balances(balances: &[BalanceInfo]) -> String {
    if balances.is_empty() {
        return "no balances\n".into();
    }
    let header = ["CURRENCY", "BALANCE", "LIMIT", "ACCOUNT"].map(String::from);
    let rows: Vec<[String; 4]> = balances
        .iter()
        .map(|b| {
            [
                b.currency.clone(),
                b.balance.to_string(),
                b.limit.to_string(),
                b.account.clone(),
            ]
        })
        .collect();
    table(&header, &rows)
}

/// A table TIME / OP / KIND / CURRENCY / DETAIL / STATUS / MEMO, or `no history`.
pub fn history(items: &[HistoryItem]) -> String {
    if items.is_empty() {
        return "no history\n".into();
    }
    let header = ["TIME", "OP", "KIND", "CURRENCY", "DETAIL", "STATUS", "MEMO"].map(String::from);
    let rows: Vec<[String; 7]> = items
        .iter()
        .map(|item| {
            [
                timestamp(item.timestamp_ms),
                short(&item.op_id).to_string(),
                item.kind.clone(),
                item.currency.clone(),
                op_detail(item),
                item.status.clone(),
                one_line(&item.memo),
            ]
        })
        .collect();
    table(&header, &rows)
}

/// What an op did, from whichever fields it has: `A -> B`, the amount, `limit N`, `seq N`.
fn op_detail(item: &HistoryItem) -> String {
    let mut parts = Vec::new();
    match (&item.from, &item.to) {
        (Some(from), Some(to)) => parts.push(format!("{} -> {}", short_did(from), short_did(to))),
        (Some(from), None) => parts.push(format!("by {}", short_did(from))),
        (None, Some(to)) => parts.push(format!("for {}", short_did(to))),
        (None, None) => {}
    }
    if let Some(amount) = item.amount {
        parts.push(amount.to_string());
    }
    if let Some(limit) = item.limit {
        parts.push(format!("limit {limit}"));
    }
    if let Some(seq) = item.seq {
        parts.push(format!("seq {seq}"));
    }
    parts.join(" ")
}

/// `2023-11-14T22:13:20Z` (UTC, whole seconds).
pub fn timestamp(unix_ms: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The key part of a `did:icn:` DID, cut to [`SHORT_LEN`] characters.
fn short_did(did: &str) -> &str {
    short(did.strip_prefix("did:icn:").unwrap_or(did))
}

/// The first [`SHORT_LEN`] characters.
fn short(text: &str) -> &str {
    text.char_indices()
        .nth(SHORT_LEN)
        .map_or(text, |(end, _)| &text[..end])
}

/// The payload as one line of text, or `<N bytes>` when it is not UTF-8.
fn payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => one_line(text),
        Err(_) => format!("<{} bytes>", bytes.len()),
    }
}

/// `text` with control characters (newlines, escapes) shown escaped, so a line stays a line
/// and a payload cannot drive the terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A table DID / ADDR / RTT / SINCE / DIR, or `no peers`. `now_unix_ms` makes SINCE an age.
pub fn peers(peers: &[PeerInfo], now_unix_ms: u64) -> String {
    if peers.is_empty() {
        return "no peers\n".into();
    }
    let header = ["DID", "ADDR", "RTT", "SINCE", "DIR"].map(String::from);
    let rows: Vec<[String; 5]> = peers
        .iter()
        .map(|p| {
            let age_ms = now_unix_ms.saturating_sub(p.connected_since_unix_ms);
            [
                p.did.clone(),
                p.addr.clone(),
                p.rtt_ms
                    .map_or_else(|| "-".into(), |ms| format!("{ms:.1} ms")),
                format!("{} ago", duration(age_ms as f64 / 1000.0)),
                p.direction.clone(),
            ]
        })
        .collect();
    table(&header, &rows)
}

/// Columns padded to their widest cell, separated by two spaces; no trailing spaces.
fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 < N {
                let _ = write!(line, "{cell:<width$}  ");
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `3d 4h`, `2h 5m`, `5m 3s`, `12s`: the two largest units, whole seconds.
pub fn duration(seconds: f64) -> String {
    // Negative, NaN or absurd values from a confused node print as 0s rather than panicking.
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The error and its causes, skipping causes whose text the message already contains (library
/// errors often embed their source).
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(did: &str, addr: &str, rtt: Option<f64>, since: u64, dir: &str) -> PeerInfo {
        PeerInfo {
            did: did.into(),
            addr: addr.into(),
            rtt_ms: rtt,
            connected_since_unix_ms: since,
            direction: dir.into(),
        }
    }

    #[test]
    fn status_lines_are_aligned() {
        let text = status(&StatusInfo {
            did: Some("did:icn:abc".into()),
            version: "0.1.0".into(),
            uptime_seconds: 3723.9,
            listen_addr: None,
            peers: 4,
        });
        assert_eq!(
            text,
            "did:         did:icn:abc\n\
             version:     0.1.0\n\
             uptime:      1h 2m\n\
             listen addr: not listening\n\
             peers:       4\n"
        );
    }

    #[test]
    fn peers_table_is_aligned() {
        let now = 1_000_000;
        let text = peers(
            &[
                peer(
                    "did:icn:long-one",
                    "127.0.0.1:4001",
                    Some(1.25),
                    now - 65_000,
                    "outbound",
                ),
                peer("did:icn:b", "10.0.0.2:9", None, now + 5, "inbound"),
            ],
            now,
        );
        assert_eq!(
            text,
            "DID               ADDR            RTT     SINCE      DIR\n\
             did:icn:long-one  127.0.0.1:4001  1.2 ms  1m 5s ago  outbound\n\
             did:icn:b         10.0.0.2:9      -       0s ago     inbound\n"
        );
        assert_eq!(peers(&[], now), "no peers\n");
    }

    fn sample_entry(payload: &[u8]) -> EntryInfo {
        EntryInfo {
            id: "0123456789abcdef".repeat(4),
            topic: "news".into(),
            author: "did:icn:z6MkAuthorWithALongKey".into(),
            timestamp_ms: 1_700_000_000_123,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn entry_lines_show_text_or_a_size() {
        assert_eq!(
            entry_line(&sample_entry(b"hello")),
            "2023-11-14T22:13:20Z  z6MkAuthorWi  0123456789ab  hello\n"
        );
        assert_eq!(
            entry_line(&sample_entry(&[0xff, 0, 1])),
            "2023-11-14T22:13:20Z  z6MkAuthorWi  0123456789ab  <3 bytes>\n"
        );
        assert_eq!(
            entry_line(&sample_entry(b"two\nlines\x1b[31m")),
            "2023-11-14T22:13:20Z  z6MkAuthorWi  0123456789ab  two\\nlines\\u{1b}[31m\n"
        );
        let short_author = EntryInfo {
            author: "did:icn:abc".into(),
            ..sample_entry(b"")
        };
        assert_eq!(
            entry_line(&short_author),
            "2023-11-14T22:13:20Z  abc           0123456789ab  \n"
        );
        assert_eq!(entries(&[]), "no entries\n");
    }

    #[test]
    fn ledger_tables_are_aligned() {
        let text = balances(&[
            BalanceInfo {
                currency: "HOUR".into(),
                account: "did:icn:me".into(),
                balance: -40,
                limit: 100,
            },
            BalanceInfo {
                currency: "KWH".into(),
                account: "did:icn:me".into(),
                balance: 12,
                limit: 5,
            },
        ]);
        assert_eq!(
            text,
            "CURRENCY  BALANCE  LIMIT  ACCOUNT\n\
             HOUR      -40      100    did:icn:me\n\
             KWH       12       5      did:icn:me\n"
        );
        assert_eq!(balances(&[]), "no balances\n");

        let transfer = HistoryItem {
            op_id: "ab".repeat(32),
            kind: "transfer".into(),
            currency: "HOUR".into(),
            from: Some("did:icn:alice".into()),
            to: Some("did:icn:bob".into()),
            amount: Some(40),
            seq: Some(3),
            limit: None,
            timestamp_ms: 1_700_000_000_000,
            memo: "lunch".into(),
            status: "applied".into(),
        };
        let created = HistoryItem {
            kind: "create_currency".into(),
            to: None,
            amount: None,
            seq: None,
            limit: Some(100),
            memo: String::new(),
            ..transfer.clone()
        };
        assert_eq!(
            history(&[created, transfer]),
            "TIME                  OP            KIND             CURRENCY  DETAIL                 STATUS   MEMO\n\
             2023-11-14T22:13:20Z  abababababab  create_currency  HOUR      by alice limit 100     applied\n\
             2023-11-14T22:13:20Z  abababababab  transfer         HOUR      alice -> bob 40 seq 3  applied  lunch\n"
        );
        assert_eq!(history(&[]), "no history\n");
        assert_eq!(
            topics(&[TopicInfo {
                topic: "news".into(),
                entries: 2
            }]),
            "TOPIC  ENTRIES\nnews   2\n"
        );
        assert_eq!(
            digest(&DigestInfo {
                digest: "d1".into(),
                ops: 3,
                applied_transfers: 1
            }),
            "digest:            d1\nops:               3\napplied transfers: 1\n"
        );
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(0.4), "0s");
        assert_eq!(duration(-3.0), "0s");
        assert_eq!(duration(f64::NAN), "0s");
        assert_eq!(duration(59.0), "59s");
        assert_eq!(duration(61.0), "1m 1s");
        assert_eq!(duration(90_061.0), "1d 1h");
    }

    #[test]
    fn error_chain_skips_repeated_causes() {
        let inner = std::io::Error::other("disk on fire");
        let outer = anyhow::Error::new(inner).context("cannot read x: disk on fire");
        assert_eq!(error_chain(&outer), "cannot read x: disk on fire");
        let outer = anyhow::Error::new(std::io::Error::other("boom")).context("while reading");
        assert_eq!(error_chain(&outer), "while reading: boom");
    }
}
