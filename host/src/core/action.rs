//! The calls autopilot makes, as data: the core plans them, the shell executes them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::ServerId;

/// One call autopilot makes on Raft or on the application (JSON: `{"Op": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Op")]
pub enum Action {
    /// Make the server a voter (adding it if Raft does not have it).
    AddVoter {
        /// The server.
        #[serde(rename = "ID")]
        id: ServerId,
        /// Its address.
        #[serde(rename = "Address")]
        address: String,
    },
    /// Add the server as a non-voter.
    AddNonvoter {
        /// The server.
        #[serde(rename = "ID")]
        id: ServerId,
        /// Its address.
        #[serde(rename = "Address")]
        address: String,
    },
    /// Take the server's vote away, keeping it as a non-voter.
    DemoteVoter {
        /// The server.
        #[serde(rename = "ID")]
        id: ServerId,
    },
    /// Remove the server from the Raft configuration.
    RemoveServer {
        /// The server.
        #[serde(rename = "ID")]
        id: ServerId,
    },
    /// Hand leadership to the server.
    LeadershipTransfer {
        /// The server.
        #[serde(rename = "ID")]
        id: ServerId,
        /// Its address.
        #[serde(rename = "Address")]
        address: String,
    },
    /// Ask the application to force-remove a failed server.
    RemoveFailedServer {
        /// The server.
        #[serde(rename = "ID")]
        id: ServerId,
    },
}

impl Action {
    /// The server the action is about.
    pub fn id(&self) -> &ServerId {
        match self {
            Self::AddVoter { id, .. }
            | Self::AddNonvoter { id, .. }
            | Self::DemoteVoter { id }
            | Self::RemoveServer { id }
            | Self::LeadershipTransfer { id, .. }
            | Self::RemoveFailedServer { id } => id,
        }
    }

    /// The operation's name, as the JSON layout spells it (`"AddVoter"`, ...).
    pub fn op(&self) -> &'static str {
        match self {
            Self::AddVoter { .. } => "AddVoter",
            Self::AddNonvoter { .. } => "AddNonvoter",
            Self::DemoteVoter { .. } => "DemoteVoter",
            Self::RemoveServer { .. } => "RemoveServer",
            Self::LeadershipTransfer { .. } => "LeadershipTransfer",
            Self::RemoveFailedServer { .. } => "RemoveFailedServer",
        }
    }

    /// Whether the action changes the Raft configuration.
    pub fn changes_membership(&self) -> bool {
        !matches!(
            self,
            Self::LeadershipTransfer { .. } | Self::RemoveFailedServer { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddVoter { id, address } => write!(f, "add voter {id} ({address})"),
            Self::AddNonvoter { id, address } => write!(f, "add non-voter {id} ({address})"),
            Self::DemoteVoter { id } => write!(f, "demote voter {id}"),
            Self::RemoveServer { id } => write!(f, "remove server {id} from Raft"),
            Self::LeadershipTransfer { id, address } => {
                write!(f, "transfer leadership to {id} ({address})")
            }
            Self::RemoveFailedServer { id } => {
                write!(f, "ask the application to remove failed server {id}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, ServerId};

    #[test]
    fn op_names_the_json_tag() {
        let id = || ServerId::from("a");
        let address = || "a:1".to_owned();
        for action in [
            Action::AddVoter {
                id: id(),
                address: address(),
            },
            Action::AddNonvoter {
                id: id(),
                address: address(),
            },
            Action::DemoteVoter { id: id() },
            Action::RemoveServer { id: id() },
            Action::LeadershipTransfer {
                id: id(),
                address: address(),
            },
            Action::RemoveFailedServer { id: id() },
        ] {
            let json = serde_json::to_value(&action).expect("an action serializes");
            assert_eq!(json["Op"], action.op(), "{action:?}");
        }
    }
}
