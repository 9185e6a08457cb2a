//! Storage for the demo service: the Raft log, the vote, and the state machine (with
//! whole-state snapshots), in memory; with a data directory ([`crate::disk`]) every
//! write to the log, the vote and the snapshots reaches the disk before it is
//! acknowledged, and a restarted node reads them back.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use tokio::sync::{Mutex, RwLock};

use crate::disk::{Disk, DiskError, Loaded};
use crate::types::{ConfigRecord, Data, KvEntry, NodeId, Request, Response, TypeConfig};

#[derive(Debug, Default)]
struct Log {
    purged: Option<LogId<NodeId>>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
}

/// The Raft log and vote: in memory, and on disk if the node has a data directory.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    log: Arc<Mutex<Log>>,
    disk: Option<Arc<Disk>>,
}

impl LogStore {
    /// A log kept in `disk`, starting from what it held.
    pub fn durable(disk: Arc<Disk>, loaded: &mut Loaded) -> Self {
        let log = Log {
            purged: loaded.purged,
            entries: std::mem::take(&mut loaded.entries)
                .into_iter()
                .map(|e| (e.log_id.index, e))
                .collect(),
            committed: loaded.committed,
            vote: loaded.vote,
        };
        Self {
            log: Arc::new(Mutex::new(log)),
            disk: Some(disk),
        }
    }
}

fn disk_error(e: DiskError) -> StorageError<NodeId> {
    StorageIOError::write(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let log = self.log.lock().await;
        Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let log = self.log.lock().await;
        let last = log
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(log.purged);
        Ok(LogState {
            last_purged_log_id: log.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
        if let Some(disk) = &self.disk {
            disk.save_vote(vote).map_err(disk_error)?;
        }
        log.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.log.lock().await.vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
        if let Some(disk) = &self.disk {
            disk.save_committed(committed).map_err(disk_error)?;
        }
        log.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.log.lock().await.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut log = self.log.lock().await;
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        // On disk first (one transaction, synced): acknowledged means durable.
        if let Some(disk) = &self.disk
            && let Err(e) = disk.append(&entries)
        {
            let error = std::io::Error::other(e.to_string());
            callback.log_io_completed(Err(error));
            return Err(disk_error(e));
        }
        for entry in entries {
            log.entries.insert(entry.log_id.index, entry);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
        if let Some(disk) = &self.disk {
            disk.truncate(log_id.index).map_err(disk_error)?;
        }
        log.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
        if let Some(disk) = &self.disk {
            disk.purge(log_id).map_err(disk_error)?;
        }
        log.purged = Some(log_id);
        log.entries = log.entries.split_off(&(log_id.index + 1));
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Machine {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, openraft::BasicNode>,
    data: Data,
    snapshot: Option<(SnapshotMeta<NodeId, openraft::BasicNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// The replicated state machine, in memory (with its snapshots on disk if the node
/// has a data directory). Clones share it; the service reads the data through
/// [`StateMachine::data`].
#[derive(Debug, Clone, Default)]
pub struct StateMachine {
    machine: Arc<RwLock<Machine>>,
    disk: Option<Arc<Disk>>,
}

impl StateMachine {
    /// A state machine whose snapshots are kept in `disk`, starting from the last one
    /// it held (openraft then applies the committed entries after it again).
    ///
    /// # Errors
    /// When the stored snapshot does not decode.
    pub fn durable(disk: Arc<Disk>, loaded: &mut Loaded) -> Result<Self, serde_json::Error> {
        let mut machine = Machine::default();
        if let Some((meta, bytes)) = loaded.snapshot.take() {
            machine.data = serde_json::from_slice(&bytes)?;
            machine.last_applied = meta.last_log_id;
            machine.membership = meta.last_membership.clone();
            machine.snapshot = Some((meta, bytes));
        }
        Ok(Self {
            machine: Arc::new(RwLock::new(machine)),
            disk: Some(disk),
        })
    }

    /// Closes the data directory, if any: a stopping node calls it once Raft has
    /// stopped, so the directory can be opened again at once.
    pub fn close(&self) {
        if let Some(disk) = &self.disk {
            disk.close();
        }
    }

    /// A copy of the replicated data as applied on this node.
    pub async fn data(&self) -> Data {
        self.machine.read().await.data.clone()
    }

    /// The entry at `key` (or, if `recurse`, every entry whose key starts with `key`,
    /// in key order), and the index of the last entry applied here.
    pub async fn kv(&self, key: &str, recurse: bool) -> (Vec<(String, KvEntry)>, u64) {
        let machine = self.machine.read().await;
        let kv = &machine.data.kv;
        let entries = if recurse {
            kv.range::<str, _>((std::ops::Bound::Included(key), std::ops::Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(key))
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect()
        } else {
            kv.get(key)
                .map(|e| vec![(key.to_owned(), e.clone())])
                .unwrap_or_default()
        };
        (entries, machine.last_applied.map_or(0, |id| id.index))
    }

    /// The replicated autopilot configuration record, if set (without copying the
    /// rest of the data).
    pub async fn config(&self) -> Option<ConfigRecord> {
        self.machine.read().await.data.config.clone()
    }
}

/// Writes `key` at log `index` (keeping its create index), returning the old value.
fn put(
    kv: &mut BTreeMap<String, KvEntry>,
    key: String,
    value: Vec<u8>,
    index: u64,
) -> Option<Vec<u8>> {
    let create_index = kv.get(&key).map_or(index, |e| e.create_index);
    kv.insert(
        key,
        KvEntry {
            value,
            create_index,
            modify_index: index,
        },
    )
    .map(|old| old.value)
}

fn io_error(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let mut machine = self.machine.write().await;
        let bytes = serde_json::to_vec(&machine.data).map_err(io_error)?;
        machine.snapshots_built += 1;
        let meta = SnapshotMeta {
            last_log_id: machine.last_applied,
            last_membership: machine.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                machine.last_applied.map_or(0, |l| l.index),
                machine.snapshots_built
            ),
        };
        // On disk before openraft may purge the log entries it holds.
        if let Some(disk) = &self.disk {
            disk.save_snapshot(&meta, &bytes).map_err(disk_error)?;
        }
        machine.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<NodeId>>,
            StoredMembership<NodeId, openraft::BasicNode>,
        ),
        StorageError<NodeId>,
    > {
        let machine = self.machine.read().await;
        Ok((machine.last_applied, machine.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut machine = self.machine.write().await;
        let mut responses = Vec::new();
        for entry in entries {
            machine.last_applied = Some(entry.log_id);
            let mut response = Response::default();
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(membership) => {
                    machine.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
                EntryPayload::Normal(request) => match request {
                    Request::Set { key, value } => {
                        let index = entry.log_id.index;
                        response.previous = put(&mut machine.data.kv, key, value.into(), index)
                            .map(|old| String::from_utf8_lossy(&old).into_owned());
                        response.applied = true;
                    }
                    Request::KvPut { key, value, cas } => {
                        let current = machine.data.kv.get(&key).map(|e| e.modify_index);
                        if cas.is_none_or(|cas| cas == current.unwrap_or(0)) {
                            put(&mut machine.data.kv, key, value, entry.log_id.index);
                            response.applied = true;
                        }
                    }
                    Request::KvDelete { key, cas, recurse } => {
                        let kv = &mut machine.data.kv;
                        response.applied = match cas {
                            None if recurse => {
                                kv.retain(|k, _| !k.starts_with(&key));
                                true
                            }
                            None => {
                                kv.remove(&key);
                                true
                            }
                            Some(0) => false,
                            Some(n) if kv.get(&key).is_some_and(|e| e.modify_index == n) => {
                                kv.remove(&key);
                                true
                            }
                            Some(_) => false,
                        };
                    }
                    Request::Register {
                        id,
                        address,
                        version,
                    } => {
                        // A registration without a version keeps a known one.
                        let entry = machine.data.servers.entry(id).or_default();
                        entry.address = address;
                        if !version.is_empty() {
                            entry.version = version;
                        }
                    }
                    Request::Deregister { id } => {
                        machine.data.servers.remove(&id);
                    }
                    Request::SetPolicy(record) => machine.data.policy = Some(record),
                    Request::SetConfig { config, cas } => {
                        let current = machine.data.config.as_ref();
                        let modify_index = current.map_or(0, |r| r.modify_index);
                        if cas.is_none_or(|cas| cas == modify_index) {
                            let create_index =
                                current.map_or(entry.log_id.index, |r| r.create_index);
                            machine.data.config = Some(ConfigRecord {
                                config,
                                create_index,
                                modify_index: entry.log_id.index,
                            });
                            response.applied = true;
                        }
                    }
                },
            }
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let data: Data = serde_json::from_slice(&bytes).map_err(io_error)?;
        let mut machine = self.machine.write().await;
        if let Some(disk) = &self.disk {
            disk.save_snapshot(meta, &bytes).map_err(disk_error)?;
        }
        machine.data = data;
        machine.last_applied = meta.last_log_id;
        machine.membership = meta.last_membership.clone();
        machine.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let machine = self.machine.read().await;
        Ok(machine.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(bytes.clone())),
        }))
    }
}
