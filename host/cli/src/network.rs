//! The demo service's network: length-prefixed JSON messages over TCP, one request per
//! round trip. Carries Raft's own RPCs and the service's (client writes and reads,
//! joins, liveness probes, status, policy swaps).

use std::io;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::link::Link;
use crate::types::{NodeId, Request, TypeConfig};
use std::collections::BTreeMap;

use autopilot::{ServerId, State};

/// A request to a node.
#[derive(Debug, Serialize, Deserialize)]
pub enum Rpc {
    /// Raft: append entries (and heartbeats).
    Append(AppendEntriesRequest<TypeConfig>),
    /// Raft: request a vote.
    Vote(VoteRequest<NodeId>),
    /// Raft: install a snapshot chunk.
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A client write (only the leader accepts it).
    Write(Request),
    /// A linearizable read of a key (only the leader answers).
    Read(String),
    /// A linearizable read of the KV store (only the leader answers): the entry at
    /// `key`, or every entry under it if `recurse`.
    KvGet {
        /// The key, or the prefix.
        key: String,
        /// Every key starting with `key`.
        recurse: bool,
    },
    /// Set a key, check-and-set if `cas` is given (only the leader accepts it; see
    /// [`Request::KvPut`]).
    KvPut {
        /// The key.
        key: String,
        /// The value.
        #[serde(with = "crate::types::base64_bytes")]
        value: Vec<u8>,
        /// The modify index it must replace (0: the key must be absent).
        cas: Option<u64>,
    },
    /// Delete a key or a prefix (only the leader accepts it; see
    /// [`Request::KvDelete`]).
    KvDelete {
        /// The key, or the prefix.
        key: String,
        /// The modify index the key must have.
        cas: Option<u64>,
        /// Every key starting with `key`.
        recurse: bool,
    },
    /// A new server asks to join the cluster (only the leader accepts it).
    Join {
        /// Its id.
        id: NodeId,
        /// Its RPC address.
        address: String,
        /// Its software version.
        version: String,
    },
    /// Liveness probe.
    Ping,
    /// The node's view (and, on the leader, autopilot's state) for operators.
    Status,
    /// Swap the autopilot policy to this component (only the leader accepts it). The
    /// record carries the bytes as base64 and their digest, checked on arrival.
    SetPolicy(autopilot::PolicyRecord),
    /// What this component would do on the latest round, swapping nothing (only the
    /// leader answers).
    PreviewPolicy(autopilot::PolicyRecord),
    /// The latest round's record in `autopilot plan`'s layout (only the leader answers).
    Record,
    /// Keep this component (any node accepts it; the digest is checked): the leader
    /// ships a policy beside the log before the log names it ([`crate::blobs`]).
    PutBlob(autopilot::PolicyRecord),
    /// The component with this digest, if the node holds it (any node answers).
    GetBlob(String),
    /// Replace autopilot's configuration, check-and-set on the modify index if `cas`
    /// is given (only the leader accepts it).
    SetConfig {
        /// The new configuration.
        config: autopilot::Config,
        /// The modify index it must replace.
        cas: Option<u64>,
    },
}

/// A node's view of the cluster, for operators and the demo.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node.
    pub id: NodeId,
    /// Whether it leads.
    pub leader: bool,
    /// The leader it knows of.
    pub current_leader: Option<NodeId>,
    /// Its term.
    pub term: u64,
    /// Its last log index.
    pub last_index: u64,
    /// Autopilot's latest state (leader only).
    pub autopilot: Option<State>,
    /// Why autopilot does or does not act on each server, as of that state (leader
    /// only; servers without a reason are absent).
    #[serde(default)]
    pub reasons: BTreeMap<ServerId, String>,
}

/// A node's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// To `Append`.
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To `Vote`.
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To `Snapshot`.
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// Done.
    Ok,
    /// A read's value.
    Value(Option<String>),
    /// Not the leader; the leader if known.
    NotLeader(Option<(NodeId, String)>),
    /// To `Ping`: the node's term and last log index.
    Pong {
        /// Its term.
        term: u64,
        /// Its last log index.
        last_index: u64,
    },
    /// To `Status`.
    Status(StatusReport),
    /// To `SetPolicy`: the policy now active.
    PolicySet(autopilot::ActivePolicy),
    /// To `PreviewPolicy`: the plan as JSON (`autopilot plan --json`'s layout, with
    /// `Faults`).
    Preview(String),
    /// To `Record`: the snapshot as JSON, `None` before the first round.
    Record(Option<String>),
    /// To `SetConfig`, `KvPut` and `KvDelete`: whether it was applied (false: the
    /// check-and-set index did not match).
    Applied(bool),
    /// To `KvGet`: the entries found (in key order) and the leader's applied index
    /// when it read them.
    Kv {
        /// Each key with its entry.
        entries: Vec<(String, crate::types::KvEntry)>,
        /// The index of the last entry applied when read.
        index: u64,
    },
    /// To `GetBlob`: the component, if held.
    Blob(Option<autopilot::PolicyRecord>),
    /// The request failed.
    Error(String),
}

/// Sends one request over `link` and waits for the reply, within `timeout`.
///
/// # Errors
/// As [`Link::call`]: I/O failures, a refused key, a timeout.
pub async fn call(link: &Link, address: &str, rpc: &Rpc, timeout: Duration) -> io::Result<Reply> {
    if let Link::Faulty(faulty) = link {
        // Raft's messages may arrive twice (a leader re-sends them); the service's
        // own requests are not retried, so a duplicate of one is not a fault to
        // inject.
        let raft = matches!(rpc, Rpc::Append(_) | Rpc::Vote(_) | Rpc::Snapshot(_));
        return faulty.call(address, rpc, timeout, raft).await;
    }
    link.call(address, rpc, timeout).await
}

/// Opens clients to other nodes for openraft, over this node's [`Link`].
#[derive(Debug, Clone)]
pub struct Network {
    /// How this node reaches its peers.
    pub link: Link,
}

/// A client to one node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    target: NodeId,
    address: String,
    link: Link,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = NodeClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        NodeClient {
            target,
            address: node.addr.clone(),
            link: self.link.clone(),
        }
    }
}

impl NodeClient {
    async fn send<E: std::error::Error>(
        &self,
        rpc: &Rpc,
        option: &RPCOption,
    ) -> Result<Reply, RPCError<NodeId, BasicNode, E>> {
        call(&self.link, &self.address, rpc, option.hard_ttl())
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionRefused => RPCError::Unreachable(Unreachable::new(&e)),
                _ => RPCError::Network(NetworkError::new(&e)),
            })
    }

    fn unexpected<E: std::error::Error>(&self, reply: Reply) -> RPCError<NodeId, BasicNode, E> {
        let e = io::Error::other(format!(
            "unexpected reply from node {}: {reply:?}",
            self.target
        ));
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for NodeClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.send(&Rpc::Append(rpc), &option).await? {
            Reply::Append(Ok(r)) => Ok(r),
            Reply::Append(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.send(&Rpc::Snapshot(rpc), &option).await? {
            Reply::Snapshot(Ok(r)) => Ok(r),
            Reply::Snapshot(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.send(&Rpc::Vote(rpc), &option).await? {
            Reply::Vote(Ok(r)) => Ok(r),
            Reply::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }
}
