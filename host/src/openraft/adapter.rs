//! `runtime::Raft` over an openraft node. Non-voters are learners; demoting keeps the
//! server as a learner; removing takes it out entirely. openraft 0.9 has no leadership
//! transfer; the closest *safe* equivalent is to refuse it (see
//! `transfer_leadership`), so a policy's transfer is reported as unsupported and the
//! leader stays.

use std::collections::{BTreeMap, BTreeSet};

use openraft::{BasicNode, ChangeMembers, Raft as OpenRaft, ServerState};

use super::types::{NodeId, TypeConfig};
use crate::core::{RaftConfiguration, RaftServer, ServerId, Suffrage};
use crate::runtime::{Raft, RaftError};

/// An openraft node as autopilot's [`Raft`].
#[derive(Clone)]
pub struct OpenraftNode {
    raft: OpenRaft<TypeConfig>,
}

impl OpenraftNode {
    /// Wraps a running openraft node.
    pub fn new(raft: OpenRaft<TypeConfig>) -> Self {
        Self { raft }
    }

    /// The wrapped node.
    pub fn raft(&self) -> &OpenRaft<TypeConfig> {
        &self.raft
    }
}

/// The openraft id of an autopilot server id.
pub fn node_id(id: &ServerId) -> Result<NodeId, RaftError> {
    id.as_str().parse().map_err(|_| {
        RaftError::Rejected(format!("server id {id} is not a numeric openraft node id"))
    })
}

fn raft_error(e: impl std::fmt::Display) -> RaftError {
    let text = e.to_string();
    if text.contains("forward request to") || text.contains("has to forward") {
        RaftError::NotLeader
    } else {
        RaftError::Other(text)
    }
}

impl OpenraftNode {
    fn members(&self) -> (BTreeSet<NodeId>, BTreeMap<NodeId, BasicNode>) {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let nodes: BTreeMap<NodeId, BasicNode> =
            membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
        (voters, nodes)
    }
}

impl Raft for OpenraftNode {
    async fn add_nonvoter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        let id = node_id(id)?;
        self.raft
            .add_learner(id, BasicNode::new(address), true)
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    async fn add_voter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        let node = node_id(id)?;
        let (voters, nodes) = self.members();
        if voters.contains(&node) {
            return Ok(());
        }
        if !nodes.contains_key(&node) {
            self.add_nonvoter(id, address).await?;
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node])), false)
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    async fn demote_voter(&self, id: &ServerId) -> Result<(), RaftError> {
        let node = node_id(id)?;
        self.raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([node])), true)
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
        let node = node_id(id)?;
        let (voters, nodes) = self.members();
        let change = if voters.contains(&node) {
            ChangeMembers::RemoveVoters(BTreeSet::from([node]))
        } else if nodes.contains_key(&node) {
            ChangeMembers::RemoveNodes(BTreeSet::from([node]))
        } else {
            return Ok(());
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    async fn transfer_leadership(&self, _id: &ServerId, _address: &str) -> Result<(), RaftError> {
        // openraft 0.9 cannot hand leadership over. Triggering an election on the
        // target was tried and is not safe enough: under openraft's leader lease the
        // election is often refused, and the cluster was seen without a leader for
        // long stretches. So the transfer is refused; the round reports it and
        // membership changes go on. (openraft 0.10 adds a real transfer.)
        Err(RaftError::Unsupported(
            "leadership transfer needs openraft 0.10; this adapter targets 0.9".into(),
        ))
    }

    async fn configuration(&self) -> Result<RaftConfiguration, RaftError> {
        let (voters, nodes) = self.members();
        Ok(RaftConfiguration {
            servers: nodes
                .into_iter()
                .map(|(id, node)| RaftServer {
                    suffrage: if voters.contains(&id) {
                        Suffrage::Voter
                    } else {
                        Suffrage::Nonvoter
                    },
                    id: ServerId(id.to_string().into()),
                    address: node.addr.into(),
                })
                .collect(),
        })
    }

    async fn last_index(&self) -> u64 {
        self.raft.metrics().borrow().last_log_index.unwrap_or(0)
    }

    async fn last_term(&self) -> Result<u64, RaftError> {
        Ok(self.raft.metrics().borrow().current_term)
    }

    async fn leader_address(&self) -> Option<String> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader?;
        metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    async fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }
}
