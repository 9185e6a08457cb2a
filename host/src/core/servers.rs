//! [`Servers`]: a state's servers by id, kept in one vector sorted by id.
//!
//! A round builds a state from scratch (as the reference does) and every pass over it
//! (the summary, the policy, the safety checks, the lowering into a component) walks
//! the servers in id order. A `BTreeMap` built by `collect` moves each record through a
//! buffer, sorts it and moves it again into nodes scattered over the heap; a vector is
//! filled in place, in order, once, and walked front to back. Lookups by id are binary
//! searches over contiguous keys. The API is the subset of `BTreeMap`'s the code uses,
//! with the same meaning (later entries win in `collect` and `insert` replaces), so a
//! state reads like a map. (No crate keeps a sorted vector with a sorted bulk build and
//! this serde layout; this one is a hundred lines over `Vec`.)

use std::borrow::Borrow;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::ServerId;
use super::server::ServerState;

/// A state's servers by id, in ascending id order (see the module's docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Servers {
    entries: Vec<(ServerId, ServerState)>,
}

/// An entry of [`Servers`], borrowed as a map's iterator yields it.
fn pair((id, state): &(ServerId, ServerState)) -> (&ServerId, &ServerState) {
    (id, state)
}

fn pair_mut((id, state): &mut (ServerId, ServerState)) -> (&ServerId, &mut ServerState) {
    (id, state)
}

impl Servers {
    /// No servers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Servers from entries already in strictly ascending id order, as a round builds
    /// them. Falls back to sorting (later entries winning, as in `collect`) if they are
    /// not, so the result is always a valid map.
    pub fn from_sorted(entries: Vec<(ServerId, ServerState)>) -> Self {
        if entries.windows(2).all(|w| w[0].0 < w[1].0) {
            Self { entries }
        } else {
            entries.into_iter().collect()
        }
    }

    /// Servers from entries in strictly ascending id order (the caller's promise,
    /// checked in debug builds).
    pub(crate) fn from_ascending(entries: Vec<(ServerId, ServerState)>) -> Self {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        Self { entries }
    }

    /// How many servers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No servers at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position<Q>(&self, id: &Q) -> Result<usize, usize>
    where
        ServerId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(id))
    }

    /// The server with this id.
    pub fn get<Q>(&self, id: &Q) -> Option<&ServerState>
    where
        ServerId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(id).ok().map(|i| &self.entries[i].1)
    }

    /// The server with this id, to change.
    pub fn get_mut<Q>(&mut self, id: &Q) -> Option<&mut ServerState>
    where
        ServerId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(id).ok().map(|i| &mut self.entries[i].1)
    }

    /// Whether a server has this id.
    pub fn contains_key<Q>(&self, id: &Q) -> bool
    where
        ServerId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(id).is_ok()
    }

    /// Adds or replaces the server with this id; returns the one replaced.
    pub fn insert(&mut self, id: ServerId, state: ServerState) -> Option<ServerState> {
        match self.position(&id) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, state)),
            Err(i) => {
                self.entries.insert(i, (id, state));
                None
            }
        }
    }

    /// Removes the server with this id; returns it.
    pub fn remove<Q>(&mut self, id: &Q) -> Option<ServerState>
    where
        ServerId: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(id).ok().map(|i| self.entries.remove(i).1)
    }

    /// Keeps only the servers `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&ServerId, &mut ServerState) -> bool) {
        self.entries.retain_mut(|(id, state)| keep(id, state));
    }

    /// The servers in id order.
    pub fn iter(&self) -> Iter<'_> {
        self.entries.iter().map(pair)
    }

    /// The servers in id order, to change.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        self.entries.iter_mut().map(pair_mut)
    }

    /// The ids, ascending.
    pub fn keys(&self) -> Keys<'_> {
        self.entries.iter().map(|(id, _)| id)
    }

    /// The servers in id order.
    pub fn values(&self) -> Values<'_> {
        self.entries.iter().map(|(_, state)| state)
    }

    /// The servers in id order, to change.
    pub fn values_mut(&mut self) -> ValuesMut<'_> {
        self.entries.iter_mut().map(|(_, state)| state)
    }
}

/// The iterator of [`Servers::keys`].
pub type Keys<'a> = std::iter::Map<
    std::slice::Iter<'a, (ServerId, ServerState)>,
    fn(&(ServerId, ServerState)) -> &ServerId,
>;

/// The iterator of [`Servers::values`].
pub type Values<'a> = std::iter::Map<
    std::slice::Iter<'a, (ServerId, ServerState)>,
    fn(&(ServerId, ServerState)) -> &ServerState,
>;

/// The iterator of [`Servers::values_mut`].
pub type ValuesMut<'a> = std::iter::Map<
    std::slice::IterMut<'a, (ServerId, ServerState)>,
    fn(&mut (ServerId, ServerState)) -> &mut ServerState,
>;

/// The iterator of [`Servers::iter`].
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (ServerId, ServerState)>,
    fn(&(ServerId, ServerState)) -> (&ServerId, &ServerState),
>;

/// The iterator of [`Servers::iter_mut`].
pub type IterMut<'a> = std::iter::Map<
    std::slice::IterMut<'a, (ServerId, ServerState)>,
    fn(&mut (ServerId, ServerState)) -> (&ServerId, &mut ServerState),
>;

impl FromIterator<(ServerId, ServerState)> for Servers {
    /// As a `BTreeMap` collects: sorted by id, a later entry replacing an earlier one
    /// with the same id.
    fn from_iter<I: IntoIterator<Item = (ServerId, ServerState)>>(iter: I) -> Self {
        let mut entries: Vec<(ServerId, ServerState)> = iter.into_iter().collect();
        // A stable sort keeps equal ids in arrival order; keep the last of each run.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(ServerId, ServerState)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match deduped.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => deduped.push(entry),
            }
        }
        Self { entries: deduped }
    }
}

impl From<std::collections::BTreeMap<ServerId, ServerState>> for Servers {
    /// The map's servers (already in id order, each id once).
    fn from(map: std::collections::BTreeMap<ServerId, ServerState>) -> Self {
        Self::from_ascending(map.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Servers {
    type Item = (&'a ServerId, &'a ServerState);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Servers {
    type Item = (&'a ServerId, &'a mut ServerState);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl IntoIterator for Servers {
    type Item = (ServerId, ServerState);
    type IntoIter = std::vec::IntoIter<(ServerId, ServerState)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<Q> std::ops::Index<&Q> for Servers
where
    ServerId: Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = ServerState;

    /// The server with this id.
    ///
    /// # Panics
    /// If there is none (as a map's index does); use [`Servers::get`] otherwise.
    fn index(&self, id: &Q) -> &ServerState {
        self.get(id).expect("no server with this id")
    }
}

impl Serialize for Servers {
    /// A JSON object keyed by id, in id order (the reference's layout).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (id, state) in self {
            map.serialize_entry(id, state)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Servers {
    /// An object keyed by id, or `null` (no servers); an id given twice is refused
    /// (the reader every map by id in the JSON layouts uses).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::json::unique_server_map::<D, ServerState>(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::NodeStatus;
    use crate::core::server::Server;

    fn state(id: &str, index: u64) -> (ServerId, ServerState) {
        let mut s = ServerState {
            server: Server::new(id, "addr", NodeStatus::Alive),
            state: Default::default(),
            stats: Default::default(),
            health: Default::default(),
        };
        s.stats.last_index = index;
        (ServerId::from(id), s)
    }

    #[test]
    fn collects_like_a_map_sorted_and_the_last_entry_wins() {
        let servers: Servers = [state("b", 1), state("a", 2), state("b", 3)]
            .into_iter()
            .collect();
        let ids: Vec<&str> = servers.keys().map(ServerId::as_str).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(servers.get("b").map(|s| s.stats.last_index), Some(3));
    }

    #[test]
    fn from_sorted_sorts_input_that_is_not() {
        let servers = Servers::from_sorted(vec![state("c", 1), state("a", 2), state("c", 3)]);
        let ids: Vec<&str> = servers.keys().map(ServerId::as_str).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(servers["c"].stats.last_index, 3);
        let sorted = Servers::from_sorted(vec![state("a", 1), state("b", 2)]);
        assert_eq!(sorted.len(), 2);
    }

    #[test]
    fn insert_remove_and_retain_keep_the_order() {
        let mut servers = Servers::new();
        for id in ["m", "c", "x", "a"] {
            assert!(servers.insert(id.into(), state(id, 0).1).is_none());
        }
        assert!(servers.insert("c".into(), state("c", 9).1).is_some());
        assert_eq!(servers.remove("x").map(|s| s.stats.last_index), Some(0));
        assert!(servers.remove("x").is_none());
        servers.retain(|id, _| id.as_str() != "m");
        let ids: Vec<&str> = servers.keys().map(ServerId::as_str).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(servers["c"].stats.last_index, 9);
        assert!(servers.contains_key("a") && !servers.contains_key("m"));
    }

    #[test]
    fn json_is_an_object_by_id_and_a_repeated_id_is_refused() {
        let servers: Servers = [state("b", 1), state("a", 2)].into_iter().collect();
        let json = serde_json::to_value(&servers).expect("serialises");
        let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["a", "b"]);
        let back: Servers = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, servers);
        let null: Servers = serde_json::from_str("null").expect("null");
        assert!(null.is_empty());
        let entry = serde_json::to_string(&servers["a"]).expect("entry");
        let twice = format!("{{\"a\":{entry},\"a\":{entry}}}");
        let err = serde_json::from_str::<Servers>(&twice).expect_err("refused");
        assert!(err.to_string().contains("duplicate server id"), "{err}");
    }
}
