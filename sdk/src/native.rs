//! A policy written with this SDK, run natively in the host (cargo feature `native`):
//! the SDK's round runner behind the host's [`autopilot::Policy`] trait, so the same
//! policy source serves as a component and as native code (in tests, or in a node
//! that wants no WebAssembly). `autopilot::Autopilot::builder(..).policy(SdkPolicy(MyPolicy))`
//! runs it (as an `Arc<dyn autopilot::Policy>`).
//!
//! Its answers pass the same validation and safety rules as a component's. Unlike a
//! component it runs unsandboxed and cannot yield, so the runtime calls it on the
//! blocking pool.

use std::collections::BTreeMap;

use crate as sdk;

use autopilot::{
    Config, Decisions, FailedServers, NodeStatus, NodeType, Policy, PolicyFault, PolicyMetadata,
    RaftChanges, RaftState, Server, ServerId, State, Timestamp,
};

/// An SDK policy as a native [`autopilot::Policy`].
#[derive(Debug, Default, Clone)]
pub struct SdkPolicy<P>(pub P);

fn timestamp(t: &Timestamp) -> sdk::Timestamp {
    sdk::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos(),
    }
}

fn ext(value: &serde_json::Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

fn config(c: &Config) -> sdk::Config {
    sdk::Config {
        cleanup_dead_servers: c.cleanup_dead_servers,
        last_contact_threshold: c.last_contact_threshold,
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time: c.server_stabilization_time,
        ext: ext(&c.ext),
    }
}

fn server(s: &Server, details: bool) -> sdk::Server {
    sdk::Server {
        id: s.id.to_string(),
        name: if details {
            s.name.to_string()
        } else {
            String::new()
        },
        address: if details {
            s.address.to_string()
        } else {
            String::new()
        },
        node_status: match s.node_status {
            NodeStatus::Unknown => sdk::NodeStatus::Unknown,
            NodeStatus::Alive => sdk::NodeStatus::Alive,
            NodeStatus::Failed => sdk::NodeStatus::Failed,
            NodeStatus::Left => sdk::NodeStatus::Left,
        },
        version: if details {
            s.version.to_string()
        } else {
            String::new()
        },
        meta: s
            .meta
            .as_ref()
            .filter(|_| details)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        raft_version: s.raft_version,
        is_leader: s.is_leader,
        node_type: s.node_type.to_string(),
        ext: ext(&s.ext),
    }
}

fn state(s: &State, c: &Config, details: bool) -> sdk::State {
    sdk::State {
        healthy: s.healthy,
        failure_tolerance: s.failure_tolerance,
        servers: s
            .servers
            .iter()
            .map(|(id, st)| {
                let entry = sdk::ServerState {
                    server: server(&st.server, details),
                    raft_state: match st.state {
                        RaftState::None => sdk::RaftState::None,
                        RaftState::Leader => sdk::RaftState::Leader,
                        RaftState::Voter => sdk::RaftState::Voter,
                        RaftState::NonVoter => sdk::RaftState::NonVoter,
                        RaftState::Staging => sdk::RaftState::Staging,
                    },
                    stats: sdk::Stats {
                        last_contact_ns: st.stats.last_contact.0,
                        last_term: st.stats.last_term,
                        last_index: st.stats.last_index,
                    },
                    health: sdk::Health {
                        healthy: st.health.healthy,
                        stable_since: timestamp(&st.health.stable_since),
                    },
                };
                (id.to_string(), entry)
            })
            .collect(),
        leader: s.leader.as_ref().map(ToString::to_string),
        voters: s.voters.iter().map(ToString::to_string).collect(),
        ext: ext(&s.ext),
        now: timestamp(&s.now),
        first_state_time: timestamp(&s.first_state_time),
        effective_stabilization: s.effective_stabilization(c),
    }
}

fn fault(e: sdk::PolicyError) -> PolicyFault {
    let message = match e {
        sdk::PolicyError::InvalidInput(m) => format!("policy error: invalid input: {m}"),
        sdk::PolicyError::Internal(m) => format!("policy error: {m}"),
    };
    PolicyFault::Failed {
        kind: "policy-error",
        message,
        blames_policy: true,
    }
}

fn invalid(message: String) -> PolicyFault {
    PolicyFault::Failed {
        kind: "invalid-output",
        message: format!("invalid output: {message}"),
        blames_policy: true,
    }
}

fn json(text: &str, what: &str) -> Result<serde_json::Value, PolicyFault> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what} is not valid JSON ({e})")))
}

fn instant(t: sdk::Timestamp) -> Option<Timestamp> {
    Timestamp::from_timestamp(t.seconds, t.nanos)
}

impl<P: sdk::Policy + Send + Sync> Policy for SdkPolicy<P> {
    fn metadata(&self) -> PolicyMetadata {
        let m = self.0.metadata();
        PolicyMetadata {
            name: m.name,
            version: m.version,
        }
    }

    fn decide(&self, c: &Config, s: &State, judge: &[NodeType]) -> Result<Decisions, PolicyFault> {
        let input = state(s, c, self.0.reads_server_details());
        let judged: Vec<String> = judge.iter().map(ToString::to_string).collect();
        let d = sdk::decide(&self.0, &config(c), input, &judged).map_err(fault)?;
        let known = |id: &str| s.servers.contains_key(id);
        let ids = |list: Vec<String>, what: &str| -> Result<Vec<ServerId>, PolicyFault> {
            list.into_iter()
                .map(|id| {
                    if known(&id) {
                        Ok(ServerId::from(id))
                    } else {
                        Err(invalid(format!("{what} names unknown server \"{id}\"")))
                    }
                })
                .collect()
        };
        let mut server_ext = BTreeMap::new();
        for (id, text) in d.server_ext {
            let value = json(&text, &format!("extension data for \"{id}\""))?;
            server_ext.insert(ServerId::from(id), value);
        }
        let positions: BTreeMap<&str, u32> = s
            .servers
            .keys()
            .enumerate()
            .map(|(i, id)| (id.as_str(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let mut node_types = Vec::with_capacity(d.node_types.len());
        for (id, node_type) in &d.node_types {
            let index = positions
                .get(id.as_str())
                .ok_or_else(|| invalid(format!("node types name unknown server \"{id}\"")))?;
            node_types.push((*index, NodeType::from(node_type.as_str())));
        }
        Ok(Decisions {
            server_ext,
            state_ext: d
                .state_ext
                .as_deref()
                .map(|t| json(t, "state extension data"))
                .transpose()?,
            node_types,
            potential_voters: judge
                .iter()
                .map(|t| {
                    (
                        t.clone(),
                        d.potential_voter_types.iter().any(|p| p == t.as_str()),
                    )
                })
                .collect(),
            changes: RaftChanges {
                promotions: ids(d.changes.promotions, "promotions")?,
                demotions: ids(d.changes.demotions, "demotions")?,
                leader: d
                    .changes
                    .leader
                    .map(|id| ids(vec![id], "the leader choice"))
                    .transpose()?
                    .and_then(|mut v| v.pop()),
            },
            wake_at: d.wake_at.and_then(instant),
        })
    }

    fn filter_removals(
        &self,
        c: &Config,
        s: &State,
        failed: &FailedServers,
    ) -> Result<FailedServers, PolicyFault> {
        let details = self.0.reads_server_details();
        let offered = sdk::FailedServers {
            stale_non_voters: failed
                .stale_non_voters
                .iter()
                .map(ToString::to_string)
                .collect(),
            stale_voters: failed
                .stale_voters
                .iter()
                .map(ToString::to_string)
                .collect(),
            failed_non_voters: failed
                .failed_non_voters
                .iter()
                .map(|s| server(s, details))
                .collect(),
            failed_voters: failed
                .failed_voters
                .iter()
                .map(|s| server(s, details))
                .collect(),
        };
        let kept = self
            .0
            .filter_failed_server_removals(&config(c), &state(s, c, details), offered)
            .map_err(fault)?;
        // The host's own records of what the policy kept (ids it invents are dropped by
        // pruning, which only removes candidates).
        let pick = |list: &[Server], ids: &[sdk::Server]| -> Vec<Server> {
            list.iter()
                .filter(|s| ids.iter().any(|k| k.id == s.id.as_str()))
                .cloned()
                .collect()
        };
        Ok(FailedServers {
            stale_non_voters: kept
                .stale_non_voters
                .into_iter()
                .map(ServerId::from)
                .collect(),
            stale_voters: kept.stale_voters.into_iter().map(ServerId::from).collect(),
            failed_non_voters: pick(&failed.failed_non_voters, &kept.failed_non_voters),
            failed_voters: pick(&failed.failed_voters, &kept.failed_voters),
        })
    }
}
