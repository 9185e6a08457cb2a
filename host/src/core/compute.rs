//! Building the next state from gathered inputs (pure: no I/O, no clock).

use std::collections::BTreeMap;

use super::config::Config;
use super::ids::{NodeStatus, NodeType, RaftState, ServerId};
use super::policy::{Consulted, Decisions, Policy, annotate, consult_decide};
use super::server::{
    RaftConfiguration, RaftServer, Server, ServerHealth, ServerState, ServerStats,
};
use super::servers::Servers;
use super::state::State;
use super::text::Text;
use super::time::Timestamp;

/// Everything the next state depends on, gathered by the shell beforehand.
#[derive(Debug, Clone, PartialEq)]
pub struct StateInputs {
    /// The instant the state is computed for.
    pub now: Timestamp,
    /// When autopilot computed its first state since it last started (`now` for the
    /// first one).
    pub first_state_time: Timestamp,
    /// The autopilot configuration.
    pub config: Config,
    /// The Raft configuration; only its servers appear in the state.
    pub raft_config: RaftConfiguration,
    /// The application's servers, by id.
    pub known_servers: BTreeMap<ServerId, Server>,
    /// The local node's last log index.
    pub latest_index: u64,
    /// The local node's last log term.
    pub last_term: u64,
    /// Whether the local node is the leader.
    pub is_leader: bool,
    /// Stats fetched from the servers, by id.
    pub fetched_stats: BTreeMap<ServerId, ServerStats>,
    /// The leader's id, if one is known (see [`leader_id`]).
    pub leader_id: Option<ServerId>,
    /// The previous state, if any.
    pub current_state: Option<State>,
}

/// The leader's id: the known server flagged as leader (the lowest id if the
/// application flags several), failing that the Raft server at Raft's leader address.
pub fn leader_id(
    known_servers: &BTreeMap<ServerId, Server>,
    raft_config: &RaftConfiguration,
    raft_leader_address: Option<&str>,
) -> Option<ServerId> {
    known_servers
        .iter()
        .find(|(_, s)| s.is_leader)
        .map(|(id, _)| id.clone())
        .or_else(|| {
            let address = raft_leader_address?;
            raft_config
                .servers
                .iter()
                .find(|s| s.address == address)
                .map(|s| s.id.clone())
        })
}

/// Whether a server is healthy given the leader's term and index: Raft has a leader
/// with a log, the application sees the server alive, it heard from the leader
/// recently, it is on the leader's term and not too far behind. (Unlike the reference,
/// `last_index + max_trailing_logs` saturates instead of wrapping.) Which rule a
/// server fails is [`unhealthy_because`](super::unhealthy_because).
pub fn is_healthy(
    server: &ServerState,
    leader_term: u64,
    leader_index: u64,
    config: &Config,
) -> bool {
    super::reasons::unhealthy_because(server, leader_term, leader_index, config).is_none()
}

/// Computes the next state: servers from the Raft configuration, enriched with the
/// previous state, the application's records and fresh stats; health and stability;
/// the cluster summary; then the policy's extension data and node types (the stable
/// policy's if `policy` faults: see [`compute_round`] to see the fault).
pub fn compute_state(inputs: &StateInputs, policy: &dyn Policy) -> State {
    compute_round(inputs, policy).0
}

/// [`compute_state`], also returning the round's decisions (the whole round in one
/// policy call, checked against the safety rules) and the policy's fault, if any.
/// No potential-voter verdicts are asked for: a state needs none (pruning asks for
/// them, see `plan_round`).
pub fn compute_round(inputs: &StateInputs, policy: &dyn Policy) -> (State, Consulted<Decisions>) {
    let mut state = build_state(inputs);
    let decided = consult_decide(policy, &inputs.config, &state, &[]);
    annotate(&mut state, &decided.answer);
    (state, decided)
}

/// The state before any policy has annotated it: servers, health, stability, the
/// leader, the voters best first and the failure tolerance.
pub fn build_state(inputs: &StateInputs) -> State {
    let (leader_term, leader_index) = leader_position(inputs);
    // Visit Raft's servers in id order (a stable sort: already sorted costs one
    // comparison each), so the application's records, the stats and the previous
    // state, all maps by id, are read in one forward pass each instead of searched.
    let mut order: Vec<&RaftServer> = inputs.raft_config.servers.iter().collect();
    order.sort_by(|a, b| a.id.cmp(&b.id));
    let mut known = Cursor::new(inputs.known_servers.iter());
    let mut stats = Cursor::new(inputs.fetched_stats.iter());
    let mut previous = Cursor::new(inputs.current_state.iter().flat_map(|s| s.servers.iter()));
    // Filled in id order, so the map needs no sorting; a repeated id (Raft would not
    // list one twice) keeps its last entry, as collecting into a map would.
    let mut entries: Vec<(ServerId, ServerState)> = Vec::with_capacity(order.len());
    for raft in order {
        let sources = Sources {
            known: known.seek(&raft.id),
            stats: stats.seek(&raft.id),
            previous: previous.seek(&raft.id),
        };
        let state = server_state(inputs, raft, &sources, leader_term, leader_index);
        match entries.last_mut() {
            Some(last) if last.0 == raft.id => last.1 = state,
            _ => entries.push((raft.id.clone(), state)),
        }
    }
    let servers = Servers::from_ascending(entries);

    // One pass for the summary: the leader, the voters with what orders them, and
    // the health counts (no lookups by id, so no string comparisons).
    let mut leader = None;
    let mut healthy = true;
    let mut healthy_voters = 0usize;
    let mut voters: Vec<(VoterKey, &ServerId)> = Vec::new();
    for (id, s) in &servers {
        healthy &= s.health.healthy;
        if s.state == RaftState::Leader && leader.is_none() {
            leader = Some(id.clone());
        }
        if s.has_voting_rights() {
            healthy_voters += usize::from(s.health.healthy);
            voters.push((VoterKey::of(s), id));
        }
    }
    // The map iterates in id order, so a stable sort by key leaves equal keys in id
    // order: the reference's order (see `compare_servers`).
    voters.sort_by(|a, b| a.0.cmp(&b.0));
    let required = State::quorum(voters.len());
    let failure_tolerance =
        u32::try_from(healthy_voters.saturating_sub(required)).unwrap_or(u32::MAX);
    let voters = voters.into_iter().map(|(_, id)| id.clone()).collect();
    State {
        healthy,
        failure_tolerance,
        leader,
        voters,
        servers,
        now: inputs.now,
        first_state_time: inputs.first_state_time,
        ..State::default()
    }
}

/// What orders voters before their ids, as
/// [`compare_servers`](super::state::compare_servers) does: leader first, healthy
/// first, then the longest stable (healthy) or the shortest unhealthy.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct VoterKey {
    not_leader: bool,
    unhealthy: bool,
    /// The stability instant, negated for unhealthy servers so that ascending order
    /// puts the most recent first.
    since: (i64, i64),
}

impl VoterKey {
    fn of(s: &ServerState) -> Self {
        let at = s.health.stable_since;
        let (secs, nanos) = (at.timestamp(), i64::from(at.timestamp_subsec_nanos()));
        Self {
            not_leader: s.state != RaftState::Leader,
            unhealthy: !s.health.healthy,
            since: if s.health.healthy {
                (secs, nanos)
            } else {
                (-secs, -nanos)
            },
        }
    }
}

/// The leader's last term and index: ours if we lead, else the leader's fetched stats,
/// else (0, 0), which makes every server unhealthy.
pub(crate) fn leader_position(inputs: &StateInputs) -> (u64, u64) {
    if inputs.is_leader {
        return (inputs.last_term, inputs.latest_index);
    }
    inputs
        .leader_id
        .as_ref()
        .and_then(|id| inputs.fetched_stats.get(id))
        .map_or((0, 0), |s| (s.last_term, s.last_index))
}

/// What is known about one server besides Raft's entry.
struct Sources<'a> {
    known: Option<&'a Server>,
    stats: Option<&'a ServerStats>,
    previous: Option<&'a ServerState>,
}

/// A forward-only lookup in a map by id, for ids asked in ascending order.
struct Cursor<I: Iterator> {
    entries: std::iter::Peekable<I>,
}

impl<'a, V: 'a, I: Iterator<Item = (&'a ServerId, &'a V)>> Cursor<I> {
    fn new(entries: I) -> Self {
        Self {
            entries: entries.peekable(),
        }
    }

    /// The value for `id`, skipping smaller ids (the same id may be asked again).
    fn seek(&mut self, id: &ServerId) -> Option<&'a V> {
        // One comparison per entry looked at (`<` then `==` would be two).
        while let Some((k, v)) = self.entries.peek() {
            match (*k).cmp(id) {
                std::cmp::Ordering::Less => {
                    self.entries.next();
                }
                std::cmp::Ordering::Equal => return Some(*v),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }
}

/// One server's state, built from the least to the most authoritative source.
fn server_state(
    inputs: &StateInputs,
    raft: &RaftServer,
    sources: &Sources<'_>,
    leader_term: u64,
    leader_index: u64,
) -> ServerState {
    let previous = sources.previous;
    // The record: the application's if it knows the server, else the previous
    // state's marked as left, else a bare one. The address always comes from Raft.
    let server = match (sources.known, previous) {
        (Some(known), _) => at_address(known, &raft.address, known.node_status),
        (None, Some(prev)) => at_address(&prev.server, &raft.address, NodeStatus::Left),
        // A bare record, no node type (as the reference builds it).
        (None, None) => Server {
            node_type: NodeType::default(),
            ..Server::new(raft.id.clone(), raft.address.clone(), NodeStatus::Left)
        },
    };
    let mut state = ServerState {
        server,
        state: raft.suffrage.raft_state(),
        stats: previous.map_or_else(ServerStats::default, |p| p.stats),
        health: previous.map_or_else(ServerHealth::default, |p| p.health),
    };

    if inputs.leader_id.as_ref() == Some(&raft.id) {
        state.state = RaftState::Leader;
        state.server.is_leader = true;
    }

    if let Some(stats) = sources.stats {
        state.stats = *stats;
    }

    let healthy = is_healthy(&state, leader_term, leader_index, &inputs.config);
    // Stability restarts when a server is first seen or its health flips. (The
    // reference means this too, but only resets for new servers.)
    if previous.is_none_or(|p| p.health.healthy != healthy) {
        state.health.stable_since = inputs.now;
    }
    state.health.healthy = healthy;
    state
}

/// A copy of `record` at Raft's `address` with `status` (copying the record's own
/// address only to replace it would cost two reference-count updates a server).
fn at_address(record: &Server, address: &Text, status: NodeStatus) -> Server {
    Server {
        id: record.id.clone(),
        name: record.name.clone(),
        address: address.clone(),
        node_status: status,
        version: record.version.clone(),
        meta: record.meta.clone(),
        raft_version: record.raft_version,
        is_leader: record.is_leader,
        node_type: record.node_type.clone(),
        ext: record.ext.clone(),
    }
}
