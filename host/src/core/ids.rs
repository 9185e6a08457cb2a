//! Server identity and the small enums of the Raft and application vocabulary.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text::Text;

/// A Raft server id, as Raft knows it (the same id the application uses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub Text);

impl ServerId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ServerId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<String> for ServerId {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl From<Text> for ServerId {
    fn from(s: Text) -> Self {
        Self(s)
    }
}

impl std::borrow::Borrow<str> for ServerId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// What the application believes about a server, independently of Raft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// The application cannot tell.
    Unknown,
    /// The server is up and a member of the application's cluster.
    Alive,
    /// The application saw the server fail.
    Failed,
    /// The server left gracefully (or is unknown to the application).
    Left,
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown",
            Self::Alive => "alive",
            Self::Failed => "failed",
            Self::Left => "left",
        })
    }
}

/// The class a promoter assigns to a server (`voter` for the stable policy; a policy
/// may invent its own, such as `zone-standby`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeType(pub Text);

impl NodeType {
    /// The stable policy's only node type.
    pub const VOTER: &'static str = "voter";

    /// The `voter` node type.
    pub fn voter() -> Self {
        static VOTER: std::sync::OnceLock<Text> = std::sync::OnceLock::new();
        Self(Text::interned(&VOTER, Self::VOTER))
    }

    /// The node type as text (empty when no policy set one).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeType {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<String> for NodeType {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

/// A server's role as autopilot reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum RaftState {
    /// Not in any known role.
    #[default]
    #[serde(rename = "none")]
    None,
    /// The current leader (also a voter).
    #[serde(rename = "leader")]
    Leader,
    /// A voter that is not the leader.
    #[serde(rename = "voter")]
    Voter,
    /// A non-voter (a learner in openraft's words).
    #[serde(rename = "non-voter")]
    NonVoter,
    /// Staging: being caught up to become a voter.
    #[serde(rename = "staging")]
    Staging,
}

impl RaftState {
    /// Leader or voter: the server votes now.
    pub fn has_voting_rights(self) -> bool {
        matches!(self, Self::Leader | Self::Voter)
    }

    /// Leader, voter or staging (the reference's `IsPotentialVoter` on a raft state).
    pub fn is_potential_voter(self) -> bool {
        matches!(self, Self::Leader | Self::Voter | Self::Staging)
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Leader => "leader",
            Self::Voter => "voter",
            Self::NonVoter => "non-voter",
            Self::Staging => "staging",
        }
    }
}

impl fmt::Display for RaftState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server's suffrage in the Raft configuration (JSON: 0, 1 or 2, as in hashicorp/raft).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suffrage {
    /// Votes and counts toward quorum (0).
    Voter,
    /// Receives the log but does not vote (1).
    Nonvoter,
    /// Being caught up to become a voter; does not vote yet (2).
    Staging,
}

impl Suffrage {
    /// The raft state a server of this suffrage starts from.
    pub fn raft_state(self) -> RaftState {
        match self {
            Self::Voter => RaftState::Voter,
            Self::Nonvoter => RaftState::NonVoter,
            Self::Staging => RaftState::Staging,
        }
    }
}

impl Serialize for Suffrage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            Self::Voter => 0,
            Self::Nonvoter => 1,
            Self::Staging => 2,
        })
    }
}

impl<'de> Deserialize<'de> for Suffrage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Number::deserialize(d)?;
        match value.as_u64() {
            Some(0) => Ok(Self::Voter),
            Some(1) => Ok(Self::Nonvoter),
            Some(2) => Ok(Self::Staging),
            _ => Err(serde::de::Error::custom(format!(
                "suffrage {value} is not 0 (voter), 1 (non-voter) or 2 (staging)"
            ))),
        }
    }
}
