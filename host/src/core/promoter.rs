//! The policy boundary: what a promoter decides, and the built-in stable policy.

use std::collections::BTreeMap;

use serde_json::Value;

use super::changes::{FailedServers, RaftChanges};
use super::config::Config;
use super::ids::{NodeType, RaftState, ServerId};
use super::server::ServerState;
use super::state::State;

/// A placement policy: the six decisions of the reference's `Promoter`.
///
/// Every method has the stable policy's behaviour as its default, so a policy overrides
/// only what it changes. Methods are pure: the instant to judge stability against is
/// [`State::now`], never a clock.
pub trait Promoter: Send + Sync {
    /// Extension data for one server (`None`: leave it as it is).
    fn server_ext(&self, _config: &Config, _server: &ServerState) -> Option<Value> {
        None
    }

    /// Extension data for the whole state (`None`: leave it as it is).
    fn state_ext(&self, _config: &Config, _state: &State) -> Option<Value> {
        None
    }

    /// The node type of each server.
    fn node_types(&self, _config: &Config, state: &State) -> BTreeMap<ServerId, NodeType> {
        stable_node_types(state)
    }

    /// Promotions, demotions and the desired leader for a reconcile round.
    fn changes(&self, config: &Config, state: &State) -> RaftChanges {
        stable_changes(config, state)
    }

    /// Which of the failed and stale servers pruning may remove.
    fn filter_failed_server_removals(
        &self,
        _config: &Config,
        _state: &State,
        failed: FailedServers,
    ) -> FailedServers {
        failed
    }

    /// Whether servers of this node type count as potential voters.
    fn is_potential_voter(&self, node_type: &NodeType) -> bool {
        node_type.as_str() == NodeType::VOTER
    }

    /// Runs a round's decisions on a freshly built state, in the reference's order:
    /// each server's extension, the state extension (seeing the servers'), the node
    /// types (seeing both), all written onto `state`; then returns the changes for the
    /// annotated state. A policy that can decide everything in one step (a component,
    /// say) overrides this to cross its boundary once.
    fn evaluate(&self, config: &Config, state: &mut State) -> RaftChanges {
        for server in state.servers.values_mut() {
            if let Some(ext) = self.server_ext(config, server) {
                server.server.ext = ext;
            }
        }
        if let Some(ext) = self.state_ext(config, state) {
            state.ext = ext;
        }
        for (id, node_type) in self.node_types(config, state) {
            if let Some(server) = state.servers.get_mut(&id) {
                server.server.node_type = node_type;
            }
        }
        self.changes(config, state)
    }

    /// Potential-voter verdicts for several node types at once (what pruning needs).
    fn potential_voters(&self, node_types: &[&NodeType]) -> Vec<bool> {
        node_types
            .iter()
            .map(|t| self.is_potential_voter(t))
            .collect()
    }
}

/// The built-in stable policy: every server is a `voter`, every stable non-voter is
/// promoted, nothing is demoted, the leader stays, removals pass unfiltered.
#[derive(Debug, Clone, Copy, Default)]
pub struct StablePromoter;

impl Promoter for StablePromoter {
    /// The default evaluation, without the intermediate node-type map (the stable
    /// policy attaches no extension data).
    fn evaluate(&self, config: &Config, state: &mut State) -> RaftChanges {
        for server in state.servers.values_mut() {
            if server.server.node_type.as_str() != NodeType::VOTER {
                server.server.node_type = NodeType::voter();
            }
        }
        stable_changes(config, state)
    }
}

/// The stable policy's node types: `voter` for every server.
pub fn stable_node_types(state: &State) -> BTreeMap<ServerId, NodeType> {
    state
        .servers
        .keys()
        .map(|id| (id.clone(), NodeType::voter()))
        .collect()
}

/// The stable policy's changes: promote every stable non-voter (staging servers are
/// left alone), in id order.
pub fn stable_changes(config: &Config, state: &State) -> RaftChanges {
    let min_stable = state.effective_stabilization(config);
    let promotions = state
        .servers
        .iter()
        .filter(|(_, s)| {
            s.state == RaftState::NonVoter && s.health.is_stable(state.now, min_stable)
        })
        .map(|(id, _)| id.clone())
        .collect();
    RaftChanges {
        promotions,
        ..RaftChanges::default()
    }
}
