//! Why autopilot does, or does not do, something to each server in a round: the
//! answer the reference never gives an operator ("why is this server not promoted?").
//! Pure functions of the round's inputs, state, actions and pruning verdicts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::action::Action;
use super::compute::{StateInputs, leader_position};
use super::config::Config;
use super::ids::{NodeStatus, NodeType, RaftState, ServerId};
use super::server::ServerState;
use super::state::State;
use super::time::human_duration;

/// Why a server is unhealthy (the first rule it fails, in the order they are checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    /// Raft has no leader with a log to measure against.
    NoLeader,
    /// The application does not see it alive.
    NotAlive(NodeStatus),
    /// No contact with the leader known yet (no stats).
    NoContact,
    /// The leader last heard from it longer ago than the threshold.
    LastContact {
        /// How long ago.
        contact: Duration,
        /// `LastContactThreshold`.
        threshold: Duration,
    },
    /// It is on another term than the leader.
    Term {
        /// Its term.
        term: u64,
        /// The leader's.
        leader_term: u64,
    },
    /// Its log trails the leader's by more than allowed.
    Behind {
        /// Entries behind the leader.
        entries: u64,
        /// `MaxTrailingLogs`.
        limit: u64,
    },
}

/// Why a failed or stale server stays this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The policy did not allow removing it.
    NotAllowed,
    /// Removing it would leave fewer potential voters than `MinQuorum`.
    MinQuorum {
        /// Potential voters that would be left.
        left: u64,
        /// `MinQuorum`.
        min_quorum: u32,
    },
    /// At most `(potential voters - 1) / 2` voters go in one pass, and that many
    /// already do (or none may).
    MajorityCap {
        /// The most that may go in this pass.
        cap: u64,
    },
    /// A failed voter whose node type (as the application reports it) the policy does
    /// not call a potential voter, so pruning does not count it towards a quorum.
    NotPotentialVoter(NodeType),
}

/// Why autopilot does, or does not do, something to one server this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Promoted to voter this round.
    Promoted,
    /// Demoted to non-voter this round.
    Demoted,
    /// Leadership is handed to it this round.
    GetsLeadership,
    /// Removed from Raft: in the configuration but unknown to the application.
    RemovedStale,
    /// Removed through the application: it has failed.
    RemovedFailed,
    /// Failed or stale, and kept.
    Kept(Kept),
    /// Not healthy, so not promoted (and counted against failure tolerance if it
    /// votes).
    Unhealthy(Unhealthy),
    /// A healthy non-voter that has not been stable long enough to be promoted.
    Waiting {
        /// How long it has been healthy.
        stable_for: Duration,
        /// How long it must be (the stabilization time in force).
        needed: Duration,
    },
    /// A healthy, stable non-voter the policy did not promote this round.
    NotPromoted,
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoLeader => f.write_str("no leader to measure against"),
            Self::NotAlive(status) => write!(f, "the application sees it {status}"),
            Self::NoContact => f.write_str("no contact with the leader yet"),
            Self::LastContact { contact, threshold } => write!(
                f,
                "last contact {} over the {} threshold",
                human_duration(*contact),
                human_duration(*threshold)
            ),
            Self::Term { term, leader_term } => {
                write!(f, "on term {term}, the leader is on {leader_term}")
            }
            Self::Behind { entries, limit } => {
                write!(f, "{entries} entries behind (limit {limit})")
            }
        }
    }
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAllowed => f.write_str("the policy did not allow removing it"),
            Self::MinQuorum { left, min_quorum } => write!(
                f,
                "removing it would leave {left} potential voters, MinQuorum is {min_quorum}"
            ),
            Self::MajorityCap { cap } => write!(
                f,
                "at most {cap} {} may be removed at once without risking the quorum",
                if *cap == 1 { "voter" } else { "voters" }
            ),
            Self::NotPotentialVoter(node_type) => write!(
                f,
                "its node type {:?} is not a potential voter under the policy",
                node_type.as_str()
            ),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Promoted => f.write_str("promoted"),
            Self::Demoted => f.write_str("demoted"),
            Self::GetsLeadership => f.write_str("leadership is transferred to it"),
            Self::RemovedStale => f.write_str("removed: in Raft but unknown to the application"),
            Self::RemovedFailed => f.write_str("removed: failed"),
            Self::Kept(kept) => write!(f, "kept: {kept}"),
            Self::Unhealthy(why) => write!(f, "unhealthy: {why}"),
            Self::Waiting { stable_for, needed } => write!(
                f,
                "waiting: stable for {} of {}",
                human_duration(*stable_for),
                human_duration(*needed)
            ),
            Self::NotPromoted => f.write_str("stable; the policy did not promote it this round"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why `server` is unhealthy, or `None` when it is healthy: the rules of
/// [`is_healthy`](super::is_healthy), which is this returning `None`.
pub fn unhealthy_because(
    server: &ServerState,
    leader_term: u64,
    leader_index: u64,
    config: &Config,
) -> Option<Unhealthy> {
    if leader_index == 0 || leader_term == 0 {
        return Some(Unhealthy::NoLeader);
    }
    if server.server.node_status != NodeStatus::Alive {
        return Some(Unhealthy::NotAlive(server.server.node_status));
    }
    match server.stats.last_contact.as_duration() {
        Some(contact) if contact <= config.last_contact_threshold => {}
        Some(contact) => {
            return Some(Unhealthy::LastContact {
                contact,
                threshold: config.last_contact_threshold,
            });
        }
        None => return Some(Unhealthy::NoContact),
    }
    if server.stats.last_term != leader_term {
        return Some(Unhealthy::Term {
            term: server.stats.last_term,
            leader_term,
        });
    }
    if server
        .stats
        .last_index
        .saturating_add(config.max_trailing_logs)
        < leader_index
    {
        return Some(Unhealthy::Behind {
            entries: leader_index - server.stats.last_index,
            limit: config.max_trailing_logs,
        });
    }
    None
}

/// Each server's reason this round, for those that have one (a healthy voter left
/// alone has none). `actions` are the round's, in order; `kept` the pruning pass's
/// verdicts on the failed and stale servers it keeps
/// ([`PruneCandidates::plan_explained`](super::PruneCandidates::plan_explained)).
/// What happens to a server this round comes first, then why it is kept, then why it
/// is unhealthy, then why a non-voter waits.
pub fn explain(
    inputs: &StateInputs,
    state: &State,
    actions: &[Action],
    kept: &BTreeMap<ServerId, Kept>,
) -> BTreeMap<ServerId, Reason> {
    let config = &inputs.config;
    let (leader_term, leader_index) = leader_position(inputs);
    let mut reasons = BTreeMap::new();
    for action in actions {
        let reason = match action {
            Action::AddVoter { .. } => Reason::Promoted,
            Action::DemoteVoter { .. } => Reason::Demoted,
            Action::LeadershipTransfer { .. } => Reason::GetsLeadership,
            Action::RemoveServer { .. } => Reason::RemovedStale,
            Action::RemoveFailedServer { .. } => Reason::RemovedFailed,
            Action::AddNonvoter { .. } => continue,
        };
        // A demotion before a removal, say: the later action is the outcome.
        reasons.insert(action.id().clone(), reason);
    }
    for (id, why) in kept {
        reasons
            .entry(id.clone())
            .or_insert_with(|| Reason::Kept(why.clone()));
    }
    health_reasons(config, state, leader_term, leader_index, &mut reasons);
    reasons
}

/// Each server's reason from a state alone, between rounds (no actions): which health
/// rule it fails, or how long a non-voter has been stable. The leader's position is
/// its own figures in the state.
pub fn explain_state(config: &Config, state: &State) -> BTreeMap<ServerId, Reason> {
    let (leader_term, leader_index) = state
        .leader
        .as_ref()
        .and_then(|id| state.servers.get(id))
        .map_or((0, 0), |l| (l.stats.last_term, l.stats.last_index));
    let mut reasons = BTreeMap::new();
    health_reasons(config, state, leader_term, leader_index, &mut reasons);
    reasons
}

/// Adds the health and stability reasons of the servers that have none yet.
fn health_reasons(
    config: &Config,
    state: &State,
    leader_term: u64,
    leader_index: u64,
    reasons: &mut BTreeMap<ServerId, Reason>,
) {
    let needed = state.effective_stabilization(config);
    for (id, server) in &state.servers {
        if reasons.contains_key(id) {
            continue;
        }
        if let Some(why) = unhealthy_because(server, leader_term, leader_index, config) {
            reasons.insert(id.clone(), Reason::Unhealthy(why));
        } else if server.state == RaftState::NonVoter {
            let stable_for = (state.now - server.health.stable_since)
                .to_std()
                .unwrap_or_default();
            let reason = if state.is_stable(id, config) {
                Reason::NotPromoted
            } else {
                Reason::Waiting { stable_for, needed }
            };
            reasons.insert(id.clone(), reason);
        }
    }
}
