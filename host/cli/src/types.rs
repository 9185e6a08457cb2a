//! The demo service's Raft types: a replicated key-value store that also replicates the
//! registry of servers and the autopilot policy record.

use std::collections::BTreeMap;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use autopilot::{Config, PolicyRecord};

/// A node id in openraft (the autopilot `ServerId` is its decimal spelling).
pub type NodeId = u64;

/// A write to the replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Sets a key.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Sets a key if `cas` allows: `None` always, `Some(0)` only if the key is absent,
    /// `Some(n)` only if the key's modify index is `n` (Consul's check-and-set).
    KvPut {
        /// The key.
        key: String,
        /// The value.
        #[serde(with = "base64_bytes")]
        value: Vec<u8>,
        /// The modify index it must replace.
        cas: Option<u64>,
    },
    /// Deletes a key, or every key starting with it if `recurse`, if `cas` allows:
    /// `None` always, `Some(n)` only if the key's modify index is `n` (never for 0).
    KvDelete {
        /// The key, or the prefix.
        key: String,
        /// The modify index it must have.
        cas: Option<u64>,
        /// Every key starting with `key`.
        recurse: bool,
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
    /// Records the autopilot policy every leader must run (a component by digest: its
    /// bytes travel beside the log, see [`crate::blobs`]).
    SetPolicy(StoredPolicy),
    /// Replaces autopilot's configuration, if `cas` is `None` or equals the current
    /// record's modify index (0 when none is recorded).
    SetConfig {
        /// The new configuration.
        config: Config,
        /// The modify index it must replace (check-and-set).
        cas: Option<u64>,
    },
}

/// The answer to a write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The previous value, for `Set` (as text, invalid UTF-8 replaced).
    pub previous: Option<String>,
    /// Whether a `SetConfig`, `KvPut` or `KvDelete` was applied (its check-and-set
    /// index matched).
    #[serde(default)]
    pub applied: bool,
}

/// Autopilot's configuration as replicated, with Consul's indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// The configuration.
    pub config: Config,
    /// The log index that first recorded a configuration.
    pub create_index: u64,
    /// The log index that last changed it.
    pub modify_index: u64,
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

/// The autopilot policy as the log records it: the built-in one, or a component by
/// digest and size, whose bytes each node holds beside the log ([`crate::blobs`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Kind")]
pub enum StoredPolicy {
    /// The built-in stable policy.
    Builtin,
    /// A component.
    Component {
        /// sha256 of its bytes, hex.
        #[serde(rename = "Digest")]
        digest: String,
        /// Its size in bytes.
        #[serde(rename = "Size")]
        size: u64,
    },
}

impl StoredPolicy {
    /// What the log records for a policy record (the bytes stay out).
    pub fn of(record: &PolicyRecord) -> Self {
        match record {
            PolicyRecord::Builtin => Self::Builtin,
            PolicyRecord::Component { digest, bytes } => Self::Component {
                digest: digest.clone(),
                size: bytes.len() as u64,
            },
        }
    }
}

/// A key's value in the replicated key-value store, with Consul's indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The value: any bytes.
    #[serde(with = "base64_bytes")]
    pub value: Vec<u8>,
    /// The log index that created the key.
    pub create_index: u64,
    /// The log index that last wrote it.
    pub modify_index: u64,
}

/// Bytes as standard base64 text in JSON (as Consul shows values).
pub mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as base64.
    ///
    /// # Errors
    /// As the serializer.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads base64 text.
    ///
    /// # Errors
    /// When the text is not base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// The replicated data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// The key-value store.
    pub kv: BTreeMap<String, KvEntry>,
    /// The registered servers.
    pub servers: BTreeMap<NodeId, Registered>,
    /// The autopilot policy every leader must run.
    pub policy: Option<StoredPolicy>,
    /// Autopilot's configuration, once an operator has set one (until then each node
    /// runs with its own defaults).
    #[serde(default)]
    pub config: Option<ConfigRecord>,
}
