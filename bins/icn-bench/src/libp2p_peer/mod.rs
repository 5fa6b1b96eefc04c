//! Scenario 6 (cargo feature `libp2p`): ICN's propagation and throughput scenarios on
//! rust-libp2p gossipsub over its QUIC transport, in the same run, for ICN/libp2p ratios.
//!
//! Each node is a `Swarm<gossipsub::Behaviour>` on 127.0.0.1 (QUIC v1, ephemeral port) driven
//! by its own task in this process's runtime, dialled into the same graph as ICN's cluster of
//! that case. Messages are signed (`MessageAuthenticity::Signed`, strict validation), as a
//! libp2p deployment runs them; mesh degrees are libp2p's defaults (see [`node`]).
//!
//! # Layout
//! - [`node`]: one swarm, its task and its command channel.
//! - [`cluster`]: N nodes in a graph, waiting until the topic mesh is formed.
//! - [`measure`]: the two scenarios.

pub mod cluster;
pub mod measure;
pub mod node;

use crate::libp2p_report::Libp2pThroughput;
use crate::progress::Progress;
use crate::propagation::PropagationResult;
use crate::settings::Settings;

/// Runs every propagation case and every throughput size of `settings` on gossipsub.
///
/// # Errors
/// When a cluster cannot start or a propagation sample does not reach every node in time.
pub async fn run(
    settings: &Settings,
    progress: &Progress,
) -> anyhow::Result<(Vec<PropagationResult>, Vec<Libp2pThroughput>)> {
    let mut propagation = Vec::new();
    for case in &settings.propagation {
        progress.stage(
            &format!("libp2p propagation {} {}", case.nodes, case.graph),
            settings.propagation_entries as u64,
        );
        propagation.push(measure::propagation(settings, *case, progress).await?);
    }
    let throughput = measure::throughput(settings, progress).await?;
    Ok((propagation, throughput))
}
