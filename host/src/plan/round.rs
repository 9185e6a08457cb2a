//! One dry-run round: compute the state, reconcile, prune, each step seeing the Raft
//! configuration as the previous step's actions would leave it.

use serde::Serialize;

use crate::core::{
    Action, Promoter, State, StateInputs, apply_actions, compute_state_and_changes, plan_prune,
    plan_reconcile,
};

/// What autopilot would do with one snapshot (JSON: `{"State", "Actions", "Errors"}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The state computed from the snapshot.
    #[serde(rename = "State")]
    pub state: State,
    /// The calls autopilot would make, in order.
    #[serde(rename = "Actions")]
    pub actions: Vec<Action>,
    /// What the round reported (for example reconciling without a leader).
    #[serde(rename = "Errors")]
    pub errors: Vec<String>,
}

/// Runs one round on the snapshot's inputs: state at `inputs.now`, one reconcile, one
/// pruning pass on the configuration the reconcile actions leave behind.
pub fn plan_round(inputs: &StateInputs, promoter: &dyn Promoter) -> Plan {
    let (state, changes) = compute_state_and_changes(inputs, promoter);
    let mut actions = Vec::new();
    let mut errors = Vec::new();

    match plan_reconcile(&state, &changes) {
        Ok(reconcile) => actions.extend(reconcile),
        Err(e) => errors.push(e.to_string()),
    }

    let mut raft_config = inputs.raft_config.clone();
    apply_actions(&mut raft_config, &actions);
    let prune = plan_prune(
        &inputs.config,
        &raft_config,
        &inputs.known_servers,
        &state,
        promoter,
    );
    actions.extend(prune.actions());

    Plan {
        state,
        actions,
        errors,
    }
}
