//! Human-readable rendering. Pure functions returning text, so they are tested without a node.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icn_rpc::{PeerInfo, StatusInfo};

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
    let width = rows.iter().map(|(key, _)| key.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{:<width$} {value}", format!("{key}:"));
    }
    out
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
