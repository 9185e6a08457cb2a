//! Autopilot's tunables, as the application supplies them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::time::config_nanos;

/// All of autopilot's tunables (JSON: the reference's `Config` layout, durations in
/// nanoseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Remove failed and stale servers automatically.
    #[serde(rename = "CleanupDeadServers")]
    pub cleanup_dead_servers: bool,
    /// How long a server may go without contact from the leader and stay healthy.
    #[serde(rename = "LastContactThreshold", with = "config_nanos")]
    pub last_contact_threshold: Duration,
    /// How many log entries a server may trail the leader by and stay healthy.
    #[serde(rename = "MaxTrailingLogs")]
    pub max_trailing_logs: u64,
    /// Pruning never leaves fewer potential voters than this.
    #[serde(rename = "MinQuorum")]
    pub min_quorum: u32,
    /// How long a server must stay healthy before it counts as stable.
    #[serde(rename = "ServerStabilizationTime", with = "config_nanos")]
    pub server_stabilization_time: Duration,
    /// Policy-specific settings (any JSON; `null` when unset).
    #[serde(rename = "Ext", default)]
    pub ext: Value,
}

impl Default for Config {
    /// The defaults Consul ships: cleanup on, 200 ms contact, 250 trailing logs,
    /// no minimum quorum, 10 s stabilization.
    fn default() -> Self {
        Self {
            cleanup_dead_servers: true,
            last_contact_threshold: Duration::from_millis(200),
            max_trailing_logs: 250,
            min_quorum: 0,
            server_stabilization_time: Duration::from_secs(10),
            ext: Value::Null,
        }
    }
}
