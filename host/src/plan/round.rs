//! One dry-run round: compute the state, reconcile, prune, each step seeing the Raft
//! configuration as the previous step's actions would leave it.

use serde::Serialize;

use std::collections::BTreeMap;

use crate::core::{
    Action, Policy, PolicyFault, PrunePlan, Reason, ServerId, State, StateInputs, apply_actions,
    build_state, consult_decide, consult_filter, explain, judged_node_types, plan_reconcile,
    prune_candidates,
};

/// What autopilot would do with one snapshot (JSON: `{"State", "Actions", "Errors",
/// "Reasons"}`; the first three are the reference's layout).
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
    /// Why autopilot does, or does not do, something to each server that has a reason
    /// (JSON: id to text, e.g. `"waiting: stable for 4.2s of 10s"`).
    #[serde(rename = "Reasons")]
    pub reasons: BTreeMap<ServerId, Reason>,
    /// The policy's faults, in the order they happened: each made that decision the
    /// stable policy's. `autopilot plan` refuses to show a plan with any, since a
    /// fallback would hide exactly what the operator wants to see.
    #[serde(skip)]
    pub faults: Vec<PolicyFault>,
}

/// Runs one round on the snapshot's inputs: state at `inputs.now` and the policy's
/// decisions on it, one reconcile, one pruning pass on the configuration the
/// reconcile actions leave behind.
pub fn plan_round(inputs: &StateInputs, policy: &dyn Policy) -> Plan {
    let config = &inputs.config;
    let mut state = build_state(inputs);
    // The state's servers carry the application's node types (Raft's servers as the
    // application knows them): the types pruning judges too.
    let judge = judged_node_types(&state);
    let decided = consult_decide(policy, config, &state, &judge);
    crate::core::annotate(&mut state, &decided.answer);
    let mut faults: Vec<PolicyFault> = decided.fault.into_iter().collect();
    let mut actions = Vec::new();
    let mut errors = Vec::new();

    match plan_reconcile(&state, &decided.answer.changes) {
        Ok(reconcile) => actions.extend(reconcile),
        Err(e) => errors.push(e.to_string()),
    }

    let mut raft_config = inputs.raft_config.clone();
    apply_actions(&mut raft_config, &actions);
    // As `plan_prune`, keeping why each candidate that stays stays.
    let (prune, kept) = match prune_candidates(
        config,
        &raft_config,
        &inputs.known_servers,
        &decided.answer.potential_voters,
    ) {
        Some(candidates) => {
            let filtered = consult_filter(policy, config, &state, &candidates.failed);
            faults.extend(filtered.fault);
            candidates.plan_explained(config, &filtered.answer)
        }
        None => (PrunePlan::default(), BTreeMap::new()),
    };
    actions.extend(prune.actions());
    let reasons = explain(inputs, &state, &actions, &kept);

    Plan {
        state,
        actions,
        errors,
        reasons,
        faults,
    }
}
