//! Per-peer budgets: how much work one peer may ask of us per window. Whatever a peer sends
//! beyond its budget is dropped and counted as [`DropReason::RateLimited`], so a flooding
//! peer costs a bounded amount of CPU and upload however fast it sends.

use icn_identity::Did;

use super::{DropReason, GossipCore};

/// What a budget is spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spend {
    /// Ids the peer says it holds (announces, reconcile `have` and id lists).
    Announced,
    /// Ids the peer requests from us.
    Requested,
    /// Reconcile messages from the peer.
    Reconcile,
}

/// One peer's spending in the current window.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Budget {
    window_start_ms: u64,
    announced: usize,
    requested: usize,
    reconciles: usize,
}

impl GossipCore {
    /// Grants up to `n` units of `what` to `from` in the current window and returns how many
    /// were granted; the rest are counted as dropped. A peer that is not up gets nothing.
    pub(super) fn spend(&mut self, from: Did, what: Spend, n: usize) -> usize {
        let (window, now) = (self.config.rate_window_ms, self.now_ms);
        let cap = match what {
            Spend::Announced => self.config.max_announced_ids_per_window,
            Spend::Requested => self.config.max_requested_ids_per_window,
            Spend::Reconcile => self.config.max_reconciles_per_window,
        };
        let Some(peer) = self.peers.get_mut(&from) else {
            return 0;
        };
        let budget = &mut peer.budget;
        if now >= budget.window_start_ms.saturating_add(window) {
            *budget = Budget {
                window_start_ms: now,
                ..Budget::default()
            };
        }
        let used = match what {
            Spend::Announced => &mut budget.announced,
            Spend::Requested => &mut budget.requested,
            Spend::Reconcile => &mut budget.reconciles,
        };
        let granted = n.min(cap.saturating_sub(*used));
        *used += granted;
        self.stats.drop_n(DropReason::RateLimited, n - granted);
        granted
    }
}
