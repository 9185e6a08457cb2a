//! Builders for states, to unit-test a policy natively with [`crate::decide`].

use std::time::Duration;

use crate::helpers::{failure_tolerance, sort_servers};
use crate::types::{Health, NodeStatus, RaftState, Server, ServerState, State, Stats, Timestamp};

/// Builds a [`State`] server by server; the summary (health, voters, leader, failure
/// tolerance) is derived on [`StateBuilder::build`].
#[derive(Debug, Clone)]
pub struct StateBuilder {
    state: State,
}

impl StateBuilder {
    /// An empty state at `now`, with autopilot running since long before and the
    /// given stabilization time in force.
    pub fn new(now: Timestamp, effective_stabilization: Duration) -> Self {
        Self {
            state: State {
                now,
                first_state_time: now.plus_nanos(-3_600_000_000_000),
                effective_stabilization,
                ..State::default()
            },
        }
    }

    /// Adds a server in `role`, healthy for `stable_for` (or unhealthy for it).
    pub fn server(
        mut self,
        id: &str,
        role: RaftState,
        healthy: bool,
        stable_for: Duration,
    ) -> Self {
        let server = ServerState {
            server: Server::new(id, format!("{id}:8300")),
            raft_state: role,
            stats: Stats::default(),
            health: Health {
                healthy,
                stable_since: self
                    .state
                    .now
                    .plus_nanos(-i128::try_from(stable_for.as_nanos()).unwrap_or(i128::MAX)),
            },
        };
        self.state.servers.insert(id.to_owned(), server);
        self
    }

    /// Changes the last added or named server's record.
    pub fn with(mut self, id: &str, edit: impl FnOnce(&mut ServerState)) -> Self {
        if let Some(server) = self.state.servers.get_mut(id) {
            edit(server);
        }
        self
    }

    /// Sets a metadata entry on a server.
    pub fn meta(self, id: &str, key: &str, value: &str) -> Self {
        self.with(id, |s| {
            s.server
                .meta
                .get_or_insert_with(Default::default)
                .insert(key.to_owned(), value.to_owned());
        })
    }

    /// Marks a server failed (not alive, unhealthy).
    pub fn failed(self, id: &str) -> Self {
        self.with(id, |s| {
            s.server.node_status = NodeStatus::Failed;
            s.health.healthy = false;
        })
    }

    /// The state, with its summary derived.
    pub fn build(mut self) -> State {
        let state = &mut self.state;
        state.healthy = state.servers.values().all(|s| s.health.healthy);
        state.leader = state
            .servers
            .iter()
            .find(|(_, s)| s.raft_state == RaftState::Leader)
            .map(|(id, _)| id.clone());
        if let Some(s) = state.leader.as_ref().and_then(|l| state.servers.get_mut(l)) {
            s.server.is_leader = true;
        }
        let mut voters: Vec<String> = state
            .servers
            .iter()
            .filter(|(_, s)| s.raft_state.has_voting_rights())
            .map(|(id, _)| id.clone())
            .collect();
        sort_servers(&mut voters, state);
        let healthy = voters
            .iter()
            .filter(|id| state.servers.get(*id).is_some_and(|s| s.health.healthy))
            .count();
        state.failure_tolerance =
            u32::try_from(failure_tolerance(voters.len(), healthy)).unwrap_or(u32::MAX);
        state.voters = voters;
        self.state
    }
}
