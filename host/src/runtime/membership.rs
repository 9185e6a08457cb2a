//! The membership helpers: adding and removing servers through the same safety
//! planning the loops use.

use std::collections::BTreeMap;

use super::autopilot::Autopilot;
use super::traits::{Application, Raft, RaftError};
use crate::core::{AddServerError, Server, ServerId, plan_add_server, plan_remove_server};

/// Why a membership helper failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// Raft refused or failed.
    #[error(transparent)]
    Raft(#[from] RaftError),
    /// Adding the server would remove too many voters.
    #[error(transparent)]
    Unsafe(#[from] AddServerError),
}

impl<R: Raft, A: Application> Autopilot<R, A> {
    /// Adds a server to Raft as a non-voter (or re-adds a voter at a new address),
    /// first removing servers holding its address; then asks for pruning.
    pub async fn add_server(&self, server: &Server) -> Result<(), MembershipError> {
        let config = self.inner.raft.configuration().await?;
        let actions = plan_add_server(&config, &server.id, &server.address)?;
        if actions.is_empty() {
            return Ok(());
        }
        let known = BTreeMap::new();
        for action in &actions {
            super::execute::execute(&self.inner, action, &known).await?;
        }
        self.remove_dead_servers();
        Ok(())
    }

    /// Removes a server from Raft if the configuration has it.
    pub async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
        let config = self.inner.raft.configuration().await?;
        if let Some(action) = plan_remove_server(&config, id) {
            super::execute::execute(&self.inner, &action, &BTreeMap::new()).await?;
        }
        Ok(())
    }

    /// The number of voters in a fresh Raft configuration (staging excluded).
    pub async fn num_voters(&self) -> Result<usize, RaftError> {
        Ok(self.inner.raft.configuration().await?.num_voters())
    }
}
