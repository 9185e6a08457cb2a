//! Building an [`Autopilot`]: the defaults and the builder.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::autopilot::{Autopilot, Status};
use super::clock::Clock;
use super::inner::{Execution, Inner, LoopCounters, Wakes};
use super::policy::{PolicyManager, PolicySlot};
use super::traits::{Application, Raft};
use crate::core::{Policy, State};
use crate::plugin::PluginHost;

/// Default time between state updates.
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(2);
/// Default time between reconcile rounds when nothing else triggers one.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(10);

/// Builds an [`Autopilot`].
pub struct AutopilotBuilder<R, A> {
    raft: R,
    app: A,
    update_interval: Duration,
    reconcile_interval: Duration,
    policy: Option<Arc<dyn Policy>>,
    reconciliation: bool,
    event_driven: bool,
    clock: Option<Clock>,
    plugin_host: Option<PluginHost>,
    rollback_after: u32,
    policy_history: usize,
}

impl<R: Raft, A: Application> AutopilotBuilder<R, A> {
    /// How often the state is recomputed (default 2 s).
    pub fn update_interval(mut self, interval: Duration) -> Self {
        self.update_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How often a reconcile round runs at the latest (default 10 s).
    pub fn reconcile_interval(mut self, interval: Duration) -> Self {
        self.reconcile_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// A native placement policy (default: the built-in stable policy). For a
    /// component, start and call [`Autopilot::set_policy`].
    pub fn policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The plugin host that loads policy components (default: one with the default
    /// limits and the default artifact cache, created on first use).
    pub fn plugin_host(mut self, host: PluginHost) -> Self {
        self.plugin_host = Some(host);
        self
    }

    /// After how many faulty rounds in a row a component policy is rolled back to the
    /// previous good one (default 3; 0 never rolls back).
    pub fn rollback_after(mut self, rounds: u32) -> Self {
        self.rollback_after = rounds;
        self
    }

    /// How many policy events the state's history keeps (default 32).
    pub fn policy_history(mut self, events: usize) -> Self {
        self.policy_history = events;
        self
    }

    /// Whether reconciliation (and pruning) starts enabled (default: enabled, as in
    /// the reference). A node that should only watch, say until it has caught up,
    /// passes `false` and later calls [`Autopilot::enable_reconciliation`].
    pub fn reconciliation_enabled(mut self, enabled: bool) -> Self {
        self.reconciliation = enabled;
        self
    }

    /// Whether rounds also run on events (a stabilization window elapsing, a health or
    /// membership change, a config or policy change) and not only on the ticker
    /// (default: on).
    pub fn event_driven(mut self, enabled: bool) -> Self {
        self.event_driven = enabled;
        self
    }

    /// The clock mapping (default: anchored at the current wall time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The autopilot, not running yet.
    pub fn build(self) -> Autopilot<R, A> {
        let (state, _) = watch::channel(Arc::new(State::default()));
        let clock = self.clock.unwrap_or_default();
        let slot = match self.policy {
            Some(policy) => PolicySlot::native(policy, clock.now()),
            None => PolicySlot::builtin(clock.now()),
        };
        Autopilot {
            inner: Arc::new(Inner {
                raft: self.raft,
                app: self.app,
                update_interval: self.update_interval,
                reconcile_interval: self.reconcile_interval,
                event_driven: self.event_driven,
                clock,
                policy: Mutex::new(PolicyManager::new(slot, self.policy_history)),
                plugin_host: Mutex::new(self.plugin_host),
                rollback_after: self.rollback_after,
                reconciliation: AtomicBool::new(self.reconciliation),
                state,
                first_state_time: Mutex::new(None),
                last_config: Mutex::new(None),
                wakes: Mutex::new(Wakes::default()),
                membership_epoch: AtomicU64::new(0),
                state_epoch: AtomicU64::new(0),
                policy_lane: super::executor::PolicyLane::default(),
                exec: Mutex::new(Execution {
                    status: Status::NotRunning,
                    shutdown: None,
                    done: None,
                }),
                start_lock: tokio::sync::Mutex::new(()),
                round_lock: tokio::sync::Mutex::new(()),
                prune_trigger: Notify::new(),
                reconcile_trigger: Notify::new(),
                counters: LoopCounters::default(),
                metrics: super::metrics::Recorder::default(),
                last_inputs: Mutex::new(None),
                last_round: Mutex::new(None),
                warnings: super::warnings::Warnings::default(),
            }),
        }
    }
}

impl<R: Raft, A: Application> Autopilot<R, A> {
    /// Starts building an autopilot for this Raft node and application.
    pub fn builder(raft: R, app: A) -> AutopilotBuilder<R, A> {
        AutopilotBuilder {
            raft,
            app,
            update_interval: DEFAULT_UPDATE_INTERVAL,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            policy: None,
            reconciliation: true,
            event_driven: true,
            clock: None,
            plugin_host: None,
            rollback_after: 3,
            policy_history: 32,
        }
    }
}
