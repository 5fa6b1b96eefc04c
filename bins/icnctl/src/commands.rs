//! The subcommands: build a client from the flags, call the node, print the answer.

use anyhow::Context;
use icn_rpc::RpcClient;
use serde::Serialize;

use crate::cli::{Cli, Command};
use crate::output;

/// Runs the command `cli` asks for.
///
/// # Errors
/// When the node cannot be reached or refuses the call; the message is meant for the operator.
pub async fn run(cli: &Cli) -> anyhow::Result<()> {
    let client = RpcClient::from_data_dir(&cli.data_dir, cli.rpc_addr, cli.token_file.as_deref())?;
    match &cli.command {
        Command::Status => status(&client, cli.json).await,
        Command::Peers => peers(&client, cli.json).await,
        Command::Dial { target } => dial(&client, target, cli.json).await,
    }
}

async fn status(client: &RpcClient, json: bool) -> anyhow::Result<()> {
    let status = client.status().await?;
    if json {
        print_json(&status)
    } else {
        print!("{}", output::status(&status));
        Ok(())
    }
}

async fn peers(client: &RpcClient, json: bool) -> anyhow::Result<()> {
    let peers = client.peers().await?;
    if json {
        print_json(&peers)
    } else {
        print!("{}", output::peers(&peers, output::now_unix_ms()));
        Ok(())
    }
}

async fn dial(client: &RpcClient, target: &str, json: bool) -> anyhow::Result<()> {
    let result = client.dial(target).await?;
    if json {
        print_json(&result)
    } else {
        println!("connected to {}", result.did);
        Ok(())
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot format the answer as JSON")?;
    println!("{text}");
    Ok(())
}
