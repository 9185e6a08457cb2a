//! Property tests of the safety invariants of reconcile and pruning planning, over
//! random clusters and random promoter wishes.

use std::collections::{BTreeMap, BTreeSet};

use autopilot::{
    Action, Config, NodeStatus, NodeType, RaftChanges, RaftConfiguration, RaftServer, RaftState,
    Server, ServerHealth, ServerId, ServerState, ServerStats, State, Suffrage, find_failed_servers,
    plan_prune, plan_reconcile,
};
use proptest::prelude::*;

fn id(i: usize) -> ServerId {
    ServerId::from(format!("s{i:02}"))
}

/// A random state: `n` servers, each with a raft state and health; maybe a leader.
fn arb_state() -> impl Strategy<Value = State> {
    (1usize..9)
        .prop_flat_map(|n| {
            (
                prop::collection::vec((0u8..3, any::<bool>()), n),
                prop::option::of(0..n),
            )
        })
        .prop_map(|(servers, leader)| {
            let mut state = State::default();
            for (i, (role, healthy)) in servers.into_iter().enumerate() {
                let raft_state = if leader == Some(i) {
                    RaftState::Leader
                } else {
                    [RaftState::Voter, RaftState::NonVoter, RaftState::Staging][usize::from(role)]
                };
                state.servers.insert(
                    id(i),
                    ServerState {
                        server: Server::new(id(i), format!("10.0.0.{i}:8300"), NodeStatus::Alive),
                        state: raft_state,
                        stats: ServerStats::default(),
                        health: ServerHealth {
                            healthy,
                            ..ServerHealth::default()
                        },
                    },
                );
            }
            state.leader = leader.map(id);
            state.voters = state
                .servers
                .iter()
                .filter(|(_, s)| s.has_voting_rights())
                .map(|(id, _)| id.clone())
                .collect();
            state
        })
}

/// Random wishes over ids 0..10 (some of which are not in the state).
fn arb_changes() -> impl Strategy<Value = RaftChanges> {
    (
        prop::collection::vec(0usize..10, 0..6),
        prop::collection::vec(0usize..10, 0..6),
        prop::option::of(0usize..10),
    )
        .prop_map(|(p, d, l)| RaftChanges {
            promotions: p.into_iter().map(id).collect(),
            demotions: d.into_iter().map(id).collect(),
            leader: l.map(id),
        })
}

proptest! {
    #[test]
    fn reconcile_never_mixes_kinds_of_change(state in arb_state(), changes in arb_changes()) {
        let Ok(actions) = plan_reconcile(&state, &changes) else {
            return Ok(());
        };
        let promotions = actions.iter().filter(|a| matches!(a, Action::AddVoter { .. })).count();
        let demotions: Vec<&ServerId> = actions
            .iter()
            .filter_map(|a| match a {
                Action::DemoteVoter { id } => Some(id),
                _ => None,
            })
            .collect();
        let transfers = actions
            .iter()
            .filter(|a| matches!(a, Action::LeadershipTransfer { .. }))
            .count();

        // Leadership moves only in a round that changed nothing else.
        if transfers > 0 {
            prop_assert_eq!(actions.len(), 1);
        }
        // Promotions come with at most the one failed-voter demotion, which needs an
        // odd number of voters and an unhealthy server.
        if promotions > 0 {
            prop_assert!(demotions.len() <= 1);
            if let Some(demoted) = demotions.first() {
                prop_assert!(state.voters.len() % 2 == 1);
                prop_assert!(!state.servers[*demoted].health.healthy);
                let demotes_first = matches!(actions[0], Action::DemoteVoter { .. });
                prop_assert!(demotes_first);
            }
        }
        // Nobody is demoted twice, and only servers that vote or stage are demoted.
        let unique: BTreeSet<&&ServerId> = demotions.iter().collect();
        prop_assert_eq!(unique.len(), demotions.len());
        for d in &demotions {
            prop_assert!(state.servers[*d].state != RaftState::NonVoter);
        }
        // Only healthy non-voting servers of the state are promoted, in id order.
        let promoted: Vec<&ServerId> = actions
            .iter()
            .filter_map(|a| match a {
                Action::AddVoter { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        for p in &promoted {
            let s = &state.servers[*p];
            prop_assert!(s.health.healthy && !s.has_voting_rights());
        }
        prop_assert!(promoted.windows(2).all(|w| w[0] < w[1]));
    }
}

/// A random cluster for pruning: Raft servers with suffrage; the application knows
/// some of them, with a status and a node type.
#[derive(Debug, Clone)]
struct PruneCase {
    raft: RaftConfiguration,
    known: BTreeMap<ServerId, Server>,
    min_quorum: u32,
}

fn arb_prune_case() -> impl Strategy<Value = PruneCase> {
    (
        prop::collection::vec((0u8..3, 0u8..5, any::<bool>()), 1..10),
        0u32..6,
    )
        .prop_map(|(servers, min_quorum)| {
            let mut raft = RaftConfiguration::default();
            let mut known = BTreeMap::new();
            for (i, (suffrage, status, voter_type)) in servers.into_iter().enumerate() {
                raft.servers.push(RaftServer {
                    suffrage: [Suffrage::Voter, Suffrage::Nonvoter, Suffrage::Staging]
                        [usize::from(suffrage)],
                    id: id(i),
                    address: format!("10.0.0.{i}:8300").into(),
                });
                // status 4: unknown to the application (stale).
                let status = match status {
                    0 | 1 => NodeStatus::Alive,
                    2 => NodeStatus::Failed,
                    3 => NodeStatus::Left,
                    _ => continue,
                };
                let mut server = Server::new(id(i), format!("10.0.0.{i}:8300"), status);
                server.node_type = if voter_type {
                    NodeType::voter()
                } else {
                    NodeType::from("standby")
                };
                known.insert(id(i), server);
            }
            PruneCase {
                raft,
                known,
                min_quorum,
            }
        })
}

proptest! {
    #[test]
    fn pruning_keeps_min_quorum_and_a_majority(case in arb_prune_case()) {
        let config = Config { min_quorum: case.min_quorum, ..Config::default() };
        let plan = plan_prune(&config, &case.raft, &case.known, &BTreeMap::new(), Clone::clone);
        let (_, registry) = find_failed_servers(&case.raft, &case.known, &BTreeMap::new());

        let initial = registry.potential_voters();
        let potential = |id: &ServerId| registry.eligibility[id].potential_voter;
        let current = |id: &ServerId| registry.eligibility[id].current_voter;

        let categories: [Vec<ServerId>; 4] = [
            plan.stale_non_voters.clone(),
            plan.stale_voters.clone(),
            plan.failed_non_voters.iter().map(|s| s.id.clone()).collect(),
            plan.failed_voters.iter().map(|s| s.id.clone()).collect(),
        ];
        let mut remaining = initial;
        for removed in &categories {
            let before = remaining;
            let potential_removed = removed.iter().filter(|id| potential(id)).count();
            // Never below MinQuorum: a potential voter goes only if at least
            // MinQuorum potential voters remain after it.
            if potential_removed > 0 {
                prop_assert!(before - potential_removed >= case.min_quorum as usize);
            }
            // Never a majority: at most (potential voters - 1) / 2 voters that count
            // toward the quorum go in one category, and no current voter goes when
            // that cap is zero.
            let capped = removed.iter().filter(|id| current(id) && potential(id)).count();
            prop_assert!(capped <= before.saturating_sub(1) / 2);
            if before.saturating_sub(1) / 2 == 0 {
                prop_assert!(removed.iter().all(|id| !current(id)));
            }
            remaining -= potential_removed;
        }
        // Overall: never fewer potential voters than MinQuorum, unless there were
        // fewer to begin with (then none went).
        prop_assert!(remaining >= initial.min(case.min_quorum as usize));

        // Only servers that really are stale or failed are removed, each once.
        let all: Vec<&ServerId> = categories.iter().flatten().collect();
        let unique: BTreeSet<&&ServerId> = all.iter().collect();
        prop_assert_eq!(unique.len(), all.len());
        for id in all {
            let alive = case.known.get(id).is_some_and(|s| s.node_status == NodeStatus::Alive);
            prop_assert!(!alive);
        }
    }

    #[test]
    fn pruning_does_nothing_when_cleanup_is_off(case in arb_prune_case()) {
        let config = Config { cleanup_dead_servers: false, ..Config::default() };
        let plan = plan_prune(&config, &case.raft, &case.known, &BTreeMap::new(), Clone::clone);
        prop_assert!(plan.is_empty());
    }
}

fn arb_action() -> impl Strategy<Value = autopilot::Action> {
    (0u8..5, 0usize..14, 0u8..3).prop_map(|(kind, i, a)| {
        let address = format!("10.0.1.{a}:8300");
        match kind {
            0 => Action::AddVoter { id: id(i), address },
            1 => Action::AddNonvoter { id: id(i), address },
            2 => Action::DemoteVoter { id: id(i) },
            3 => Action::RemoveServer { id: id(i) },
            _ => Action::RemoveFailedServer { id: id(i) },
        }
    })
}

proptest! {
    #[test]
    fn batch_application_matches_one_by_one(
        case in arb_prune_case(),
        actions in prop::collection::vec(arb_action(), 0..40),
    ) {
        let mut one_by_one = case.raft.clone();
        for action in &actions {
            autopilot::apply_action(&mut one_by_one, action);
        }
        let mut batch = case.raft.clone();
        autopilot::apply_actions(&mut batch, &actions);
        prop_assert_eq!(batch, one_by_one);
    }
}

/// Random inputs for a state build: servers in a random Raft order with random
/// suffrage, health inputs, and a previous state with random health and stability
/// instants (some sharing an instant, some a second apart).
fn arb_state_inputs() -> impl Strategy<Value = autopilot::StateInputs> {
    use autopilot::{LastContact, StateInputs, Timestamp};
    use chrono::{DateTime, TimeDelta, Utc};
    (2usize..14)
        .prop_flat_map(|n| {
            (
                prop::collection::vec((0u8..3, any::<bool>(), any::<bool>(), 0i64..4, 0u32..3), n),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                0..n,
            )
        })
        .prop_map(|(servers, order, leader)| {
            let now: Timestamp = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid");
            let mut raft = RaftConfiguration::default();
            let mut known = BTreeMap::new();
            let mut stats = BTreeMap::new();
            let mut previous = State::default();
            for &i in &order {
                let (suffrage, healthy_now, healthy_before, secs, nanos) = servers[i];
                raft.servers.push(RaftServer {
                    suffrage: [Suffrage::Voter, Suffrage::Nonvoter, Suffrage::Staging]
                        [usize::from(suffrage)],
                    id: id(i),
                    address: format!("10.0.0.{i}:8300").as_str().into(),
                });
                let mut server = Server::new(id(i), format!("10.0.0.{i}:8300"), NodeStatus::Alive);
                server.is_leader = i == leader;
                known.insert(id(i), server.clone());
                stats.insert(
                    id(i),
                    ServerStats {
                        last_contact: LastContact(if healthy_now { 0 } else { -1 }),
                        last_term: 3,
                        last_index: 100,
                    },
                );
                previous.servers.insert(
                    id(i),
                    ServerState {
                        server,
                        state: RaftState::Voter,
                        stats: ServerStats::default(),
                        health: ServerHealth {
                            healthy: healthy_before,
                            stable_since: now - TimeDelta::seconds(secs)
                                + TimeDelta::nanoseconds(i64::from(nanos)),
                        },
                    },
                );
            }
            StateInputs {
                now,
                first_state_time: now - TimeDelta::seconds(60),
                config: Config::default(),
                raft_config: raft,
                known_servers: known,
                latest_index: 100,
                last_term: 3,
                is_leader: true,
                fetched_stats: stats,
                leader_id: Some(id(leader)),
                current_state: Some(previous),
            }
        })
}

proptest! {
    /// The state's summary, built in one pass, says what the definitions say: the
    /// voters in `sort_servers` order, the leader, overall health and the failure
    /// tolerance counted from the servers.
    #[test]
    fn state_summary_matches_its_definitions(inputs in arb_state_inputs()) {
        let state = autopilot::build_state(&inputs);
        let mut voters: Vec<ServerId> = state
            .servers
            .iter()
            .filter(|(_, s)| s.has_voting_rights())
            .map(|(id, _)| id.clone())
            .collect();
        let healthy_voters = voters.iter().filter(|id| state.servers[*id].health.healthy).count();
        autopilot::sort_servers(&mut voters, &state);
        prop_assert_eq!(&state.voters, &voters);
        let leader = state
            .servers
            .iter()
            .find(|(_, s)| s.state == RaftState::Leader)
            .map(|(id, _)| id.clone());
        prop_assert_eq!(&state.leader, &leader);
        prop_assert_eq!(state.healthy, state.servers.values().all(|s| s.health.healthy));
        let tolerance = healthy_voters.saturating_sub(State::quorum(voters.len()));
        prop_assert_eq!(state.failure_tolerance as usize, tolerance);
    }
}
