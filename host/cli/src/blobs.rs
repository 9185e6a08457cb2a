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
//!
//! A durable node (`--data-dir DIR`) also keeps its components as files in
//! `DIR/blobs/<digest>.wasm`, so a whole cluster restarted at once still has them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// How many components a node keeps (the most recently stored or used first): the
/// active one, and a few before it for swaps back.
pub const KEPT_BLOBS: usize = 4;

/// A component's digest (sha256, hex) and bytes.
type Blob = (String, Arc<Vec<u8>>);

/// A node's components by digest, least recently used first: in memory, and also
/// in a directory for a durable node.
#[derive(Debug, Clone, Default)]
pub struct Blobs {
    kept: Arc<Mutex<VecDeque<Blob>>>,
    dir: Option<PathBuf>,
}

impl Blobs {
    /// Components kept in memory and as files in `dir` (created when first needed);
    /// those already there are found when asked for.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self {
            kept: Arc::default(),
            dir: Some(dir),
        }
    }

    /// Keeps `bytes` under `digest` (the caller has checked it), forgetting the least
    /// recently used component beyond [`KEPT_BLOBS`] (its file too).
    pub fn put(&self, digest: &str, bytes: Arc<Vec<u8>>) {
        let mut forgotten = Vec::new();
        {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            kept.retain(|(d, _)| d != digest);
            kept.push_back((digest.to_owned(), bytes.clone()));
            while kept.len() > KEPT_BLOBS {
                forgotten.extend(kept.pop_front().map(|(d, _)| d));
            }
        }
        if let Some(dir) = self.dir.clone() {
            let digest = digest.to_owned();
            let write = move || store_file(&dir, &digest, &bytes, &forgotten);
            // Tens of MB and a sync: off the async executor when on one (the copy in
            // memory serves meanwhile).
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(write)),
                Err(_) => write(),
            }
        }
    }

    /// The component with this digest, if this node holds it (it becomes the most
    /// recently used). A durable node also looks in its directory (the file must
    /// still match the digest).
    pub fn get(&self, digest: &str) -> Option<Arc<Vec<u8>>> {
        {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = kept.iter().position(|(d, _)| d == digest) {
                let entry = kept.remove(at)?;
                let bytes = entry.1.clone();
                kept.push_back(entry);
                return Some(bytes);
            }
        }
        let path = file(self.dir.as_ref()?, digest)?;
        let bytes = std::fs::read(path).ok()?;
        if autopilot::sha256_hex(&bytes) != digest {
            tracing::warn!(
                digest,
                "a stored component no longer matches its digest; ignored"
            );
            return None;
        }
        let bytes = Arc::new(bytes);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.push_back((digest.to_owned(), bytes.clone()));
        while kept.len() > KEPT_BLOBS {
            kept.pop_front();
        }
        Some(bytes)
    }
}

/// The file for `digest` in `dir`, if the digest is one (64 hex digits: nothing else
/// becomes a path).
fn file(dir: &std::path::Path, digest: &str) -> Option<PathBuf> {
    let hex = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| dir.join(format!("{digest}.wasm")))
}

/// Writes the component's file (whole or not at all: a temporary file renamed) and
/// removes the forgotten ones'. A failure is logged: the copy in memory still serves.
fn store_file(dir: &std::path::Path, digest: &str, bytes: &[u8], forgotten: &[String]) {
    let Some(path) = file(dir, digest) else {
        return;
    };
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let temporary = path.with_extension("partial");
        std::fs::write(&temporary, bytes)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &path)
    });
    if let Err(e) = written {
        tracing::warn!(digest, "cannot keep the component on disk: {e}");
    }
    for old in forgotten {
        if let Some(old) = file(dir, old) {
            let _ = std::fs::remove_file(old);
        }
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

    #[test]
    fn a_durable_node_finds_its_components_on_disk_and_checks_them() {
        let dir = std::env::temp_dir().join(format!("autopilot-blobs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bytes = b"a component".to_vec();
        let digest = autopilot::sha256_hex(&bytes);
        Blobs::in_dir(dir.clone()).put(&digest, Arc::new(bytes.clone()));
        // A new node on the same directory (as after a restart) finds it.
        assert_eq!(
            Blobs::in_dir(dir.clone()).get(&digest).as_deref(),
            Some(&bytes)
        );
        // A file that no longer matches its digest is not served.
        std::fs::write(dir.join(format!("{digest}.wasm")), b"tampered").expect("written");
        assert!(Blobs::in_dir(dir.clone()).get(&digest).is_none());
        // Only digests become file names.
        assert!(Blobs::in_dir(dir.clone()).get("../escape").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
