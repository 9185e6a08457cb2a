//! Core types to the contract's types, for the call into a policy.
//!
//! The records here mirror `wit/promoter.wit` field for field, but borrow their strings
//! from the core state instead of owning copies: wasmtime writes each string straight
//! from the state into the guest's memory, so a round makes no host-side copies of the
//! servers it sends. Field names and order must match the WIT (the type check when a
//! call is prepared rejects any difference, and the tests would catch it first).
//!
//! Records that contain a server are generic over the server record, because the
//! contract's revisions differ there: [`ServerIn`] for 0.2 and 0.3 (details on
//! request), [`ServerInV1`] for 0.1 (every field, always). The other difference is in
//! what comes back: 0.3's decisions carry `wake-at`, [`DecisionsV2`] is the earlier
//! revisions' record.

use serde_json::Value;
use wasmtime::component::{ComponentType, Lift, Lower};

use super::bindings::wit;
use crate::core::{
    Config, FailedServers, NodeStatus, RaftState, Server, ServerId, ServerState, State, Timestamp,
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

/// `config` of the contract.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct ConfigIn {
    #[component(name = "cleanup-dead-servers")]
    cleanup_dead_servers: bool,
    #[component(name = "last-contact-threshold-ns")]
    last_contact_threshold_ns: u64,
    #[component(name = "max-trailing-logs")]
    max_trailing_logs: u64,
    #[component(name = "min-quorum")]
    min_quorum: u32,
    #[component(name = "server-stabilization-time-ns")]
    server_stabilization_time_ns: u64,
    ext: Option<String>,
}

/// `server` of the contract, borrowing from a core [`Server`].
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct ServerIn<'a> {
    id: &'a str,
    #[component(name = "node-status")]
    node_status: wit::NodeStatus,
    #[component(name = "raft-version")]
    raft_version: i64,
    #[component(name = "is-leader")]
    is_leader: bool,
    #[component(name = "node-type")]
    node_type: &'a str,
    ext: Option<String>,
    details: Option<DetailsIn<'a>>,
}

/// `server` of contract 0.1, which has no `details` and always carries every field.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct ServerInV1<'a> {
    id: &'a str,
    name: &'a str,
    address: &'a str,
    #[component(name = "node-status")]
    node_status: wit::NodeStatus,
    version: &'a str,
    meta: Option<Vec<(&'a str, &'a str)>>,
    #[component(name = "raft-version")]
    raft_version: i64,
    #[component(name = "is-leader")]
    is_leader: bool,
    #[component(name = "node-type")]
    node_type: &'a str,
    ext: Option<String>,
}

/// `server-details` of the contract.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct DetailsIn<'a> {
    name: &'a str,
    address: &'a str,
    version: &'a str,
    meta: Option<Vec<(&'a str, &'a str)>>,
}

/// `server-state` of the contract, around server record `S`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct ServerStateIn<S> {
    server: S,
    #[component(name = "raft-state")]
    raft_state: wit::RaftState,
    stats: wit::Stats,
    health: wit::Health,
}

/// `state` of the contract, with server records `S`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct StateIn<'a, S> {
    healthy: bool,
    #[component(name = "failure-tolerance")]
    failure_tolerance: u32,
    servers: Vec<ServerStateIn<S>>,
    leader: Option<&'a str>,
    voters: Vec<&'a str>,
    ext: Option<String>,
    now: wit::Timestamp,
    #[component(name = "first-state-time")]
    first_state_time: wit::Timestamp,
    #[component(name = "effective-stabilization-ns")]
    effective_stabilization_ns: u64,
}

/// `failed-servers` of the contract, with server records `S`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct FailedIn<'a, S> {
    #[component(name = "stale-non-voters")]
    stale_non_voters: Vec<&'a str>,
    #[component(name = "stale-voters")]
    stale_voters: Vec<&'a str>,
    #[component(name = "failed-non-voters")]
    failed_non_voters: Vec<S>,
    #[component(name = "failed-voters")]
    failed_voters: Vec<S>,
}

/// `policy-info` of contract 0.1 (without `reads-server-details`).
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct PolicyInfoV1 {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A server's metadata entries, borrowed.
fn meta(s: &Server) -> Option<Vec<(&str, &str)>> {
    s.meta
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
}

/// The config, with durations in nanoseconds.
pub fn config(c: &Config) -> ConfigIn {
    ConfigIn {
        cleanup_dead_servers: c.cleanup_dead_servers,
        last_contact_threshold_ns: nanos(c.last_contact_threshold),
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time_ns: nanos(c.server_stabilization_time),
        ext: ext(&c.ext),
    }
}

fn node_status(status: NodeStatus) -> wit::NodeStatus {
    match status {
        NodeStatus::Unknown => wit::NodeStatus::Unknown,
        NodeStatus::Alive => wit::NodeStatus::Alive,
        NodeStatus::Failed => wit::NodeStatus::Failed,
        NodeStatus::Left => wit::NodeStatus::Left,
    }
}

/// A revision of the contract, named by its server record.
pub trait Revision {
    /// The revision's `server` record.
    type Server<'a>: ServerRecord<'a> + ComponentType + Lower + Sync;
}

/// Contract 0.1.
pub struct V0_1;

/// Contracts 0.2 and 0.3 (the same inputs).
pub struct V0_2;

impl Revision for V0_1 {
    type Server<'a> = ServerInV1<'a>;
}

impl Revision for V0_2 {
    type Server<'a> = ServerIn<'a>;
}

/// A server record of some revision of the contract, lowered from a core [`Server`].
pub trait ServerRecord<'a>: Sized {
    /// The record for `s`, with its name, address, version and metadata if `details`
    /// (a revision without the choice always sends them).
    fn lower(s: &'a Server, details: bool) -> Self;
}

impl<'a> ServerRecord<'a> for ServerIn<'a> {
    fn lower(s: &'a Server, details: bool) -> Self {
        ServerIn {
            id: s.id.as_str(),
            node_status: node_status(s.node_status),
            raft_version: s.raft_version,
            is_leader: s.is_leader,
            node_type: s.node_type.as_str(),
            ext: ext(&s.ext),
            details: details.then(|| DetailsIn {
                name: &s.name,
                address: &s.address,
                version: &s.version,
                meta: meta(s),
            }),
        }
    }
}

impl<'a> ServerRecord<'a> for ServerInV1<'a> {
    fn lower(s: &'a Server, _details: bool) -> Self {
        ServerInV1 {
            id: s.id.as_str(),
            name: &s.name,
            address: &s.address,
            node_status: node_status(s.node_status),
            version: &s.version,
            meta: meta(s),
            raft_version: s.raft_version,
            is_leader: s.is_leader,
            node_type: s.node_type.as_str(),
            ext: ext(&s.ext),
        }
    }
}

fn server_state<'a, S: ServerRecord<'a>>(s: &'a ServerState, details: bool) -> ServerStateIn<S> {
    ServerStateIn {
        server: S::lower(&s.server, details),
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

/// The state, with its clock and the stabilization time in force under `config`;
/// servers with their details if `details` (the policy reads them).
pub fn state<'a, S: ServerRecord<'a>>(
    s: &'a State,
    config: &Config,
    details: bool,
) -> StateIn<'a, S> {
    StateIn {
        healthy: s.healthy,
        failure_tolerance: s.failure_tolerance,
        servers: s
            .servers
            .values()
            .map(|s| server_state(s, details))
            .collect(),
        leader: s.leader.as_ref().map(ServerId::as_str),
        voters: s.voters.iter().map(ServerId::as_str).collect(),
        ext: ext(&s.ext),
        now: timestamp(&s.now),
        first_state_time: timestamp(&s.first_state_time),
        effective_stabilization_ns: nanos(s.effective_stabilization(config)),
    }
}

/// The removal candidates; servers with their details if `details`.
pub fn failed<'a, S: ServerRecord<'a>>(f: &'a FailedServers, details: bool) -> FailedIn<'a, S> {
    FailedIn {
        stale_non_voters: f.stale_non_voters.iter().map(ServerId::as_str).collect(),
        stale_voters: f.stale_voters.iter().map(ServerId::as_str).collect(),
        failed_non_voters: f
            .failed_non_voters
            .iter()
            .map(|s| S::lower(s, details))
            .collect(),
        failed_voters: f
            .failed_voters
            .iter()
            .map(|s| S::lower(s, details))
            .collect(),
    }
}

/// `decisions` of contracts 0.1 and 0.2: those of 0.3 without `wake-at`.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct DecisionsV2 {
    #[component(name = "server-ext")]
    server_ext: Vec<(u32, String)>,
    #[component(name = "state-ext")]
    state_ext: Option<String>,
    #[component(name = "node-type-names")]
    node_type_names: Vec<String>,
    #[component(name = "node-types")]
    node_types: Vec<(u32, u32)>,
    #[component(name = "potential-voters")]
    potential_voters: Vec<bool>,
    changes: wit::Changes,
}

impl DecisionsV2 {
    /// The current revision's record: the policy cannot say when to look again.
    pub fn into_current(self) -> wit::Decisions {
        wit::Decisions {
            server_ext: self.server_ext,
            state_ext: self.state_ext,
            node_type_names: self.node_type_names,
            node_types: self.node_types,
            potential_voters: self.potential_voters,
            changes: self.changes,
            wake_at: None,
        }
    }
}
