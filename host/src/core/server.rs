//! One server as the Raft configuration, the application and autopilot see it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::{NodeStatus, NodeType, RaftState, ServerId, Suffrage};
use super::json::null_as_default;
use super::text::Text;
use super::time::{Timestamp, rfc3339, zero_time};

/// One entry of the Raft configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftServer {
    /// Voter, non-voter or staging.
    #[serde(rename = "Suffrage")]
    pub suffrage: Suffrage,
    /// The server's id.
    #[serde(rename = "ID")]
    pub id: ServerId,
    /// The address Raft reaches it at.
    #[serde(rename = "Address")]
    pub address: Text,
}

/// The Raft configuration: every server Raft knows, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftConfiguration {
    /// The servers, in the order Raft lists them.
    #[serde(rename = "Servers", default, deserialize_with = "null_as_default")]
    pub servers: Vec<RaftServer>,
}

impl RaftConfiguration {
    /// The entry with this id, if any.
    pub fn get(&self, id: &ServerId) -> Option<&RaftServer> {
        self.servers.iter().find(|s| &s.id == id)
    }

    /// How many servers have suffrage `voter` (staging does not count).
    pub fn num_voters(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.suffrage == Suffrage::Voter)
            .count()
    }
}

/// A server as the application knows it, plus the fields the promoter fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// The server's id.
    #[serde(rename = "ID")]
    pub id: ServerId,
    /// A human name.
    #[serde(rename = "Name", default, deserialize_with = "null_as_default")]
    pub name: Text,
    /// The address (in a state, always the one Raft uses).
    #[serde(rename = "Address", default, deserialize_with = "null_as_default")]
    pub address: Text,
    /// The application's view of the server's liveness.
    #[serde(rename = "NodeStatus")]
    pub node_status: NodeStatus,
    /// The server's software version.
    #[serde(rename = "Version", default, deserialize_with = "null_as_default")]
    pub version: Text,
    /// Free-form metadata (`null` when the application gave none); shared, since
    /// every round copies it and nothing changes it.
    #[serde(rename = "Meta", default)]
    pub meta: Option<Arc<BTreeMap<String, String>>>,
    /// The Raft protocol version the server speaks.
    #[serde(rename = "RaftVersion", default)]
    pub raft_version: i64,
    /// Whether this server is the leader.
    #[serde(rename = "IsLeader", default)]
    pub is_leader: bool,
    /// The class the promoter assigned.
    #[serde(rename = "NodeType", default, deserialize_with = "null_as_default")]
    pub node_type: NodeType,
    /// Policy-specific data about this server (`null` when none).
    #[serde(rename = "Ext", default)]
    pub ext: Value,
}

impl Server {
    /// A server record with just an id, an address and a status. Its node type is
    /// `voter` (what the stable policy assigns every server): pruning counts only
    /// servers whose application-side node type may vote toward the quorum it keeps,
    /// so a record with no node type could never be removed as a failed voter.
    pub fn new(id: impl Into<ServerId>, address: impl Into<Text>, status: NodeStatus) -> Self {
        Self {
            id: id.into(),
            name: Text::default(),
            address: address.into(),
            node_status: status,
            version: Text::default(),
            meta: None,
            raft_version: 0,
            is_leader: false,
            node_type: NodeType::voter(),
            ext: Value::Null,
        }
    }
}

/// Time since a server last heard from the leader, in nanoseconds as the reference
/// carries it; negative means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LastContact(pub i64);

impl LastContact {
    /// From a known duration (saturating at the largest representable value).
    pub fn from_duration(d: Duration) -> Self {
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Unknown (the reference's negative value).
    pub const UNKNOWN: Self = Self(-1);

    /// The duration, or `None` when unknown.
    pub fn as_duration(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

/// Replication figures for one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerStats {
    /// Time since last contact with the leader.
    #[serde(rename = "LastContact")]
    pub last_contact: LastContact,
    /// The highest term in the server's log.
    #[serde(rename = "LastTerm")]
    pub last_term: u64,
    /// The last index in the server's log.
    #[serde(rename = "LastIndex")]
    pub last_index: u64,
}

/// Whether a server is healthy, and since when that has been so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHealth {
    /// Healthy by the config's thresholds.
    #[serde(rename = "Healthy", default)]
    pub healthy: bool,
    /// When `healthy` last changed (or the server was first seen).
    #[serde(rename = "StableSince", with = "rfc3339", default = "zero_time")]
    pub stable_since: Timestamp,
}

impl Default for ServerHealth {
    fn default() -> Self {
        Self {
            healthy: false,
            stable_since: zero_time(),
        }
    }
}

impl ServerHealth {
    /// Healthy, and healthy for at least `min_stable` as of `now`.
    pub fn is_stable(&self, now: Timestamp, min_stable: Duration) -> bool {
        self.healthy
            && super::time::at_least(super::time::since(now, self.stable_since), min_stable)
    }
}

/// Everything autopilot knows about one server in the Raft configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// The server record (address from Raft).
    #[serde(rename = "Server")]
    pub server: Server,
    /// Its role.
    #[serde(rename = "State", default)]
    pub state: RaftState,
    /// Its replication figures.
    #[serde(rename = "Stats", default)]
    pub stats: ServerStats,
    /// Its health.
    #[serde(rename = "Health", default)]
    pub health: ServerHealth,
}

impl ServerState {
    /// Leader or voter.
    pub fn has_voting_rights(&self) -> bool {
        self.state.has_voting_rights()
    }
}
