//! Planning the membership helpers: adding a server (clearing out whoever holds its
//! address) and removing one.

use thiserror::Error;

use super::action::Action;
use super::ids::{ServerId, Suffrage};
use super::server::RaftConfiguration;
use super::state::State;

/// Why a server cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddServerError {
    /// Other voters hold the new server's address, and removing them all would leave
    /// fewer than a quorum of the current voters.
    #[error(
        "adding {id} at {address} would remove {removals} voter(s) holding that address, \
         more than the {allowed} that {voters} voter(s) can lose and keep a quorum"
    )]
    TooManyRemovals {
        /// The server being added.
        id: ServerId,
        /// Its address.
        address: String,
        /// Voters that hold the address.
        removals: usize,
        /// How many voters may go.
        allowed: usize,
        /// Current voters.
        voters: usize,
    },
}

/// Plans adding a server: nothing if Raft already has this id at this address;
/// otherwise remove the servers at the same address under another id (voters first,
/// refusing if too many voters would go), then add it, as a voter if it already votes
/// or stages under this id (an address change), else as a non-voter. After a non-empty
/// plan the caller triggers pruning.
pub fn plan_add_server(
    raft_config: &RaftConfiguration,
    id: &ServerId,
    address: &str,
) -> Result<Vec<Action>, AddServerError> {
    if raft_config
        .servers
        .iter()
        .any(|s| &s.id == id && s.address == address)
    {
        return Ok(Vec::new());
    }
    let existing_voter = raft_config
        .servers
        .iter()
        .any(|s| &s.id == id && matches!(s.suffrage, Suffrage::Voter | Suffrage::Staging));
    let holders = raft_config
        .servers
        .iter()
        .filter(|s| &s.id != id && s.address == address);
    let (voter_holders, other_holders): (Vec<_>, Vec<_>) =
        holders.partition(|s| s.suffrage == Suffrage::Voter);

    let voters = raft_config.num_voters();
    let allowed = voters - State::quorum(voters).min(voters);
    if voter_holders.len() > allowed {
        return Err(AddServerError::TooManyRemovals {
            id: id.clone(),
            address: address.to_owned(),
            removals: voter_holders.len(),
            allowed,
            voters,
        });
    }

    let mut actions: Vec<Action> = voter_holders
        .iter()
        .chain(&other_holders)
        .map(|s| Action::RemoveServer { id: s.id.clone() })
        .collect();
    actions.push(if existing_voter {
        Action::AddVoter {
            id: id.clone(),
            address: address.to_owned(),
        }
    } else {
        Action::AddNonvoter {
            id: id.clone(),
            address: address.to_owned(),
        }
    });
    Ok(actions)
}

/// Plans removing a server: a Raft removal if the configuration has it, else nothing.
pub fn plan_remove_server(raft_config: &RaftConfiguration, id: &ServerId) -> Option<Action> {
    raft_config
        .get(id)
        .map(|s| Action::RemoveServer { id: s.id.clone() })
}

/// Applies actions in order, as [`apply_action`] would one by one, in linear time.
pub fn apply_actions(raft_config: &mut RaftConfiguration, actions: &[Action]) {
    use std::collections::HashMap;
    if actions.len() < 8 {
        for action in actions {
            apply_action(raft_config, action);
        }
        return;
    }
    let mut index: HashMap<ServerId, usize> = raft_config
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    let mut removed = vec![false; raft_config.servers.len()];
    for action in actions {
        match action {
            Action::AddVoter { id, address } | Action::AddNonvoter { id, address } => {
                match index.get(id) {
                    Some(&i) => {
                        let server = &mut raft_config.servers[i];
                        if matches!(action, Action::AddVoter { .. }) {
                            server.suffrage = Suffrage::Voter;
                        }
                        server.address = address.as_str().into();
                    }
                    None => {
                        let suffrage = if matches!(action, Action::AddVoter { .. }) {
                            Suffrage::Voter
                        } else {
                            Suffrage::Nonvoter
                        };
                        index.insert(id.clone(), raft_config.servers.len());
                        removed.push(false);
                        raft_config.servers.push(super::server::RaftServer {
                            suffrage,
                            id: id.clone(),
                            address: address.as_str().into(),
                        });
                    }
                }
            }
            Action::DemoteVoter { id } => {
                if let Some(&i) = index.get(id) {
                    raft_config.servers[i].suffrage = Suffrage::Nonvoter;
                }
            }
            Action::RemoveServer { id } => {
                if let Some(i) = index.remove(id) {
                    removed[i] = true;
                }
            }
            Action::LeadershipTransfer { .. } | Action::RemoveFailedServer { .. } => {}
        }
    }
    let mut position = 0;
    raft_config.servers.retain(|_| {
        let keep = !removed[position];
        position += 1;
        keep
    });
}

/// Applies an action to a Raft configuration as Raft would if it succeeded (used to
/// plan what follows it, and by the simulated cluster).
pub fn apply_action(raft_config: &mut RaftConfiguration, action: &Action) {
    use super::server::RaftServer;
    let set = |config: &mut RaftConfiguration, id: &ServerId, address: &str, suffrage: Suffrage| {
        match config.servers.iter_mut().find(|s| &s.id == id) {
            Some(s) => {
                s.suffrage = suffrage;
                s.address = address.into();
            }
            None => config.servers.push(RaftServer {
                suffrage,
                id: id.clone(),
                address: address.into(),
            }),
        }
    };
    match action {
        Action::AddVoter { id, address } => set(raft_config, id, address, Suffrage::Voter),
        Action::AddNonvoter { id, address } => {
            // Raft leaves an existing voter's suffrage alone when asked to add it as a
            // non-voter; only the address changes.
            let suffrage = raft_config
                .get(id)
                .map_or(Suffrage::Nonvoter, |s| s.suffrage);
            set(raft_config, id, address, suffrage);
        }
        Action::DemoteVoter { id } => {
            if let Some(s) = raft_config.servers.iter_mut().find(|s| &s.id == id) {
                s.suffrage = Suffrage::Nonvoter;
            }
        }
        Action::RemoveServer { id } => raft_config.servers.retain(|s| &s.id != id),
        Action::LeadershipTransfer { .. } | Action::RemoveFailedServer { .. } => {}
    }
}
