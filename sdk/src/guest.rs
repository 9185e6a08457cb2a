//! The component glue: converts between the WIT types and the SDK's, and runs a
//! [`Policy`] behind the `policy` export. Used by [`crate::export_promoter`].

use std::time::Duration;

use crate::bindings::autopilot::promoter::types as wit;
use crate::policy::{Policy, decide_in_place};
use crate::types::{
    Config, FailedServers, Health, NodeStatus, PolicyError, RaftState, Server, ServerState, State,
    Stats, Timestamp,
};

/// The `metadata` export.
pub fn metadata<P: Policy + Default>() -> wit::PolicyInfo {
    let policy = P::default();
    let m = policy.metadata();
    wit::PolicyInfo {
        name: m.name,
        version: m.version,
        reads_server_details: policy.reads_server_details(),
    }
}

/// Finds ids among `ids` (sorted: the host sends servers in id order). Lookups in
/// ascending order, the usual case, cost one comparison each; others a binary search.
struct Positions<'a> {
    ids: &'a [&'a str],
    next: usize,
}

impl<'a> Positions<'a> {
    fn new(ids: &'a [&'a str]) -> Self {
        Self { ids, next: 0 }
    }

    /// The index of `id`, or `u32::MAX` for an id not in the list: the host rejects it
    /// as a server not in the state (validation is the host's job, not the SDK's).
    fn of(&mut self, id: &str) -> u32 {
        let found = if self
            .ids
            .get(self.next)
            .is_some_and(|next| crate::helpers::same_id(next, id))
        {
            Some(self.next)
        } else {
            self.ids.binary_search(&id).ok()
        };
        match found {
            Some(i) => {
                self.next = i + 1;
                u32::try_from(i).unwrap_or(u32::MAX)
            }
            None => u32::MAX,
        }
    }
}

/// The `decide` export.
///
/// The instance that runs this is discarded after the call, so the state is leaked
/// rather than dropped: freeing thousands of records memory is about to be reset
/// anyway would only cost time.
pub fn run_decide<P: Policy + Default>(
    config: wit::Config,
    state: wit::State,
    judge_node_types: Vec<String>,
) -> Result<wit::Decisions, wit::PolicyError> {
    let mut state = state_from(state);
    let decisions = decide_in_place(
        &P::default(),
        &config_from(config),
        &mut state,
        &judge_node_types,
    )
    .map_err(error_to)?;
    let ids: Vec<&str> = state.servers.keys().map(String::as_str).collect();
    let mut at = Positions::new(&ids);
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
        node_types.push((at.of(id), u32::try_from(name).unwrap_or(u32::MAX)));
    }
    let potential_voters = judge_node_types
        .iter()
        .map(|t| decisions.potential_voter_types.contains(t))
        .collect();
    let changes = &decisions.changes;
    let mut at = Positions::new(&ids);
    let server_ext = decisions
        .server_ext
        .iter()
        .map(|(id, ext)| (at.of(id), ext.clone()))
        .collect();
    let mut at = Positions::new(&ids);
    let promotions = changes.promotions.iter().map(|id| at.of(id)).collect();
    let mut at = Positions::new(&ids);
    let demotions = changes.demotions.iter().map(|id| at.of(id)).collect();
    let leader = changes
        .leader
        .as_deref()
        .map(|id| Positions::new(&ids).of(id));
    let out = wit::Decisions {
        server_ext,
        state_ext: decisions.state_ext.clone(),
        node_type_names: names,
        node_types,
        potential_voters,
        changes: wit::Changes {
            promotions,
            demotions,
            leader,
        },
        wake_at: decisions.wake_at.map(|t| wit::Timestamp {
            seconds: t.seconds,
            nanos: t.nanos,
        }),
    };
    drop(ids);
    std::mem::forget(decisions);
    std::mem::forget(state);
    Ok(out)
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
        // The offered lists are in the host's order, not sorted: index them by id.
        // (A `BTreeMap`, not a `HashMap`: hashing's random seed would import
        // `wasi:random`, which the sandbox refuses.)
        let at: std::collections::BTreeMap<&str, u32> = offered
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        kept.iter()
            .map(|id| at.get(id.as_str()).copied().unwrap_or(u32::MAX))
            .collect()
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
    let (name, address, version, meta) = match s.details {
        Some(d) => (
            d.name,
            d.address,
            d.version,
            d.meta.map(|m| m.into_iter().collect()),
        ),
        // Not sent: the policy said it does not read them.
        None => (String::new(), String::new(), String::new(), None),
    };
    Server {
        id: s.id,
        name,
        address,
        node_status: match s.node_status {
            wit::NodeStatus::Unknown => NodeStatus::Unknown,
            wit::NodeStatus::Alive => NodeStatus::Alive,
            wit::NodeStatus::Failed => NodeStatus::Failed,
            wit::NodeStatus::Left => NodeStatus::Left,
        },
        version,
        meta,
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
