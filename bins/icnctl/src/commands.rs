//! The subcommands: build a client from the flags, call the node, print the answer.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context;
use icn_rpc::RpcClient;
use serde::Serialize;

use crate::cli::{Cli, Command, CreditLimitCommand, CurrencyCommand, LedgerCommand};
use crate::output;

/// Runs the command `cli` asks for.
///
/// # Errors
/// When the node cannot be reached or refuses the call; the message is meant for the operator.
pub async fn run(cli: &Cli) -> anyhow::Result<()> {
    // `top` reads metrics pages, not the control API: it needs no RPC address or token.
    if let Command::Top(args) = &cli.command {
        return crate::top::run(cli, args).await;
    }
    let client = RpcClient::from_data_dir(&cli.data_dir, cli.rpc_addr, cli.token_file.as_deref())?;
    let json = cli.json;
    match &cli.command {
        Command::Status => status(&client, json).await,
        Command::Peers => peers(&client, json).await,
        Command::Dial { target } => dial(&client, target, json).await,
        Command::Publish { topic, data, file } => {
            let payload = match (data, file) {
                (_, Some(path)) => read_payload(path)?,
                (Some(data), None) => data.clone().into_bytes(),
                // clap requires one of them.
                (None, None) => anyhow::bail!("give the payload as DATA or with --file"),
            };
            publish(&client, topic, payload, json).await
        }
        Command::Entries { topic, limit } => entries(&client, topic, *limit, json).await,
        Command::Subscribe { topic } => subscribe(&client, topic, json).await,
        Command::Unsubscribe { topic } => unsubscribe(&client, topic, json).await,
        Command::Topics => topics(&client, json).await,
        Command::Currency(CurrencyCommand::Create { code, limit }) => {
            let op = client.create_currency(code, *limit).await?;
            report(json, &op, || {
                format!("created currency {code} (op {})", op.op_id)
            })
        }
        Command::CreditLimit(CreditLimitCommand::Set {
            currency,
            account,
            limit,
        }) => {
            let op = client.set_credit_limit(currency, account, *limit).await?;
            report(json, &op, || {
                format!(
                    "credit limit of {account} in {currency} set to {limit} (op {})",
                    op.op_id
                )
            })
        }
        Command::Pay {
            currency,
            to,
            amount,
            memo,
        } => {
            let paid = client.pay(currency, to, *amount, memo).await?;
            report(json, &paid, || {
                format!(
                    "paid {amount} {currency} to {to} (seq {}, op {})",
                    paid.seq, paid.op_id
                )
            })
        }
        Command::Balance { currency, account } => {
            let balances = client
                .balance(currency.as_deref(), account.as_deref())
                .await?;
            render(json, balances.as_slice(), output::balances)
        }
        Command::History { account } => {
            let items = client.history(account.as_deref()).await?;
            render(json, items.as_slice(), output::history)
        }
        Command::Ledger(LedgerCommand::Digest) => {
            let digest = client.ledger_digest().await?;
            render(json, &digest, output::digest)
        }
        Command::Top(args) => crate::top::run(cli, args).await,
    }
}

async fn status(client: &RpcClient, json: bool) -> anyhow::Result<()> {
    let status = client.status().await?;
    render(json, &status, output::status)
}

async fn peers(client: &RpcClient, json: bool) -> anyhow::Result<()> {
    let peers = client.peers().await?;
    render(json, peers.as_slice(), |peers| {
        output::peers(peers, output::now_unix_ms())
    })
}

async fn dial(client: &RpcClient, target: &str, json: bool) -> anyhow::Result<()> {
    let result = client.dial(target).await?;
    report(json, &result, || format!("connected to {}", result.did))
}

async fn publish(
    client: &RpcClient,
    topic: &str,
    payload: Vec<u8>,
    json: bool,
) -> anyhow::Result<()> {
    let published = client.publish(topic, payload).await?;
    report(json, &published, || published.id.clone())
}

async fn entries(
    client: &RpcClient,
    topic: &str,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let entries = client.entries(topic, limit).await?;
    render(json, entries.as_slice(), output::entries)
}

/// Joins the topic, then prints each new entry as it arrives (one compact JSON object per line
/// with `--json`, the first being the subscribe answer) until Ctrl-C or the node ends the
/// stream.
async fn subscribe(client: &RpcClient, topic: &str, json: bool) -> anyhow::Result<()> {
    let joined = client.subscribe(topic).await?;
    if json {
        print_json_line(&joined)?;
    } else if joined.joined {
        println!("joined {topic}");
    } else {
        println!("already joined {topic}");
    }
    let mut stream = client.watch(topic).await?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            // Polled first, so the handler is in place before the first entry is printed.
            biased;
            interrupted = &mut ctrl_c => {
                return interrupted.context("cannot listen for Ctrl-C");
            }
            next = stream.next() => match next {
                None => return Ok(()),
                Some(entry) => {
                    let entry = entry?;
                    if json {
                        print_json_line(&entry)?;
                    } else {
                        print!("{}", output::entry_line(&entry));
                    }
                }
            },
        }
    }
}

async fn unsubscribe(client: &RpcClient, topic: &str, json: bool) -> anyhow::Result<()> {
    let left = client.unsubscribe(topic).await?;
    report(json, &left, || {
        if left.joined {
            format!("left {topic}")
        } else {
            format!("not joined {topic}")
        }
    })
}

async fn topics(client: &RpcClient, json: bool) -> anyhow::Result<()> {
    let topics = client.topics().await?;
    render(json, topics.as_slice(), output::topics)
}

/// The payload in `path`, or on standard input for `-`.
fn read_payload(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut payload = Vec::new();
        std::io::stdin()
            .read_to_end(&mut payload)
            .context("cannot read the payload from standard input")?;
        return Ok(payload);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Prints `value` as pretty JSON, or its human rendering (which ends with a newline).
fn render<T: Serialize + ?Sized>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        print!("{}", human(value));
        Ok(())
    }
}

/// Prints `value` as pretty JSON, or the one-line message `human` makes.
fn report(
    json: bool,
    value: &impl Serialize,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        println!("{}", human());
        Ok(())
    }
}

fn print_json(value: &(impl Serialize + ?Sized)) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot format the answer as JSON")?;
    println!("{text}");
    Ok(())
}

/// One compact JSON object on one line (NDJSON), for streamed output.
fn print_json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value).context("cannot format the answer as JSON")?;
    println!("{text}");
    Ok(())
}
