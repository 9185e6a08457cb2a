//! A durable node's data directory (`autopilot node --data-dir DIR`): the Raft log, the
//! vote, the committed log id and the latest snapshot of the state machine in one
//! [redb](https://docs.rs/redb) database, `DIR/raft.redb`.
//!
//! redb is pure Rust, keeps everything in one file and commits each write transaction
//! atomically and durably (fsync before `commit` returns), so a node killed at any
//! instant reopens at its last commit. The state machine itself is not written on
//! every apply: on start it is the stored snapshot, and openraft applies the committed
//! log entries after it again (the log keeps every entry the snapshot does not hold).
//!
//! A directory is refused, never wiped, when it holds another node's data, something
//! other than this node's database, or a database that fails its integrity check.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::{Entry, LogId, SnapshotMeta, Vote};
use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};

use crate::types::{NodeId, TypeConfig};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// What the `format` entry holds: which program wrote the directory, in which layout.
const FORMAT: &[u8] = b"autopilot-demo-node/1";

/// The database's file name in the data directory.
pub const FILE: &str = "raft.redb";

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The directory belongs to another node.
    #[error("{dir}: this data directory belongs to node {owner}, not node {node}")]
    Foreign {
        /// The directory.
        dir: PathBuf,
        /// The node it belongs to.
        owner: NodeId,
        /// The node asking.
        node: NodeId,
    },
    /// The directory holds something else.
    #[error("{dir}: {message}; refusing to use it (nothing was changed)")]
    Refused {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{dir}: {message}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
}

/// What a data directory held when it was opened.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The log entries, by index.
    pub entries: Vec<Entry<TypeConfig>>,
    /// The last purged log id.
    pub purged: Option<LogId<NodeId>>,
    /// The last committed log id saved.
    pub committed: Option<LogId<NodeId>>,
    /// The vote.
    pub vote: Option<Vote<NodeId>>,
    /// The latest snapshot: its meta and the state machine's data as bytes.
    pub snapshot: Option<(SnapshotMeta<NodeId, openraft::BasicNode>, Vec<u8>)>,
}

impl Loaded {
    /// Whether the directory held any Raft state (the node has been part of a
    /// cluster: it must not bootstrap or join again).
    pub fn has_state(&self) -> bool {
        self.vote.is_some() || !self.entries.is_empty() || self.snapshot.is_some()
    }
}

/// An open data directory (until [`Disk::close`]).
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    db: std::sync::RwLock<Option<Database>>,
    delay: DiskDelay,
}

/// Extra time every write transaction takes: a slow disk, for fault runs. Shared, so a
/// test can slow a running node's disk down and speed it up again; zero (the default,
/// and what the command uses) adds nothing.
#[derive(Debug, Clone, Default)]
pub struct DiskDelay(Arc<AtomicU64>);

impl DiskDelay {
    /// Makes every later write transaction take `delay` longer.
    pub fn set(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.0.store(micros, Ordering::Relaxed);
    }

    /// The delay now.
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }

    /// Waits the delay (the write path is synchronous, as a slow `fsync` would be).
    fn stall(&self) {
        let delay = self.get();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
}

impl Disk {
    /// Opens (creating if need be) `dir` for node `node`, and reads what it holds.
    ///
    /// Blocking: it may wait up to 5 s for a database another holder is closing.
    ///
    /// # Errors
    /// When the directory belongs to another node, holds files other than this
    /// node's database, or the database cannot be opened, is in use, or fails its
    /// integrity check; nothing in the directory is changed then.
    pub fn open(dir: &Path, node: NodeId) -> Result<(Self, Loaded), DiskError> {
        let refused = |message: String| DiskError::Refused {
            dir: dir.to_owned(),
            message,
        };
        let io = |e: &dyn std::fmt::Display| DiskError::Io {
            dir: dir.to_owned(),
            message: e.to_string(),
        };
        if dir.exists() && !dir.is_dir() {
            return Err(refused("not a directory".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        let file = dir.join(FILE);
        let others: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| io(&e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != FILE && name != "blobs")
            .collect();
        let fresh = !file.exists();
        if fresh && !others.is_empty() {
            return Err(refused(format!(
                "not empty ({}) and holds no {FILE}: not a node's data directory",
                others.join(", ")
            )));
        }
        if !fresh {
            // Who it belongs to, read without writing: a refused directory is left
            // byte for byte as it was. A database a crash left needing repair cannot
            // be opened read-only; the check then follows the repair.
            match busy_wait(|| open_read_only(&file)) {
                Ok(db) => {
                    let read = db.begin_read().map_err(|e| io(&e))?;
                    check_identity(dir, &read, node)?;
                }
                Err(Opening::NeedsRepair) => {}
                Err(other) => return Err(other.refusal(dir)),
            }
        }
        let db = busy_wait(|| open_checked(&file, fresh)).map_err(|o| o.refusal(dir))?;
        let disk = Self {
            dir: dir.to_owned(),
            db: std::sync::RwLock::new(Some(db)),
            delay: DiskDelay::default(),
        };
        if fresh {
            disk.write_meta(&[("format", FORMAT.to_vec()), ("node", json(&node)?)])?;
            return Ok((disk, Loaded::default()));
        }
        let loaded = disk.load(node)?;
        Ok((disk, loaded))
    }

    fn io(&self, e: impl std::fmt::Display) -> DiskError {
        DiskError::Io {
            dir: self.dir.clone(),
            message: e.to_string(),
        }
    }

    fn load(&self, node: NodeId) -> Result<Loaded, DiskError> {
        let refused = |message: String| DiskError::Refused {
            dir: self.dir.clone(),
            message,
        };
        let read = self.begin_read()?;
        check_identity(&self.dir, &read, node)?;
        let meta = read.open_table(META).map_err(|e| self.io(e))?;
        let get = |key: &str| -> Result<Option<Vec<u8>>, DiskError> {
            Ok(meta
                .get(key)
                .map_err(|e| self.io(e))?
                .map(|v| v.value().to_vec()))
        };
        let committed: Option<Option<LogId<NodeId>>> =
            optional(get("committed")?).map_err(&refused)?;
        let mut loaded = Loaded {
            purged: optional(get("purged")?).map_err(&refused)?,
            committed: committed.flatten(),
            vote: optional(get("vote")?).map_err(&refused)?,
            ..Loaded::default()
        };
        if let (Some(meta_bytes), Some(data)) = (get("snapshot_meta")?, get("snapshot_data")?) {
            loaded.snapshot = Some((parse(&meta_bytes).map_err(&refused)?, data));
        }
        if let Ok(log) = read.open_table(LOG) {
            for row in log.iter().map_err(|e| self.io(e))? {
                let (_, value) = row.map_err(|e| self.io(e))?;
                loaded.entries.push(parse(value.value()).map_err(&refused)?);
            }
        }
        Ok(loaded)
    }

    fn begin_read(&self) -> Result<ReadTransaction, DiskError> {
        let guard = self
            .db
            .read()
            .map_err(|_| self.io("the database lock is poisoned"))?;
        let db = guard.as_ref().ok_or_else(|| self.io(CLOSED))?;
        db.begin_read().map_err(|e| self.io(e))
    }

    /// Slows every later write down by `delay` (see [`DiskDelay`]).
    pub fn set_delay(&mut self, delay: DiskDelay) {
        self.delay = delay;
    }

    fn begin_write(&self) -> Result<WriteTransaction, DiskError> {
        self.delay.stall();
        let guard = self
            .db
            .read()
            .map_err(|_| self.io("the database lock is poisoned"))?;
        let db = guard.as_ref().ok_or_else(|| self.io(CLOSED))?;
        db.begin_write().map_err(|e| self.io(e))
    }

    /// Closes the database (releasing its file lock at once); every later write or
    /// read fails. A stopping node calls it after Raft has stopped.
    pub fn close(&self) {
        let db = match self.db.write() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(db) = db {
            let _ = db.close();
        }
    }

    fn write_meta(&self, pairs: &[(&str, Vec<u8>)]) -> Result<(), DiskError> {
        let write = self.begin_write()?;
        {
            let mut meta = write.open_table(META).map_err(|e| self.io(e))?;
            for (key, value) in pairs {
                meta.insert(*key, value.as_slice())
                    .map_err(|e| self.io(e))?;
            }
        }
        write.commit().map_err(|e| self.io(e))
    }

    /// Saves the vote, durably.
    ///
    /// # Errors
    /// When the write fails.
    pub fn save_vote(&self, vote: &Vote<NodeId>) -> Result<(), DiskError> {
        self.write_meta(&[("vote", json(vote)?)])
    }

    /// Saves the committed log id.
    ///
    /// # Errors
    /// When the write fails.
    pub fn save_committed(&self, committed: Option<LogId<NodeId>>) -> Result<(), DiskError> {
        self.write_meta(&[("committed", json(&committed)?)])
    }

    /// Appends (or overwrites) log entries, durably, in one transaction.
    ///
    /// # Errors
    /// When the write fails.
    pub fn append(&self, entries: &[Entry<TypeConfig>]) -> Result<(), DiskError> {
        let write = self.begin_write()?;
        {
            let mut log = write.open_table(LOG).map_err(|e| self.io(e))?;
            for entry in entries {
                log.insert(entry.log_id.index, json(entry)?.as_slice())
                    .map_err(|e| self.io(e))?;
            }
        }
        write.commit().map_err(|e| self.io(e))
    }

    /// Removes the entries from `index` on.
    ///
    /// # Errors
    /// When the write fails.
    pub fn truncate(&self, index: u64) -> Result<(), DiskError> {
        let write = self.begin_write()?;
        {
            let mut log = write.open_table(LOG).map_err(|e| self.io(e))?;
            log.retain_in(index.., |_, _| false)
                .map_err(|e| self.io(e))?;
        }
        write.commit().map_err(|e| self.io(e))
    }

    /// Removes the entries up to `purged` and records it as purged, in one transaction.
    ///
    /// # Errors
    /// When the write fails.
    pub fn purge(&self, purged: LogId<NodeId>) -> Result<(), DiskError> {
        let write = self.begin_write()?;
        {
            let mut log = write.open_table(LOG).map_err(|e| self.io(e))?;
            log.retain_in(..=purged.index, |_, _| false)
                .map_err(|e| self.io(e))?;
            let mut meta = write.open_table(META).map_err(|e| self.io(e))?;
            meta.insert("purged", json(&purged)?.as_slice())
                .map_err(|e| self.io(e))?;
        }
        write.commit().map_err(|e| self.io(e))
    }

    /// Saves a snapshot (its meta and the state machine's data), replacing the last.
    ///
    /// # Errors
    /// When the write fails.
    pub fn save_snapshot(
        &self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        data: &[u8],
    ) -> Result<(), DiskError> {
        self.write_meta(&[
            ("snapshot_meta", json(meta)?),
            ("snapshot_data", data.to_vec()),
        ])
    }
}

const CLOSED: &str = "the data directory is closed (the node stopped)";

/// How long [`Disk::open`] waits for a database another holder is letting go of.
const BUSY_ATTEMPTS: u32 = 50;
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

enum Opening {
    /// Open elsewhere (its lock is held).
    Busy,
    /// A crash left it needing repair (only a writable open repairs).
    NeedsRepair,
    /// Not a database, or a damaged one.
    Failed(String),
}

impl Opening {
    fn refusal(self, dir: &Path) -> DiskError {
        let message = match self {
            Self::Busy => {
                format!("{FILE} is in use (is a node already running on this directory?)")
            }
            Self::NeedsRepair => format!("{FILE} needs a repair that did not happen"),
            Self::Failed(message) => format!("{FILE} is not a readable node database ({message})"),
        };
        DiskError::Refused {
            dir: dir.to_owned(),
            message,
        }
    }
}

/// Retries `open` while the database is busy: another holder (a node stopping in
/// this process, or a process exiting) lets go within moments; a running node never
/// does.
fn busy_wait<T>(mut open: impl FnMut() -> Result<T, Opening>) -> Result<T, Opening> {
    for _ in 0..BUSY_ATTEMPTS {
        match open() {
            Err(Opening::Busy) => std::thread::sleep(BUSY_PAUSE),
            other => return other,
        }
    }
    open()
}

fn opening(error: redb::DatabaseError) -> Opening {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => Opening::Busy,
        redb::DatabaseError::RepairAborted => Opening::NeedsRepair,
        e => Opening::Failed(e.to_string()),
    }
}

/// Opens the database read-only (writing nothing to it).
fn open_read_only(file: &Path) -> Result<ReadOnlyDatabase, Opening> {
    let file = file.to_owned();
    match std::panic::catch_unwind(move || ReadOnlyDatabase::open(&file)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(opening(e)),
        Err(_) => Err(Opening::Failed("the database's checks failed".into())),
    }
}

/// Opens the database for writing, checking its integrity; a panic in the database's
/// own checks (a file damaged outside it) is a refusal like any other.
fn open_checked(file: &Path, fresh: bool) -> Result<Database, Opening> {
    let file = file.to_owned();
    let opened = std::panic::catch_unwind(move || {
        let mut builder = Database::builder();
        builder.set_check_integrity_on_open(true);
        if fresh {
            builder.create(&file)
        } else {
            builder.open(&file)
        }
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(opening(e)),
        Err(_) => Err(Opening::Failed("the database's checks failed".into())),
    }
}

/// Refuses a database not written by an autopilot node, or written by another node.
fn check_identity(dir: &Path, read: &ReadTransaction, node: NodeId) -> Result<(), DiskError> {
    let refused = |message: String| DiskError::Refused {
        dir: dir.to_owned(),
        message,
    };
    let meta = read.open_table(META).map_err(|e| {
        refused(format!(
            "{FILE} has no node metadata ({e}): not a node's database"
        ))
    })?;
    let get = |key: &str| -> Result<Option<Vec<u8>>, DiskError> {
        Ok(meta
            .get(key)
            .map_err(|e| refused(format!("{FILE} cannot be read: {e}")))?
            .map(|v| v.value().to_vec()))
    };
    let format = get("format")?;
    if format.as_deref() != Some(FORMAT) {
        return Err(refused(format!(
            "{FILE} was not written by an autopilot node (format {:?})",
            format.map(|f| String::from_utf8_lossy(&f).into_owned())
        )));
    }
    let owner: NodeId = match get("node")? {
        Some(bytes) => parse(&bytes).map_err(&refused)?,
        None => return Err(refused(format!("{FILE} does not say which node it is"))),
    };
    if owner != node {
        return Err(DiskError::Foreign {
            dir: dir.to_owned(),
            owner,
            node,
        });
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, DiskError> {
    serde_json::to_vec(value).map_err(|e| DiskError::Io {
        dir: PathBuf::new(),
        message: format!("cannot encode: {e}"),
    })
}

fn optional<T: serde::de::DeserializeOwned>(bytes: Option<Vec<u8>>) -> Result<Option<T>, String> {
    bytes.map(|b| parse(&b)).transpose()
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("a record does not decode: {e}"))
}
