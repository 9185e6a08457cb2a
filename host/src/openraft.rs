//! Autopilot on openraft (cargo feature `openraft`, openraft 0.9): [`OpenraftNode`]
//! implements autopilot's [`Raft`] over an `openraft::Raft` of any type configuration
//! whose nodes are [`BasicNode`]s (an address each) and whose client writes answer
//! through openraft's default responder (as `declare_raft_types!` sets them up). Autopilot's server id is the
//! openraft node id's text (`"3"` for node 3).
//!
//! Non-voters are learners; demoting keeps the server as a learner; removing takes it
//! out entirely. openraft 0.9 has no leadership transfer; the closest *safe*
//! equivalent is to refuse it (see `transfer_leadership`), so a policy's transfer is
//! reported as unsupported and the leader stays.
//!
//! ```no_run
//! # async fn demo(raft: openraft::Raft<MyTypeConfig>, service: impl autopilot::Application) {
//! use autopilot::Autopilot;
//! use autopilot::openraft::OpenraftNode;
//!
//! let autopilot = Autopilot::builder(OpenraftNode::new(raft), service).build();
//! # }
//! # use std::io::Cursor;
//! # openraft::declare_raft_types!(MyTypeConfig: D = String, R = String);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use openraft::impls::OneshotResponder;
use openraft::{BasicNode, ChangeMembers, Raft as OpenRaft, RaftTypeConfig, ServerState};

use crate::core::{RaftConfiguration, RaftServer, ServerId, Suffrage};
use crate::runtime::{Raft, RaftError};

/// An openraft node as autopilot's [`Raft`].
pub struct OpenraftNode<C: RaftTypeConfig> {
    raft: OpenRaft<C>,
}

impl<C: RaftTypeConfig> Clone for OpenraftNode<C> {
    fn clone(&self) -> Self {
        Self {
            raft: self.raft.clone(),
        }
    }
}

impl<C: RaftTypeConfig> OpenraftNode<C> {
    /// Wraps a running openraft node.
    pub fn new(raft: OpenRaft<C>) -> Self {
        Self { raft }
    }

    /// The wrapped node.
    pub fn raft(&self) -> &OpenRaft<C> {
        &self.raft
    }
}

/// The openraft node id of an autopilot server id (its text parsed, e.g. `"3"` → 3).
///
/// # Errors
/// [`RaftError::Rejected`] when the id does not parse as a node id.
pub fn node_id<N: FromStr>(id: &ServerId) -> Result<N, RaftError> {
    id.as_str()
        .parse()
        .map_err(|_| RaftError::Rejected(format!("server id {id} is not an openraft node id")))
}

fn raft_error(e: impl std::fmt::Display) -> RaftError {
    let text = e.to_string();
    if text.contains("forward request to") || text.contains("has to forward") {
        RaftError::NotLeader
    } else {
        RaftError::Other(text)
    }
}

impl<C: RaftTypeConfig<Node = BasicNode>> OpenraftNode<C> {
    fn members(&self) -> (BTreeSet<C::NodeId>, BTreeMap<C::NodeId, BasicNode>) {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<C::NodeId> = membership.voter_ids().collect();
        let nodes: BTreeMap<C::NodeId, BasicNode> = membership
            .nodes()
            .map(|(id, n)| (id.clone(), n.clone()))
            .collect();
        (voters, nodes)
    }
}

impl<C> Raft for OpenraftNode<C>
where
    C: RaftTypeConfig<Node = BasicNode, Responder = OneshotResponder<C>>,
    C::NodeId: FromStr + Display,
{
    async fn add_nonvoter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        let id = node_id::<C::NodeId>(id)?;
        self.raft
            .add_learner(id, BasicNode::new(address), true)
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    async fn add_voter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        let node = node_id::<C::NodeId>(id)?;
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
        let node = node_id::<C::NodeId>(id)?;
        self.raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([node])), true)
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
        let node = node_id::<C::NodeId>(id)?;
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
                    id: ServerId::from(id.to_string()),
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
