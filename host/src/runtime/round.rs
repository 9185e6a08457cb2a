//! The record of the latest reconcile round: what it saw and what it decided, kept so
//! an operator can replay it (`autopilot plan`) or try another policy on it.

use std::collections::BTreeMap;

use crate::core::{Action, Reason, ServerId, State, StateInputs};

/// One reconcile round as the leader ran it (see
/// [`Autopilot::last_round`](super::Autopilot::last_round)).
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// What the round saw, as `autopilot plan` takes it: the latest state update's
    /// inputs, at the round's instant, with that update's state as the current state
    /// (from which [`plan_round`](crate::plan::plan_round) computes the state the round
    /// decided on). [`Round::snapshot`] writes them in the plan's layout.
    pub inputs: StateInputs,
    /// The actions the round planned, in order: the reconcile step's, then pruning's
    /// (whether each succeeded is in the logs and [`Counters`](super::Counters)).
    pub actions: Vec<Action>,
    /// Why the round does, or does not do, something to each server that has a reason.
    pub reasons: BTreeMap<ServerId, Reason>,
}

impl Round {
    /// The round's record from the state it decided on: `inputs` are the state update's
    /// that built `state`; `state.now` is the round's instant.
    pub(crate) fn new(
        inputs: &StateInputs,
        state: &State,
        actions: Vec<Action>,
        reasons: BTreeMap<ServerId, Reason>,
    ) -> Self {
        let mut current = state.clone();
        // What the state records of the policy is not an input.
        current.policy = None;
        let inputs = StateInputs {
            now: state.now,
            first_state_time: inputs.first_state_time,
            config: inputs.config.clone(),
            raft_config: inputs.raft_config.clone(),
            known_servers: inputs.known_servers.clone(),
            latest_index: inputs.latest_index,
            last_term: inputs.last_term,
            is_leader: inputs.is_leader,
            fetched_stats: inputs.fetched_stats.clone(),
            leader_id: inputs.leader_id.clone(),
            current_state: Some(current),
        };
        Self {
            inputs,
            actions,
            reasons,
        }
    }

    /// The round's inputs in `autopilot plan`'s snapshot layout (the reference's), so
    /// `autopilot plan --inputs` replays the round, or shows what another policy would
    /// do with it.
    ///
    /// # Errors
    /// When the inputs do not serialize (they always do: every map is keyed by id).
    pub fn snapshot(&self) -> Result<serde_json::Value, serde_json::Error> {
        crate::plan::snapshot_json(&self.inputs)
    }
}
