//! What autopilot needs from the Raft node it drives and from the application that
//! embeds it. Implement both for your service (the openraft adapter implements `Raft`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use thiserror::Error;

use super::policy::PolicyRecord;
use crate::core::{Config, RaftConfiguration, Server, ServerId, ServerStats, State};

/// Why a Raft call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RaftError {
    /// This node is not (or no longer) the leader, so it cannot change membership.
    #[error("not the leader")]
    NotLeader,
    /// The call did not complete in time.
    #[error("timed out")]
    Timeout,
    /// The node refused the change (for example a configuration change in progress).
    #[error("rejected: {0}")]
    Rejected(String),
    /// This Raft implementation cannot do that (for example leadership transfer).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Any other failure (storage, network, shutdown...).
    #[error("{0}")]
    Other(String),
}

/// The Raft node autopilot drives. Membership calls must return once the change is
/// committed (or has failed). Calls may be slow; autopilot never holds a lock across
/// them.
pub trait Raft: Send + Sync + 'static {
    /// Adds a server as a non-voter (a learner), or updates its address.
    fn add_nonvoter(
        &self,
        id: &ServerId,
        address: &str,
    ) -> impl Future<Output = Result<(), RaftError>> + Send;

    /// Makes a server a voter, adding it first if needed.
    fn add_voter(
        &self,
        id: &ServerId,
        address: &str,
    ) -> impl Future<Output = Result<(), RaftError>> + Send;

    /// Takes a server's vote away, keeping it as a non-voter.
    fn demote_voter(&self, id: &ServerId) -> impl Future<Output = Result<(), RaftError>> + Send;

    /// Removes a server from the configuration.
    fn remove_server(&self, id: &ServerId) -> impl Future<Output = Result<(), RaftError>> + Send;

    /// Hands leadership to a server.
    fn transfer_leadership(
        &self,
        id: &ServerId,
        address: &str,
    ) -> impl Future<Output = Result<(), RaftError>> + Send;

    /// The latest Raft configuration.
    fn configuration(&self) -> impl Future<Output = Result<RaftConfiguration, RaftError>> + Send;

    /// This node's last log index.
    fn last_index(&self) -> impl Future<Output = u64> + Send;

    /// This node's last log term.
    fn last_term(&self) -> impl Future<Output = Result<u64, RaftError>> + Send;

    /// The current leader's address, if known.
    fn leader_address(&self) -> impl Future<Output = Option<String>> + Send;

    /// Whether this node is the leader.
    fn is_leader(&self) -> impl Future<Output = bool> + Send;
}

/// Why the application could not store the policy record: any error of the
/// application's own (`Box::new(e)`, or `.into()` from a `String` or `&str`).
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// The service embedding autopilot.
pub trait Application: Send + Sync + 'static {
    /// The autopilot configuration (`None`: autopilot does nothing this round).
    fn autopilot_config(&self) -> impl Future<Output = Option<Config>> + Send;

    /// Every server the application knows, including failed and left ones, by id.
    ///
    /// A server's `node_type` is what pruning judges: only servers whose node type
    /// the policy in force calls a potential voter count toward the quorum pruning
    /// protects, so a failed voter of another type may be kept (autopilot warns).
    /// [`Server::new`] gives `voter`, the stable policy's type; keep it unless your
    /// policy defines its own types.
    fn known_servers(&self) -> impl Future<Output = BTreeMap<ServerId, Server>> + Send;

    /// Replication stats for the given (not left) servers. Autopilot stops waiting
    /// after `budget` (half the update interval) and treats missing stats as unknown,
    /// so this may return a partial map.
    ///
    /// An alive server without stats reads as unhealthy (autopilot warns once per
    /// server). The leader's own entry may be left out: on the leader, autopilot fills
    /// it in from Raft (last contact 0, its last term and index).
    fn fetch_server_stats(
        &self,
        servers: &BTreeMap<ServerId, Server>,
        budget: Duration,
    ) -> impl Future<Output = BTreeMap<ServerId, ServerStats>> + Send;

    /// Called with every new state (for metrics, an operator view...). Must not block.
    fn notify_state(&self, state: &State);

    /// Forcefully removes a failed server (as `consul force-leave` does): the
    /// application forgets it *and takes it out of the Raft configuration*, which
    /// autopilot does not do for a failed server. A server still in Raft a reconcile
    /// interval after this call is warned about. Must return promptly; spawn a task
    /// for anything long.
    fn remove_failed_server(&self, server: &Server) -> impl Future<Output = ()> + Send;

    /// Stores the policy record in the application's replicated state, so that the
    /// next leader runs the same policy (see [`Application::stored_policy`]). Called
    /// before a swap takes effect; an error (any error type of yours) refuses the
    /// swap, and its message is in the refusal. The default stores nothing (each
    /// leader then starts with its configured policy).
    fn store_policy(
        &self,
        _record: &PolicyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// The policy record stored by [`Application::store_policy`], read when autopilot
    /// starts (on becoming leader). The default has none.
    fn stored_policy(&self) -> impl Future<Output = Option<PolicyRecord>> + Send {
        async { None }
    }
}
