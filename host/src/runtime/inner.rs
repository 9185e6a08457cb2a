//! What the `Autopilot` handle shares with its loops.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::autopilot::{Counters, Status};
use super::clock::Clock;
use super::policy::{PolicyManager, PolicySlot};
use crate::core::{PolicyFault, State, Timestamp};
use crate::plugin::PluginHost;

/// The loops' live counters, one atomic each (read whole with [`LoopCounters::get`]).
#[derive(Debug, Default)]
pub(crate) struct LoopCounters {
    pub(crate) state_updates: AtomicU64,
    pub(crate) state_update_errors: AtomicU64,
    pub(crate) reconcile_rounds: AtomicU64,
    pub(crate) reconcile_errors: AtomicU64,
    pub(crate) prune_errors: AtomicU64,
    pub(crate) actions: AtomicU64,
    pub(crate) policy_faults: AtomicU64,
}

impl LoopCounters {
    /// Every counter's current value.
    pub(crate) fn get(&self) -> Counters {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            state_updates: read(&self.state_updates),
            state_update_errors: read(&self.state_update_errors),
            reconcile_rounds: read(&self.reconcile_rounds),
            reconcile_errors: read(&self.reconcile_errors),
            prune_errors: read(&self.prune_errors),
            actions: read(&self.actions),
            policy_faults: read(&self.policy_faults),
        }
    }
}

/// The policy's wake-up instants: the earliest one no round has served yet, and
/// when a round last served one.
#[derive(Debug, Default)]
pub(super) struct Wakes {
    pending: Option<Timestamp>,
    last_served: Option<Timestamp>,
}

pub(crate) struct Execution {
    pub(crate) status: Status,
    pub(crate) shutdown: Option<watch::Sender<bool>>,
    pub(crate) done: Option<watch::Receiver<bool>>,
}

pub(crate) struct Inner<R, A> {
    pub(crate) raft: R,
    pub(crate) app: A,
    pub(crate) update_interval: Duration,
    pub(crate) reconcile_interval: Duration,
    pub(crate) event_driven: bool,
    pub(crate) clock: Clock,
    pub(crate) policy: Mutex<PolicyManager>,
    pub(crate) plugin_host: Mutex<Option<PluginHost>>,
    pub(crate) rollback_after: u32,
    pub(crate) reconciliation: AtomicBool,
    pub(crate) state: watch::Sender<Arc<State>>,
    pub(crate) first_state_time: Mutex<Option<Timestamp>>,
    /// The config of the last state update, to notice changes.
    pub(crate) last_config: Mutex<Option<crate::core::Config>>,
    /// The policy's wake-up instants.
    pub(super) wakes: Mutex<Wakes>,
    /// How many membership changes autopilot has made (rounds and pruning passes
    /// that changed the configuration).
    pub(super) membership_epoch: AtomicU64,
    /// The membership epoch the published state's inputs were gathered in.
    pub(super) state_epoch: AtomicU64,
    /// Where policy work runs, one piece at a time.
    pub(crate) policy_lane: super::executor::PolicyLane,
    pub(crate) exec: Mutex<Execution>,
    pub(crate) start_lock: tokio::sync::Mutex<()>,
    /// Serialises reconcile rounds and pruning passes (the loop's and on-demand ones).
    pub(crate) round_lock: tokio::sync::Mutex<()>,
    pub(crate) prune_trigger: Notify,
    pub(crate) reconcile_trigger: Notify,
    pub(crate) counters: LoopCounters,
    /// Actions by operation, policy calls and swaps.
    pub(crate) metrics: super::metrics::Recorder,
    /// The inputs of the latest state.
    pub(crate) last_inputs: Mutex<Option<Arc<crate::core::StateInputs>>>,
    /// The latest reconcile round.
    pub(crate) last_round: Mutex<Option<Arc<super::round::Round>>>,
    /// Warnings about embedder-controlled inputs, logged once per server and cause.
    pub(crate) warnings: super::warnings::Warnings,
}

impl<R, A> Inner<R, A> {
    pub(crate) fn exec(&self) -> std::sync::MutexGuard<'_, Execution> {
        self.exec.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn policy(&self) -> std::sync::MutexGuard<'_, PolicyManager> {
        self.policy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The policy for one round, taken whole.
    pub(crate) fn slot(&self) -> PolicySlot {
        self.policy().slot.clone()
    }

    /// Counts a round of `slot`'s policy and its faults (the one place they are
    /// counted); rolls the policy back after repeated faulty rounds, and then asks for
    /// a round.
    pub(crate) fn observe_round(&self, slot: &PolicySlot, faults: &[PolicyFault]) {
        for fault in faults {
            self.counters.policy_faults.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(policy = %slot.label(), kind = fault.kind(), %fault, "policy answer not used; the stable policy decided instead");
        }
        let mut policy = self.policy();
        // Only the active policy's streak counts (a swap may have happened meanwhile).
        if policy.slot.is(slot) && policy.observe(faults, self.rollback_after, self.clock.now()) {
            drop(policy);
            self.reconcile_trigger.notify_one();
        }
    }

    /// The earliest instant a policy answer asked to be consulted again at that no
    /// round has served yet.
    pub(crate) fn wake_at(&self) -> Option<Timestamp> {
        self.wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending
    }

    /// Notes the instant a policy answer, given at `now`, asked to be consulted again
    /// at (kept until a round serves it, even if a later answer no longer asks: a
    /// state update may see the window end before any round acts on it). An instant
    /// not after `now` means nothing and is ignored.
    pub(crate) fn set_wake_at(&self, at: Option<Timestamp>, now: Timestamp) {
        let Some(at) = at.filter(|at| *at > now) else {
            return;
        };
        let mut wakes = self.wakes.lock().unwrap_or_else(PoisonError::into_inner);
        wakes.pending = Some(wakes.pending.map_or(at, |p| p.min(at)));
    }

    /// A round at `now` serves every wake-up instant up to `now`.
    pub(crate) fn serve_wakes(&self, now: Timestamp) {
        let mut wakes = self.wakes.lock().unwrap_or_else(PoisonError::into_inner);
        if wakes.pending.is_some_and(|at| at <= now) {
            wakes.pending = None;
            wakes.last_served = Some(now);
        }
    }

    /// When a round last served a policy's wake-up instant.
    pub(crate) fn last_wake_served(&self) -> Option<Timestamp> {
        self.wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_served
    }

    /// Notes a membership change; returns the epoch a state must be gathered in to
    /// reflect it.
    pub(crate) fn membership_changed(&self) -> u64 {
        self.membership_epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The current membership epoch.
    pub(crate) fn membership_epoch(&self) -> u64 {
        self.membership_epoch.load(Ordering::SeqCst)
    }

    /// Records the epoch of the state about to be published.
    pub(crate) fn set_state_epoch(&self, epoch: u64) {
        self.state_epoch.store(epoch, Ordering::SeqCst);
    }

    /// Whether the published state's inputs were gathered at or after epoch `wanted`.
    pub(crate) fn state_reflects(&self, wanted: u64) -> bool {
        self.state_epoch.load(Ordering::SeqCst) >= wanted
    }
}
