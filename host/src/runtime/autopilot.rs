//! The `Autopilot` handle: construction, lifecycle, snapshots and the membership
//! helpers. The loops themselves live in `loops.rs`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use std::path::PathBuf;

use super::clock::Clock;
use super::policy::{PolicyManager, PolicyRecord, PolicySlot, PolicySource};
use super::traits::{Application, Raft, RaftError};
use crate::core::{
    ActivePolicy, AddServerError, Policy, PolicyEvent, PolicyFault, PolicyStatus, Server,
    ServerHealth, ServerId, State, Timestamp, check_decisions, judged_node_types, plan_add_server,
    plan_remove_server,
};
use crate::plugin::{ArtifactCache, PluginError, PluginHost, PluginHostConfig, sha256_hex};

/// A running policy-file watch; dropping it stops the watch.
#[derive(Debug)]
pub struct PolicyWatch(tokio::task::JoinHandle<()>);

impl Drop for PolicyWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Default time between state updates.
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(2);
/// Default time between reconcile rounds when nothing else triggers one.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(10);

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

/// Why a membership helper failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// Raft refused or failed.
    #[error(transparent)]
    Raft(#[from] RaftError),
    /// Adding the server would remove too many voters.
    #[error(transparent)]
    Unsafe(#[from] AddServerError),
}

/// Counters of what the loops did and how often each step failed. Errors are logged
/// (tracing) and counted; none stops the loops.
#[derive(Debug, Default)]
pub struct Counters {
    /// States computed.
    pub state_updates: AtomicU64,
    /// State updates that failed.
    pub state_update_errors: AtomicU64,
    /// Reconcile rounds run.
    pub reconcile_rounds: AtomicU64,
    /// Reconcile rounds that reported an error.
    pub reconcile_errors: AtomicU64,
    /// Pruning passes that reported an error.
    pub prune_errors: AtomicU64,
    /// Actions executed successfully.
    pub actions: AtomicU64,
    /// Policy answers not used (a failed call or an unsafe answer): the round used the
    /// stable policy's instead.
    pub policy_faults: AtomicU64,
}

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
                counters: Counters::default(),
                warnings: super::warnings::Warnings::default(),
            }),
        }
    }
}

/// The policy's wake-up instants: the earliest one no round has served yet, and
/// when a round last served one.
#[derive(Debug, Default)]
struct Wakes {
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
    wakes: Mutex<Wakes>,
    /// How many membership changes autopilot has made (rounds and pruning passes
    /// that changed the configuration).
    membership_epoch: AtomicU64,
    /// The membership epoch the published state's inputs were gathered in.
    state_epoch: AtomicU64,
    /// Where policy work runs, one piece at a time.
    pub(crate) policy_lane: super::executor::PolicyLane,
    pub(crate) exec: Mutex<Execution>,
    pub(crate) start_lock: tokio::sync::Mutex<()>,
    /// Serialises reconcile rounds and pruning passes (the loop's and on-demand ones).
    pub(crate) round_lock: tokio::sync::Mutex<()>,
    pub(crate) prune_trigger: Notify,
    pub(crate) reconcile_trigger: Notify,
    pub(crate) counters: Counters,
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

    /// The counters of the loops' work and errors.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Replaces the placement policy with a native one; the next round uses it (a
    /// round in flight finishes with the policy it started with). Its answers pass the
    /// same safety rules as a component's.
    pub fn set_native_policy(&self, policy: Arc<dyn Policy>) {
        let now = self.inner.clock.now();
        self.inner
            .policy()
            .swap(PolicySlot::native(policy, now), now);
        self.inner.reconcile_trigger.notify_one();
    }

    /// Switches to another placement policy while running. A component is loaded
    /// (compiled, or taken from the artifact cache), checked, and dry-run on the
    /// current state; only if all that succeeds, and the application has stored the
    /// [`PolicyRecord`] (so the next leader runs it too), is it switched in. Rounds in
    /// flight finish with the policy they started with. On refusal the running policy
    /// stays, and the reason is returned and recorded in the history.
    pub async fn set_policy(&self, source: PolicySource) -> Result<ActivePolicy, PluginError> {
        self.activate(source, true).await
    }

    /// The active policy and its recent history.
    pub fn policy_status(&self) -> PolicyStatus {
        self.inner.policy().status()
    }

    /// Watches a component file: when its content changes and then stays the same for
    /// `debounce`, it is swapped in through [`Autopilot::set_policy`]. A file that
    /// cannot be used leaves the running policy in place (the refusal is in the
    /// history). The watch ends when the returned handle is dropped.
    pub fn watch_policy_file(&self, path: PathBuf, debounce: Duration) -> PolicyWatch {
        let autopilot = self.clone();
        PolicyWatch(tokio::spawn(async move {
            let mut active: Option<String> = None;
            let mut last_error: Option<String> = None;
            loop {
                tokio::time::sleep(debounce).await;
                let Ok(first) = std::fs::read(&path) else {
                    continue;
                };
                let digest = sha256_hex(&first);
                if active.as_ref() == Some(&digest) {
                    continue;
                }
                // Debounce: the content must stay the same for a whole period.
                tokio::time::sleep(debounce).await;
                match std::fs::read(&path) {
                    Ok(second) if second == first => {}
                    _ => continue,
                }
                active = Some(digest);
                match autopilot.set_policy(PolicySource::Bytes(first)).await {
                    Ok(policy) => {
                        last_error = None;
                        tracing::info!(name = %policy.name, version = %policy.version, "policy file swapped in");
                    }
                    Err(error) => {
                        if last_error.as_deref() != Some(&error.to_string()) {
                            tracing::warn!(path = %path.display(), %error, "policy file refused");
                        }
                        last_error = Some(error.to_string());
                    }
                }
            }
        }))
    }

    /// Runs one reconcile round and pruning pass now (if reconciliation is enabled).
    /// Returns whether membership changed.
    pub async fn reconcile_now(&self) -> bool {
        super::loops::reconcile_round(&self.inner).await
    }

    fn plugin_host(&self) -> Result<PluginHost, PluginError> {
        let mut host = self
            .inner
            .plugin_host
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(host) = host.as_ref() {
            return Ok(host.clone());
        }
        let created = PluginHost::new(PluginHostConfig {
            cache: Some(ArtifactCache::new(ArtifactCache::default_dir())),
            ..PluginHostConfig::default()
        })?;
        *host = Some(created.clone());
        Ok(created)
    }

    async fn activate(
        &self,
        source: PolicySource,
        store: bool,
    ) -> Result<ActivePolicy, PluginError> {
        let description = source.describe();
        let result = self.prepare(source).await;
        let result = match result {
            Ok(slot) if store => match self.inner.app.store_policy(&slot.record).await {
                Ok(()) => Ok(slot),
                Err(e) => Err(PluginError::Host(format!(
                    "cannot store the policy record: {e}"
                ))),
            },
            other => other,
        };
        let now = self.inner.clock.now();
        match result {
            Ok(slot) => {
                let active = slot.active.clone();
                self.inner.policy().swap(slot, now);
                self.inner.reconcile_trigger.notify_one();
                Ok(active)
            }
            Err(error) => {
                tracing::warn!(source = %description, %error, "policy refused");
                self.inner.policy().record(PolicyEvent::Refused {
                    at: now,
                    source: description,
                    reason: error.to_string(),
                });
                Err(error)
            }
        }
    }

    /// Loads, checks and dry-runs a policy, off the async executor: the file read
    /// (bounded by the component size limit), the compile (or cache load) and the dry
    /// run all happen on the blocking pool, so the caller's thread never blocks.
    async fn prepare(&self, source: PolicySource) -> Result<PolicySlot, PluginError> {
        let now = self.inner.clock.now();
        if source == PolicySource::Builtin {
            return Ok(PolicySlot::builtin(now));
        }
        let host = self.plugin_host();
        let loader_failed =
            |panic: String| PluginError::Host(format!("the policy loader panicked: {panic}"));
        // Reading and compiling happen beside the rounds (the loading thread can take
        // a while on a cold cache); only the dry run takes the policy lane.
        let (policy, bytes) = super::executor::off_executor(move || {
            let host = host?;
            match source {
                PolicySource::Path(path) => host.load_file_with_bytes(&path),
                PolicySource::Bytes(bytes) => Ok((host.load(&bytes)?, bytes)),
                PolicySource::Builtin => unreachable_builtin(),
            }
        })
        .await
        .map_err(loader_failed)??;
        let mut state = (*self.state()).clone();
        state.now = self.inner.clock.now();
        let config = self.inner.app.autopilot_config().await;
        let policy = self
            .inner
            .policy_lane
            .run(move || {
                if let Some(config) = config {
                    // The dry run: the candidate's answer on the current state must be
                    // usable and safe.
                    let judge = judged_node_types(&state);
                    let decisions = policy.try_decide(&config, &state, &judge)?;
                    check_decisions(&config, &state, &decisions)
                        .map_err(|v| PluginError::Unsafe(v.to_string()))?;
                }
                Ok(policy)
            })
            .await
            .map_err(loader_failed)??;
        let info = policy.info().clone();
        Ok(PolicySlot {
            policy: Arc::new(policy),
            record: PolicyRecord::Component {
                digest: info.digest.clone(),
                bytes,
            },
            active: ActivePolicy {
                name: info.name,
                version: info.version,
                digest: Some(info.digest),
                since: now,
            },
        })
    }

    /// Adds a server to Raft as a non-voter (or re-adds a voter at a new address),
    /// first removing servers holding its address; then asks for pruning.
    pub async fn add_server(&self, server: &Server) -> Result<(), MembershipError> {
        let config = self.inner.raft.configuration().await?;
        let actions = plan_add_server(&config, &server.id, &server.address)?;
        if actions.is_empty() {
            return Ok(());
        }
        let known = BTreeMap::new();
        for action in &actions {
            super::execute::execute(&self.inner, action, &known).await?;
        }
        self.remove_dead_servers();
        Ok(())
    }

    /// Removes a server from Raft if the configuration has it.
    pub async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
        let config = self.inner.raft.configuration().await?;
        if let Some(action) = plan_remove_server(&config, id) {
            super::execute::execute(&self.inner, &action, &BTreeMap::new()).await?;
        }
        Ok(())
    }

    /// The number of voters in a fresh Raft configuration (staging excluded).
    pub async fn num_voters(&self) -> Result<usize, RaftError> {
        Ok(self.inner.raft.configuration().await?.num_voters())
    }
}

/// `PolicySource::Builtin` is handled before loading; reaching the loader with it is a
/// host error, not a panic.
fn unreachable_builtin<T>() -> Result<T, PluginError> {
    Err(PluginError::Host(
        "the built-in policy has no component to load".into(),
    ))
}
