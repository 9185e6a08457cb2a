//! Executing planned actions against the Raft node and the application.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::inner::Inner;
use super::traits::{Application, Raft, RaftError};
use crate::core::{Action, Server, ServerId};

/// Executes one action. `known` supplies the records the application is handed when
/// asked to remove a failed server.
pub(crate) async fn execute<R: Raft, A: Application>(
    inner: &Inner<R, A>,
    action: &Action,
    known: &BTreeMap<ServerId, Server>,
) -> Result<(), RaftError> {
    tracing::info!(%action, "autopilot");
    let result = match action {
        Action::AddVoter { id, address } => inner.raft.add_voter(id, address).await,
        Action::AddNonvoter { id, address } => inner.raft.add_nonvoter(id, address).await,
        Action::DemoteVoter { id } => inner.raft.demote_voter(id).await,
        Action::RemoveServer { id } => inner.raft.remove_server(id).await,
        Action::LeadershipTransfer { id, address } => {
            inner.raft.transfer_leadership(id, address).await
        }
        Action::RemoveFailedServer { id } => {
            match known.get(id) {
                Some(server) => {
                    inner.app.remove_failed_server(server).await;
                    inner.warnings.removal_requested(id);
                }
                None => tracing::warn!(%id, "no record for the failed server; not removed"),
            }
            Ok(())
        }
    };
    match &result {
        Ok(()) => {
            inner.counters.actions.fetch_add(1, Ordering::Relaxed);
            inner.metrics.action(action.op());
        }
        Err(error) => tracing::warn!(%action, %error, "autopilot action failed"),
    }
    result
}
