//! What a promoter asks for: membership changes, and which dead servers may go.

use serde::{Deserialize, Serialize};

use super::ids::ServerId;
use super::server::Server;

/// The promoter's wishes for one reconcile round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftChanges {
    /// Servers that should vote.
    pub promotions: Vec<ServerId>,
    /// Servers that should stop voting.
    pub demotions: Vec<ServerId>,
    /// The server that should lead (`None`: keep the current leader).
    pub leader: Option<ServerId>,
}

/// Servers that pruning may remove, by category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedServers {
    /// In the Raft configuration as non-voters, unknown to the application.
    pub stale_non_voters: Vec<ServerId>,
    /// In the Raft configuration as voters, unknown to the application.
    pub stale_voters: Vec<ServerId>,
    /// Known to the application as not alive; non-voters (or staging) in Raft.
    pub failed_non_voters: Vec<Server>,
    /// Known to the application as not alive; voters in Raft.
    pub failed_voters: Vec<Server>,
}

impl FailedServers {
    /// Nothing to remove in any category.
    pub fn is_empty(&self) -> bool {
        self.stale_non_voters.is_empty()
            && self.stale_voters.is_empty()
            && self.failed_non_voters.is_empty()
            && self.failed_voters.is_empty()
    }
}
