//! Drawing a [`Model`]: a pure function of the model and the frame size, so the live view and
//! `--once` (a `TestBackend` printed as text) show the same thing.
//!
//! Layout, top to bottom: a header line (node count, digest agreement, interval, keys), a table
//! with one row per node, then sparklines of message and received-entry rates: one pair per
//! node when there is room for all of them, else one cluster-wide pair; last, a line naming a
//! node that is down and why.

use ratatui::Frame;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Sparkline, SparklineBar, Table};

use super::model::{Agreement, Model, Row};
use crate::output;

/// Sparkline bars are whole numbers: rates are drawn in tenths so 0.3/s still shows.
const SPARK_SCALE: f64 = 10.0;
/// Height of one sparkline panel: a border line above and below one line of bars.
const SPARK_MIN_HEIGHT: u16 = 3;

/// `(title, width)` of the table's columns.
const COLUMNS: [(&str, u16); 12] = [
    ("NODE", 21),
    ("STATE", 5),
    ("PEERS", 5),
    ("UPTIME", 7),
    ("MSG IN/s", 8),
    ("MSG OUT/s", 9),
    ("ENTRIES", 7),
    ("ENTRY/s", 7),
    ("TX/s", 6),
    ("DIGEST", 12),
    ("RPC p99", 8),
    ("MEM MiB", 7),
];

/// Draws the whole view into `frame`.
pub fn render(frame: &mut Frame<'_>, model: &Model) {
    let area = frame.area();
    let errors = model.errors();
    let table_height = u16::try_from(model.len())
        .unwrap_or(u16::MAX)
        .saturating_add(3);
    let [header, table, sparks, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_height),
        Constraint::Fill(1),
        Constraint::Length(u16::from(!errors.is_empty())),
    ])
    .areas(area);

    frame.render_widget(Paragraph::new(header_line(model)), header);
    frame.render_widget(node_table(&model.rows(), model.agreement()), table);
    render_sparklines(frame, sparks, model);
    if let Some((instance, error)) = errors.first() {
        let more = match errors.len() {
            1 => String::new(),
            n => format!(" (+{} more down)", n - 1),
        };
        let text = format!("{instance} DOWN: {error}{more}");
        frame.render_widget(Paragraph::new(text).style(Color::Red), footer);
    }
}

/// Renders one frame of `width` x `height` and returns it as plain text lines (trailing
/// spaces cut), as `--once` prints it.
pub fn to_text(model: &Model, width: u16, height: u16) -> String {
    let Ok(mut terminal) = Terminal::new(TestBackend::new(width, height));
    let Ok(_) = terminal.draw(|frame| render(frame, model));
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            if let Some(cell) = buffer.cell((x, y)) {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn header_line(model: &Model) -> Line<'static> {
    let rows = model.rows();
    let up = rows.iter().filter(|r| r.up).count();
    let (digest, color) = match model.agreement() {
        Agreement::Unknown => ("-".to_string(), Color::Reset),
        Agreement::Agree => ("agree".to_string(), Color::Green),
        Agreement::Disagree(n) => (format!("{n} distinct"), Color::Yellow),
    };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    Line::from(vec![
        Span::styled("icnctl top", bold),
        Span::raw(format!("  {} nodes, {up} up  digest: ", rows.len())),
        Span::styled(digest, Style::new().fg(color)),
        Span::raw(format!(
            "  every {}  q: quit",
            humantime::format_duration(model.interval)
        )),
    ])
}

fn node_table(rows: &[Row], agreement: Agreement) -> Table<'static> {
    let header = TableRow::new(COLUMNS.map(|(title, _)| title))
        .style(Style::new().add_modifier(Modifier::BOLD));
    let lines = rows.iter().map(|row| {
        let (state, color) = if row.up {
            ("up", Color::Green)
        } else {
            ("DOWN", Color::Red)
        };
        let digest_color = match agreement {
            Agreement::Disagree(_) => Color::Yellow,
            _ => Color::Reset,
        };
        TableRow::new(vec![
            Cell::from(row.instance.clone()),
            Cell::from(state).style(Style::new().fg(color)),
            Cell::from(opt(row.peers, |p| p.to_string())),
            Cell::from(opt(row.uptime_seconds, output::duration)),
            Cell::from(opt(row.messages_in_per_second, per_second)),
            Cell::from(opt(row.messages_out_per_second, per_second)),
            Cell::from(opt(row.gossip_entries, |e| e.to_string())),
            Cell::from(opt(row.entries_in_per_second, per_second)),
            Cell::from(opt(row.transfers_per_second, per_second)),
            Cell::from(opt(row.digest_prefix.clone(), |d| d)).style(Style::new().fg(digest_color)),
            Cell::from(opt(row.rpc_p99_seconds, latency)),
            Cell::from(opt(row.resident_memory_mib, |m| format!("{m:.1}"))),
        ])
    });
    Table::new(lines, COLUMNS.map(|(_, width)| width))
        .header(header)
        .block(Block::bordered().title(" nodes "))
}

/// One pair of sparklines per node if each gets [`SPARK_MIN_HEIGHT`], else one cluster-wide
/// pair, else nothing.
fn render_sparklines(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let nodes = u16::try_from(model.len()).unwrap_or(u16::MAX);
    let rows = model.rows();
    if nodes > 0 && area.height >= nodes.saturating_mul(SPARK_MIN_HEIGHT) {
        let slots = Layout::vertical((0..nodes).map(|_| Constraint::Fill(1))).split(area);
        for (i, (slot, row)) in slots.iter().zip(&rows).enumerate() {
            let messages = sum(row.messages_in_per_second, row.messages_out_per_second);
            spark_pair(
                frame,
                *slot,
                &row.instance,
                (messages, &model.message_history(i)),
                (row.entries_in_per_second, &model.entry_history(i)),
            );
        }
    } else if area.height >= SPARK_MIN_HEIGHT {
        let messages = model.cluster_message_history();
        let entries = model.cluster_entry_history();
        spark_pair(
            frame,
            area,
            "cluster",
            (messages.last().copied().flatten(), &messages),
            (entries.last().copied().flatten(), &entries),
        );
    }
}

/// Messages/s on the left, entries/s on the right; `(current, history)` each.
fn spark_pair(
    frame: &mut Frame<'_>,
    area: Rect,
    name: &str,
    messages: (Option<f64>, &[Option<f64>]),
    entries: (Option<f64>, &[Option<f64>]),
) {
    let [left, right] = Layout::horizontal([Constraint::Fill(1); 2]).areas(area);
    for (area, what, (current, history), color) in [
        (left, "msgs/s", messages, Color::Cyan),
        (right, "entries/s", entries, Color::Magenta),
    ] {
        let title = format!(" {name} {what} {} ", opt(current, per_second));
        let block = Block::bordered().title(title);
        // The widget draws from the oldest sample on: keep only the newest that fit.
        let fit = usize::from(block.inner(area).width);
        let bars: Vec<SparklineBar> = history[history.len().saturating_sub(fit)..]
            .iter()
            .map(|rate| SparklineBar::from(rate.map(bar)))
            .collect();
        let sparkline = Sparkline::default()
            .block(block)
            .data(bars)
            .style(Style::new().fg(color));
        frame.render_widget(sparkline, area);
    }
}

fn bar(rate: f64) -> u64 {
    if rate.is_finite() && rate > 0.0 {
        (rate * SPARK_SCALE).round() as u64
    } else {
        0
    }
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// The value formatted, or `-`.
fn opt<T>(value: Option<T>, format: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "-".to_string(), format)
}

/// A rate with one decimal.
fn per_second(rate: f64) -> String {
    format!("{rate:.1}")
}

/// `850us`, `7.5ms`, `1.20s`.
fn latency(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.0}us", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.1}ms", seconds * 1e3)
    } else {
        format!("{seconds:.2}s")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::model::Snapshot;
    use super::*;

    fn snapshot(at: u64, received: f64, digest: u64) -> Snapshot {
        Snapshot {
            at: Duration::from_secs(at),
            peers: Some(1.0),
            messages_received: Some(received),
            messages_sent: Some(received / 2.0),
            entries_received: Some(received / 10.0),
            gossip_entries: Some(12.0),
            ledger_transfers: Some(0.0),
            digest_prefix: Some(digest),
            uptime_seconds: Some(61.0),
            resident_memory_bytes: Some(10.0 * 1024.0 * 1024.0),
            rpc_buckets: vec![(0.001, received), (f64::INFINITY, received)],
        }
    }

    fn two_nodes() -> Model {
        let mut model = Model::new(
            ["127.0.0.1:9090".to_string(), "127.0.0.1:9091".to_string()],
            Duration::from_secs(1),
        );
        model.update(vec![
            Ok(snapshot(1, 0.0, 0xabc)),
            Ok(snapshot(1, 0.0, 0xabc)),
        ]);
        model.update(vec![
            Ok(snapshot(2, 20.0, 0xabc)),
            Ok(snapshot(2, 40.0, 0xabc)),
        ]);
        model
    }

    /// The line of the node table for `instance`.
    fn table_line<'a>(text: &'a str, instance: &str) -> &'a str {
        text.lines()
            .find(|l| l.contains(instance))
            .unwrap_or_else(|| panic!("no {instance} in\n{text}"))
    }

    #[test]
    fn a_frame_shows_nodes_agreement_and_numbers() {
        let text = to_text(&two_nodes(), 120, 30);
        assert_eq!(text.lines().count(), 30);
        assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
        assert!(
            text.starts_with("icnctl top  2 nodes, 2 up  digest: agree"),
            "{text}"
        );
        let header = table_line(&text, "NODE");
        for column in ["STATE", "PEERS", "MSG IN/s", "DIGEST", "RPC p99", "MEM MiB"] {
            assert!(header.contains(column), "{text}");
        }
        let row: Vec<&str> = table_line(&text, "127.0.0.1:9090")
            .split_whitespace()
            .collect();
        // NODE STATE PEERS UPTIME (two words) MSG-IN MSG-OUT ENTRIES ENTRY/s TX/s DIGEST p99 MEM.
        // p99: 20 requests under 1 ms, rank 19.8 -> 0.001 * 19.8 / 20.
        assert_eq!(
            row,
            [
                "│127.0.0.1:9090",
                "up",
                "1",
                "1m",
                "1s",
                "20.0",
                "10.0",
                "12",
                "2.0",
                "0.0",
                "000000000abc",
                "990us",
                "10.0",
                "│"
            ],
            "{text}"
        );
        assert!(
            table_line(&text, "127.0.0.1:9091").contains("40.0"),
            "{text}"
        );
        // Per-node sparklines, titled with the current rate.
        assert!(text.contains(" 127.0.0.1:9090 msgs/s 30.0 "), "{text}");
        assert!(text.contains(" 127.0.0.1:9091 entries/s 4.0 "), "{text}");
    }

    #[test]
    fn down_nodes_and_disagreement_are_shown() {
        let mut model = Model::new(
            ["a:1", "b:2", "c:3"].map(String::from),
            Duration::from_millis(500),
        );
        model.update(vec![
            Ok(snapshot(1, 0.0, 1)),
            Ok(snapshot(1, 0.0, 2)),
            Err("connection refused".into()),
        ]);
        let text = to_text(&model, 120, 12);
        assert!(text.contains("digest: 2 distinct"), "{text}");
        assert!(text.contains("every 500ms"), "{text}");
        let down: Vec<&str> = table_line(&text, "c:3").split_whitespace().collect();
        assert_eq!(down[1..4], ["DOWN", "-", "-"], "{text}");
        assert!(text.contains("c:3 DOWN: connection refused"), "{text}");
        // Too short for three pairs of sparklines: one cluster-wide pair.
        assert!(text.contains(" cluster msgs/s - "), "{text}");
        assert!(!text.contains(" a:1 msgs/s"), "{text}");
    }

    #[test]
    fn a_tiny_frame_does_not_panic() {
        let model = two_nodes();
        for (w, h) in [(1, 1), (20, 3), (40, 5)] {
            let text = to_text(&model, w, h);
            assert_eq!(text.lines().count(), usize::from(h));
        }
    }

    #[test]
    fn latencies_are_readable() {
        assert_eq!(latency(0.00085), "850us");
        assert_eq!(latency(0.0075), "7.5ms");
        assert_eq!(latency(1.2), "1.20s");
        assert_eq!(bar(0.26), 3);
        assert_eq!(bar(f64::NAN), 0);
    }
}
