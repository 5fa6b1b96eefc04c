//! The one table mapping API paths to methods.
//!
//! The server builds its router from [`path`] and labels every request's metrics with
//! [`method_for`] (from the matched route), and the client builds its URLs from the same
//! constants. Adding a call means adding a variant to [`RpcMethod`] in `icn-obs` (so its series
//! are registered at zero), an arm in [`path`] and a handler in the server; both matches are
//! exhaustive, so the compiler points at each place.

use icn_obs::LabelValue;
use icn_obs::labels::RpcMethod;

/// `GET`: the node's [`StatusInfo`](crate::types::StatusInfo).
pub const STATUS: &str = "/v1/status";
/// `GET`: the connected [`PeerInfo`](crate::types::PeerInfo)s.
pub const PEERS: &str = "/v1/peers";
/// `POST` a [`DialRequest`](crate::types::DialRequest).
pub const DIAL: &str = "/v1/dial";

/// The route of `method`; `None` for [`RpcMethod::Unknown`], which labels unrouted paths.
pub fn path(method: RpcMethod) -> Option<&'static str> {
    match method {
        RpcMethod::Status => Some(STATUS),
        RpcMethod::Peers => Some(PEERS),
        RpcMethod::Dial => Some(DIAL),
        RpcMethod::Unknown => None,
    }
}

/// The method served at `route` (a route pattern as registered), or [`RpcMethod::Unknown`].
pub fn method_for(route: &str) -> RpcMethod {
    RpcMethod::ALL
        .iter()
        .copied()
        .find(|&method| path(method) == Some(route))
        .unwrap_or(RpcMethod::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_method_round_trips() {
        for &method in RpcMethod::ALL {
            match path(method) {
                Some(route) => assert_eq!(method_for(route), method),
                None => assert_eq!(method, RpcMethod::Unknown),
            }
        }
        assert_eq!(method_for("/v1/nope"), RpcMethod::Unknown);
    }
}
