//! The demo service's Raft types: a replicated key-value store that also replicates the
//! registry of servers and the autopilot policy record.

use std::collections::BTreeMap;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use autopilot::PolicyRecord;

/// A node id in openraft (the autopilot `ServerId` is its decimal spelling).
pub type NodeId = u64;

/// A write to the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Sets a key.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Records a server in the service's registry (what autopilot's known servers are).
    Register {
        /// The server.
        id: NodeId,
        /// Its RPC address.
        address: String,
        /// Its software version (empty: unknown).
        version: String,
    },
    /// Removes a server from the registry.
    Deregister {
        /// The server.
        id: NodeId,
    },
    /// Records the autopilot policy every leader must run.
    SetPolicy(PolicyRecord),
}

/// The answer to a write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The previous value, for `Set`.
    pub previous: Option<String>,
}

openraft::declare_raft_types!(
    /// The demo service's openraft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
);

/// A server in the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// Its RPC address.
    pub address: String,
    /// Its software version (empty: unknown).
    pub version: String,
}

/// The replicated data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Data {
    /// The key-value pairs.
    pub kv: BTreeMap<String, String>,
    /// The registered servers.
    pub servers: BTreeMap<NodeId, Registered>,
    /// The autopilot policy record.
    pub policy: Option<PolicyRecord>,
}
