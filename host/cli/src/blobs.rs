//! Policy components shipped beside the Raft log, not in it.
//!
//! A Python or JavaScript policy is 12 to 18 MB. In one Raft entry it would have to
//! reach every follower within a heartbeat (openraft 0.9 retries an append it has not
//! heard back from by then, and followers that hear no heartbeat depose the leader), so
//! the log carries only the component's digest and size ([`crate::types::StoredPolicy`])
//! and the bytes travel on their own: before the entry is written, the leader hands the
//! component to every member it can reach ([`crate::network::Rpc::PutBlob`]) and goes
//! on only once a majority of the voters hold it. Any later leader was elected by a
//! majority, which shares a member with that one, so it can always fetch the bytes it
//! lacks ([`crate::network::Rpc::GetBlob`]) and checks them against the digest.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// How many components a node keeps (the most recently stored or used first): the
/// active one, and a few before it for swaps back.
pub const KEPT_BLOBS: usize = 4;

/// A component's digest (sha256, hex) and bytes.
type Blob = (String, Arc<Vec<u8>>);

/// A node's components by digest, in memory like the rest of the demo service's
/// state, least recently used first.
#[derive(Debug, Clone, Default)]
pub struct Blobs {
    kept: Arc<Mutex<VecDeque<Blob>>>,
}

impl Blobs {
    /// Keeps `bytes` under `digest` (the caller has checked it), forgetting the least
    /// recently used component beyond [`KEPT_BLOBS`].
    pub fn put(&self, digest: &str, bytes: Arc<Vec<u8>>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(d, _)| d != digest);
        kept.push_back((digest.to_owned(), bytes));
        while kept.len() > KEPT_BLOBS {
            kept.pop_front();
        }
    }

    /// The component with this digest, if this node holds it (it becomes the most
    /// recently used).
    pub fn get(&self, digest: &str) -> Option<Arc<Vec<u8>>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let at = kept.iter().position(|(d, _)| d == digest)?;
        let entry = kept.remove(at)?;
        let bytes = entry.1.clone();
        kept.push_back(entry);
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Blobs, KEPT_BLOBS};

    #[test]
    fn keeps_the_most_recently_used_components() {
        let blobs = Blobs::default();
        for i in 0..KEPT_BLOBS {
            blobs.put(
                &format!("d{i}"),
                Arc::new(vec![u8::try_from(i).unwrap_or(0)]),
            );
        }
        // Using the oldest makes it the newest; the next put forgets d1 instead.
        assert!(blobs.get("d0").is_some());
        blobs.put("new", Arc::new(vec![9]));
        assert!(blobs.get("d1").is_none());
        assert_eq!(blobs.get("d0").as_deref(), Some(&vec![0]));
        assert_eq!(blobs.get("new").as_deref(), Some(&vec![9]));
        assert!(blobs.get("absent").is_none());
    }
}
