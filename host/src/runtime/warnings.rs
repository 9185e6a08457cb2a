//! Warnings about inputs the embedder controls that make autopilot hold back: each is
//! logged at `warn` once per server and cause while the condition lasts, and again only
//! if it clears and comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::core::{NodeType, RaftConfiguration, ServerId};

/// Why autopilot held back because of something the embedder controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cause {
    /// `fetch_server_stats` returned nothing for an alive server in the Raft
    /// configuration: it reads as unhealthy.
    MissingStats,
    /// A failed voter stays because the node type the application gives it is not a
    /// potential voter, so pruning does not count it toward the quorum it protects.
    FailedVoterCannotVote,
    /// `remove_failed_server` was called for a server a round ago and the server is
    /// still in the Raft configuration.
    StillInRaftAfterRemoval,
}

/// The servers each cause was last seen for.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    current: Mutex<BTreeMap<Cause, BTreeSet<ServerId>>>,
    /// When `remove_failed_server` was last called for each server not yet seen gone.
    removals: Mutex<BTreeMap<ServerId, Instant>>,
}

impl Warnings {
    /// Notes that the application was asked to remove a failed server.
    pub(crate) fn removal_requested(&self, id: &ServerId) {
        self.removals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_insert_with(Instant::now);
    }

    /// Checks the removals asked for against the Raft configuration: servers gone are
    /// forgotten; one still there longer than `grace` after the request (a reconcile
    /// interval: a removal may take a moment) is warned about.
    pub(crate) fn check_removals(&self, raft: &RaftConfiguration, grace: Duration) {
        let overdue: Vec<(ServerId, Option<NodeType>)> = {
            let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
            removals.retain(|id, _| raft.get(id).is_some());
            removals
                .iter()
                .filter(|(_, asked)| asked.elapsed() >= grace)
                .map(|(id, _)| (id.clone(), None))
                .collect()
        };
        self.observe(Cause::StillInRaftAfterRemoval, overdue);
    }

    /// Records the servers that have `cause` now (each with the node type involved,
    /// where there is one) and logs a warning for each that did not have it last
    /// time.
    pub(crate) fn observe(
        &self,
        cause: Cause,
        now: impl IntoIterator<Item = (ServerId, Option<NodeType>)>,
    ) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let before = current.remove(&cause).unwrap_or_default();
        let mut after = BTreeSet::new();
        for (id, node_type) in now {
            if !before.contains(&id) {
                log(cause, &id, node_type.as_ref());
            }
            after.insert(id);
        }
        if !after.is_empty() {
            current.insert(cause, after);
        }
    }
}

fn log(cause: Cause, id: &ServerId, node_type: Option<&NodeType>) {
    match cause {
        Cause::MissingStats => tracing::warn!(
            server = %id,
            "no stats for an alive server, so it reads as unhealthy: \
             Application::fetch_server_stats must return every server it is given"
        ),
        Cause::FailedVoterCannotVote => tracing::warn!(
            server = %id,
            node_type = %node_type.map_or("", NodeType::as_str),
            "failed voter kept: its node type (from Application::known_servers) is not \
             a potential voter under the policy in force, so pruning cannot count it \
             toward the quorum it keeps; give voting servers the node type \"voter\""
        ),
        Cause::StillInRaftAfterRemoval => tracing::warn!(
            server = %id,
            "a failed server is still in the Raft configuration a round after \
             Application::remove_failed_server: the application must take it out of \
             Raft too (as `consul force-leave` does)"
        ),
    }
}
