//! The node's implementation of the control API.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use icn_net::{NetworkHandle, PeerTarget};
use icn_rpc::{DialResult, PeerInfo, RpcBackend, RpcError, StatusInfo};

use crate::node::NodeState;

/// Answers RPC calls from the node's state and handles.
pub(crate) struct NodeRpc {
    pub(crate) state: Arc<NodeState>,
}

impl NodeRpc {
    fn network(&self) -> Result<&NetworkHandle, RpcError> {
        self.state.network.as_ref().ok_or_else(|| {
            RpcError::Unavailable(
                "the node runs without an identity, so it has no network; run `icnd init`".into(),
            )
        })
    }
}

impl RpcBackend for NodeRpc {
    async fn status(&self) -> Result<StatusInfo, RpcError> {
        Ok(StatusInfo {
            did: self.state.did.map(|d| d.to_string()),
            version: icn_obs::registry::BUILD_VERSION.to_string(),
            uptime_seconds: self.state.started.elapsed().as_secs_f64(),
            listen_addr: self
                .state
                .network
                .as_ref()
                .map(|n| n.local_addr().to_string()),
            peers: self
                .state
                .network
                .as_ref()
                .map_or(0, |n| n.peer_count() as u64),
        })
    }

    async fn peers(&self) -> Result<Vec<PeerInfo>, RpcError> {
        Ok(self
            .network()?
            .peers()
            .into_iter()
            .map(|p| PeerInfo {
                did: p.did.to_string(),
                addr: p.remote_addr.to_string(),
                rtt_ms: Some(p.rtt.as_secs_f64() * 1000.0),
                connected_since_unix_ms: p
                    .connected_since
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                direction: p.direction.as_str().to_string(),
            })
            .collect())
    }

    async fn dial(&self, target: String) -> Result<DialResult, RpcError> {
        let target =
            PeerTarget::parse(&target).map_err(|e| RpcError::BadRequest(e.to_string()))?;
        let did = self.network()?.dial(target).await.map_err(|e| match e {
            icn_net::NetError::Dial { .. } => RpcError::BadRequest(e.to_string()),
            other => RpcError::Internal(other.to_string()),
        })?;
        Ok(DialResult {
            did: did.to_string(),
        })
    }
}
