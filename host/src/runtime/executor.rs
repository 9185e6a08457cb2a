//! Where policy work runs: never where it could hold the async executor. A policy
//! call never blocks an executor thread, so a policy that uses its whole budget costs
//! its own round, never the node's other tasks (Raft heartbeats included, even on a
//! current-thread runtime).
//!
//! - A component's call is a future that yields about every 0.1 ms of work
//!   (fuel-driven, see the plugin module): the loops await it right here for its
//!   first [`INLINE_POLLS`] polls, which costs nothing beyond the call itself, and a
//!   call still running then finishes on the blocking pool. The built-in stable policy
//!   (one pass over the servers) also runs here.
//! - Any other policy (an embedder's native code, which cannot yield), compiles,
//!   component file reads, rounds of more than [`INLINE_SERVERS`] servers and the state
//!   build of a large cluster go to tokio's blocking pool and are awaited. Its threads are long-lived and reused (no thread
//!   per call once warm), it exists on every runtime flavour, and tokio's paused test
//!   clock knows about it (it does not jump ahead while a blocking task runs).
//!
//! Measured: a hand-off to another thread costs 20 to 100 µs here, several times a
//! small round; awaiting a component inline costs what calling it directly does
//! (BENCHMARKS.md, "inside the runtime").

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use super::metrics::{PolicyFunction, Recorder};
use crate::core::{
    Config, Consulted, Decisions, FailedServers, NodeType, Policy, PolicyFault, StablePolicy,
    State, consult_decide, consult_decide_async, consult_filter, consult_filter_async,
};

/// Why a piece of work run off the executor did not come back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WorkError {
    /// It panicked, with this message.
    #[error("{0}")]
    Panicked(String),
    /// Its task was cancelled (the runtime is shutting down).
    #[error("the task was cancelled")]
    Cancelled,
    /// A yielding call's future went missing between polls.
    #[error("the policy call was lost")]
    Lost,
}

/// One autopilot's lane for policy work: at most one piece runs at a time, so a
/// policy never occupies more than one core of the node, whoever asks (the state
/// updater, a round, a swap's dry run).
#[derive(Debug, Default, Clone)]
pub(crate) struct PolicyLane(Arc<tokio::sync::Mutex<()>>);

impl PolicyLane {
    /// Awaits `work`, which yields while it works, once the lane is free: on the
    /// caller's executor for its first [`INLINE_POLLS`] polls (a short call, the
    /// usual case, costs no hand-off), then, if it is not done by then, on the
    /// blocking pool to its end (a long call does not share the executor's thread
    /// with the node's other tasks for long).
    pub(crate) async fn run_yielding<T: Send + 'static>(
        &self,
        work: Pin<Box<dyn Future<Output = T> + Send>>,
    ) -> Result<T, WorkError> {
        let turn = Arc::clone(&self.0).lock_owned().await;
        let mut work = Some(work);
        let mut polls = 0u32;
        let early = std::future::poll_fn(|cx| {
            let Some(future) = work.as_mut() else {
                return Poll::Ready(None);
            };
            polls += 1;
            if polls > INLINE_POLLS {
                return Poll::Ready(None);
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await;
        match (early, work) {
            (Some(done), _) => Ok(done),
            (None, Some(rest)) => {
                off_executor(move || {
                    let result = futures_executor::block_on(rest);
                    drop(turn);
                    result
                })
                .await
            }
            (None, None) => Err(WorkError::Lost),
        }
    }

    /// Runs `work` on the blocking pool once the lane is free; a panic in it comes
    /// back as `Err` with its message. The lane stays taken until `work` ends, even
    /// if the caller stops waiting.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkError> {
        let turn = Arc::clone(&self.0).lock_owned().await;
        off_executor(move || {
            let result = work();
            drop(turn);
            result
        })
        .await
    }
}

/// How many polls of a yielding policy call happen on the executor before the rest
/// of the call moves to the blocking pool: a component yields about every 0.1 ms of
/// work, so a call gets about a millisecond here.
const INLINE_POLLS: u32 = 16;

/// Above this many servers even a yielding policy runs on the blocking pool: lowering
/// a round's input into the guest happens in one go, before the policy can yield.
const INLINE_SERVERS: usize = 1_024;

/// Runs `work` on the blocking pool; a panic in it comes back as `Err` with its
/// message.
pub(crate) async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WorkError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        if e.is_panic() {
            WorkError::Panicked(panic_message(&*e.into_panic()))
        } else {
            WorkError::Cancelled
        }
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic".to_owned())
}

fn panicked(message: &str) -> PolicyFault {
    PolicyFault::Failed {
        kind: "panic",
        message: format!("the policy panicked: {message}"),
        blames_policy: true,
    }
}

/// [`consult_decide`], with a panicking (native) policy treated as a fault like any
/// other. Blocking: call it on the blocking pool.
pub(crate) fn guarded_decide(
    policy: &dyn Policy,
    config: &Config,
    state: &State,
    judge: &[NodeType],
) -> Consulted<Decisions> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        consult_decide(policy, config, state, judge)
    }))
    .unwrap_or_else(|panic| Consulted {
        answer: StablePolicy::decisions(config, state, judge),
        fault: Some(panicked(&panic_message(&*panic))),
    })
}

/// Awaits a policy call, recording its outcome and how long it took (wall time,
/// including the wait for the lane).
pub(crate) async fn measured<T>(
    recorder: &Recorder,
    function: PolicyFunction,
    call: impl Future<Output = Consulted<T>>,
) -> Consulted<T> {
    let started = std::time::Instant::now();
    let consulted = call.await;
    recorder.policy_call(function, consulted.fault.as_ref(), started.elapsed());
    consulted
}

/// A round's decisions from `policy` on `state`: awaited here when the policy runs
/// on the executor, else on the blocking pool; one piece of policy work at a time.
pub(crate) async fn decide(
    lane: &PolicyLane,
    policy: Arc<dyn Policy>,
    config: Config,
    state: Arc<State>,
    judge: Vec<NodeType>,
) -> Consulted<Decisions> {
    let shared = Arc::clone(&state);
    let (config_copy, judge_copy) = (config.clone(), judge.clone());
    let result = if policy.runs_on_executor() && state.servers.len() <= INLINE_SERVERS {
        lane.run_yielding(Box::pin(async move {
            consult_decide_async(&*policy, &config, &shared, &judge).await
        }))
        .await
    } else {
        lane.run(move || guarded_decide(&*policy, &config, &shared, &judge))
            .await
    };
    result.unwrap_or_else(|message| Consulted {
        answer: StablePolicy::decisions(&config_copy, &state, &judge_copy),
        fault: Some(PolicyFault::Failed {
            kind: "host",
            message: format!("host error: the policy task failed: {message}"),
            blames_policy: false,
        }),
    })
}

/// Which of `failed` the policy allows to remove: awaited here or on the blocking
/// pool, as [`decide`]; a panic of a native policy is a fault.
pub(crate) async fn filter(
    lane: &PolicyLane,
    policy: Arc<dyn Policy>,
    config: Config,
    state: Arc<State>,
    failed: FailedServers,
) -> Consulted<FailedServers> {
    if policy.runs_on_executor() && state.servers.len() <= INLINE_SERVERS {
        let offered = failed.clone();
        return lane
            .run_yielding(Box::pin(async move {
                consult_filter_async(&*policy, &config, &state, &failed).await
            }))
            .await
            .unwrap_or_else(|error| Consulted {
                answer: offered,
                fault: Some(panicked(&error.to_string())),
            });
    }
    lane.run(move || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            consult_filter(&*policy, &config, &state, &failed)
        }))
        .unwrap_or_else(|panic| Consulted {
            answer: failed.clone(),
            fault: Some(panicked(&panic_message(&*panic))),
        })
    })
    .await
    .unwrap_or_else(|error| Consulted {
        answer: FailedServers::default(),
        fault: Some(panicked(&error.to_string())),
    })
}
