//! The state a policy decides on, as plain Rust types.

use std::collections::BTreeMap;
use std::time::Duration;

/// A Raft server id.
pub type ServerId = String;

/// An instant: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds (negative before 1970).
    pub seconds: i64,
    /// Nanoseconds within the second (below 1,000,000,000).
    pub nanos: u32,
}

impl Timestamp {
    /// An instant from seconds since the epoch.
    pub fn from_secs(seconds: i64) -> Self {
        Self { seconds, nanos: 0 }
    }

    /// Nanoseconds from `earlier` to `self` (negative when `self` is earlier).
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        let a = i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos);
        let b = i128::from(earlier.seconds) * 1_000_000_000 + i128::from(earlier.nanos);
        a - b
    }

    /// This instant moved by `nanos` (which may be negative), saturating.
    pub fn plus_nanos(self, nanos: i128) -> Self {
        let total = i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos) + nanos;
        let seconds = total.div_euclid(1_000_000_000);
        let nanos = total.rem_euclid(1_000_000_000);
        Self {
            seconds: i64::try_from(seconds).unwrap_or(if seconds < 0 {
                i64::MIN
            } else {
                i64::MAX
            }),
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }
}

/// What the application believes about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    /// The application cannot tell.
    Unknown,
    /// Up and a member.
    Alive,
    /// Seen to fail.
    Failed,
    /// Left, or unknown to the application.
    Left,
}

/// A server's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RaftState {
    /// No known role.
    #[default]
    None,
    /// The leader.
    Leader,
    /// A voter.
    Voter,
    /// A non-voter.
    NonVoter,
    /// Being caught up to vote.
    Staging,
}

impl RaftState {
    /// Leader or voter.
    pub fn has_voting_rights(self) -> bool {
        matches!(self, Self::Leader | Self::Voter)
    }
}

/// Autopilot's tunables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Remove failed and stale servers automatically.
    pub cleanup_dead_servers: bool,
    /// Longest time without leader contact for a healthy server.
    pub last_contact_threshold: Duration,
    /// Most log entries a healthy server may trail by.
    pub max_trailing_logs: u64,
    /// Pruning never leaves fewer potential voters.
    pub min_quorum: u32,
    /// How long a server must be healthy to be stable.
    pub server_stabilization_time: Duration,
    /// Policy settings as JSON text.
    pub ext: Option<String>,
}

/// A server as the application knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its id.
    pub id: ServerId,
    /// A human name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// Liveness as the application sees it.
    pub node_status: NodeStatus,
    /// Software version.
    pub version: String,
    /// Metadata (`None` when the application gave none).
    pub meta: Option<BTreeMap<String, String>>,
    /// Raft protocol version.
    pub raft_version: i64,
    /// Whether it leads.
    pub is_leader: bool,
    /// Its node type.
    pub node_type: String,
    /// Extension data as JSON text.
    pub ext: Option<String>,
}

impl Server {
    /// A server with an id and address, alive, everything else empty.
    pub fn new(id: impl Into<ServerId>, address: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: String::new(),
            address: address.into(),
            node_status: NodeStatus::Alive,
            version: String::new(),
            meta: None,
            raft_version: 3,
            is_leader: false,
            node_type: String::new(),
            ext: None,
        }
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta.as_ref()?.get(key).map(String::as_str)
    }
}

/// Replication figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Nanoseconds since last leader contact (negative: unknown).
    pub last_contact_ns: i64,
    /// Highest term in the server's log.
    pub last_term: u64,
    /// Last index in the server's log.
    pub last_index: u64,
}

/// Health and since when it has held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// Healthy by the config's thresholds.
    pub healthy: bool,
    /// When `healthy` last changed.
    pub stable_since: Timestamp,
}

/// One server of the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// The record.
    pub server: Server,
    /// Its role.
    pub raft_state: RaftState,
    /// Replication figures.
    pub stats: Stats,
    /// Health.
    pub health: Health,
}

/// The state a policy decides on, with the clock it is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// Every server healthy.
    pub healthy: bool,
    /// Voters that could fail with a healthy quorum left.
    pub failure_tolerance: u32,
    /// Servers by id.
    pub servers: BTreeMap<ServerId, ServerState>,
    /// The leader.
    pub leader: Option<ServerId>,
    /// Leader and voters, best first.
    pub voters: Vec<ServerId>,
    /// Extension data as JSON text.
    pub ext: Option<String>,
    /// The instant the state describes.
    pub now: Timestamp,
    /// When autopilot computed its first state since it started.
    pub first_state_time: Timestamp,
    /// The stabilization time in force.
    pub effective_stabilization: Duration,
}

/// Membership wishes for a round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// Servers that should vote.
    pub promotions: Vec<ServerId>,
    /// Servers that should stop voting.
    pub demotions: Vec<ServerId>,
    /// The server that should lead (`None`: keep the current one).
    pub leader: Option<ServerId>,
}

/// Servers pruning may remove, by category.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailedServers {
    /// Non-voters in Raft unknown to the application.
    pub stale_non_voters: Vec<ServerId>,
    /// Voters in Raft unknown to the application.
    pub stale_voters: Vec<ServerId>,
    /// Non-voters the application reports not alive.
    pub failed_non_voters: Vec<Server>,
    /// Voters the application reports not alive.
    pub failed_voters: Vec<Server>,
}

/// What a policy calls itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// An expected failure, returned to the host as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The input does not suit the policy (for example malformed settings).
    InvalidInput(String),
    /// The policy could not decide.
    Internal(String),
}

/// Everything a policy decides in one round (see [`crate::decide`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decisions {
    /// Extension data per server.
    pub server_ext: BTreeMap<ServerId, String>,
    /// Extension data for the state.
    pub state_ext: Option<String>,
    /// Node type per server.
    pub node_types: BTreeMap<ServerId, String>,
    /// Of the node types asked about, the potential voters.
    pub potential_voter_types: Vec<String>,
    /// The round's changes.
    pub changes: Changes,
    /// When the answer could next change with no new input (see
    /// [`Policy::wake_at`](crate::Policy::wake_at)).
    pub wake_at: Option<Timestamp>,
}
