//! Actor supervision: spawn, count, restart with backoff, give up and report.
//!
//! `icn_system_actors_active` is read from [`Supervisor::running`], which counts actor tasks that
//! are actually executing: the count goes up when an incarnation starts and down when it ends,
//! whether it returned, failed or panicked. It is never set from configuration.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use icn_obs::SystemMetrics;
use icn_obs::labels::{Actor, LabelValue};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How an actor incarnation ended, when it ended on its own.
pub type ActorResult = Result<(), String>;

/// Restarts allowed within [`RESTART_WINDOW`] before the supervisor gives up on an actor.
pub const MAX_RESTARTS_IN_WINDOW: usize = 5;
/// Window over which restarts are counted.
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Spawns and watches a node's actor tasks. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    running: Arc<AtomicU64>,
    expected: Arc<AtomicU64>,
    gave_up: Arc<AtomicBool>,
    metrics: SystemMetrics,
}

/// Decrements the running count when an incarnation ends, including by panic.
struct RunningGuard(Arc<AtomicU64>);

impl RunningGuard {
    fn new(running: Arc<AtomicU64>) -> Self {
        running.fetch_add(1, Ordering::SeqCst);
        Self(running)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Supervisor {
    /// A supervisor whose tasks stop when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken, metrics: SystemMetrics) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
            running: Arc::new(AtomicU64::new(0)),
            expected: Arc::new(AtomicU64::new(0)),
            gave_up: Arc::new(AtomicBool::new(false)),
            metrics,
        }
    }

    /// Actor tasks currently executing.
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::SeqCst)
    }

    /// Actors the node has started (and not deliberately stopped).
    pub fn expected(&self) -> u64 {
        self.expected.load(Ordering::SeqCst)
    }

    /// True once an actor failed too often and was not restarted again.
    pub fn gave_up(&self) -> bool {
        self.gave_up.load(Ordering::SeqCst)
    }

    /// The shutdown signal actors watch.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Spawns a non-actor background task (listener, refresh loop) that shutdown waits for.
    pub fn spawn_task<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Spawns an actor. `make` builds one incarnation; when an incarnation ends before shutdown
    /// (error, unexpected return or panic) it is logged, counted in
    /// `icn_system_actor_restarts_total{actor}` and restarted with capped exponential backoff,
    /// up to [`MAX_RESTARTS_IN_WINDOW`] times per [`RESTART_WINDOW`]; after that the node reports
    /// itself unhealthy.
    pub fn spawn_actor<F, Fut>(&self, actor: Actor, mut make: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ActorResult> + Send + 'static,
    {
        self.expected.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        self.tracker.spawn(async move {
            let mut restarts: Vec<Instant> = Vec::new();
            let mut backoff = FIRST_BACKOFF;
            loop {
                let incarnation = make(this.shutdown.clone());
                let guard = RunningGuard::new(this.running.clone());
                let outcome = tokio::spawn(async move {
                    let _guard = guard;
                    incarnation.await
                })
                .await;
                if this.shutdown.is_cancelled() {
                    break;
                }
                match outcome {
                    Ok(Ok(())) => {
                        tracing::error!(actor = actor.as_str(), "actor stopped unexpectedly")
                    }
                    Ok(Err(e)) => {
                        tracing::error!(actor = actor.as_str(), error = %e, "actor failed")
                    }
                    Err(e) => tracing::error!(actor = actor.as_str(), error = %e, "actor panicked"),
                }
                let now = Instant::now();
                restarts.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
                if restarts.len() >= MAX_RESTARTS_IN_WINDOW {
                    tracing::error!(
                        actor = actor.as_str(),
                        restarts = restarts.len(),
                        "actor keeps failing; not restarting it again"
                    );
                    this.gave_up.store(true, Ordering::SeqCst);
                    break;
                }
                restarts.push(now);
                this.metrics.actor_restarts.inc(actor);
                tokio::select! {
                    () = this.shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tracing::info!(actor = actor.as_str(), "restarting actor");
            }
        });
    }

    /// Spawns an actor that cannot be rebuilt (it owns a bound socket): if it ends before
    /// shutdown, the failure is logged and the node reports itself unhealthy.
    pub fn spawn_critical<Fut>(&self, actor: Actor, task: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.expected.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        let guard = RunningGuard::new(self.running.clone());
        self.tracker.spawn(async move {
            let outcome = tokio::spawn(async move {
                let _guard = guard;
                task.await;
            })
            .await;
            if this.shutdown.is_cancelled() {
                return;
            }
            match outcome {
                Ok(()) => tracing::error!(actor = actor.as_str(), "actor stopped unexpectedly"),
                Err(e) => tracing::error!(actor = actor.as_str(), error = %e, "actor panicked"),
            }
            this.gave_up.store(true, Ordering::SeqCst);
        });
    }

    /// Signals shutdown and waits up to `timeout` for every task to finish.
    ///
    /// Returns false when some task did not finish in time.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use icn_obs::NodeMetrics;

    async fn wait_for(mut cond: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("condition not reached");
    }

    #[tokio::test]
    async fn running_count_follows_real_tasks() {
        let metrics = NodeMetrics::new().unwrap();
        let sup = Supervisor::new(CancellationToken::new(), metrics.system().clone());
        assert_eq!(sup.running(), 0);
        for actor in [Actor::Network, Actor::Gossip] {
            sup.spawn_actor(actor, |stop| async move {
                stop.cancelled().await;
                Ok(())
            });
        }
        wait_for(|| sup.running() == 2).await;
        assert_eq!(sup.expected(), 2);
        assert!(sup.shutdown(Duration::from_secs(5)).await);
        assert_eq!(sup.running(), 0);
        assert!(!sup.gave_up());
    }

    #[tokio::test]
    async fn panicking_actor_is_counted_restarted_then_given_up() {
        let metrics = NodeMetrics::new().unwrap();
        let sup = Supervisor::new(CancellationToken::new(), metrics.system().clone());
        let attempts = Arc::new(AtomicU64::new(0));
        let seen = attempts.clone();
        sup.spawn_actor(Actor::Ledger, move |_stop| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                panic!("boom");
            }
        });
        wait_for(|| sup.gave_up()).await;
        // One first run plus MAX_RESTARTS_IN_WINDOW restarts.
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            MAX_RESTARTS_IN_WINDOW as u64 + 1
        );
        assert_eq!(sup.running(), 0);
        let page = metrics.render();
        let line =
            format!("icn_system_actor_restarts_total{{actor=\"ledger\"}} {MAX_RESTARTS_IN_WINDOW}");
        assert!(page.contains(&line), "{page}");
        assert!(sup.shutdown(Duration::from_secs(5)).await);
    }
}
