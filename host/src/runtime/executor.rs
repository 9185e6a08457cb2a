//! Where policy work runs: never on the async executor. State building, policy calls,
//! compiles, dry runs and component file reads go to tokio's blocking pool and the
//! loops await them, so a policy that uses its whole budget costs its own round,
//! never the node's other tasks (Raft heartbeats included, even on a current-thread
//! runtime).
//!
//! Why the blocking pool and not a thread of our own: its threads are long-lived and
//! reused (no thread per call once warm), it exists on every tokio runtime flavour,
//! and tokio's paused test clock knows about it (it does not jump ahead while a
//! blocking task runs), so time-dependent tests stay exact. Measured cost of the
//! hand-off: see BENCHMARKS.md ("inside the runtime").

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::core::{
    Config, Consulted, Decisions, FailedServers, NodeType, Policy, PolicyFault, StablePolicy,
    State, consult_decide, consult_filter,
};

/// One autopilot's lane for policy work: at most one piece runs at a time, so a
/// policy never occupies more than one core of the node, whoever asks (the state
/// updater, a round, a swap's dry run).
#[derive(Debug, Default, Clone)]
pub(crate) struct PolicyLane(Arc<tokio::sync::Mutex<()>>);

impl PolicyLane {
    /// Runs `work` on the blocking pool once the lane is free; a panic in it comes
    /// back as `Err` with its message. The lane stays taken until `work` ends, even
    /// if the caller stops waiting.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let turn = Arc::clone(&self.0).lock_owned().await;
        off_executor(move || {
            let result = work();
            drop(turn);
            result
        })
        .await
    }
}

/// Runs `work` on the blocking pool; a panic in it comes back as `Err` with its
/// message.
pub(crate) async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        if e.is_panic() {
            panic_message(&*e.into_panic())
        } else {
            "the task was cancelled".to_owned()
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

/// [`consult_filter`] off the executor, a panic treated as a fault.
pub(crate) async fn filter(
    lane: &PolicyLane,
    policy: Arc<dyn Policy>,
    config: Config,
    state: Arc<State>,
    failed: FailedServers,
) -> Consulted<FailedServers> {
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
    .unwrap_or_else(|message| Consulted {
        answer: FailedServers::default(),
        fault: Some(panicked(&message)),
    })
}
