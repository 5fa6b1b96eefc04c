//! `icnctl top`: a live view of one or many nodes, read from their Prometheus `/metrics` pages
//! (the same page Prometheus scrapes; over HTTPS and with a bearer token when the nodes
//! require them: `--metrics-ca`, `--metrics-token-file`).
//!
//! Nodes come from `--nodes` (metrics addresses) or else from `DIR/metrics.addr`, which the node
//! writes when its metrics listener is bound. Every node is scraped once per `--interval`, all
//! at the same time; one that does not answer is shown as DOWN and scraped again next tick.
//! `--once` scrapes twice, one interval apart (so rates exist), and prints one frame as text
//! (or the numbers as JSON with `--json`).
//!
//! # Layout
//! - [`model`]: parsed scrapes → rows, rates, RPC p99 from histogram deltas, digest agreement.
//! - [`render`]: the frame, a pure function of the model (also rendered to text for `--once`).
//! - this file: finding the nodes, scraping them, the terminal loop.

mod model;
mod render;

use std::io::ErrorKind;
use std::time::Duration;

use anyhow::Context as _;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Certificate, Client, Url};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use self::model::{Model, Snapshot};
use crate::cli::{Cli, TopArgs};

/// The file in the data directory holding the node's bound metrics address (written by the
/// node as `host:port`).
const METRICS_ADDR_FILE: &str = "metrics.addr";
/// Bounds of a scrape's timeout, which is otherwise the interval: a node that hangs must not
/// hold the view for long, and a short interval must not fail a healthy but busy node.
const SCRAPE_TIMEOUT_MIN: Duration = Duration::from_millis(500);
const SCRAPE_TIMEOUT_MAX: Duration = Duration::from_secs(5);
/// Key presses waiting for the loop; more are not worth keeping.
const INPUT_CAPACITY: usize = 16;

/// A node to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `host:port`, as shown.
    instance: String,
    /// The page to fetch.
    url: Url,
}

/// What a key press asks for.
enum Input {
    Quit,
    Redraw,
}

/// Runs `icnctl top`.
///
/// # Errors
/// On a bad address or interval, when no node is named and `DIR/metrics.addr` is missing, when
/// the terminal cannot be set up, or (`--once`) when no node answered.
pub async fn run(cli: &Cli, args: &TopArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.once || !cli.json,
        "--json needs --once (the live view has no JSON form)"
    );
    let targets = targets(cli, args)?;
    let client = http_client(args)?;
    let mut model = Model::new(targets.iter().map(|t| t.instance.clone()), args.interval);
    if args.once {
        once(&client, &targets, &mut model, args.interval).await?;
        if cli.json {
            let text = serde_json::to_string_pretty(&model.summary())
                .context("cannot format the numbers as JSON")?;
            println!("{text}");
        } else {
            print!("{}", render::to_text(&model, args.width, args.height));
        }
        Ok(())
    } else {
        live(client, targets, model, args.interval).await
    }
}

/// The scraping client: the scrape timeout, the token as a bearer header on every request, and
/// `--metrics-ca` trusted besides the system's roots.
fn http_client(args: &TopArgs) -> anyhow::Result<Client> {
    let mut builder = Client::builder()
        .use_rustls_tls()
        .timeout(args.interval.clamp(SCRAPE_TIMEOUT_MIN, SCRAPE_TIMEOUT_MAX));
    if let Some(path) = &args.metrics_token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let token = text.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(
            !token.is_empty(),
            "the token file {} is empty",
            path.display()
        );
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).with_context(|| {
            format!(
                "the token in {} is not a valid header value",
                path.display()
            )
        })?;
        value.set_sensitive(true);
        builder = builder.default_headers(HeaderMap::from_iter([(AUTHORIZATION, value)]));
    }
    if let Some(path) = &args.metrics_ca {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?;
        let certificates = Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("no PEM certificate in {}", path.display()))?;
        anyhow::ensure!(
            !certificates.is_empty(),
            "no PEM certificate in {}",
            path.display()
        );
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().context("cannot set up the HTTP client")
}

/// The nodes named by `--nodes`, else the one in `DIR/metrics.addr`.
fn targets(cli: &Cli, args: &TopArgs) -> anyhow::Result<Vec<Target>> {
    if !args.nodes.is_empty() {
        return args.nodes.iter().map(|node| parse_target(node)).collect();
    }
    let path = cli.data_dir.join(METRICS_ADDR_FILE);
    match std::fs::read_to_string(&path) {
        Ok(addr) => {
            Ok(vec![parse_target(addr.trim()).with_context(|| {
                format!("bad address in {}", path.display())
            })?])
        }
        Err(error) if error.kind() == ErrorKind::NotFound => {
            let dir = cli.data_dir.display();
            anyhow::bail!(
                "no {METRICS_ADDR_FILE} in {dir}: is the node running with --data-dir {dir}? \
                 (or name the nodes with --nodes)"
            )
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// `host:port` (its `/metrics` page) or a full `http://` or `https://` URL (`/metrics` when it
/// has no path).
fn parse_target(text: &str) -> anyhow::Result<Target> {
    let text = text.trim();
    let url = if text.contains("://") {
        let mut url =
            Url::parse(text).with_context(|| format!("cannot parse node address {text:?}"))?;
        if url.path() == "/" {
            url.set_path("/metrics");
        }
        url
    } else {
        anyhow::ensure!(
            !text.is_empty() && !text.contains('/'),
            "cannot parse node address {text:?}: give host:port or http://host:port/metrics"
        );
        Url::parse(&format!("http://{text}/metrics"))
            .with_context(|| format!("cannot parse node address {text:?}"))?
    };
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "cannot scrape {text:?}: give an http:// or https:// address"
    );
    let host = url
        .host_str()
        .with_context(|| format!("no host in node address {text:?}"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(Target {
        instance: format!("{host}:{port}"),
        url,
    })
}

/// Two ticks, `interval` apart.
///
/// # Errors
/// When no node answered either scrape.
async fn once(
    client: &Client,
    targets: &[Target],
    model: &mut Model,
    interval: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    model.update(scrape_all(client, targets, start).await);
    tokio::time::sleep_until(start + interval).await;
    model.update(scrape_all(client, targets, start).await);
    if !model.any_answered() {
        let reasons: Vec<String> = model
            .errors()
            .iter()
            .map(|(instance, error)| format!("{instance}: {error}"))
            .collect();
        anyhow::bail!("no node answered ({})", reasons.join("; "));
    }
    Ok(())
}

/// The terminal view, until `q`, Esc or Ctrl-C. The terminal is restored on every way out,
/// panics included (ratatui's hook).
async fn live(
    client: Client,
    targets: Vec<Target>,
    mut model: Model,
    interval: Duration,
) -> anyhow::Result<()> {
    let (results_tx, mut results) = mpsc::channel(1);
    let scraper = AbortOnDrop(tokio::spawn(scrape_loop(
        client, targets, interval, results_tx,
    )));
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let _restore = RestoreOnDrop;
    let (input_tx, mut input) = mpsc::channel(INPUT_CAPACITY);
    // crossterm reads block: a thread of their own. It ends at the next key after we quit (or
    // with the process).
    std::thread::spawn(move || read_input(&input_tx));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        terminal
            .draw(|frame| render::render(frame, &model))
            .context("cannot draw")?;
        tokio::select! {
            _ = &mut ctrl_c => break,
            key = input.recv() => match key {
                Some(Input::Redraw) => {}
                Some(Input::Quit) | None => break,
            },
            tick = results.recv() => match tick {
                Some(tick) => model.update(tick),
                None => break,
            },
        }
    }
    drop(scraper);
    Ok(())
}

/// Scrapes every target once per `interval` and sends each tick's results.
async fn scrape_loop(
    client: Client,
    targets: Vec<Target>,
    interval: Duration,
    results: mpsc::Sender<Vec<Result<Snapshot, String>>>,
) {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let tick = scrape_all(&client, &targets, start).await;
        if results.send(tick).await.is_err() {
            return;
        }
    }
}

/// Scrapes every target at the same time; one result per target, in order.
async fn scrape_all(
    client: &Client,
    targets: &[Target],
    start: Instant,
) -> Vec<Result<Snapshot, String>> {
    let mut scrapes = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let (client, url) = (client.clone(), target.url.clone());
        scrapes.spawn(async move { (i, scrape(&client, url, start).await) });
    }
    let mut results = vec![Err("not scraped".to_string()); targets.len()];
    // A scrape task that panicked (a bug in a dependency) leaves its node "not scraped" rather
    // than taking the view down.
    while let Some(done) = scrapes.join_next().await {
        if let Ok((i, result)) = done
            && let Some(slot) = results.get_mut(i)
        {
            *slot = result;
        }
    }
    results
}

/// One page, parsed, stamped with the time since `start`.
async fn scrape(client: &Client, url: Url, start: Instant) -> Result<Snapshot, String> {
    let response = client.get(url).send().await.map_err(|e| describe(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let text = response.text().await.map_err(|e| describe(&e))?;
    Snapshot::parse(&text, start.elapsed()).map_err(|e| format!("unreadable page: {e}"))
}

/// A short reason: the innermost cause ("Connection refused (os error 111)"), or "timed out".
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Forwards the key presses that matter until reading fails or the loop is gone.
fn read_input(input: &mpsc::Sender<Input>) {
    loop {
        let wanted = match event::read() {
            Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => match key.code {
                KeyCode::Char('q') | KeyCode::Esc => Input::Quit,
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Input::Quit,
                _ => continue,
            },
            Ok(Event::Resize(..)) => Input::Redraw,
            Ok(_) => continue,
            Err(_) => return,
        };
        if input.blocking_send(wanted).is_err() {
            return;
        }
    }
}

/// Leaves raw mode and the alternate screen when the view ends, whichever way.
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Stops the scraper with the view.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_become_metrics_urls() {
        let t = parse_target("127.0.0.1:9090").unwrap();
        assert_eq!(t.instance, "127.0.0.1:9090");
        assert_eq!(t.url.as_str(), "http://127.0.0.1:9090/metrics");
        let t = parse_target("http://localhost:9091").unwrap();
        assert_eq!(t.instance, "localhost:9091");
        assert_eq!(t.url.as_str(), "http://localhost:9091/metrics");
        let t = parse_target(" http://[::1]:9092/custom/metrics ").unwrap();
        assert_eq!(t.instance, "[::1]:9092");
        assert_eq!(t.url.path(), "/custom/metrics");
        assert!(parse_target("").is_err());
        assert!(parse_target("host:port").is_err());
        assert!(parse_target("127.0.0.1:9090/metrics").is_err());
        let t = parse_target("https://node:9443").unwrap();
        assert_eq!(t.instance, "node:9443");
        assert_eq!(t.url.as_str(), "https://node:9443/metrics");
        let err = parse_target("ftp://node:21").unwrap_err().to_string();
        assert!(err.contains("http:// or https://"), "{err}");
    }
}
