//! Server identity and the small enums of the Raft and application vocabulary.

use std::fmt;

use arrayvec::ArrayString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text::Text;

/// A Raft server id, as Raft knows it (the same id the application uses).
///
/// Ids of up to [`ServerId::INLINE`] bytes (a UUID is 36) are kept inside the value:
/// comparing two ids then reads no other memory, and copying or dropping one touches
/// no shared counter. A round compares and copies every server's id several times
/// (merging the Raft configuration with the application's records, the stats and the
/// previous state), and with ids behind pointers those reads were most of a large
/// round's time. Longer ids are shared [`Text`]. Either way an id compares, orders,
/// hashes, prints and serialises as its text.
#[derive(Clone)]
pub struct ServerId(Repr);

#[derive(Clone)]
enum Repr {
    Inline(ArrayString<{ ServerId::INLINE }>),
    Shared(Text),
}

impl ServerId {
    /// The longest id kept inline, in bytes.
    pub const INLINE: usize = 40;

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(text) => text.as_str(),
            Repr::Shared(text) => text,
        }
    }

    /// `text` inline when it fits, else the shared text `shared` makes.
    fn new(text: &str, shared: impl FnOnce() -> Text) -> Self {
        match ArrayString::from(text) {
            Ok(inline) => Self(Repr::Inline(inline)),
            Err(_) => Self(Repr::Shared(shared())),
        }
    }
}

impl Default for ServerId {
    fn default() -> Self {
        Self(Repr::Inline(ArrayString::new()))
    }
}

impl PartialEq for ServerId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ServerId {}

impl PartialOrd for ServerId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ServerId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for ServerId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the text hashes, so that maps keyed by id can be searched with a `&str`.
        self.as_str().hash(state);
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ServerId {
    fn from(s: &str) -> Self {
        Self::new(s, || s.into())
    }
}

impl From<String> for ServerId {
    fn from(s: String) -> Self {
        Self::new(&s, || s.as_str().into())
    }
}

impl From<Text> for ServerId {
    fn from(s: Text) -> Self {
        Self::new(&s, || s.clone())
    }
}

impl std::borrow::Borrow<str> for ServerId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for ServerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServerId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ServerId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a server id (a string)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ServerId, E> {
                Ok(v.into())
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ServerId, E> {
                Ok(v.into())
            }
        }
        d.deserialize_str(Visitor)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Short strings over a tiny alphabet (with NUL, so that zero padding is tested),
    /// many of them prefixes of one another, and some past the inline limit.
    fn samples() -> Vec<String> {
        let alphabet = ['\0', 'a', 'b', '-', 'é'];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = vec![String::new(), "a".repeat(60), "a".repeat(59) + "b"];
        for _ in 0..400 {
            let len = usize::try_from(next() % 45).unwrap_or(0);
            let pick = |r: u64| alphabet[usize::try_from(r % 5).unwrap_or(0)];
            let base: String = (0..len).map(|_| pick(next())).collect();
            out.push(base.clone());
            out.push(base + "a");
        }
        out
    }

    #[test]
    fn ids_compare_and_order_as_their_text() {
        let samples = samples();
        for a in &samples {
            for b in samples.iter().step_by(7) {
                let (x, y) = (ServerId::from(a.as_str()), ServerId::from(b.as_str()));
                assert_eq!(x.cmp(&y), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(x == y, a == b, "{a:?} vs {b:?}");
                assert_eq!(x.as_str(), a);
            }
        }
    }

    #[test]
    fn short_ids_are_inline_long_ones_shared_and_both_behave_alike() {
        let uuid = "0f8e5c7a-3d2b-4c1e-9a8f-7b6c5d4e3f2a";
        assert!(matches!(ServerId::from(uuid).0, Repr::Inline(_)));
        let long = "x".repeat(ServerId::INLINE + 1);
        let shared = ServerId::from(long.clone());
        assert!(matches!(shared.0, Repr::Shared(_)));
        assert_eq!(shared, ServerId::from(Text::from(long.as_str())));
        assert_eq!(shared.as_str(), long);
        let json = serde_json::to_string(&ServerId::from(uuid)).expect("serialises");
        assert_eq!(json, format!("\"{uuid}\""));
        let back: ServerId = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back.as_str(), uuid);
        let mut set = std::collections::HashSet::new();
        set.insert(ServerId::from(uuid));
        assert!(set.contains(uuid), "a map keyed by id is searched by text");
    }
}
