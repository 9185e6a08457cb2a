//! Planning dead-server pruning: categorise, let the policy filter, adjudicate each
//! category against MinQuorum and the majority cap.

use std::collections::BTreeMap;

use super::action::Action;
use super::changes::FailedServers;
use super::config::Config;
use super::ids::{NodeStatus, NodeType, ServerId, Suffrage};
use super::policy::stable_potential_voter;
use super::reasons::Kept;
use super::server::{RaftConfiguration, Server};

/// Whether a Raft server votes now, and whether its node type makes it a voter-to-be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Eligibility {
    /// Suffrage `voter` in the Raft configuration (staging does not count).
    pub current_voter: bool,
    /// The policy's verdict on the application's node type for it.
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

/// The node types pruning judges: those the application gives the servers in the Raft
/// configuration (distinct, sorted). A round asks its policy for verdicts on these.
pub fn prune_node_types(
    raft_config: &RaftConfiguration,
    known_servers: &BTreeMap<ServerId, Server>,
) -> Vec<NodeType> {
    let mut node_types: Vec<NodeType> = raft_config
        .servers
        .iter()
        .filter_map(|s| known_servers.get(&s.id).map(|k| k.node_type.clone()))
        .collect();
    node_types.sort();
    node_types.dedup();
    node_types
}

/// Finds the failed and stale servers, each category sorted by id, and the registry.
///
/// Failed: known to the application, in Raft, and not `alive`. Stale: in Raft and
/// unknown to the application. `verdicts` are the round's potential-voter verdicts by
/// node type; a type without one is judged as the stable policy would.
pub fn find_failed_servers(
    raft_config: &RaftConfiguration,
    known_servers: &BTreeMap<ServerId, Server>,
    verdicts: &BTreeMap<NodeType, bool>,
) -> (FailedServers, VoterRegistry) {
    let mut failed = FailedServers::default();
    let mut registry = VoterRegistry::default();
    for raft in &raft_config.servers {
        let current_voter = raft.suffrage == Suffrage::Voter;
        let known = known_servers.get(&raft.id);
        let potential_voter = known.is_some_and(|k| {
            verdicts
                .get(&k.node_type)
                .copied()
                .unwrap_or_else(|| stable_potential_voter(&k.node_type))
        });
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
    adjudicate(ids, registry, min_quorum, &mut BTreeMap::new())
}

/// [`adjudicate_removal`], recording in `kept` why each id that stays stays.
fn adjudicate(
    ids: &[ServerId],
    registry: &VoterRegistry,
    min_quorum: u32,
    kept: &mut BTreeMap<ServerId, Kept>,
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
            let left = u64::try_from(initial - removed - 1).unwrap_or(0);
            kept.insert(
                id.clone(),
                Kept::MinQuorum {
                    left,
                    min_quorum: u32::try_from(min_quorum).unwrap_or(u32::MAX),
                },
            );
            continue;
        }
        if e.current_voter && max_removal < 1 {
            let cap = u64::try_from((initial - 1) / 2).unwrap_or(0);
            kept.insert(id.clone(), Kept::MajorityCap { cap });
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

/// The failed and stale servers one pruning pass could remove, with the voter
/// registry they are judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneCandidates {
    /// The candidates, by category: what the policy is asked to filter.
    pub failed: FailedServers,
    registry: VoterRegistry,
}

/// The candidates of one pruning pass over a fresh Raft configuration and fresh known
/// servers; `None` when `cleanup_dead_servers` is off or nothing is failed or stale
/// (so the policy need not be asked). `verdicts` are the round's potential-voter
/// verdicts.
pub fn prune_candidates(
    config: &Config,
    raft_config: &RaftConfiguration,
    known_servers: &BTreeMap<ServerId, Server>,
    verdicts: &BTreeMap<NodeType, bool>,
) -> Option<PruneCandidates> {
    if !config.cleanup_dead_servers {
        return None;
    }
    let (failed, registry) = find_failed_servers(raft_config, known_servers, verdicts);
    (!failed.is_empty()).then_some(PruneCandidates { failed, registry })
}

impl PruneCandidates {
    /// Whether the candidate's node type (the application's) is a potential voter under
    /// the round's verdicts (`false` for ids that are not in the Raft configuration).
    pub fn is_potential_voter(&self, id: &ServerId) -> bool {
        self.registry
            .eligibility
            .get(id)
            .is_some_and(|e| e.potential_voter)
    }

    /// Adjudicates the removals the policy `allowed` (a subset of the candidates; ids
    /// that are not candidates are skipped) against MinQuorum and the majority cap.
    pub fn plan(self, config: &Config, allowed: &FailedServers) -> PrunePlan {
        self.plan_explained(config, allowed).0
    }

    /// [`plan`](Self::plan), with why each candidate that stays stays: not allowed by
    /// the policy, `MinQuorum`, the majority cap, or (a failed voter) a node type that
    /// is not a potential voter.
    pub fn plan_explained(
        self,
        config: &Config,
        allowed: &FailedServers,
    ) -> (PrunePlan, BTreeMap<ServerId, Kept>) {
        let mut kept = BTreeMap::new();
        let mut registry = self.registry;
        // Categories in order of increasing risk; each sees the registry without the
        // servers the previous ones removed.
        let stale_non_voters = adjudicate(
            &allowed.stale_non_voters,
            &registry,
            config.min_quorum,
            &mut kept,
        );
        registry.remove(&stale_non_voters);
        let stale_voters = adjudicate(
            &allowed.stale_voters,
            &registry,
            config.min_quorum,
            &mut kept,
        );
        registry.remove(&stale_voters);
        let failed_non_voters =
            adjudicate_failed(&allowed.failed_non_voters, &mut registry, config, &mut kept);
        let failed_voters =
            adjudicate_failed(&allowed.failed_voters, &mut registry, config, &mut kept);
        let offered = self
            .failed
            .stale_non_voters
            .iter()
            .chain(&self.failed.stale_voters)
            .cloned()
            .chain(
                self.failed
                    .failed_non_voters
                    .iter()
                    .chain(&self.failed.failed_voters)
                    .map(|s| s.id.clone()),
            );
        for id in offered {
            let allowed = allowed.stale_non_voters.contains(&id)
                || allowed.stale_voters.contains(&id)
                || allowed.failed_non_voters.iter().any(|s| s.id == id)
                || allowed.failed_voters.iter().any(|s| s.id == id);
            if !allowed {
                kept.insert(id, Kept::NotAllowed);
            }
        }
        // A failed voter kept by the cap while nothing it counts for can vote: the
        // node type is the cause worth naming.
        for server in &self.failed.failed_voters {
            if let Some(why @ Kept::MajorityCap { .. }) = kept.get_mut(&server.id)
                && !registry
                    .eligibility
                    .get(&server.id)
                    .is_some_and(|e| e.potential_voter)
            {
                *why = Kept::NotPotentialVoter(server.node_type.clone());
            }
        }
        let plan = PrunePlan {
            stale_non_voters,
            stale_voters,
            failed_non_voters,
            failed_voters,
        };
        (plan, kept)
    }
}

/// Plans one pruning pass: [`prune_candidates`], `filter` (the policy's choice among
/// them, asked only when there are any; see [`consult_filter`](super::consult_filter)),
/// then [`PruneCandidates::plan`]. Every removal is assumed to succeed; the shell stops
/// after a failed stale-server removal.
pub fn plan_prune(
    config: &Config,
    raft_config: &RaftConfiguration,
    known_servers: &BTreeMap<ServerId, Server>,
    verdicts: &BTreeMap<NodeType, bool>,
    filter: impl FnOnce(&FailedServers) -> FailedServers,
) -> PrunePlan {
    match prune_candidates(config, raft_config, known_servers, verdicts) {
        Some(candidates) => {
            let allowed = filter(&candidates.failed);
            candidates.plan(config, &allowed)
        }
        None => PrunePlan::default(),
    }
}

/// Adjudicates one category of failed servers (those still in the registry) and takes
/// the removed ones out of the registry.
fn adjudicate_failed(
    servers: &[Server],
    registry: &mut VoterRegistry,
    config: &Config,
    kept: &mut BTreeMap<ServerId, Kept>,
) -> Vec<Server> {
    let candidates: Vec<ServerId> = servers
        .iter()
        .filter(|s| registry.eligibility.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    let removed = adjudicate(&candidates, registry, config.min_quorum, kept);
    registry.remove(&removed);
    removed
        .iter()
        .filter_map(|id| servers.iter().find(|s| &s.id == id).cloned())
        .collect()
}
