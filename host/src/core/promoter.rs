//! The policy boundary: what a promoter decides, and the built-in stable policy.

use std::collections::BTreeMap;

use serde_json::Value;

use super::changes::{FailedServers, RaftChanges};
use super::config::Config;
use super::ids::{NodeType, RaftState, ServerId};
use super::server::ServerState;
use super::state::State;

/// Extension data and node types a promoter attaches to a freshly built state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// Extension data per server (servers absent here keep what they had).
    pub server_ext: BTreeMap<ServerId, Value>,
    /// Extension data for the whole state (`None` keeps what it had).
    pub state_ext: Option<Value>,
    /// Node type per server (servers absent here keep their node type).
    pub node_types: BTreeMap<ServerId, NodeType>,
}

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

    /// Runs the first three decisions in the reference's order: each server's
    /// extension, then the state extension (seeing the servers' new extensions), then
    /// node types (seeing both). A policy that can compute them in one step (a
    /// component, say) overrides this to save crossings.
    fn annotate(&self, config: &Config, state: &State) -> Annotations {
        let mut draft = state.clone();
        let mut annotations = Annotations::default();
        for (id, server) in &state.servers {
            if let Some(ext) = self.server_ext(config, server) {
                if let Some(s) = draft.servers.get_mut(id) {
                    s.server.ext = ext.clone();
                }
                annotations.server_ext.insert(id.clone(), ext);
            }
        }
        if let Some(ext) = self.state_ext(config, &draft) {
            draft.ext = ext.clone();
            annotations.state_ext = Some(ext);
        }
        annotations.node_types = self.node_types(config, &draft);
        annotations
    }
}

/// The built-in stable policy: every server is a `voter`, every stable non-voter is
/// promoted, nothing is demoted, the leader stays, removals pass unfiltered.
#[derive(Debug, Clone, Copy, Default)]
pub struct StablePromoter;

impl Promoter for StablePromoter {}

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
    let promotions = state
        .servers
        .iter()
        .filter(|(id, s)| s.state == RaftState::NonVoter && state.is_stable(id, config))
        .map(|(id, _)| id.clone())
        .collect();
    RaftChanges {
        promotions,
        ..RaftChanges::default()
    }
}
