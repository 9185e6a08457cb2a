//! The `Autopilot` handle: lifecycle (start, stop, status), snapshots, toggles and
//! counters. Building it is in `builder.rs`, the state it shares with the loops in
//! `inner.rs`, policy activation and file watching in `activation.rs`, the membership
//! helpers in `membership.rs`; the loops themselves in `loops.rs`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::inner::Inner;
use super::metrics::Metrics;
use super::round::Round;
use super::traits::{Application, Raft};
use crate::core::{ServerHealth, ServerId, State};

/// Whether autopilot's loops are running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not started, or stopped.
    NotRunning,
    /// The loops are running.
    Running,
    /// Stop was requested; the loops are finishing.
    ShuttingDown,
}

/// What the loops did and how often each step failed, as of one instant (see
/// [`Autopilot::counters`]). Errors are logged (tracing) and counted; none stops the
/// loops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// States computed.
    pub state_updates: u64,
    /// State updates that failed.
    pub state_update_errors: u64,
    /// Reconcile rounds run.
    pub reconcile_rounds: u64,
    /// Reconcile rounds that reported an error.
    pub reconcile_errors: u64,
    /// Pruning passes that reported an error.
    pub prune_errors: u64,
    /// Actions executed successfully.
    pub actions: u64,
    /// Policy answers not used (a failed call or an unsafe answer): the round used the
    /// stable policy's instead.
    pub policy_faults: u64,
}

/// Autopilot for one Raft node: run it on the leader (start on gaining leadership,
/// stop on losing it). Cheap to clone; clones share everything.
pub struct Autopilot<R, A> {
    pub(crate) inner: Arc<Inner<R, A>>,
}

impl<R, A> Clone for Autopilot<R, A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Raft, A: Application> Autopilot<R, A> {
    /// The Raft node.
    pub fn raft(&self) -> &R {
        &self.inner.raft
    }

    /// The application.
    pub fn application(&self) -> &A {
        &self.inner.app
    }

    /// Starts the loops: computes a first state at once, then updates and reconciles
    /// on schedule. A no-op while running; waits for a previous run that is still
    /// shutting down. Must be called within a tokio runtime.
    pub async fn start(&self) {
        let _serial = self.inner.start_lock.lock().await;
        let (status, done) = {
            let exec = self.inner.exec();
            (exec.status, exec.done.clone())
        };
        match status {
            Status::Running => return,
            Status::ShuttingDown => {
                if let Some(mut done) = done {
                    let _ = done.wait_for(|finished| *finished).await;
                }
            }
            Status::NotRunning => {}
        }
        // Whoever leads runs the policy the application has recorded.
        if let Some(record) = self.inner.app.stored_policy().await {
            let current = self.inner.policy().slot.record.clone();
            if record != current {
                let loaded = match record.source() {
                    Ok(source) => self.activate(source, false).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(error) = loaded {
                    tracing::warn!(%error, "cannot run the recorded policy; keeping the current one");
                }
            }
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        {
            let mut exec = self.inner.exec();
            exec.status = Status::Running;
            exec.shutdown = Some(shutdown_tx);
            exec.done = Some(done_rx);
        }
        super::loops::update_state(&self.inner).await;
        let inner = Arc::clone(&self.inner);
        tokio::spawn(super::loops::run(inner, shutdown_rx, done_tx));
    }

    /// Asks the loops to stop. The returned future completes once they have exited and
    /// the state has been reset; dropping it does not cancel the stop.
    pub fn stop(&self) -> impl Future<Output = ()> + Send + 'static {
        let done = {
            let mut exec = self.inner.exec();
            if exec.status == Status::Running {
                if let Some(shutdown) = exec.shutdown.take() {
                    let _ = shutdown.send(true);
                }
                exec.status = Status::ShuttingDown;
            }
            exec.done.clone()
        };
        async move {
            if let Some(mut done) = done {
                let _ = done.wait_for(|finished| *finished).await;
            }
        }
    }

    /// Whether the loops run.
    pub fn status(&self) -> Status {
        self.inner.exec().status
    }

    /// The latest state (empty when not running). Cheap: a shared snapshot.
    pub fn state(&self) -> Arc<State> {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every new state.
    pub fn subscribe(&self) -> watch::Receiver<Arc<State>> {
        self.inner.state.subscribe()
    }

    /// One server's health in the latest state.
    pub fn server_health(&self, id: &ServerId) -> Option<ServerHealth> {
        self.inner.state.borrow().servers.get(id).map(|s| s.health)
    }

    /// Enables reconciliation and pruning.
    pub fn enable_reconciliation(&self) {
        self.inner.reconciliation.store(true, Ordering::SeqCst);
        self.inner.reconcile_trigger.notify_one();
    }

    /// Disables reconciliation and pruning (state updates go on).
    pub fn disable_reconciliation(&self) {
        self.inner.reconciliation.store(false, Ordering::SeqCst);
    }

    /// Whether reconciliation is enabled.
    pub fn reconciliation_enabled(&self) -> bool {
        self.inner.reconciliation.load(Ordering::SeqCst)
    }

    /// Asks for a pruning pass soon (requests made before it runs are coalesced).
    pub fn remove_dead_servers(&self) {
        self.inner.prune_trigger.notify_one();
    }

    /// The loops' work and errors so far (a copy; each counter only grows).
    pub fn counters(&self) -> Counters {
        self.inner.counters.get()
    }

    /// What the runtime measured so far: actions by operation, policy calls by
    /// function and outcome with their durations, policy changes by outcome (a copy).
    pub fn metrics(&self) -> Metrics {
        let swaps = self.inner.policy().outcomes.clone();
        self.inner.metrics.snapshot(swaps)
    }

    /// The latest reconcile round's record: its inputs (in `autopilot plan`'s layout
    /// with [`Round::snapshot`]), planned actions and reasons. `None` before the first
    /// round. Kept across stop and start, until the next round replaces it.
    pub fn last_round(&self) -> Option<Arc<Round>> {
        self.inner
            .last_round
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs one reconcile round and pruning pass now (if reconciliation is enabled).
    /// Returns whether membership changed.
    pub async fn reconcile_now(&self) -> bool {
        super::loops::reconcile_round(&self.inner).await
    }
}
