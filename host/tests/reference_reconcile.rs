//! Pins the reconcile planner: for a given state and promoter changes,
//! `plan_reconcile` must produce exactly the ordered list of Raft calls the reference
//! makes (or refuse with the right error), plus our deliberate difference of never
//! demoting the same server twice in one round (behaviour.md 4.4).
//!
//! Cases ported from hashicorp/raft-autopilot (MPL-2.0), reconcile_test.go;
//! expectations rewritten as action lists.

use RaftState::{Leader, NonVoter, Voter};
use autopilot::{
    Action, NodeStatus, RaftChanges, RaftState, ReconcileError, Server, ServerHealth, ServerId,
    ServerState, Servers, State, plan_reconcile,
};

const HEALTHY: bool = true;
const UNHEALTHY: bool = false;

/// The reference fixtures' id for node `n`: its digit in the 8-4-4-4-12 UUID layout.
fn id(n: u8) -> ServerId {
    let d = n.to_string();
    ServerId::from(format!(
        "{}-{}-{}-{}-{}",
        d.repeat(8),
        d.repeat(4),
        d.repeat(4),
        d.repeat(4),
        d.repeat(12)
    ))
}

fn address(n: u8) -> String {
    format!("198.18.0.{n}:8300")
}

/// One alive server of the fixture cluster in the given role and health.
fn server_state(n: u8, role: RaftState, healthy: bool) -> ServerState {
    let mut server = Server::new(id(n), address(n), NodeStatus::Alive);
    server.name = format!("node{n}").into();
    server.version = "1.9.0".into();
    server.raft_version = 3;
    ServerState {
        server,
        state: role,
        stats: Default::default(),
        health: ServerHealth {
            healthy,
            ..ServerHealth::default()
        },
    }
}

/// A state led by `leader` (if any), holding `servers`, with `voters` as its voter list.
fn state(leader: Option<u8>, servers: &[(u8, RaftState, bool)], voters: &[u8]) -> State {
    let servers: Servers = servers
        .iter()
        .map(|&(n, role, healthy)| (id(n), server_state(n, role, healthy)))
        .collect();
    State {
        leader: leader.map(id),
        servers,
        voters: voters.iter().copied().map(id).collect(),
        ..State::default()
    }
}

fn changes(promotions: &[u8], demotions: &[u8], leader: Option<u8>) -> RaftChanges {
    RaftChanges {
        promotions: promotions.iter().copied().map(id).collect(),
        demotions: demotions.iter().copied().map(id).collect(),
        leader: leader.map(id),
    }
}

fn add_voter(n: u8) -> Action {
    Action::AddVoter {
        id: id(n),
        address: address(n),
    }
}

fn demote(n: u8) -> Action {
    Action::DemoteVoter { id: id(n) }
}

fn transfer_to(n: u8) -> Action {
    Action::LeadershipTransfer {
        id: id(n),
        address: address(n),
    }
}

fn assert_plan(state: &State, changes: &RaftChanges, expected: &[Action]) {
    let actions = plan_reconcile(state, changes).expect("the state has a leader");
    assert_eq!(actions, expected);
}

#[test]
fn promotes_healthy_non_voter_and_skips_demotions_in_same_round() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, NonVoter, HEALTHY),
            (4, NonVoter, UNHEALTHY),
            (5, Voter, HEALTHY),
        ],
        &[1, 2, 5],
    );
    // 1 and 2 already vote, 4 is unhealthy; the healthy demotion of 5 waits.
    let changes = changes(&[1, 2, 3, 4], &[5], None);
    assert_plan(&state, &changes, &[add_voter(3)]);
}

#[test]
fn demotes_voters_and_skips_leader_transfer_in_same_round() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, Voter, HEALTHY),
            (4, Voter, HEALTHY),
            (5, NonVoter, HEALTHY),
        ],
        &[1, 2, 3, 4],
    );
    // Promoting the leader is a no-op; demoting non-voter 5 is a no-op; 4 goes, so
    // the transfer to 3 waits for a later round.
    let changes = changes(&[1], &[5, 4], Some(3));
    assert_plan(&state, &changes, &[demote(4)]);
}

#[test]
fn does_nothing_when_the_wanted_leader_already_leads() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, Voter, HEALTHY),
            (5, NonVoter, HEALTHY),
        ],
        &[1, 2, 3],
    );
    let changes = changes(&[], &[5], Some(1));
    assert_plan(&state, &changes, &[]);
}

#[test]
fn transfers_leadership_when_no_membership_change_is_needed() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, Voter, HEALTHY),
            (5, NonVoter, HEALTHY),
        ],
        &[1, 2, 3],
    );
    let changes = changes(&[], &[5], Some(2));
    assert_plan(&state, &changes, &[transfer_to(2)]);
}

#[test]
fn with_odd_voters_demotes_one_unhealthy_voter_then_promotes() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, UNHEALTHY),
            (3, Voter, UNHEALTHY),
            (4, Voter, HEALTHY),
            (5, NonVoter, HEALTHY),
        ],
        &[1, 2, 3, 4, 5],
    );
    // Healthy 4 is passed over, unhealthy 2 goes first, unhealthy 3 must wait; the
    // promotion of 5 then ends the round.
    let changes = changes(&[5], &[4, 2, 3], None);
    assert_plan(&state, &changes, &[demote(2), add_voter(5)]);
}

#[test]
fn with_even_voters_promotes_first_and_holds_back_demotions() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, Voter, UNHEALTHY),
            (4, Voter, UNHEALTHY),
            (5, NonVoter, HEALTHY),
            (6, NonVoter, HEALTHY),
        ],
        &[1, 2, 3, 4],
    );
    let changes = changes(&[5, 6], &[3, 4], None);
    assert_plan(&state, &changes, &[add_voter(5), add_voter(6)]);
}

#[test]
fn with_even_voters_and_no_promotions_demotes_every_listed_voter() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, Voter, UNHEALTHY),
            (4, Voter, UNHEALTHY),
            (5, Voter, HEALTHY),
            (6, Voter, HEALTHY),
        ],
        &[1, 2, 3, 4],
    );
    let changes = changes(&[], &[3, 4, 5], None);
    assert_plan(&state, &changes, &[demote(3), demote(4), demote(5)]);
}

#[test]
fn emits_promotions_in_ascending_id_order() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (5, NonVoter, HEALTHY),
            (6, NonVoter, HEALTHY),
        ],
        &[1, 2],
    );
    let changes = changes(&[6, 5], &[], None);
    assert_plan(&state, &changes, &[add_voter(5), add_voter(6)]);
}

#[test]
fn refuses_to_plan_without_a_leader() {
    let state = state(
        None,
        &[
            (1, Voter, HEALTHY),
            (2, Voter, HEALTHY),
            (3, NonVoter, HEALTHY),
        ],
        &[1, 2],
    );
    let changes = changes(&[3], &[], None);
    assert_eq!(
        plan_reconcile(&state, &changes),
        Err(ReconcileError::NoLeader)
    );
}

#[test]
fn refuses_to_transfer_leadership_to_a_server_not_in_the_state() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, HEALTHY),
            (3, Voter, HEALTHY),
        ],
        &[1, 2, 3],
    );
    let changes = changes(&[], &[], Some(9));
    assert_eq!(
        plan_reconcile(&state, &changes),
        Err(ReconcileError::UnknownLeader(id(9)))
    );
}

#[test]
fn does_not_demote_the_failed_voter_a_second_time_in_the_same_round() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, UNHEALTHY),
            (3, Voter, HEALTHY),
        ],
        &[1, 2, 3],
    );
    // The reference demotes 2 in the odd-voter step and again in the general step.
    let changes = changes(&[], &[2, 3], None);
    assert_plan(&state, &changes, &[demote(2), demote(3)]);
}

#[test]
fn does_not_transfer_leadership_after_demoting_the_failed_voter() {
    let state = state(
        Some(1),
        &[
            (1, Leader, HEALTHY),
            (2, Voter, UNHEALTHY),
            (3, Voter, HEALTHY),
        ],
        &[1, 2, 3],
    );
    let changes = changes(&[], &[2], Some(3));
    assert_plan(&state, &changes, &[demote(2)]);
}
