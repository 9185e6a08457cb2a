//! The autopilot state: every server's health and role, and the cluster's summary.

use std::cmp::Ordering;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::config::Config;
use super::ids::{RaftState, ServerId};
use super::json::null_as_default;
use super::policy_status::PolicyStatus;
use super::server::ServerState;
use super::servers::Servers;
use super::time::{Timestamp, more_than, since, zero_time};

/// One computed autopilot state (JSON: the reference's `State` layout).
///
/// Besides what the reference serialises, a state carries the instant it was computed
/// for (`now`) and when autopilot computed its first state (`first_state_time`), so a
/// policy can judge stability without a clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Every server healthy.
    #[serde(rename = "Healthy", default)]
    pub healthy: bool,
    /// How many voters could fail with the cluster keeping a healthy quorum.
    #[serde(rename = "FailureTolerance", default)]
    pub failure_tolerance: u32,
    /// Every server in the Raft configuration, by id.
    #[serde(rename = "Servers", default)]
    pub servers: Servers,
    /// The leader, when there is one (JSON: `""` when none).
    #[serde(
        rename = "Leader",
        default,
        serialize_with = "leader_ser",
        deserialize_with = "leader_de"
    )]
    pub leader: Option<ServerId>,
    /// Leader and voters, best first (see [`compare_servers`]).
    #[serde(rename = "Voters", default, deserialize_with = "null_as_default")]
    pub voters: Vec<ServerId>,
    /// Policy-specific data about the cluster (`null` when none).
    #[serde(rename = "Ext", default)]
    pub ext: Value,
    /// The placement policy in force and its recent history (set by the runtime;
    /// absent from the reference's layout, so omitted when `None`).
    #[serde(rename = "Policy", default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyStatus>,
    /// The instant this state describes.
    #[serde(skip, default = "zero_time")]
    pub now: Timestamp,
    /// When autopilot computed its first state since it last started.
    #[serde(skip, default = "zero_time")]
    pub first_state_time: Timestamp,
}

impl Default for State {
    fn default() -> Self {
        Self {
            healthy: false,
            failure_tolerance: 0,
            servers: Servers::new(),
            leader: None,
            voters: Vec::new(),
            ext: Value::Null,
            policy: None,
            now: zero_time(),
            first_state_time: zero_time(),
        }
    }
}

fn leader_ser<S: Serializer>(leader: &Option<ServerId>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(leader.as_ref().map_or("", ServerId::as_str))
}

fn leader_de<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ServerId>, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    Ok((!text.is_empty()).then_some(ServerId::from(text)))
}

impl State {
    /// The stabilization time in force: the configured one once autopilot has been
    /// running for longer than it, zero before (so a freshly started autopilot does not
    /// hold back servers it has not had time to watch).
    pub fn effective_stabilization(&self, config: &Config) -> Duration {
        if more_than(
            since(self.now, self.first_state_time),
            config.server_stabilization_time,
        ) {
            config.server_stabilization_time
        } else {
            Duration::ZERO
        }
    }

    /// The server is healthy and has been for the effective stabilization time.
    pub fn is_stable(&self, id: &ServerId, config: &Config) -> bool {
        self.servers.get(id).is_some_and(|s| {
            s.health
                .is_stable(self.now, self.effective_stabilization(config))
        })
    }

    /// The number of voters needed for a quorum of `voters`.
    pub fn quorum(voters: usize) -> usize {
        voters / 2 + 1
    }
}

/// The reference's server order: the leader first, voters before everyone else,
/// healthy before unhealthy; among equally healthy servers the one stable longer first
/// when healthy and the one unhealthy for less time first when unhealthy; then by id.
/// Ids missing from the state sort last, by id.
pub fn compare_servers(a: &ServerId, b: &ServerId, state: &State) -> Ordering {
    let (sa, sb) = match (state.servers.get(a), state.servers.get(b)) {
        (Some(sa), Some(sb)) => (sa, sb),
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        (None, None) => return a.cmp(b),
    };
    let rank = |s: &ServerState| match s.state {
        RaftState::Leader => 0,
        RaftState::Voter => 1,
        _ => 2,
    };
    rank(sa)
        .cmp(&rank(sb))
        .then_with(|| sb.health.healthy.cmp(&sa.health.healthy))
        .then_with(|| {
            let by_time = sa.health.stable_since.cmp(&sb.health.stable_since);
            if sa.health.healthy {
                by_time
            } else {
                by_time.reverse()
            }
        })
        .then_with(|| a.cmp(b))
}

/// Sorts ids with [`compare_servers`].
pub fn sort_servers(ids: &mut [ServerId], state: &State) {
    ids.sort_by(|a, b| compare_servers(a, b, state));
}
