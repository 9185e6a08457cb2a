//! In-memory storage for the demo service: the Raft log, the vote, and the state
//! machine (with whole-state snapshots). Enough for a demo and tests; a real service
//! keeps these on disk.

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

use crate::types::{ConfigRecord, Data, KvEntry, NodeId, Request, Response, TypeConfig};

#[derive(Debug, Default)]
struct Log {
    purged: Option<LogId<NodeId>>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
}

/// The Raft log and vote, in memory.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    log: Arc<Mutex<Log>>,
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
        self.log.lock().await.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.log.lock().await.vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.log.lock().await.committed = committed;
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
        for entry in entries {
            log.entries.insert(entry.log_id.index, entry);
        }
        // In memory, so durable as soon as it is written.
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
        log.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut log = self.log.lock().await;
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

/// The replicated state machine, in memory. Clones share it; the service reads the
/// data through [`StateMachine::data`].
#[derive(Debug, Clone, Default)]
pub struct StateMachine {
    machine: Arc<RwLock<Machine>>,
}

impl StateMachine {
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
