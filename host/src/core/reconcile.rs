//! Planning one reconcile round: the promoter's wishes turned into ordered actions.

use std::collections::BTreeSet;

use thiserror::Error;

use super::action::Action;
use super::changes::RaftChanges;
use super::ids::{RaftState, ServerId};
use super::state::State;

/// Why a reconcile round could not be planned. Nothing is changed in either case.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReconcileError {
    /// The state has no leader, so voting rights cannot be judged.
    #[error("cannot reconcile Raft server voting rights without a leader in the autopilot state")]
    NoLeader,
    /// The promoter asked for a leader that is not in the state.
    #[error("cannot transfer leadership to {0}: it is not in the autopilot state")]
    UnknownLeader(ServerId),
}

/// Plans one reconcile round from the state and the promoter's changes. The actions
/// are to be executed in order; the shell stops at the first that fails.
///
/// 1. With an odd number of voters, first demote at most one *unhealthy* server from
///    the demotions (promoting first would briefly raise the quorum).
/// 2. Promote every listed non-voting, healthy server in the state, in id order; if
///    any was, the round ends.
/// 3. Demote every listed voting server in the state (not one already demoted in step
///    1); if any was, the round ends.
/// 4. Only in a round that changed nothing: transfer leadership if the promoter names
///    another leader.
pub fn plan_reconcile(state: &State, changes: &RaftChanges) -> Result<Vec<Action>, ReconcileError> {
    let Some(current_leader) = state.leader.as_ref() else {
        return Err(ReconcileError::NoLeader);
    };
    let mut actions = Vec::new();
    let mut demoted = BTreeSet::new();

    let demotable = |id: &ServerId| {
        state
            .servers
            .get(id)
            .is_some_and(|s| s.state != RaftState::NonVoter)
    };

    if state.voters.len() % 2 == 1 {
        let failed = changes
            .demotions
            .iter()
            .find(|id| demotable(id) && state.servers.get(*id).is_some_and(|s| !s.health.healthy));
        if let Some(id) = failed {
            demoted.insert(id.clone());
            actions.push(Action::DemoteVoter { id: id.clone() });
        }
    }

    let promotions: BTreeSet<&ServerId> = changes.promotions.iter().collect();
    let mut promoted = false;
    for id in promotions {
        let Some(server) = state.servers.get(id) else {
            continue;
        };
        if server.has_voting_rights() || !server.health.healthy {
            continue;
        }
        actions.push(Action::AddVoter {
            id: id.clone(),
            address: server.server.address.to_string(),
        });
        promoted = true;
    }
    if promoted {
        return Ok(actions);
    }

    for id in &changes.demotions {
        if demotable(id) && demoted.insert(id.clone()) {
            actions.push(Action::DemoteVoter { id: id.clone() });
        }
    }
    if !actions.is_empty() {
        return Ok(actions);
    }

    match changes.leader.as_ref() {
        Some(wanted) if wanted != current_leader => match state.servers.get(wanted) {
            Some(server) => Ok(vec![Action::LeadershipTransfer {
                id: wanted.clone(),
                address: server.server.address.to_string(),
            }]),
            None => Err(ReconcileError::UnknownLeader(wanted.clone())),
        },
        _ => Ok(actions),
    }
}
