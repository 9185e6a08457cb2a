//! Pins the membership helpers: the actions `plan_add_server` and `plan_remove_server`
//! plan against a Raft configuration (including the refusal to remove too many voters
//! sharing an address), and how `RaftConfiguration::num_voters` counts.
//!
//! Cases ported from hashicorp/raft-autopilot (MPL-2.0), raft_test.go;
//! expectations rewritten as action lists.

use autopilot::{
    Action, AddServerError, RaftConfiguration, RaftServer, ServerId, Suffrage, plan_add_server,
    plan_remove_server,
};

const VOTER_1: &str = "7875975d-d54b-49c1-a400-9fefcc706c67";
const VOTER_2: &str = "ecfc5237-63c3-4b09-94b9-d5682d9ae5b1";
const VOTER_3: &str = "e72eb8da-604d-47cd-bd7f-69ec120ea2b7";

fn raft_server(suffrage: Suffrage, id: &str, address: &str) -> RaftServer {
    RaftServer {
        suffrage,
        id: ServerId::from(id),
        address: address.into(),
    }
}

fn config(servers: Vec<RaftServer>) -> RaftConfiguration {
    RaftConfiguration { servers }
}

/// Three voters at 198.18.0.1-3.
fn three_voters() -> RaftConfiguration {
    config(vec![
        raft_server(Suffrage::Voter, VOTER_1, "198.18.0.1:8300"),
        raft_server(Suffrage::Voter, VOTER_2, "198.18.0.2:8300"),
        raft_server(Suffrage::Voter, VOTER_3, "198.18.0.3:8300"),
    ])
}

/// The three voters with the middle one in `suffrage`.
fn with_middle(suffrage: Suffrage) -> RaftConfiguration {
    let mut raft = three_voters();
    raft.servers[1].suffrage = suffrage;
    raft
}

fn add(id: &str, address: &str) -> Result<Vec<Action>, AddServerError> {
    plan_add_server(&three_voters(), &ServerId::from(id), address)
}

#[test]
fn adding_a_server_already_present_at_its_address_plans_nothing() {
    assert_eq!(add(VOTER_3, "198.18.0.3:8300"), Ok(vec![]));
}

#[test]
fn adding_a_new_server_adds_it_as_non_voter() {
    let id = "5e816fb6-d4e6-4b3a-b15a-afb3e6d5664b";
    assert_eq!(
        add(id, "198.18.0.4:8300"),
        Ok(vec![Action::AddNonvoter {
            id: id.into(),
            address: "198.18.0.4:8300".to_owned(),
        }])
    );
}

#[test]
fn moving_an_existing_voter_to_a_new_address_re_adds_it_as_voter() {
    assert_eq!(
        add(VOTER_2, "198.18.0.4:8300"),
        Ok(vec![Action::AddVoter {
            id: VOTER_2.into(),
            address: "198.18.0.4:8300".to_owned(),
        }])
    );
}

#[test]
fn a_new_id_at_an_existing_voters_address_replaces_it() {
    let new_id = "95e2f84d-ff36-4a48-bee7-a50863f17f55";
    assert_eq!(
        add(new_id, "198.18.0.2:8300"),
        Ok(vec![
            Action::RemoveServer { id: VOTER_2.into() },
            Action::AddNonvoter {
                id: new_id.into(),
                address: "198.18.0.2:8300".to_owned(),
            },
        ])
    );
}

#[test]
fn refuses_to_replace_a_voter_when_the_rest_would_lose_quorum() {
    let holder = "e0c54c7c-1363-46d0-950b-2cb4aad347a8";
    let raft = config(vec![
        raft_server(
            Suffrage::Voter,
            "36ced65e-be2c-478d-a2f4-56a9706041d0",
            "198.18.0.1:8300",
        ),
        raft_server(Suffrage::Voter, holder, "198.18.0.2:8300"),
    ]);
    let new_id = ServerId::from("c3195ec1-c229-48c6-bdab-4db54ed04807");
    assert_eq!(
        plan_add_server(&raft, &new_id, "198.18.0.2:8300"),
        Err(AddServerError::TooManyRemovals {
            id: new_id.clone(),
            address: "198.18.0.2:8300".to_owned(),
            removals: 1,
            allowed: 0,
            voters: 2,
        })
    );
}

#[test]
fn replaces_a_non_voter_at_the_address_even_in_a_one_voter_cluster() {
    let holder = "e0c54c7c-1363-46d0-950b-2cb4aad347a8";
    let raft = config(vec![
        raft_server(
            Suffrage::Voter,
            "36ced65e-be2c-478d-a2f4-56a9706041d0",
            "198.18.0.1:8300",
        ),
        raft_server(Suffrage::Nonvoter, holder, "198.18.0.2:8300"),
    ]);
    let new_id = ServerId::from("c3195ec1-c229-48c6-bdab-4db54ed04807");
    assert_eq!(
        plan_add_server(&raft, &new_id, "198.18.0.2:8300"),
        Ok(vec![
            Action::RemoveServer { id: holder.into() },
            Action::AddNonvoter {
                id: new_id,
                address: "198.18.0.2:8300".to_owned(),
            },
        ])
    );
}

#[test]
fn removing_a_server_not_in_the_configuration_plans_nothing() {
    let absent = ServerId::from("29a3d904-6848-4e2f-928f-9abafc3f87ba");
    assert_eq!(plan_remove_server(&three_voters(), &absent), None);
}

#[test]
fn removing_a_server_in_the_configuration_removes_it_from_raft() {
    assert_eq!(
        plan_remove_server(&three_voters(), &ServerId::from(VOTER_2)),
        Some(Action::RemoveServer { id: VOTER_2.into() })
    );
}

#[test]
fn counts_every_voter() {
    assert_eq!(three_voters().num_voters(), 3);
}

#[test]
fn does_not_count_staging_servers_as_voters() {
    assert_eq!(with_middle(Suffrage::Staging).num_voters(), 2);
}

#[test]
fn does_not_count_non_voters_as_voters() {
    assert_eq!(with_middle(Suffrage::Nonvoter).num_voters(), 2);
}
