//! The component glue: converts between the WIT types and the SDK's, and runs a
//! [`Policy`] behind the `policy` export. Used by [`crate::export_promoter`].

use std::time::Duration;

use crate::bindings::autopilot::promoter::types as wit;
use crate::policy::{Policy, decide};
use crate::types::{
    Config, FailedServers, Health, NodeStatus, PolicyError, RaftState, Server, ServerState, State,
    Stats, Timestamp,
};

/// The `metadata` export.
pub fn metadata<P: Policy + Default>() -> wit::PolicyInfo {
    let m = P::default().metadata();
    wit::PolicyInfo {
        name: m.name,
        version: m.version,
    }
}

/// Index of each server id in the state's order (the order the host sent). A
/// `BTreeMap`, not a `HashMap`: hashing's random seed would import `wasi:random`,
/// which the sandbox refuses.
fn positions(ids: &[String]) -> std::collections::BTreeMap<&str, u32> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), u32::try_from(i).unwrap_or(u32::MAX)))
        .collect()
}

/// The position of `id`, or `u32::MAX` for an id not in the list: the host rejects it
/// as a server not in the state (validation is the host's job, not the SDK's).
fn position(positions: &std::collections::BTreeMap<&str, u32>, id: &str) -> u32 {
    positions.get(id).copied().unwrap_or(u32::MAX)
}

/// The `decide` export.
pub fn run_decide<P: Policy + Default>(
    config: wit::Config,
    state: wit::State,
    judge_node_types: Vec<String>,
) -> Result<wit::Decisions, wit::PolicyError> {
    let ids: Vec<String> = state.servers.iter().map(|s| s.server.id.clone()).collect();
    let decisions = decide(
        &P::default(),
        &config_from(config),
        state_from(state),
        &judge_node_types,
    )
    .map_err(error_to)?;
    let at = positions(&ids);
    let mut names: Vec<String> = Vec::new();
    let mut node_types = Vec::with_capacity(decisions.node_types.len());
    for (id, node_type) in &decisions.node_types {
        let name = match names.iter().position(|n| n == node_type) {
            Some(i) => i,
            None => {
                names.push(node_type.clone());
                names.len() - 1
            }
        };
        node_types.push((position(&at, id), u32::try_from(name).unwrap_or(u32::MAX)));
    }
    let changes = decisions.changes;
    Ok(wit::Decisions {
        server_ext: decisions
            .server_ext
            .into_iter()
            .map(|(id, ext)| (position(&at, &id), ext))
            .collect(),
        state_ext: decisions.state_ext,
        node_type_names: names,
        node_types,
        potential_voters: judge_node_types
            .iter()
            .map(|t| decisions.potential_voter_types.contains(t))
            .collect(),
        changes: wit::Changes {
            promotions: changes
                .promotions
                .iter()
                .map(|id| position(&at, id))
                .collect(),
            demotions: changes
                .demotions
                .iter()
                .map(|id| position(&at, id))
                .collect(),
            leader: changes.leader.as_deref().map(|id| position(&at, id)),
        },
    })
}

/// The `filter-removals` export.
pub fn run_filter_removals<P: Policy + Default>(
    config: wit::Config,
    state: wit::State,
    failed: wit::FailedServers,
) -> Result<wit::Removals, wit::PolicyError> {
    let offered = FailedServers {
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
        .filter_failed_server_removals(&config_from(config), &state_from(state), offered.clone())
        .map_err(error_to)?;
    let indices = |offered: &[String], kept: &[String]| -> Vec<u32> {
        let at = positions(offered);
        kept.iter().map(|id| position(&at, id)).collect()
    };
    let ids = |servers: &[Server]| servers.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    Ok(wit::Removals {
        stale_non_voters: indices(&offered.stale_non_voters, &kept.stale_non_voters),
        stale_voters: indices(&offered.stale_voters, &kept.stale_voters),
        failed_non_voters: indices(
            &ids(&offered.failed_non_voters),
            &ids(&kept.failed_non_voters),
        ),
        failed_voters: indices(&ids(&offered.failed_voters), &ids(&kept.failed_voters)),
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

fn error_to(e: PolicyError) -> wit::PolicyError {
    match e {
        PolicyError::InvalidInput(m) => wit::PolicyError::InvalidInput(m),
        PolicyError::Internal(m) => wit::PolicyError::Internal(m),
    }
}
