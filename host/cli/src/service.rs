//! The demo service: a replicated key-value store on openraft with autopilot running on
//! whichever node leads. It answers the RPCs of `network.rs`, keeps the registry of
//! servers in the replicated state, probes liveness itself, and implements
//! `runtime::Application`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::{BasicNode, Raft as OpenRaft, ServerState};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::blobs::Blobs;
use crate::disk::Disk;
use crate::link::{HANDSHAKE_TIMEOUT, Link};
use crate::network::{Network, Reply, Rpc, StatusReport, call};
use crate::store::{LogStore, StateMachine};
use crate::types::{NodeId, Request, StoredPolicy, TypeConfig};
use autopilot::openraft::OpenraftNode;
use autopilot::{
    Application, ArtifactCache, Autopilot, Config, LastContact, NodeStatus, NodeType, PluginHost,
    PluginHostConfig, PolicyRecord, PolicySource, Reason, Server, ServerId, ServerStats, State,
    StoreError, explain_state,
};

/// How one demo node is set up.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Its id.
    pub id: NodeId,
    /// Where it listens (port 0: any free port).
    pub listen: SocketAddr,
    /// Initial members (id, address) when bootstrapping a new cluster; the lowest id
    /// initializes it. Empty when joining.
    pub bootstrap: Vec<(NodeId, String)>,
    /// A member to ask for admission, when joining.
    pub join: Option<String>,
    /// A policy component to run when this node first leads and none is recorded.
    pub policy: Option<Vec<u8>>,
    /// Autopilot's tunables.
    pub config: Config,
    /// Autopilot's state update interval.
    pub update_interval: Duration,
    /// Autopilot's reconcile interval.
    pub reconcile_interval: Duration,
    /// Where compiled policy components are cached.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The software version this node reports (what upgrade policies compare).
    pub version: String,
    /// How it talks to its peers (and they to it): with the cluster key, or in the
    /// clear for development.
    pub link: Link,
    /// Where to serve the operator's HTTP API (`crate::http`), if anywhere (port 0:
    /// any free port).
    pub http: Option<SocketAddr>,
    /// The bearer token the HTTP API's writes require; without one they are refused.
    pub http_token: Option<String>,
    /// Where the node keeps its Raft log, vote and snapshots ([`crate::disk`]); `None`:
    /// in memory only (a restarted node is a new, empty server).
    pub data_dir: Option<std::path::PathBuf>,
    /// Extra time each of a durable node's disk writes takes (fault runs' slow disks;
    /// zero by default).
    pub disk_delay: crate::disk::DiskDelay,
}

impl NodeOptions {
    /// Options with the demo's scaled-down timings: autopilot updates every 250 ms,
    /// reconciles every second, and a server is stable after 2 s.
    pub fn new(id: NodeId, listen: SocketAddr, link: Link) -> Self {
        Self {
            id,
            listen,
            bootstrap: Vec::new(),
            join: None,
            policy: None,
            config: Config {
                cleanup_dead_servers: true,
                last_contact_threshold: Duration::from_secs(1),
                max_trailing_logs: 500,
                min_quorum: 3,
                server_stabilization_time: Duration::from_secs(2),
                ext: serde_json::Value::Null,
            },
            update_interval: Duration::from_millis(250),
            reconcile_interval: Duration::from_secs(1),
            cache_dir: None,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            link,
            http: None,
            http_token: None,
            data_dir: None,
            disk_delay: crate::disk::DiskDelay::default(),
        }
    }
}

/// The service seen by autopilot.
#[derive(Clone)]
pub struct DemoApplication {
    id: NodeId,
    raft: OpenRaft<TypeConfig>,
    machine: StateMachine,
    config: Config,
    /// Last successful probe, or first sight, of each server.
    seen: Arc<Mutex<BTreeMap<NodeId, Instant>>>,
    latest: Arc<Mutex<Option<State>>>,
    dead_after: Duration,
    link: Link,
    /// Policy components, held beside the log.
    blobs: Blobs,
}

impl DemoApplication {
    /// The replicated configuration once an operator has set one, else this node's.
    pub async fn effective_config(&self) -> Config {
        self.machine
            .config()
            .await
            .map_or_else(|| self.config.clone(), |r| r.config)
    }

    /// The replicated configuration record, if an operator has set one.
    pub async fn config_record(&self) -> Option<crate::types::ConfigRecord> {
        self.machine.config().await
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, Instant>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Autopilot's latest state on this node.
    pub fn latest_state(&self) -> Option<State> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Application for DemoApplication {
    async fn autopilot_config(&self) -> Option<Config> {
        Some(self.effective_config().await)
    }

    async fn known_servers(&self) -> BTreeMap<ServerId, Server> {
        let data = self.machine.data().await;
        let now = Instant::now();
        let mut seen = self.seen();
        data.servers
            .iter()
            .map(|(id, registered)| {
                let address = &registered.address;
                let last = *seen.entry(*id).or_insert(now);
                let alive = *id == self.id || now.duration_since(last) <= self.dead_after;
                let mut server = Server::new(
                    id.to_string(),
                    address.clone(),
                    if alive {
                        NodeStatus::Alive
                    } else {
                        NodeStatus::Failed
                    },
                );
                server.name = format!("node-{id}").into();
                server.version = registered.version.as_str().into();
                server.raft_version = 3;
                server.node_type = NodeType::voter();
                (server.id.clone(), server)
            })
            .collect()
    }

    async fn fetch_server_stats(
        &self,
        servers: &BTreeMap<ServerId, Server>,
        budget: Duration,
    ) -> BTreeMap<ServerId, ServerStats> {
        let metrics = self.raft.metrics().borrow().clone();
        let mut stats = BTreeMap::new();
        let mut probes = JoinSet::new();
        for (id, server) in servers {
            if id.as_str() == self.id.to_string() {
                stats.insert(
                    id.clone(),
                    ServerStats {
                        last_contact: LastContact(0),
                        last_term: metrics.current_term,
                        last_index: metrics.last_log_index.unwrap_or(0),
                    },
                );
                continue;
            }
            let (id, address, link) = (id.clone(), server.address.clone(), self.link.clone());
            probes.spawn(async move {
                let started = Instant::now();
                let reply = call(&link, &address, &Rpc::Ping, budget).await;
                (id, started.elapsed(), reply)
            });
        }
        // Index and term from the leader's replication metrics (what each follower has
        // matched), so they need no RPC; the probe gives liveness and last contact
        // (openraft 0.9's metrics have no per-follower heartbeat times), and the
        // follower's own figures when the leader has no replication entry for it.
        let matched: BTreeMap<NodeId, (u64, u64)> = metrics
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter_map(|(id, log)| log.map(|l| (*id, (l.leader_id.term, l.index))))
                    .collect()
            })
            .unwrap_or_default();
        while let Some(Ok((id, rtt, reply))) = probes.join_next().await {
            if let Ok(Reply::Pong { term, last_index }) = reply {
                let node = id.as_str().parse::<NodeId>().ok();
                if let Some(node) = node {
                    self.seen().insert(node, Instant::now());
                }
                let (last_term, last_index) = node
                    .and_then(|n| matched.get(&n).copied())
                    .map_or((term, last_index), |(t, i)| (t.max(term), i));
                stats.insert(
                    id,
                    ServerStats {
                        last_contact: LastContact::from_duration(rtt),
                        last_term,
                        last_index,
                    },
                );
            }
        }
        stats
    }

    fn notify_state(&self, state: &State) {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(state.clone());
    }

    async fn remove_failed_server(&self, server: &Server) {
        let raft = self.raft.clone();
        let id = server.id.clone();
        tokio::spawn(async move {
            let node = OpenraftNode::new(raft.clone());
            if let Err(error) = autopilot::Raft::remove_server(&node, &id).await {
                tracing::warn!(%id, %error, "cannot remove the failed server from Raft");
            }
            if let Ok(n) = id.as_str().parse::<NodeId>() {
                let _ = raft.client_write(Request::Deregister { id: n }).await;
            }
        });
    }

    /// Ships a component to the members before the log names it (see [`crate::blobs`]),
    /// then records it through Raft.
    async fn store_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        if let PolicyRecord::Component { digest, bytes } = record {
            self.blobs.put(digest, Arc::new(bytes.clone()));
            self.share_blob(record).await?;
        }
        self.raft
            .client_write(Request::SetPolicy(StoredPolicy::of(record)))
            .await
            .map(|_| ())
            .map_err(|e| e.into())
    }

    /// The recorded policy, with its bytes from this node or, when it lacks them (it
    /// was down, or joined, when they were shipped), from a member that holds them.
    async fn stored_policy(&self) -> Option<PolicyRecord> {
        match self.machine.data().await.policy? {
            StoredPolicy::Builtin => Some(PolicyRecord::Builtin),
            StoredPolicy::Component { digest, .. } => {
                let bytes = match self.blobs.get(&digest) {
                    Some(bytes) => bytes,
                    None => self.fetch_blob(&digest).await?,
                };
                Some(PolicyRecord::Component {
                    digest,
                    bytes: bytes.to_vec(),
                })
            }
        }
    }
}

/// How long a member has to take or hand over a component (tens of MB on a LAN).
const BLOB_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a node announces itself to the leader.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(2);

impl DemoApplication {
    /// The other members (voters and learners) and whether each votes.
    fn peers(&self) -> Vec<(NodeId, String, bool)> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, node)| (*id, node.addr.clone(), voters.contains(id)))
            .collect()
    }

    /// Hands `record` to every other member at once; succeeds as soon as a majority of
    /// the voters (this node counted, if it votes) hold it, so that any later leader can
    /// fetch it, and lets the other transfers finish in the background (an unreachable
    /// member then costs the swap nothing while a majority answers).
    async fn share_blob(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        let voter_ids: Vec<NodeId> = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        let rpc = Arc::new(Rpc::PutBlob(record.clone()));
        let mut puts = JoinSet::new();
        for (id, address, votes) in self.peers() {
            let (link, rpc) = (self.link.clone(), rpc.clone());
            puts.spawn(async move {
                let reply = call(&link, &address, &rpc, BLOB_TIMEOUT).await;
                (id, votes, reply)
            });
        }
        let majority = voter_ids.len() / 2 + 1;
        let mut held = usize::from(voter_ids.contains(&self.id));
        let mut missing = Vec::new();
        while held < majority {
            let Some(done) = puts.join_next().await else {
                break;
            };
            let Ok((id, votes, reply)) = done else {
                continue;
            };
            match reply {
                Ok(Reply::Ok) => held += usize::from(votes),
                Ok(other) => missing.push(format!("{id}: {other:?}")),
                Err(e) => missing.push(format!("{id}: {e}")),
            }
        }
        if !missing.is_empty() {
            let missing = missing.join("; ");
            tracing::warn!(%missing, "some members lack the new policy component");
        }
        if held >= majority {
            // The rest may still take it (a later leader then has it at hand).
            tokio::spawn(async move {
                while let Some(done) = puts.join_next().await {
                    if let Ok((id, _, Err(error))) = done {
                        tracing::warn!(%id, %error, "a member did not take the new policy component");
                    }
                }
            });
            Ok(())
        } else {
            Err(format!(
                "the component reached {held} of {} voters, not a majority, so a later \
                 leader might not find it ({})",
                voter_ids.len(),
                missing.join("; ")
            )
            .into())
        }
    }

    /// Asks the other members for the component with `digest`, keeps the first copy
    /// whose bytes match it, and says so when none has it.
    async fn fetch_blob(&self, digest: &str) -> Option<Arc<Vec<u8>>> {
        let rpc = Rpc::GetBlob(digest.to_owned());
        for (id, address, _) in self.peers() {
            match call(&self.link, &address, &rpc, BLOB_TIMEOUT).await {
                Ok(Reply::Blob(Some(record))) => {
                    // Hashing is work for the blocking pool.
                    let checked =
                        tokio::task::spawn_blocking(move || (record.source(), record)).await;
                    match checked {
                        Ok((
                            Ok(PolicySource::Bytes(bytes)),
                            PolicyRecord::Component { digest: sent, .. },
                        )) if sent == digest => {
                            let bytes = Arc::new(bytes);
                            self.blobs.put(digest, bytes.clone());
                            return Some(bytes);
                        }
                        _ => tracing::warn!(%id, %digest, "a member sent another component"),
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%id, %error, "cannot ask for the policy component"),
            }
        }
        tracing::warn!(
            %digest,
            "no reachable member holds the recorded policy component; running the configured policy"
        );
        None
    }
}

/// One running demo node.
#[derive(Clone)]
pub struct DemoNode {
    id: NodeId,
    address: String,
    version: String,
    raft: OpenRaft<TypeConfig>,
    machine: StateMachine,
    autopilot: Autopilot<OpenraftNode<TypeConfig>, DemoApplication>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    link: Link,
    connections: Arc<Semaphore>,
    http_address: Option<String>,
    http_token: Option<Arc<str>>,
    /// Set when the node stops: its open connections close.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

/// At most this many connections are served at once; more are closed at once. With
/// the handshake's bounded messages, an unauthenticated peer holds at most about
/// 200 KiB, so a flood of connections costs at most about 25 MiB.
pub const MAX_CONNECTIONS: usize = 128;

/// A connection with no request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl DemoNode {
    /// Starts a node: Raft, the RPC server, bootstrap or join, and the task that runs
    /// autopilot while this node leads.
    pub async fn start(options: NodeOptions) -> anyhow::Result<Self> {
        // The data directory first: a refused one stops the node before it binds.
        let (log_store, machine, restarted) = match &options.data_dir {
            Some(dir) => {
                let (path, id) = (dir.clone(), options.id);
                let (mut disk, mut loaded) =
                    tokio::task::spawn_blocking(move || Disk::open(&path, id)).await??;
                disk.set_delay(options.disk_delay.clone());
                let restarted = loaded.has_state();
                let disk = Arc::new(disk);
                let machine =
                    StateMachine::durable(Arc::clone(&disk), &mut loaded).map_err(|e| {
                        anyhow::anyhow!(
                            "{}: the stored snapshot does not decode: {e}",
                            dir.display()
                        )
                    })?;
                (LogStore::durable(disk, &mut loaded), machine, restarted)
            }
            None => (LogStore::default(), StateMachine::default(), false),
        };
        let listener = TcpListener::bind(options.listen).await?;
        let address = listener.local_addr()?.to_string();
        let http = match options.http {
            Some(at) => Some(TcpListener::bind(at).await?),
            None => None,
        };
        let http_address = match &http {
            Some(l) => Some(l.local_addr()?.to_string()),
            None => None,
        };
        let raft_config = openraft::Config {
            cluster_name: "autopilot-demo".into(),
            heartbeat_interval: 100,
            election_timeout_min: 400,
            election_timeout_max: 800,
            ..openraft::Config::default()
        }
        .validate()?;
        let raft = OpenRaft::new(
            options.id,
            Arc::new(raft_config),
            Network {
                link: options.link.clone(),
            },
            log_store,
            machine.clone(),
        )
        .await?;
        let app = DemoApplication {
            id: options.id,
            raft: raft.clone(),
            machine: machine.clone(),
            config: options.config.clone(),
            seen: Arc::new(Mutex::new(BTreeMap::new())),
            latest: Arc::new(Mutex::new(None)),
            dead_after: options.config.last_contact_threshold * 2,
            link: options.link.clone(),
            blobs: match &options.data_dir {
                Some(dir) => Blobs::in_dir(dir.join("blobs")),
                None => Blobs::default(),
            },
        };
        let host = PluginHost::new(PluginHostConfig {
            cache: options
                .cache_dir
                .clone()
                .or_else(ArtifactCache::default_dir)
                .map(ArtifactCache::new),
            ..PluginHostConfig::default()
        })?;
        let autopilot = Autopilot::builder(OpenraftNode::new(raft.clone()), app)
            .update_interval(options.update_interval)
            .reconcile_interval(options.reconcile_interval)
            .reconciliation_enabled(true)
            .plugin_host(host)
            .build();
        let node = Self {
            id: options.id,
            address: address.clone(),
            version: options.version.clone(),
            raft: raft.clone(),
            machine,
            autopilot,
            tasks: Arc::new(Mutex::new(Vec::new())),
            link: options.link.clone(),
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            http_address,
            http_token: options.http_token.as_deref().map(Arc::from),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        };

        let serving = tokio::spawn(node.clone().serve(listener)).abort_handle();
        node.tasks().push(serving);
        if let Some(http) = http {
            let api = tokio::spawn(crate::http::serve(node.clone(), http)).abort_handle();
            node.tasks().push(api);
        }
        // A node restarted from its data directory is already a member: it neither
        // initializes a cluster nor waits to be admitted.
        if !restarted
            && let Some(first) = options.bootstrap.iter().map(|(id, _)| *id).min()
            && first == options.id
        {
            let members: BTreeMap<NodeId, BasicNode> = options
                .bootstrap
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            raft.initialize(members).await?;
        }
        let leading = tokio::spawn(node.clone().lead(options.policy.clone())).abort_handle();
        node.tasks().push(leading);
        // Every node announces itself (address and version) to the leader: a joining
        // one to be added, a bootstrap one to be registered. A new node joining waits
        // for its admission; the others announce in the background.
        if let Some(peer) = options.join.as_ref().filter(|_| !restarted) {
            node.join(peer).await?;
        }
        let peers: Vec<String> = options
            .join
            .iter()
            .cloned()
            .chain(options.bootstrap.iter().map(|(_, a)| a.clone()))
            .collect();
        let announcing = tokio::spawn(node.clone().announce(peers)).abort_handle();
        node.tasks().push(announcing);
        Ok(node)
    }

    /// Announces this node to the leader every [`ANNOUNCE_EVERY`] for as long as it
    /// runs, as a gossip layer's liveness would (Consul's leader re-adds a live serf
    /// member missing from Raft). A node removed while it was thought failed (its
    /// restart raced the removal, say) is so admitted again as a non-voter, and
    /// autopilot promotes it once it is stable; an announcement that changes nothing
    /// costs the leader no write. Peers: the ones it was started with and every
    /// member it knows of.
    async fn announce(self, peers: Vec<String>) {
        loop {
            let known: Vec<String> = {
                let metrics = self.raft.metrics().borrow().clone();
                metrics
                    .membership_config
                    .membership()
                    .nodes()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(_, n)| n.addr.clone())
                    .collect()
            };
            let mut candidates = known;
            for peer in &peers {
                if !candidates.contains(peer) && *peer != self.address {
                    candidates.push(peer.clone());
                }
            }
            for peer in &candidates {
                if self.join(peer).await.is_ok() {
                    break;
                }
            }
            tokio::time::sleep(ANNOUNCE_EVERY).await;
        }
    }

    /// The node's RPC address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Where the node serves the operator's HTTP API, if it does.
    pub fn http_address(&self) -> Option<&str> {
        self.http_address.as_deref()
    }

    /// The token the HTTP API's writes require, if writes are enabled.
    pub fn http_token(&self) -> Option<&str> {
        self.http_token.as_deref()
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The autopilot of this node (running only while it leads).
    pub fn autopilot(&self) -> &Autopilot<OpenraftNode<TypeConfig>, DemoApplication> {
        &self.autopilot
    }

    /// The openraft node.
    pub fn raft(&self) -> &OpenRaft<TypeConfig> {
        &self.raft
    }

    /// The node's replicated state machine.
    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::AbortHandle>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the node: its RPC server, autopilot and Raft (in-process tests use it as
    /// a crash).
    pub async fn shutdown(&self) {
        self.stopping.send_replace(true);
        for task in self.tasks().drain(..) {
            task.abort();
        }
        self.autopilot.stop().await;
        let _ = self.raft.shutdown().await;
        self.machine.close();
    }

    async fn join(&self, peer: &str) -> anyhow::Result<()> {
        let mut target = peer.to_owned();
        let rpc = Rpc::Join {
            id: self.id,
            address: self.address.clone(),
            version: self.version.clone(),
        };
        let mut last = String::from("no answer");
        for _ in 0..20 {
            match call(&self.link, &target, &rpc, Duration::from_secs(5)).await {
                Ok(Reply::Ok) => return Ok(()),
                Ok(Reply::NotLeader(Some((_, leader)))) => target = leader,
                // A refused key will not get better by retrying.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    anyhow::bail!("could not join the cluster through {peer}: {e}")
                }
                other => {
                    last = match other {
                        Ok(reply) => format!("{reply:?}"),
                        Err(e) => e.to_string(),
                    };
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        anyhow::bail!("could not join the cluster through {peer} (last: {last})")
    }

    /// Runs autopilot while this node leads.
    async fn lead(self, policy: Option<Vec<u8>>) {
        let mut metrics = self.raft.metrics();
        let mut leading = false;
        loop {
            let is_leader = metrics.borrow().state == ServerState::Leader;
            if is_leader && !leading {
                leading = true;
                self.register_members().await;
                self.autopilot.start().await;
                if let Some(bytes) = &policy
                    && self.machine.data().await.policy.is_none()
                    && let Err(error) = self
                        .autopilot
                        .set_policy(PolicySource::Bytes(bytes.clone()))
                        .await
                {
                    tracing::warn!(%error, "initial policy refused");
                }
            } else if !is_leader && leading {
                leading = false;
                self.autopilot.stop().await;
            }
            if metrics.changed().await.is_err() {
                self.autopilot.stop().await;
                return;
            }
        }
    }

    /// Registers the members of the Raft configuration the registry lacks (the
    /// bootstrap members).
    async fn register_members(&self) {
        let data = self.machine.data().await;
        let members: Vec<(NodeId, String)> = {
            let metrics = self.raft.metrics().borrow().clone();
            metrics
                .membership_config
                .membership()
                .nodes()
                .map(|(id, n)| (*id, n.addr.clone()))
                .collect()
        };
        for (id, address) in members {
            if !data.servers.contains_key(&id) {
                let version = if id == self.id {
                    self.version.clone()
                } else {
                    String::new()
                };
                let _ = self
                    .raft
                    .client_write(Request::Register {
                        id,
                        address,
                        version,
                    })
                    .await;
            }
        }
    }

    /// Accepts connections: at most [`MAX_CONNECTIONS`] at once, each authenticated
    /// (within [`HANDSHAKE_TIMEOUT`]) before any request is read.
    async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = Arc::clone(&self.connections).try_acquire_owned() else {
                tracing::debug!(%peer, "too many connections; closing one");
                continue;
            };
            let node = self.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let accepted =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, node.link.accept(stream)).await;
                let mut conn = match accepted {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        tracing::warn!(%peer, "refused a peer: {e}");
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "handshake timed out");
                        return;
                    }
                };
                // A stopped node closes its connections (peers then reconnect to
                // whatever serves the address next).
                let mut stopping = node.stopping.subscribe();
                loop {
                    let rpc = tokio::select! {
                        _ = stopping.wait_for(|stopped| *stopped) => break,
                        received = tokio::time::timeout(IDLE_TIMEOUT, conn.recv::<Rpc>()) => {
                            match received {
                                Ok(Ok(rpc)) => rpc,
                                _ => break,
                            }
                        }
                    };
                    let reply = node.handle(rpc).await;
                    if conn.send(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    }

    fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader?;
        let address = metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())?;
        Some((leader, address))
    }

    /// This node's view for operators: on the leader, autopilot's state and each
    /// server's reason.
    pub async fn status_report(
        &self,
        metrics: &openraft::RaftMetrics<NodeId, BasicNode>,
    ) -> StatusReport {
        let autopilot = self.leads().then(|| (*self.autopilot.state()).clone());
        let config = self.autopilot.application().effective_config().await;
        let round = self.autopilot.last_round();
        let reasons = autopilot
            .as_ref()
            .map(|state| current_reasons(&config, state, round.as_deref()))
            .unwrap_or_default();
        StatusReport {
            id: self.id,
            leader: metrics.state == ServerState::Leader,
            current_leader: metrics.current_leader,
            term: metrics.current_term,
            last_index: metrics.last_log_index.unwrap_or(0),
            autopilot,
            reasons,
        }
    }

    /// The leader's id and RPC address, if known.
    pub fn current_leader(&self) -> Option<(NodeId, String)> {
        self.leader()
    }

    /// How this node talks to its peers.
    pub fn link(&self) -> &Link {
        &self.link
    }

    fn leads(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Writes `request` through Raft and answers whether it was applied.
    async fn write_applied(&self, request: Request) -> Reply {
        match self.raft.client_write(request).await {
            Ok(written) => Reply::Applied(written.data.applied),
            Err(e) => Reply::Error(e.to_string()),
        }
    }

    /// Answers one request as if it had come over the network (the HTTP API's writes
    /// on the leader use it).
    pub async fn handle_rpc(&self, rpc: Rpc) -> Reply {
        self.handle(rpc).await
    }

    async fn handle(&self, rpc: Rpc) -> Reply {
        match rpc {
            Rpc::Append(r) => Reply::Append(self.raft.append_entries(r).await),
            Rpc::Vote(r) => Reply::Vote(self.raft.vote(r).await),
            Rpc::Snapshot(r) => Reply::Snapshot(self.raft.install_snapshot(r).await),
            Rpc::Ping => {
                let metrics = self.raft.metrics().borrow().clone();
                Reply::Pong {
                    term: metrics.current_term,
                    last_index: metrics.last_log_index.unwrap_or(0),
                }
            }
            Rpc::Status => {
                let metrics = self.raft.metrics().borrow().clone();
                Reply::Status(self.status_report(&metrics).await)
            }
            Rpc::PutBlob(record) => {
                // Hashing tens of MB is work for the blocking pool, not the executor
                // that carries Raft's heartbeats.
                let checked = tokio::task::spawn_blocking(move || {
                    let source = record.source();
                    (source, record)
                })
                .await;
                match checked {
                    Ok((
                        Ok(PolicySource::Bytes(bytes)),
                        PolicyRecord::Component { digest, .. },
                    )) => {
                        self.autopilot
                            .application()
                            .blobs
                            .put(&digest, Arc::new(bytes));
                        Reply::Ok
                    }
                    Ok((Err(e), _)) => Reply::Error(e.to_string()),
                    Ok(_) => Reply::Error("not a component".to_owned()),
                    Err(e) => Reply::Error(format!("cannot check the component: {e}")),
                }
            }
            Rpc::GetBlob(digest) => Reply::Blob(
                self.autopilot
                    .application()
                    .blobs
                    .get(&digest)
                    .map(|bytes| PolicyRecord::Component {
                        digest,
                        bytes: bytes.to_vec(),
                    }),
            ),
            _ if !self.leads() => Reply::NotLeader(self.leader()),
            Rpc::SetConfig { config, cas } => {
                match self
                    .raft
                    .client_write(Request::SetConfig { config, cas })
                    .await
                {
                    Ok(written) => Reply::Applied(written.data.applied),
                    Err(e) => Reply::Error(e.to_string()),
                }
            }
            Rpc::Write(request) => match self.raft.client_write(request).await {
                Ok(_) => Reply::Ok,
                Err(e) => Reply::Error(e.to_string()),
            },
            Rpc::Read(key) => match self.raft.ensure_linearizable().await {
                Ok(_) => Reply::Value(
                    self.machine
                        .kv(&key, false)
                        .await
                        .0
                        .pop()
                        .map(|(_, e)| String::from_utf8_lossy(&e.value).into_owned()),
                ),
                Err(e) => Reply::Error(e.to_string()),
            },
            // Linearizable: the leader confirms it still leads (a heartbeat round to a
            // quorum) and has applied everything committed before it reads.
            Rpc::KvGet { key, recurse } => match self.raft.ensure_linearizable().await {
                Ok(_) => {
                    let (entries, index) = self.machine.kv(&key, recurse).await;
                    Reply::Kv { entries, index }
                }
                Err(e) => Reply::Error(e.to_string()),
            },
            Rpc::KvPut { key, value, cas } => {
                self.write_applied(Request::KvPut { key, value, cas }).await
            }
            Rpc::KvDelete { key, cas, recurse } => {
                self.write_applied(Request::KvDelete { key, cas, recurse })
                    .await
            }
            Rpc::Join {
                id,
                address,
                version,
            } => {
                // It is alive: it just said so (a stale record of its last probe
                // must not make it look failed when it comes back).
                self.autopilot
                    .application()
                    .seen()
                    .insert(id, Instant::now());
                // Nothing to do for a member already registered as it is.
                let registered = self.machine.data().await.servers.get(&id).is_some_and(|r| {
                    r.address == address && (r.version == version || version.is_empty())
                });
                let member = self
                    .raft
                    .metrics()
                    .borrow()
                    .membership_config
                    .membership()
                    .get_node(&id)
                    .is_some();
                if registered && member {
                    return Reply::Ok;
                }
                if let Err(e) = self
                    .raft
                    .client_write(Request::Register {
                        id,
                        address: address.clone(),
                        version,
                    })
                    .await
                {
                    return Reply::Error(e.to_string());
                }
                let server = Server::new(id.to_string(), address, NodeStatus::Alive);
                match self.autopilot.add_server(&server).await {
                    Ok(()) => Reply::Ok,
                    Err(e) => Reply::Error(e.to_string()),
                }
            }
            Rpc::SetPolicy(record) => {
                match async { self.autopilot.set_policy(record.source()?).await }.await {
                    Ok(active) => Reply::PolicySet(active),
                    Err(e) => Reply::Error(e.to_string()),
                }
            }
            Rpc::PreviewPolicy(record) => {
                match async { self.autopilot.preview_policy(record.source()?).await }.await {
                    Ok(plan) => Reply::Preview(preview_json(&plan).to_string()),
                    Err(e) => Reply::Error(e.to_string()),
                }
            }
            Rpc::Record => match self.autopilot.last_round().map(|r| record_json(&r)) {
                None => Reply::Record(None),
                Some(Ok(json)) => Reply::Record(Some(json.to_string())),
                Some(Err(e)) => Reply::Error(format!("cannot write the record: {e}")),
            },
        }
    }
}

/// Each server's reason now: its health or how long it has been stable, from the
/// state; what the latest round did to it or why it kept it, from the round (which
/// the state alone cannot say). A server with both says both, the round's first
/// (`kept: ...; unhealthy: ...`).
fn current_reasons(
    config: &autopilot::Config,
    state: &State,
    round: Option<&autopilot::Round>,
) -> BTreeMap<ServerId, String> {
    let mut reasons: BTreeMap<ServerId, String> = explain_state(config, state)
        .into_iter()
        .map(|(id, reason)| (id, reason.to_string()))
        .collect();
    for (id, reason) in round.map(|r| &r.reasons).into_iter().flatten() {
        let from_round = !matches!(reason, Reason::Unhealthy(_) | Reason::Waiting { .. });
        if !from_round || !state.servers.contains_key(id) {
            continue;
        }
        let text = match reasons.get(id) {
            Some(now) => format!("{reason}; {now}"),
            None => reason.to_string(),
        };
        reasons.insert(id.clone(), text);
    }
    reasons
}

/// A preview's answer: `autopilot plan --json`'s layout, with the candidate's
/// `Faults` (each made that decision the stable policy's).
pub(crate) fn preview_json(plan: &autopilot::plan::Plan) -> serde_json::Value {
    let mut json = serde_json::to_value(plan).unwrap_or_default();
    json["Faults"] = serde_json::json!(
        plan.faults
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    json
}

/// The latest round as `GET /v1/operator/autopilot/snapshot` answers it: the plan's
/// snapshot layout, plus `LastRound` (the actions and reasons the leader's round had;
/// `autopilot plan` ignores the field, so a replay can be compared with it).
///
/// # Errors
/// When the inputs do not serialize.
pub(crate) fn record_json(
    round: &autopilot::Round,
) -> Result<serde_json::Value, serde_json::Error> {
    let mut json = round.snapshot()?;
    json["LastRound"] = serde_json::json!({
        "Actions": round.actions,
        "Reasons": round.reasons,
    });
    Ok(json)
}
