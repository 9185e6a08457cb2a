//! The safety rules every policy's answer must pass before anything is planned,
//! whoever wrote the policy. An answer that breaks one is refused whole (the round
//! falls back to the stable policy), never trimmed into something the policy did not
//! say.

use std::collections::BTreeSet;

use thiserror::Error;

use super::config::Config;
use super::ids::{NodeStatus, RaftState, ServerId};
use super::policy::Decisions;
use super::state::State;

/// A safety rule a policy's answer breaks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SafetyViolation {
    /// The answer demotes the current leader; leadership must be transferred first.
    #[error("it demotes the leader \"{0}\" (leadership must be transferred first)")]
    DemotesLeader(ServerId),
    /// The answer promotes a server that is not a healthy non-voter known to the
    /// application.
    #[error("it promotes \"{id}\", which {why}")]
    PromotesIneligible {
        /// The server.
        id: ServerId,
        /// Why it may not be promoted.
        why: &'static str,
    },
    /// After the answer's promotions and demotions, fewer than `MinQuorum` voters
    /// would remain.
    #[error("after its demotions {remaining} voters would remain, and MinQuorum is {min_quorum}")]
    BelowMinQuorum {
        /// Voters left.
        remaining: usize,
        /// The configured minimum.
        min_quorum: u32,
    },
    /// After the answer's promotions and demotions, the healthy voters would not be a
    /// majority of the voters.
    #[error(
        "after its demotions {healthy} of the {remaining} remaining voters would be healthy, not a majority"
    )]
    NoHealthyMajority {
        /// Healthy voters left.
        healthy: usize,
        /// Voters left.
        remaining: usize,
    },
    /// The answer hands leadership to a server that is not a healthy voter.
    #[error("it hands leadership to \"{id}\", which {why}")]
    IneligibleLeader {
        /// The server.
        id: ServerId,
        /// Why it may not lead.
        why: &'static str,
    },
}

/// Checks a policy's decisions against the rules:
///
/// 1. the leader is never demoted (a leadership transfer comes first);
/// 2. only a healthy non-voter (or staging server) that the application sees alive is
///    promoted;
/// 3. if the answer demotes any voter, the voters left afterwards (promotions
///    counted) are at least `MinQuorum`, and the healthy ones among them are a
///    majority of them;
/// 4. leadership goes only to a healthy voter.
///
/// Demoting a server that does not vote is harmless and not checked.
pub fn check_decisions(
    config: &Config,
    state: &State,
    decisions: &Decisions,
) -> Result<(), SafetyViolation> {
    let changes = &decisions.changes;
    if changes.promotions.is_empty() && changes.demotions.is_empty() && changes.leader.is_none() {
        // Nothing to check: the usual round.
        return Ok(());
    }
    if let Some(leader) = &state.leader
        && changes.demotions.contains(leader)
    {
        return Err(SafetyViolation::DemotesLeader(leader.clone()));
    }
    // Promotions usually come in id order, like the servers: walk both in step then,
    // instead of searching the map for each.
    let mut servers = state.servers.iter().peekable();
    let mut in_order = true;
    let mut previous: Option<&ServerId> = None;
    for id in &changes.promotions {
        in_order &= previous.is_none_or(|p| p < id);
        previous = Some(id);
        let server = if in_order {
            while servers.next_if(|(k, _)| *k < id).is_some() {}
            servers.peek().filter(|(k, _)| *k == id).map(|(_, s)| *s)
        } else {
            state.servers.get(id)
        };
        let why = match server {
            None => Some("is not in the Raft configuration"),
            Some(s) if s.has_voting_rights() => Some("already votes"),
            Some(s) if s.server.node_status != NodeStatus::Alive => {
                Some("the application does not see alive")
            }
            Some(s) if !s.health.healthy => Some("is not healthy"),
            Some(s) if s.state == RaftState::None => Some("has no Raft role"),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(SafetyViolation::PromotesIneligible {
                id: id.clone(),
                why,
            });
        }
    }
    let demoted: BTreeSet<&ServerId> = changes
        .demotions
        .iter()
        .filter(|id| {
            state
                .servers
                .get(*id)
                .is_some_and(|s| s.has_voting_rights())
        })
        .collect();
    if !demoted.is_empty() {
        let remaining: BTreeSet<&ServerId> = state
            .voters
            .iter()
            .filter(|id| !demoted.contains(id))
            .chain(&changes.promotions)
            .collect();
        let healthy = remaining
            .iter()
            .filter(|id| state.servers.get(**id).is_some_and(|s| s.health.healthy))
            .count();
        let min_quorum = config.min_quorum;
        if remaining.len() < min_quorum as usize {
            return Err(SafetyViolation::BelowMinQuorum {
                remaining: remaining.len(),
                min_quorum,
            });
        }
        if healthy < State::quorum(remaining.len()) {
            return Err(SafetyViolation::NoHealthyMajority {
                healthy,
                remaining: remaining.len(),
            });
        }
    }
    if let Some(id) = &changes.leader
        && state.leader.as_ref() != Some(id)
    {
        let why = match state.servers.get(id) {
            None => Some("is not in the Raft configuration"),
            Some(s) if !s.has_voting_rights() => Some("does not vote"),
            Some(s) if !s.health.healthy => Some("is not healthy"),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(SafetyViolation::IneligibleLeader {
                id: id.clone(),
                why,
            });
        }
    }
    Ok(())
}
