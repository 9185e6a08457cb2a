//! Planning dead-server pruning: categorise, let the promoter filter, adjudicate each
//! category against MinQuorum and the majority cap.

use std::collections::BTreeMap;

use super::action::Action;
use super::changes::FailedServers;
use super::config::Config;
use super::ids::{NodeStatus, NodeType, ServerId, Suffrage};
use super::promoter::Promoter;
use super::server::{RaftConfiguration, Server};
use super::state::State;

/// Whether a Raft server votes now, and whether its node type makes it a voter-to-be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Eligibility {
    /// Suffrage `voter` in the Raft configuration (staging does not count).
    pub current_voter: bool,
    /// The promoter's verdict on the application's node type for it.
    pub potential_voter: bool,
}

/// Every Raft server's eligibility, shrinking as pruning removes servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoterRegistry {
    /// Eligibility by id.
    pub eligibility: BTreeMap<ServerId, Eligibility>,
}

impl VoterRegistry {
    /// How many potential voters remain.
    pub fn potential_voters(&self) -> usize {
        self.eligibility
            .values()
            .filter(|e| e.potential_voter)
            .count()
    }

    fn remove(&mut self, ids: &[ServerId]) {
        for id in ids {
            self.eligibility.remove(id);
        }
    }
}

/// Finds the failed and stale servers, each category sorted by id, and the registry.
///
/// Failed: known to the application, in Raft, and not `alive`. Stale: in Raft and
/// unknown to the application.
pub fn find_failed_servers(
    raft_config: &RaftConfiguration,
    known_servers: &BTreeMap<ServerId, Server>,
    promoter: &dyn Promoter,
) -> (FailedServers, VoterRegistry) {
    let mut failed = FailedServers::default();
    let mut registry = VoterRegistry::default();
    // One batch of verdicts for the distinct node types the application reports.
    let mut node_types: Vec<&NodeType> = raft_config
        .servers
        .iter()
        .filter_map(|s| known_servers.get(&s.id).map(|k| &k.node_type))
        .collect();
    node_types.sort();
    node_types.dedup();
    let verdicts: BTreeMap<&NodeType, bool> = node_types
        .iter()
        .copied()
        .zip(promoter.potential_voters(&node_types))
        .collect();
    for raft in &raft_config.servers {
        let current_voter = raft.suffrage == Suffrage::Voter;
        let known = known_servers.get(&raft.id);
        let potential_voter =
            known.is_some_and(|k| verdicts.get(&k.node_type).copied().unwrap_or(false));
        registry.eligibility.insert(
            raft.id.clone(),
            Eligibility {
                current_voter,
                potential_voter,
            },
        );
        match known {
            None if current_voter => failed.stale_voters.push(raft.id.clone()),
            None => failed.stale_non_voters.push(raft.id.clone()),
            Some(k) if k.node_status != NodeStatus::Alive => {
                if current_voter {
                    failed.failed_voters.push(k.clone());
                } else {
                    failed.failed_non_voters.push(k.clone());
                }
            }
            Some(_) => {}
        }
    }
    failed.stale_voters.sort();
    failed.stale_non_voters.sort();
    failed.failed_voters.sort_by(|a, b| a.id.cmp(&b.id));
    failed.failed_non_voters.sort_by(|a, b| a.id.cmp(&b.id));
    (failed, registry)
}

/// Decides which of `ids` may go, in order. A potential voter stays if removing it
/// would leave fewer than `min_quorum` potential voters; a current voter stays once
/// `(potential voters - 1) / 2` potential voters have gone in this category. Ids not in
/// the registry are skipped (the reference would crash on them).
pub fn adjudicate_removal(
    ids: &[ServerId],
    registry: &VoterRegistry,
    min_quorum: u32,
) -> Vec<ServerId> {
    let initial = i64::try_from(registry.potential_voters()).unwrap_or(i64::MAX);
    let min_quorum = i64::from(min_quorum);
    // Truncating division, as in the reference: an empty registry gives 0, not -1.
    let mut max_removal = (initial - 1) / 2;
    let mut removed = 0i64;
    let mut result = Vec::new();
    for id in ids {
        let Some(e) = registry.eligibility.get(id) else {
            continue;
        };
        if e.potential_voter && initial - removed - 1 < min_quorum {
            continue;
        }
        if e.current_voter && max_removal < 1 {
            continue;
        }
        if e.potential_voter {
            max_removal -= 1;
            removed += 1;
        }
        result.push(id.clone());
    }
    result
}

/// What one pruning pass removes, by category, in execution order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrunePlan {
    /// Stale non-voters to remove from Raft.
    pub stale_non_voters: Vec<ServerId>,
    /// Stale voters to remove from Raft.
    pub stale_voters: Vec<ServerId>,
    /// Failed non-voters the application is asked to remove.
    pub failed_non_voters: Vec<Server>,
    /// Failed voters the application is asked to remove.
    pub failed_voters: Vec<Server>,
}

impl PrunePlan {
    /// The plan as actions: Raft removals of stale servers, then application removals
    /// of failed ones.
    pub fn actions(&self) -> Vec<Action> {
        let stale = self
            .stale_non_voters
            .iter()
            .chain(&self.stale_voters)
            .map(|id| Action::RemoveServer { id: id.clone() });
        let failed = self
            .failed_non_voters
            .iter()
            .chain(&self.failed_voters)
            .map(|s| Action::RemoveFailedServer { id: s.id.clone() });
        stale.chain(failed).collect()
    }

    /// Nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.stale_non_voters.is_empty()
            && self.stale_voters.is_empty()
            && self.failed_non_voters.is_empty()
            && self.failed_voters.is_empty()
    }
}

/// Plans one pruning pass over a fresh Raft configuration and fresh known servers.
/// Returns an empty plan unless `cleanup_dead_servers` is set. Every removal is
/// assumed to succeed; the shell stops after a failed stale-server removal.
pub fn plan_prune(
    config: &Config,
    raft_config: &RaftConfiguration,
    known_servers: &BTreeMap<ServerId, Server>,
    state: &State,
    promoter: &dyn Promoter,
) -> PrunePlan {
    if !config.cleanup_dead_servers {
        return PrunePlan::default();
    }
    let (failed, mut registry) = find_failed_servers(raft_config, known_servers, promoter);
    // The policy is asked only when there is something to remove.
    if failed.is_empty() {
        return PrunePlan::default();
    }
    let failed = promoter.filter_failed_server_removals(config, state, failed);
    // Categories in order of increasing risk; each sees the registry without the
    // servers the previous ones removed.
    let stale_non_voters =
        adjudicate_removal(&failed.stale_non_voters, &registry, config.min_quorum);
    registry.remove(&stale_non_voters);
    let stale_voters = adjudicate_removal(&failed.stale_voters, &registry, config.min_quorum);
    registry.remove(&stale_voters);
    let failed_non_voters = adjudicate_failed(&failed.failed_non_voters, &mut registry, config);
    let failed_voters = adjudicate_failed(&failed.failed_voters, &mut registry, config);
    PrunePlan {
        stale_non_voters,
        stale_voters,
        failed_non_voters,
        failed_voters,
    }
}

/// Adjudicates one category of failed servers (those still in the registry) and takes
/// the removed ones out of the registry.
fn adjudicate_failed(
    servers: &[Server],
    registry: &mut VoterRegistry,
    config: &Config,
) -> Vec<Server> {
    let candidates: Vec<ServerId> = servers
        .iter()
        .filter(|s| registry.eligibility.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    let removed = adjudicate_removal(&candidates, registry, config.min_quorum);
    registry.remove(&removed);
    removed
        .iter()
        .filter_map(|id| servers.iter().find(|s| &s.id == id).cloned())
        .collect()
}
