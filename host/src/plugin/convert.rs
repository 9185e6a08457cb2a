//! Core types to WIT types, for the call into a policy.

use serde_json::Value;

use super::bindings::wit;
use crate::core::{
    Config, FailedServers, NodeStatus, RaftState, Server, ServerState, State, Timestamp,
};

/// An instant as seconds and nanoseconds since the epoch.
pub fn timestamp(t: &Timestamp) -> wit::Timestamp {
    wit::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos(),
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// JSON text of extension data (`None` for `null`).
pub fn ext(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

/// The config, with durations in nanoseconds.
pub fn config(c: &Config) -> wit::Config {
    wit::Config {
        cleanup_dead_servers: c.cleanup_dead_servers,
        last_contact_threshold_ns: nanos(c.last_contact_threshold),
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time_ns: nanos(c.server_stabilization_time),
        ext: ext(&c.ext),
    }
}

/// A server record.
pub fn server(s: &Server) -> wit::Server {
    wit::Server {
        id: s.id.0.clone(),
        name: s.name.clone(),
        address: s.address.clone(),
        node_status: match s.node_status {
            NodeStatus::Unknown => wit::NodeStatus::Unknown,
            NodeStatus::Alive => wit::NodeStatus::Alive,
            NodeStatus::Failed => wit::NodeStatus::Failed,
            NodeStatus::Left => wit::NodeStatus::Left,
        },
        version: s.version.clone(),
        meta: s
            .meta
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        raft_version: s.raft_version,
        is_leader: s.is_leader,
        node_type: s.node_type.0.clone(),
        ext: ext(&s.ext),
    }
}

fn server_state(s: &ServerState) -> wit::ServerState {
    wit::ServerState {
        server: server(&s.server),
        raft_state: match s.state {
            RaftState::None => wit::RaftState::None,
            RaftState::Leader => wit::RaftState::Leader,
            RaftState::Voter => wit::RaftState::Voter,
            RaftState::NonVoter => wit::RaftState::NonVoter,
            RaftState::Staging => wit::RaftState::Staging,
        },
        stats: wit::Stats {
            last_contact_ns: s.stats.last_contact.0,
            last_term: s.stats.last_term,
            last_index: s.stats.last_index,
        },
        health: wit::Health {
            healthy: s.health.healthy,
            stable_since: timestamp(&s.health.stable_since),
        },
    }
}

/// The state, with its clock and the stabilization time in force under `config`.
pub fn state(s: &State, config: &Config) -> wit::State {
    wit::State {
        healthy: s.healthy,
        failure_tolerance: s.failure_tolerance,
        servers: s.servers.values().map(server_state).collect(),
        leader: s.leader.as_ref().map(|l| l.0.clone()),
        voters: s.voters.iter().map(|v| v.0.clone()).collect(),
        ext: ext(&s.ext),
        now: timestamp(&s.now),
        first_state_time: timestamp(&s.first_state_time),
        effective_stabilization_ns: nanos(s.effective_stabilization(config)),
    }
}

/// The removal candidates.
pub fn failed(f: &FailedServers) -> wit::FailedServers {
    wit::FailedServers {
        stale_non_voters: f.stale_non_voters.iter().map(|i| i.0.clone()).collect(),
        stale_voters: f.stale_voters.iter().map(|i| i.0.clone()).collect(),
        failed_non_voters: f.failed_non_voters.iter().map(server).collect(),
        failed_voters: f.failed_voters.iter().map(server).collect(),
    }
}
