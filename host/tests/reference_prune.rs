//! Pins dead-server pruning: how `find_failed_servers` categorises stale and failed
//! servers, and exactly which of them `plan_prune` removes (per category, and as the
//! ordered action list) under MinQuorum and the majority cap.
//!
//! Cases ported from hashicorp/raft-autopilot (MPL-2.0), reconcile_test.go;
//! expectations rewritten as action lists.

use std::collections::BTreeMap;

use autopilot::{
    Action, Config, FailedServers, NodeStatus, NodeType, PrunePlan, RaftConfiguration, RaftServer,
    RaftState, Server, ServerId, ServerState, StablePolicy, State, Suffrage, consult_filter,
    find_failed_servers, plan_prune,
};

/// The reference test's configuration: cleanup on, at least three potential voters.
fn config() -> Config {
    Config {
        cleanup_dead_servers: true,
        min_quorum: 3,
        ..Config::default()
    }
}

fn raft_server(suffrage: Suffrage, id: &str, address: &str) -> RaftServer {
    RaftServer {
        suffrage,
        id: ServerId::from(id),
        address: address.into(),
    }
}

fn raft_config(servers: Vec<RaftServer>) -> RaftConfiguration {
    RaftConfiguration { servers }
}

/// A server the application knows, of node type `voter`.
fn known(id: &str, name: &str, address: &str, status: NodeStatus) -> Server {
    let mut server = Server::new(id, address, status);
    server.name = name.into();
    server.node_type = NodeType::voter();
    server
}

fn known_map(servers: &[Server]) -> BTreeMap<ServerId, Server> {
    servers.iter().map(|s| (s.id.clone(), s.clone())).collect()
}

/// The autopilot state handed to the policy's filter (no leader, as in the fixtures).
fn state(servers: &[(Server, RaftState)]) -> State {
    State {
        servers: servers
            .iter()
            .map(|(server, role)| {
                let entry = ServerState {
                    server: server.clone(),
                    state: *role,
                    stats: Default::default(),
                    health: Default::default(),
                };
                (server.id.clone(), entry)
            })
            .collect(),
        ..State::default()
    }
}

fn ids(list: &[&str]) -> Vec<ServerId> {
    list.iter().copied().map(ServerId::from).collect()
}

fn remove(id: &str) -> Action {
    Action::RemoveServer { id: id.into() }
}

fn remove_failed(id: &str) -> Action {
    Action::RemoveFailedServer { id: id.into() }
}

struct Case {
    raft_config: RaftConfiguration,
    known: BTreeMap<ServerId, Server>,
    state: State,
    expected_failed: FailedServers,
    expected_plan: PrunePlan,
    expected_actions: Vec<Action>,
}

fn check(case: &Case) {
    let (failed, _registry) = find_failed_servers(&case.raft_config, &case.known, &BTreeMap::new());
    assert_eq!(failed, case.expected_failed, "failed/stale categories");

    let plan = plan_prune(
        &config(),
        &case.raft_config,
        &case.known,
        &BTreeMap::new(),
        |failed| consult_filter(&StablePolicy, &config(), &case.state, failed).answer,
    );
    assert_eq!(plan, case.expected_plan, "prune plan");
    assert_eq!(plan.actions(), case.expected_actions, "prune actions");
}

// Ids shared by the two seven-server cases.
const ALIVE_1: &str = "51b2d56e-816e-409a-8b8e-afef2cf49663";
const NODE_2: &str = "51fb4248-be6a-43e5-b47f-c089818e2010";
const ALIVE_7: &str = "a227f9a9-f55e-4321-b959-5afdcc63c6d4";
const FAILED_VOTER_3: &str = "3857f1d4-5c23-4016-9078-fee502c0d1be";
const STALE_NON_VOTER_4: &str = "db877f23-3e0a-4107-8ed8-bd7c3d710944";
const STALE_VOTER_5: &str = "0aacc844-1d0a-4ba7-bbc2-bd88d51cb231";
const FAILED_NON_VOTER_6: &str = "8830c599-04cc-4b28-9b75-173355d49ab1";

/// Five voters and two non-voters; 4 and 5 are unknown to the application.
fn seven_server_raft_config() -> RaftConfiguration {
    raft_config(vec![
        raft_server(Suffrage::Voter, ALIVE_1, "198.18.0.1:8300"),
        raft_server(Suffrage::Voter, NODE_2, "198.18.0.2:8300"),
        raft_server(Suffrage::Voter, ALIVE_7, "198.18.0.7:8300"),
        raft_server(Suffrage::Voter, FAILED_VOTER_3, "198.18.0.3:8300"),
        raft_server(Suffrage::Nonvoter, STALE_NON_VOTER_4, "198.18.0.4:8300"),
        raft_server(Suffrage::Voter, STALE_VOTER_5, "198.18.0.5:8300"),
        raft_server(Suffrage::Nonvoter, FAILED_NON_VOTER_6, "198.18.0.6:8300"),
    ])
}

/// The application's view of the seven-server cluster, with node 2 in `node2_status`.
fn seven_server_known(node2_status: NodeStatus) -> Vec<Server> {
    vec![
        known(ALIVE_1, "node1", "198.18.0.1:8300", NodeStatus::Alive),
        known(NODE_2, "node2", "198.18.0.2:8300", node2_status),
        known(ALIVE_7, "node7", "198.18.0.7:8300", NodeStatus::Alive),
        known(
            FAILED_VOTER_3,
            "node3",
            "198.18.0.3:8300",
            NodeStatus::Failed,
        ),
        known(
            FAILED_NON_VOTER_6,
            "node6",
            "198.18.0.6:8300",
            NodeStatus::Failed,
        ),
    ]
}

#[test]
fn removes_one_server_of_each_category() {
    let servers = seven_server_known(NodeStatus::Alive);
    let [node1, node2, node7, node3, node6] =
        <[Server; 5]>::try_from(servers.clone()).expect("five fixture servers");
    let case = Case {
        raft_config: seven_server_raft_config(),
        known: known_map(&servers),
        state: state(&[
            (node1, RaftState::None),
            (node2, RaftState::None),
            (node7, RaftState::None),
            (node3.clone(), RaftState::None),
            (node6.clone(), RaftState::None),
        ]),
        expected_failed: FailedServers {
            stale_non_voters: ids(&[STALE_NON_VOTER_4]),
            stale_voters: ids(&[STALE_VOTER_5]),
            failed_non_voters: vec![node6.clone()],
            failed_voters: vec![node3.clone()],
        },
        expected_plan: PrunePlan {
            stale_non_voters: ids(&[STALE_NON_VOTER_4]),
            stale_voters: ids(&[STALE_VOTER_5]),
            failed_non_voters: vec![node6],
            failed_voters: vec![node3],
        },
        expected_actions: vec![
            remove(STALE_NON_VOTER_4),
            remove(STALE_VOTER_5),
            remove_failed(FAILED_NON_VOTER_6),
            remove_failed(FAILED_VOTER_3),
        ],
    };
    check(&case);
}

#[test]
fn keeps_a_second_failed_voter_that_would_break_min_quorum() {
    let servers = seven_server_known(NodeStatus::Failed);
    let [node1, node2, node7, node3, node6] =
        <[Server; 5]>::try_from(servers.clone()).expect("five fixture servers");
    let case = Case {
        raft_config: seven_server_raft_config(),
        known: known_map(&servers),
        state: state(&[
            (node1, RaftState::Leader),
            (node2.clone(), RaftState::Voter),
            (node7, RaftState::Voter),
            (node3.clone(), RaftState::Voter),
            (node6.clone(), RaftState::NonVoter),
        ]),
        expected_failed: FailedServers {
            stale_non_voters: ids(&[STALE_NON_VOTER_4]),
            stale_voters: ids(&[STALE_VOTER_5]),
            failed_non_voters: vec![node6.clone()],
            // Sorted by id: 3857... before 51fb...
            failed_voters: vec![node3.clone(), node2],
        },
        expected_plan: PrunePlan {
            stale_non_voters: ids(&[STALE_NON_VOTER_4]),
            stale_voters: ids(&[STALE_VOTER_5]),
            failed_non_voters: vec![node6],
            failed_voters: vec![node3],
        },
        expected_actions: vec![
            remove(STALE_NON_VOTER_4),
            remove(STALE_VOTER_5),
            remove_failed(FAILED_NON_VOTER_6),
            remove_failed(FAILED_VOTER_3),
        ],
    };
    check(&case);
}

#[test]
fn keeps_failed_non_voter_when_three_potential_voters_meet_min_quorum() {
    let node1 = known(
        "51b2d56e-816e-409a-8b8e-afef2cf49661",
        "node1",
        "198.18.0.1:8300",
        NodeStatus::Alive,
    );
    let node2 = known(
        "51fb4248-be6a-43e5-b47f-c089818e2012",
        "node2",
        "198.18.0.2:8300",
        NodeStatus::Alive,
    );
    let node3 = known(
        "a227f9a9-f55e-4321-b959-5afdcc63c6d3",
        "node3",
        "198.18.0.3:8300",
        NodeStatus::Failed,
    );
    let case = Case {
        raft_config: raft_config(vec![
            raft_server(Suffrage::Voter, node1.id.as_str(), "198.18.0.1:8300"),
            raft_server(Suffrage::Voter, node2.id.as_str(), "198.18.0.2:8300"),
            raft_server(Suffrage::Nonvoter, node3.id.as_str(), "198.18.0.3:8300"),
        ]),
        known: known_map(&[node1.clone(), node2.clone(), node3.clone()]),
        state: state(&[
            (node1, RaftState::Voter),
            (node2, RaftState::Voter),
            (node3.clone(), RaftState::NonVoter),
        ]),
        expected_failed: FailedServers {
            failed_non_voters: vec![node3],
            ..FailedServers::default()
        },
        expected_plan: PrunePlan::default(),
        expected_actions: vec![],
    };
    check(&case);
}

#[test]
fn keeps_failed_voter_when_two_potential_voters_are_below_min_quorum() {
    let node1 = known(
        "51b2d56e-816e-409a-8b8e-afef2cf49661",
        "node1",
        "198.18.0.1:8300",
        NodeStatus::Alive,
    );
    let node3 = known(
        "a227f9a9-f55e-4321-b959-5afdcc63c6d3",
        "node3",
        "198.18.0.3:8300",
        NodeStatus::Failed,
    );
    let case = Case {
        raft_config: raft_config(vec![
            raft_server(Suffrage::Voter, node1.id.as_str(), "198.18.0.1:8300"),
            raft_server(Suffrage::Voter, node3.id.as_str(), "198.18.0.3:8300"),
        ]),
        known: known_map(&[node1.clone(), node3.clone()]),
        state: state(&[(node1, RaftState::Voter), (node3.clone(), RaftState::Voter)]),
        expected_failed: FailedServers {
            failed_voters: vec![node3],
            ..FailedServers::default()
        },
        expected_plan: PrunePlan::default(),
        expected_actions: vec![],
    };
    check(&case);
}

#[test]
fn removes_stale_non_voter_but_keeps_stale_voter_that_is_half_the_cluster() {
    let stale_voter = "3857f1d4-5c23-4016-9078-fee502c0d1b4";
    let stale_non_voter = "db877f23-3e0a-4107-8ed8-bd7c3d710945";
    let node1 = known(
        "51b2d56e-816e-409a-8b8e-afef2cf49661",
        "node1",
        "198.18.0.1:8300",
        NodeStatus::Alive,
    );
    let node2 = known(
        "51fb4248-be6a-43e5-b47f-c089818e2012",
        "node2",
        "198.18.0.2:8300",
        NodeStatus::Alive,
    );
    // The state still remembers the two servers the application has forgotten.
    let node4 = known(stale_voter, "node4", "198.18.0.4:8300", NodeStatus::Failed);
    let node5 = known(
        stale_non_voter,
        "node5",
        "198.18.0.5:8300",
        NodeStatus::Failed,
    );
    let case = Case {
        raft_config: raft_config(vec![
            raft_server(Suffrage::Voter, node1.id.as_str(), "198.18.0.1:8300"),
            raft_server(Suffrage::Voter, node2.id.as_str(), "198.18.0.2:8300"),
            raft_server(Suffrage::Voter, stale_voter, "198.18.0.4:8300"),
            raft_server(Suffrage::Nonvoter, stale_non_voter, "198.18.0.5:8300"),
        ]),
        known: known_map(&[node1.clone(), node2.clone()]),
        state: state(&[
            (node1, RaftState::Leader),
            (node2, RaftState::Voter),
            (node4, RaftState::Voter),
            (node5, RaftState::NonVoter),
        ]),
        expected_failed: FailedServers {
            stale_non_voters: ids(&[stale_non_voter]),
            stale_voters: ids(&[stale_voter]),
            ..FailedServers::default()
        },
        expected_plan: PrunePlan {
            stale_non_voters: ids(&[stale_non_voter]),
            ..PrunePlan::default()
        },
        expected_actions: vec![remove(stale_non_voter)],
    };
    check(&case);
}

#[test]
fn plans_nothing_when_dead_server_cleanup_is_off() {
    let servers = seven_server_known(NodeStatus::Alive);
    let config = Config {
        cleanup_dead_servers: false,
        ..config()
    };
    let plan = plan_prune(
        &config,
        &seven_server_raft_config(),
        &known_map(&servers),
        &BTreeMap::new(),
        |failed| consult_filter(&StablePolicy, &config, &State::default(), failed).answer,
    );
    assert_eq!(plan, PrunePlan::default());
    assert!(plan.is_empty());
    assert_eq!(plan.actions(), vec![]);
}

#[test]
fn servers_without_a_node_type_are_not_potential_voters_so_failed_voter_stays() {
    // No node type, as the reference's fixture has it (`Server::new` gives `voter`).
    let untyped = |id: &str, name: &str, address: &str, status| Server {
        name: name.into(),
        node_type: NodeType::default(),
        ..Server::new(id, address, status)
    };
    let alive_1 = untyped(
        "11111111-aaaa",
        "node1",
        "198.18.0.1:8300",
        NodeStatus::Alive,
    );
    let alive_2 = untyped(
        "22222222-aaaa",
        "node2",
        "198.18.0.2:8300",
        NodeStatus::Alive,
    );
    let failed_voter = untyped(
        "33333333-aaaa",
        "node3",
        "198.18.0.3:8300",
        NodeStatus::Failed,
    );
    let failed_non_voter = untyped(
        "44444444-aaaa",
        "node4",
        "198.18.0.4:8300",
        NodeStatus::Failed,
    );
    assert_eq!(failed_voter.node_type.as_str(), "");

    let raft = raft_config(vec![
        raft_server(Suffrage::Voter, alive_1.id.as_str(), "198.18.0.1:8300"),
        raft_server(Suffrage::Voter, alive_2.id.as_str(), "198.18.0.2:8300"),
        raft_server(Suffrage::Voter, failed_voter.id.as_str(), "198.18.0.3:8300"),
        raft_server(
            Suffrage::Nonvoter,
            failed_non_voter.id.as_str(),
            "198.18.0.4:8300",
        ),
    ]);
    let known = known_map(&[
        alive_1.clone(),
        alive_2.clone(),
        failed_voter.clone(),
        failed_non_voter.clone(),
    ]);

    let (failed, registry) = find_failed_servers(&raft, &known, &BTreeMap::new());
    assert_eq!(registry.potential_voters(), 0);
    assert_eq!(
        failed,
        FailedServers {
            failed_non_voters: vec![failed_non_voter.clone()],
            failed_voters: vec![failed_voter],
            ..FailedServers::default()
        }
    );

    // No potential voters: MinQuorum does not apply, but max_removal is (0 - 1) / 2 = 0,
    // so the current voter is kept while the non-voter goes.
    let state = state(&[(alive_1, RaftState::Leader), (alive_2, RaftState::Voter)]);
    let plan = plan_prune(&config(), &raft, &known, &BTreeMap::new(), |failed| {
        consult_filter(&StablePolicy, &config(), &state, failed).answer
    });
    assert_eq!(
        plan,
        PrunePlan {
            failed_non_voters: vec![failed_non_voter.clone()],
            ..PrunePlan::default()
        }
    );
    assert_eq!(
        plan.actions(),
        vec![remove_failed(failed_non_voter.id.as_str())]
    );
}
