//! The component glue: converts between the WIT types and the SDK's, and runs a
//! [`Policy`] behind the `policy` export. Used by [`crate::export_promoter`].

use std::time::Duration;

use crate::bindings::autopilot::promoter::types as wit;
use crate::policy::{Policy, decide};
use crate::types::{
    Changes, Config, FailedServers, Health, NodeStatus, PolicyError, RaftState, Server,
    ServerState, State, Stats, Timestamp,
};

/// The `metadata` export.
pub fn metadata<P: Policy + Default>() -> wit::PolicyInfo {
    let m = P::default().metadata();
    wit::PolicyInfo {
        name: m.name,
        version: m.version,
    }
}

/// The `decide` export.
pub fn run_decide<P: Policy + Default>(
    config: wit::Config,
    state: wit::State,
    judge_node_types: Vec<String>,
) -> Result<wit::Decisions, wit::PolicyError> {
    let decisions = decide(
        &P::default(),
        &config_from(config),
        state_from(state),
        &judge_node_types,
    )
    .map_err(error_to)?;
    Ok(wit::Decisions {
        server_ext: decisions.server_ext.into_iter().collect(),
        state_ext: decisions.state_ext,
        node_types: decisions.node_types.into_iter().collect(),
        potential_voter_types: decisions.potential_voter_types,
        changes: changes_to(decisions.changes),
    })
}

/// The `filter-removals` export.
pub fn run_filter_removals<P: Policy + Default>(
    config: wit::Config,
    state: wit::State,
    failed: wit::FailedServers,
) -> Result<wit::FailedServers, wit::PolicyError> {
    let failed = FailedServers {
        stale_non_voters: failed.stale_non_voters,
        stale_voters: failed.stale_voters,
        failed_non_voters: failed
            .failed_non_voters
            .into_iter()
            .map(server_from)
            .collect(),
        failed_voters: failed.failed_voters.into_iter().map(server_from).collect(),
    };
    let kept = P::default()
        .filter_failed_server_removals(&config_from(config), &state_from(state), failed)
        .map_err(error_to)?;
    Ok(wit::FailedServers {
        stale_non_voters: kept.stale_non_voters,
        stale_voters: kept.stale_voters,
        failed_non_voters: kept.failed_non_voters.into_iter().map(server_to).collect(),
        failed_voters: kept.failed_voters.into_iter().map(server_to).collect(),
    })
}

fn time_from(t: wit::Timestamp) -> Timestamp {
    Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

fn config_from(c: wit::Config) -> Config {
    Config {
        cleanup_dead_servers: c.cleanup_dead_servers,
        last_contact_threshold: Duration::from_nanos(c.last_contact_threshold_ns),
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time: Duration::from_nanos(c.server_stabilization_time_ns),
        ext: c.ext,
    }
}

fn server_from(s: wit::Server) -> Server {
    Server {
        id: s.id,
        name: s.name,
        address: s.address,
        node_status: match s.node_status {
            wit::NodeStatus::Unknown => NodeStatus::Unknown,
            wit::NodeStatus::Alive => NodeStatus::Alive,
            wit::NodeStatus::Failed => NodeStatus::Failed,
            wit::NodeStatus::Left => NodeStatus::Left,
        },
        version: s.version,
        meta: s.meta.map(|m| m.into_iter().collect()),
        raft_version: s.raft_version,
        is_leader: s.is_leader,
        node_type: s.node_type,
        ext: s.ext,
    }
}

fn server_to(s: Server) -> wit::Server {
    wit::Server {
        id: s.id,
        name: s.name,
        address: s.address,
        node_status: match s.node_status {
            NodeStatus::Unknown => wit::NodeStatus::Unknown,
            NodeStatus::Alive => wit::NodeStatus::Alive,
            NodeStatus::Failed => wit::NodeStatus::Failed,
            NodeStatus::Left => wit::NodeStatus::Left,
        },
        version: s.version,
        meta: s.meta.map(|m| m.into_iter().collect()),
        raft_version: s.raft_version,
        is_leader: s.is_leader,
        node_type: s.node_type,
        ext: s.ext,
    }
}

fn state_from(s: wit::State) -> State {
    State {
        healthy: s.healthy,
        failure_tolerance: s.failure_tolerance,
        servers: s
            .servers
            .into_iter()
            .map(|s| {
                let server = ServerState {
                    raft_state: match s.raft_state {
                        wit::RaftState::None => RaftState::None,
                        wit::RaftState::Leader => RaftState::Leader,
                        wit::RaftState::Voter => RaftState::Voter,
                        wit::RaftState::NonVoter => RaftState::NonVoter,
                        wit::RaftState::Staging => RaftState::Staging,
                    },
                    stats: Stats {
                        last_contact_ns: s.stats.last_contact_ns,
                        last_term: s.stats.last_term,
                        last_index: s.stats.last_index,
                    },
                    health: Health {
                        healthy: s.health.healthy,
                        stable_since: time_from(s.health.stable_since),
                    },
                    server: server_from(s.server),
                };
                (server.server.id.clone(), server)
            })
            .collect(),
        leader: s.leader,
        voters: s.voters,
        ext: s.ext,
        now: time_from(s.now),
        first_state_time: time_from(s.first_state_time),
        effective_stabilization: Duration::from_nanos(s.effective_stabilization_ns),
    }
}

fn changes_to(c: Changes) -> wit::Changes {
    wit::Changes {
        promotions: c.promotions,
        demotions: c.demotions,
        leader: c.leader,
    }
}

fn error_to(e: PolicyError) -> wit::PolicyError {
    match e {
        PolicyError::InvalidInput(m) => wit::PolicyError::InvalidInput(m),
        PolicyError::Internal(m) => wit::PolicyError::Internal(m),
    }
}
