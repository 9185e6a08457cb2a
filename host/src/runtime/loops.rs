//! The loops: state updates on a ticker; reconcile rounds on a ticker and, when event
//! driven, on stabilization deadlines and changes; pruning after each round and on
//! demand. Every step's error is logged and counted, never fatal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use super::autopilot::Status;
use super::execute::execute;
use super::executor::{self, WorkError, measured, off_executor};
use super::inner::Inner;
use super::metrics::PolicyFunction;
use super::policy::PolicySlot;
use super::round::Round;
use super::traits::{Application, Raft, RaftError};
use super::warnings::Cause;
use crate::core::{
    Action, Config, Consulted, Decisions, Kept, LastContact, NodeStatus, NodeType, PolicyFault,
    RaftState, Server, ServerId, ServerStats, State, StateInputs, Timestamp, annotate, build_state,
    distinct_node_types, explain, leader_id, plan_reconcile, prune_candidates,
};

/// Above this many servers a state is built on the blocking pool, not on the executor.
const INLINE_BUILD_LIMIT: usize = 1_024;

/// Runs the loops until `shutdown`, then resets the state and signals `done`.
pub(crate) async fn run<R: Raft, A: Application>(
    inner: Arc<Inner<R, A>>,
    shutdown: watch::Receiver<bool>,
    done: watch::Sender<bool>,
) {
    tracing::debug!("autopilot running");
    let updater = tokio::spawn(update_loop(Arc::clone(&inner), shutdown.clone()));
    reconcile_loop(&inner, shutdown).await;
    let _ = updater.await;

    inner.state.send_replace(Arc::new(State::default()));
    *inner
        .first_state_time
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    {
        let mut exec = inner.exec();
        exec.status = Status::NotRunning;
        exec.shutdown = None;
    }
    let _ = done.send(true);
    tracing::debug!("autopilot stopped");
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn update_loop<R: Raft, A: Application>(
    inner: Arc<Inner<R, A>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = interval_at(
        Instant::now() + inner.update_interval,
        inner.update_interval,
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            _ = ticker.tick() => {
                tokio::select! {
                    () = stopped(&mut shutdown) => return,
                    () = update_state(&inner) => {}
                }
            }
        }
    }
}

/// Computes and publishes a new state; notifies the application; when event driven,
/// asks for a round if health, membership or roles changed.
pub(crate) async fn update_state<R: Raft, A: Application>(inner: &Inner<R, A>) {
    let slot = inner.slot();
    // Which membership changes the inputs gathered from here on reflect.
    let epoch = inner.membership_epoch();
    let result = next_state(inner, &slot).await;
    match result {
        Ok((mut state, faults, inputs)) => {
            inner.observe_round(&slot, &faults);
            state.policy = Some(inner.policy().status());
            inner.counters.state_updates.fetch_add(1, Ordering::Relaxed);
            inner.app.notify_state(&state);
            inner.set_state_epoch(epoch);
            let previous = {
                // The inputs and the state they built change together: a round reads
                // both under the same lock.
                let mut last_inputs = inner
                    .last_inputs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *last_inputs = Some(inputs);
                inner.state.send_replace(Arc::new(state))
            };
            if inner.event_driven && changed(&previous, &inner.state.borrow()) {
                inner.reconcile_trigger.notify_one();
            }
        }
        Err(error) => {
            inner
                .counters
                .state_update_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "cannot compute the autopilot state");
        }
    }
}

/// A difference that may call for a round: servers, roles or health.
fn changed(before: &State, after: &State) -> bool {
    before.leader != after.leader
        || before.servers.len() != after.servers.len()
        || before
            .servers
            .iter()
            .zip(&after.servers)
            .any(|((a, x), (b, y))| {
                a != b || x.state != y.state || x.health.healthy != y.health.healthy
            })
}

/// Why a state update produced no state (logged and counted; the loop goes on).
#[derive(Debug, thiserror::Error)]
enum StateError {
    /// `Application::autopilot_config` returned `None`.
    #[error("the application gave no autopilot configuration")]
    NoConfig,
    /// `Raft::configuration` failed.
    #[error("cannot read the Raft configuration: {0}")]
    Configuration(RaftError),
    /// `Raft::last_term` failed.
    #[error("cannot read the last Raft term: {0}")]
    LastTerm(RaftError),
    /// Building a large state on the blocking pool failed.
    #[error("building the state failed: {0}")]
    Build(WorkError),
}

/// Gathers the inputs, then builds the state and asks the policy (off the executor).
/// Returns the state, the policy's fault, if any, and the inputs.
async fn next_state<R: Raft, A: Application>(
    inner: &Inner<R, A>,
    slot: &PolicySlot,
) -> Result<(State, Vec<PolicyFault>, Arc<StateInputs>), StateError> {
    let now = inner.clock.now();
    let first_state_time = *inner
        .first_state_time
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert(now);
    let config = inner
        .app
        .autopilot_config()
        .await
        .ok_or(StateError::NoConfig)?;
    {
        let mut last = inner
            .last_config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.as_ref().is_some_and(|c| c != &config) && inner.event_driven {
            inner.reconcile_trigger.notify_one();
        }
        *last = Some(config.clone());
    }
    let raft_config = inner
        .raft
        .configuration()
        .await
        .map_err(StateError::Configuration)?;
    let known_servers = inner.app.known_servers().await;
    let leader_address = inner.raft.leader_address().await;
    let leader = leader_id(&known_servers, &raft_config, leader_address.as_deref());
    let latest_index = inner.raft.last_index().await;
    let is_leader = inner.raft.is_leader().await;
    let last_term = inner.raft.last_term().await.map_err(StateError::LastTerm)?;
    let alive: BTreeMap<ServerId, Server> = known_servers
        .iter()
        .filter(|(_, s)| s.node_status != NodeStatus::Left)
        .map(|(id, s)| (id.clone(), s.clone()))
        .collect();
    // Stats get at most half the update interval: a slow application cannot stall
    // the loop, its servers just show no fresh stats this time.
    let budget = inner.update_interval / 2;
    let fetched = tokio::time::timeout(budget, inner.app.fetch_server_stats(&alive, budget)).await;
    let complete = fetched.is_ok();
    let mut fetched_stats = fetched.unwrap_or_else(|_| {
        tracing::warn!(?budget, "fetching server stats timed out");
        BTreeMap::new()
    });
    // The leader's own figures are ours: fill them in if the application left them
    // out (the reference expects the application to include them).
    if is_leader && let Some(id) = &leader {
        fetched_stats.entry(id.clone()).or_insert(ServerStats {
            last_contact: LastContact(0),
            last_term,
            last_index: latest_index,
        });
    }
    if complete {
        let missing = raft_config
            .servers
            .iter()
            .filter(|r| {
                alive
                    .get(&r.id)
                    .is_some_and(|s| s.node_status == NodeStatus::Alive)
                    && !fetched_stats.contains_key(&r.id)
            })
            .map(|r| (r.id.clone(), None));
        inner.warnings.observe(Cause::MissingStats, missing);
    }
    let previous = inner.state.borrow().clone();
    let inputs = Arc::new(StateInputs {
        now,
        first_state_time,
        config,
        raft_config,
        known_servers,
        latest_index,
        last_term,
        is_leader,
        fetched_stats,
        leader_id: leader,
        current_state: Some((*previous).clone()),
    });
    // A large cluster's state is built on the blocking pool (about 1 µs a server).
    let config = inputs.config.clone();
    let state = if inputs.raft_config.servers.len() > INLINE_BUILD_LIMIT {
        let shared = Arc::clone(&inputs);
        off_executor(move || build_state(&shared))
            .await
            .map_err(StateError::Build)?
    } else {
        build_state(&inputs)
    };
    // A state needs no potential-voter verdicts (rounds ask for them).
    let state = Arc::new(state);
    let decided = decide(inner, slot, config, Arc::clone(&state), Vec::new()).await;
    let mut state = Arc::try_unwrap(state).unwrap_or_else(|shared| (*shared).clone());
    annotate(&mut state, &decided.answer);
    inner.set_wake_at(decided.answer.wake_at, state.now);
    Ok((state, decided.fault.into_iter().collect(), inputs))
}

/// When an event-driven round should run next with no new input: the earliest of
/// the instant a healthy non-voter becomes stable under the configured window, and the
/// earliest instant a policy answer asked to be consulted again (its own windows)
/// that no round has served yet. Deadlines at or before `after` (the last round) are
/// ignored: that round already saw them. A policy cannot make rounds run back to
/// back: its instant is put off to [`MIN_WAKE_SPACING`] after the last round, and to
/// [`POLICY_WAKE_SPACING`] after the last round one of its instants caused.
fn next_deadline<R, A>(
    inner: &Inner<R, A>,
    state: &State,
    stabilization: Duration,
    after: Timestamp,
) -> Option<Instant> {
    let window = chrono::TimeDelta::from_std(stabilization).ok()?;
    let stabilized = state
        .servers
        .values()
        .filter(|s| s.health.healthy && s.state == RaftState::NonVoter)
        .filter_map(|s| s.health.stable_since.checked_add_signed(window))
        .filter(|deadline| *deadline > after);
    let spacing = chrono::TimeDelta::from_std(MIN_WAKE_SPACING).ok()?;
    let policy_spacing = chrono::TimeDelta::from_std(POLICY_WAKE_SPACING).ok()?;
    let asked = inner.wake_at().map(|at| {
        let at = at.max(after + spacing);
        match inner.last_wake_served() {
            Some(served) => at.max(served + policy_spacing),
            None => at,
        }
    });
    stabilized
        .chain(asked)
        .min()
        .map(|deadline| inner.clock.instant(deadline))
}

/// The least time between the last round and one a policy's wake-up instant causes.
const MIN_WAKE_SPACING: Duration = Duration::from_millis(10);

/// The least time between two rounds that policy wake-up instants cause: a policy
/// that asks to be woken again and again gets at most one such round a second.
const POLICY_WAKE_SPACING: Duration = Duration::from_secs(1);

async fn reconcile_loop<R: Raft, A: Application>(
    inner: &Inner<R, A>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = interval_at(
        Instant::now() + inner.reconcile_interval,
        inner.reconcile_interval,
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut states = inner.state.subscribe();
    // After a round that changed membership, the next one waits for a state update
    // that reflects it (one whose inputs were gathered after the change), so a fast
    // autopilot never acts twice on a stale picture.
    let mut await_update = false;
    let mut wanted = 0;
    let mut last_round = inner.clock.now();
    loop {
        let deadline = if inner.event_driven {
            let state = inner.state.borrow().clone();
            let config = inner.app.autopilot_config().await;
            config.and_then(|c| {
                next_deadline(inner, &state, state.effective_stabilization(&c), last_round)
            })
        } else {
            None
        };
        let stabilized = async {
            match deadline {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut round = false;
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            _ = ticker.tick() => round = true,
            () = inner.reconcile_trigger.notified(), if inner.event_driven => round = true,
            () = stabilized => round = true,
            () = inner.prune_trigger.notified() => {
                tokio::select! {
                    () = stopped(&mut shutdown) => return,
                    changed = prune(inner) => {
                        if changed {
                            wanted = inner.membership_changed();
                            await_update = true;
                        }
                    }
                }
            }
            // A new state may bring a new deadline (the policy's wake-up instant):
            // look again.
            _ = states.changed() => {
                await_update &= !inner.state_reflects(wanted);
                continue;
            }
        }
        if !round {
            continue;
        }
        while await_update && !inner.state_reflects(wanted) {
            // Wait (still interruptible) for the state to catch up with our change.
            tokio::select! {
                () = stopped(&mut shutdown) => return,
                _ = states.changed() => {}
            }
        }
        await_update = false;
        last_round = inner.clock.now();
        // This round serves every wake-up instant up to now; its own answer may ask
        // for later ones.
        inner.serve_wakes(last_round);
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            changed_membership = reconcile_round(inner) => {
                if changed_membership {
                    wanted = inner.membership_changed();
                    await_update = true;
                }
            }
        }
    }
}

/// One reconcile round then one pruning pass, on one policy answer: the round's
/// decisions (checked against the safety rules, the stable policy's after a fault)
/// give the changes, and their potential-voter verdicts judge what pruning may
/// remove. Returns whether membership changed.
pub(crate) async fn reconcile_round<R: Raft, A: Application>(inner: &Inner<R, A>) -> bool {
    if !inner.reconciliation.load(Ordering::SeqCst) {
        return false;
    }
    let _round = inner.round_lock.lock().await;
    inner
        .counters
        .reconcile_rounds
        .fetch_add(1, Ordering::Relaxed);
    // One policy for the whole round, even if a swap happens meanwhile.
    let slot = inner.slot();
    let Some(config) = inner.app.autopilot_config().await else {
        return false;
    };
    let mut faults = Vec::new();
    let (state, decided, inputs) = decide_now(inner, &slot, &config).await;
    faults.extend(decided.fault);
    let mut changed = false;
    let mut planned = Vec::new();
    match plan_reconcile(&state, &decided.answer.changes) {
        Ok(actions) => {
            planned.clone_from(&actions);
            let known = BTreeMap::new();
            for action in &actions {
                if execute(inner, action, &known).await.is_err() {
                    inner
                        .counters
                        .reconcile_errors
                        .fetch_add(1, Ordering::Relaxed);
                    break;
                }
                changed |= action.changes_membership();
            }
        }
        Err(error) => {
            inner
                .counters
                .reconcile_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "reconcile round skipped");
        }
    }
    let pruned = prune_with(
        inner,
        &slot,
        &config,
        Arc::clone(&state),
        &decided.answer,
        &mut faults,
    )
    .await;
    changed |= pruned.changed;
    planned.extend(pruned.planned);
    inner.observe_round(&slot, &faults);
    if let Some(inputs) = inputs {
        record_round(inner, &inputs, &state, planned, &pruned.kept);
    }
    changed
}

/// Keeps the round's record (its inputs, actions and reasons) for the operator.
fn record_round<R, A>(
    inner: &Inner<R, A>,
    inputs: &StateInputs,
    state: &State,
    actions: Vec<Action>,
    kept: &BTreeMap<ServerId, Kept>,
) {
    let reasons = explain(inputs, state, &actions, kept);
    let round = Round::new(inputs, state, actions, reasons);
    *inner
        .last_round
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(round));
}

/// The latest state at the current instant, the policy's decisions on it, and the
/// inputs that built it (none before the first state). The verdicts asked for cover
/// the node types the application gives its servers now (what pruning judges) and
/// those in the state.
async fn decide_now<R: Raft, A: Application>(
    inner: &Inner<R, A>,
    slot: &PolicySlot,
    config: &Config,
) -> (Arc<State>, Consulted<Decisions>, Option<Arc<StateInputs>>) {
    let (latest, inputs) = {
        let inputs = inner
            .last_inputs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (inner.state.borrow().clone(), inputs.clone())
    };
    let mut state = (*latest).clone();
    state.now = inner.clock.now();
    let known = inner.app.known_servers().await;
    let judge = distinct_node_types(
        state
            .servers
            .values()
            .map(|s| &s.server.node_type)
            .chain(known.values().map(|s| &s.node_type)),
    );
    let state = Arc::new(state);
    let decided = decide(inner, slot, config.clone(), Arc::clone(&state), judge).await;
    inner.set_wake_at(decided.answer.wake_at, state.now);
    (state, decided, inputs)
}

/// The policy's decisions on `state` (on its lane), counted and timed.
async fn decide<R, A>(
    inner: &Inner<R, A>,
    slot: &PolicySlot,
    config: Config,
    state: Arc<State>,
    judge: Vec<NodeType>,
) -> Consulted<Decisions> {
    let call = executor::decide(
        &inner.policy_lane,
        Arc::clone(&slot.policy),
        config,
        state,
        judge,
    );
    measured(&inner.metrics, PolicyFunction::Decide, call).await
}

/// One pruning pass on a fresh configuration and fresh known servers, with verdicts
/// from a policy answer taken now. Returns whether the Raft configuration changed.
pub(crate) async fn prune<R: Raft, A: Application>(inner: &Inner<R, A>) -> bool {
    if !inner.reconciliation.load(Ordering::SeqCst) {
        return false;
    }
    let _round = inner.round_lock.lock().await;
    let slot = inner.slot();
    let Some(config) = inner.app.autopilot_config().await else {
        return false;
    };
    let (state, decided, _) = decide_now(inner, &slot, &config).await;
    let mut faults: Vec<PolicyFault> = decided.fault.into_iter().collect();
    let pruned = prune_with(inner, &slot, &config, state, &decided.answer, &mut faults).await;
    inner.observe_round(&slot, &faults);
    pruned.changed
}

/// What a pruning pass did: whether the configuration changed, the removals it
/// planned, and why each failed server that stays stays.
#[derive(Default)]
struct Pruned {
    changed: bool,
    planned: Vec<Action>,
    kept: BTreeMap<ServerId, Kept>,
}

async fn prune_with<R: Raft, A: Application>(
    inner: &Inner<R, A>,
    slot: &PolicySlot,
    config: &Config,
    state: Arc<State>,
    decisions: &Decisions,
    faults: &mut Vec<PolicyFault>,
) -> Pruned {
    if !inner.reconciliation.load(Ordering::SeqCst) {
        return Pruned::default();
    }
    let raft_config = match inner.raft.configuration().await {
        Ok(c) => c,
        Err(error) => {
            inner.counters.prune_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "cannot read the Raft configuration for pruning");
            return Pruned::default();
        }
    };
    inner
        .warnings
        .check_removals(&raft_config, inner.reconcile_interval);
    let known = inner.app.known_servers().await;
    // The policy is asked (off the executor) only when there is something to remove.
    let Some(candidates) =
        prune_candidates(config, &raft_config, &known, &decisions.potential_voters)
    else {
        inner.warnings.observe(Cause::FailedVoterCannotVote, []);
        return Pruned::default();
    };
    let filtered = measured(
        &inner.metrics,
        PolicyFunction::FilterRemovals,
        executor::filter(
            &inner.policy_lane,
            Arc::clone(&slot.policy),
            config.clone(),
            state,
            candidates.failed.clone(),
        ),
    )
    .await;
    faults.extend(filtered.fault);
    // A failed voter kept because its node type cannot vote: say why (the pruning
    // verdicts name that cause).
    let (plan, kept) = candidates.plan_explained(config, &filtered.answer);
    let cannot_vote = kept.iter().filter_map(|(id, why)| match why {
        Kept::NotPotentialVoter(node_type) => Some((id.clone(), Some(node_type.clone()))),
        _ => None,
    });
    inner
        .warnings
        .observe(Cause::FailedVoterCannotVote, cannot_vote);
    let mut changed = false;
    // Stale servers leave Raft; a failure ends the pass (as in the reference).
    for ids in [&plan.stale_non_voters, &plan.stale_voters] {
        let mut failed = false;
        for id in ids {
            let action = crate::core::Action::RemoveServer { id: id.clone() };
            if execute(inner, &action, &known).await.is_err() {
                failed = true;
            } else {
                changed = true;
            }
        }
        if failed {
            inner.counters.prune_errors.fetch_add(1, Ordering::Relaxed);
            return Pruned {
                changed,
                planned: plan.actions(),
                kept,
            };
        }
    }
    for server in plan.failed_non_voters.iter().chain(&plan.failed_voters) {
        let action = crate::core::Action::RemoveFailedServer {
            id: server.id.clone(),
        };
        let _ = execute(inner, &action, &known).await;
    }
    Pruned {
        changed,
        planned: plan.actions(),
        kept,
    }
}
