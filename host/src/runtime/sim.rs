//! A simulated Raft cluster and application in memory, for tests and examples: it
//! applies membership changes, can lag, fail calls, be slow, change leader, forget or
//! fail servers, and records every call with the (tokio) instant it was made.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::policy::PolicyRecord;
use super::traits::{Application, Raft, RaftError, StoreError};
use crate::core::{
    Action, Config, LastContact, NodeStatus, NodeType, RaftConfiguration, RaftServer, Server,
    ServerId, ServerStats, State, Suffrage, apply_action,
};

/// The kinds of call the simulation can delay or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallKind {
    /// `Raft::add_voter`, `add_nonvoter`, `demote_voter`, `remove_server`.
    Membership,
    /// `Raft::transfer_leadership`.
    Transfer,
    /// `Raft::configuration`.
    Configuration,
    /// `Application::fetch_server_stats`.
    Stats,
    /// `Application::known_servers`.
    KnownServers,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When it was made.
    pub at: Instant,
    /// What it did (as an action; a refused call is recorded too).
    pub action: Action,
    /// Whether it succeeded.
    pub ok: bool,
    /// Voters in Raft after the call.
    pub voters_after: usize,
    /// Whether live voters were a majority before the call.
    pub quorum_before: bool,
    /// Whether live voters were a majority after the call.
    pub quorum_after: bool,
}

/// One simulated server.
#[derive(Debug, Clone)]
struct SimServer {
    address: String,
    /// The process runs and replicates.
    alive: bool,
    /// The application knows it (else it is stale once in Raft).
    known: bool,
    /// Status the application reports (alive servers report `alive`).
    dead_status: NodeStatus,
    /// Log entries behind the leader.
    lag: u64,
    node_type: NodeType,
    version: String,
}

#[derive(Debug)]
struct Sim {
    raft: RaftConfiguration,
    servers: BTreeMap<ServerId, SimServer>,
    leader: Option<ServerId>,
    index: u64,
    term: u64,
    config: Option<Config>,
    calls: Vec<Call>,
    removed_failed: Vec<ServerId>,
    fail_next: BTreeMap<CallKind, u32>,
    latency: BTreeMap<CallKind, Duration>,
    states: u64,
    policy_record: Option<PolicyRecord>,
}

/// The simulated cluster: implements both [`Raft`] (as seen from the local node) and
/// [`Application`]. Cheap to clone; clones share the cluster.
#[derive(Debug, Clone)]
pub struct SimCluster {
    sim: Arc<Mutex<Sim>>,
    local: ServerId,
}

impl SimCluster {
    /// A cluster whose first server is the local node and leader; all are voters,
    /// alive, known and caught up.
    pub fn new(voters: &[&str], config: Config) -> Self {
        let mut sim = Sim {
            raft: RaftConfiguration::default(),
            servers: BTreeMap::new(),
            leader: voters.first().map(|id| ServerId::from(*id)),
            index: 100,
            term: 2,
            config: Some(config),
            calls: Vec::new(),
            removed_failed: Vec::new(),
            fail_next: BTreeMap::new(),
            latency: BTreeMap::new(),
            states: 0,
            policy_record: None,
        };
        for id in voters {
            sim.servers.insert((*id).into(), SimServer::new(id));
            sim.raft.servers.push(RaftServer {
                suffrage: Suffrage::Voter,
                id: (*id).into(),
                address: address(id).into(),
            });
        }
        Self {
            sim: Arc::new(Mutex::new(sim)),
            local: voters
                .first()
                .map(|id| ServerId::from(*id))
                .unwrap_or_default(),
        }
    }

    /// The same cluster as seen from another node (for failover: run a second
    /// autopilot on it).
    pub fn view_from(&self, id: &str) -> Self {
        Self {
            sim: Arc::clone(&self.sim),
            local: id.into(),
        }
    }

    /// The policy record the application has stored.
    pub fn policy_record(&self) -> Option<PolicyRecord> {
        self.sim().policy_record.clone()
    }

    fn sim(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new server process that the application knows, not yet in Raft (call
    /// `Autopilot::add_server` to add it).
    pub fn join(&self, id: &str) -> Server {
        let mut sim = self.sim();
        sim.servers.insert(id.into(), SimServer::new(id));
        server_record(id, &sim.servers[&ServerId::from(id)])
    }

    /// The server process dies: it stops replicating and the application reports it
    /// failed.
    pub fn kill(&self, id: &str) {
        if let Some(s) = self.sim().servers.get_mut(id) {
            s.alive = false;
            s.dead_status = NodeStatus::Failed;
        }
    }

    /// The server comes back.
    pub fn revive(&self, id: &str) {
        if let Some(s) = self.sim().servers.get_mut(id) {
            s.alive = true;
        }
    }

    /// The application forgets the server (it becomes stale if Raft has it).
    pub fn forget(&self, id: &str) {
        if let Some(s) = self.sim().servers.get_mut(id) {
            s.known = false;
        }
    }

    /// The server falls `entries` behind the leader's log.
    pub fn set_lag(&self, id: &str, entries: u64) {
        if let Some(s) = self.sim().servers.get_mut(id) {
            s.lag = entries;
        }
    }

    /// The application reports this node type for the server.
    pub fn set_node_type(&self, id: &str, node_type: &str) {
        if let Some(s) = self.sim().servers.get_mut(id) {
            s.node_type = node_type.into();
        }
    }

    /// The software version the application reports for the server.
    pub fn set_version(&self, id: &str, version: &str) {
        if let Some(s) = self.sim().servers.get_mut(id) {
            s.version = version.to_owned();
        }
    }

    /// The current leader.
    pub fn leader(&self) -> Option<ServerId> {
        self.sim().leader.clone()
    }

    /// Makes the next `n` calls of a kind fail.
    pub fn fail_next(&self, kind: CallKind, n: u32) {
        self.sim().fail_next.insert(kind, n);
    }

    /// Makes every call of a kind take this long.
    pub fn set_latency(&self, kind: CallKind, latency: Duration) {
        self.sim().latency.insert(kind, latency);
    }

    /// Another server becomes leader (the local node then is a follower).
    pub fn set_leader(&self, id: Option<&str>) {
        let mut sim = self.sim();
        sim.leader = id.map(ServerId::from);
        sim.term += 1;
    }

    /// Changes (or removes) the autopilot configuration the application reports.
    pub fn set_config(&self, config: Option<Config>) {
        self.sim().config = config;
    }

    /// The log grows by `entries` (everyone caught up keeps up).
    pub fn append(&self, entries: u64) {
        self.sim().index += entries;
    }

    /// The current Raft configuration.
    pub fn raft_configuration(&self) -> RaftConfiguration {
        self.sim().raft.clone()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.sim().calls.clone()
    }

    /// Servers the application was asked to force-remove.
    pub fn removed_failed(&self) -> Vec<ServerId> {
        self.sim().removed_failed.clone()
    }

    /// How many states the application was notified of.
    pub fn states_notified(&self) -> u64 {
        self.sim().states
    }

    /// Whether the live voters form a majority of the voters.
    pub fn has_quorum(&self) -> bool {
        self.sim().has_quorum()
    }

    async fn delay(&self, kind: CallKind) -> Result<(), RaftError> {
        let latency = self.sim().latency.get(&kind).copied();
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        let mut sim = self.sim();
        match sim.fail_next.get_mut(&kind) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(RaftError::Other(format!("injected {kind:?} failure")))
            }
            _ => Ok(()),
        }
    }

    async fn membership(&self, action: Action) -> Result<(), RaftError> {
        let result = self.delay(CallKind::Membership).await;
        let mut sim = self.sim();
        let result = result.and_then(|()| {
            if sim.leader.as_ref() == Some(&self.local) {
                Ok(())
            } else {
                Err(RaftError::NotLeader)
            }
        });
        let applied = action.clone();
        sim.record(action, result.is_ok(), |sim| {
            apply_action(&mut sim.raft, &applied);
            sim.index += 1;
        });
        result
    }
}

fn address(id: &str) -> String {
    format!("{id}.sim:8300")
}

fn server_record(id: &str, s: &SimServer) -> Server {
    let mut server = Server::new(
        id,
        s.address.clone(),
        if s.alive {
            NodeStatus::Alive
        } else {
            s.dead_status
        },
    );
    server.name = id.into();
    server.node_type = s.node_type.clone();
    server.version = s.version.as_str().into();
    server
}

impl Sim {
    fn has_quorum(&self) -> bool {
        let voters: Vec<&RaftServer> = self
            .raft
            .servers
            .iter()
            .filter(|s| s.suffrage == Suffrage::Voter)
            .collect();
        let live = voters
            .iter()
            .filter(|s| self.servers.get(&s.id).is_some_and(|x| x.alive))
            .count();
        !voters.is_empty() && live > voters.len() / 2
    }

    /// Applies `change` (when allowed) and records the call.
    fn record(&mut self, action: Action, ok: bool, change: impl FnOnce(&mut Sim)) {
        let quorum_before = self.has_quorum();
        if ok {
            change(self);
        }
        let quorum_after = self.has_quorum();
        let voters_after = self.raft.num_voters();
        self.calls.push(Call {
            at: Instant::now(),
            action,
            ok,
            voters_after,
            quorum_before,
            quorum_after,
        });
    }
}

impl SimServer {
    fn new(id: &str) -> Self {
        Self {
            address: address(id),
            alive: true,
            known: true,
            dead_status: NodeStatus::Failed,
            lag: 0,
            node_type: NodeType::voter(),
            version: String::new(),
        }
    }
}

impl Raft for SimCluster {
    async fn add_nonvoter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        self.membership(Action::AddNonvoter {
            id: id.clone(),
            address: address.to_owned(),
        })
        .await
    }

    async fn add_voter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        self.membership(Action::AddVoter {
            id: id.clone(),
            address: address.to_owned(),
        })
        .await
    }

    async fn demote_voter(&self, id: &ServerId) -> Result<(), RaftError> {
        self.membership(Action::DemoteVoter { id: id.clone() })
            .await
    }

    async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
        self.membership(Action::RemoveServer { id: id.clone() })
            .await
    }

    async fn transfer_leadership(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        let result = self.delay(CallKind::Transfer).await;
        let mut sim = self.sim();
        let action = Action::LeadershipTransfer {
            id: id.clone(),
            address: address.to_owned(),
        };
        sim.record(action, result.is_ok(), |sim| {
            sim.leader = Some(id.clone());
            sim.term += 1;
        });
        result
    }

    async fn configuration(&self) -> Result<RaftConfiguration, RaftError> {
        self.delay(CallKind::Configuration).await?;
        Ok(self.sim().raft.clone())
    }

    async fn last_index(&self) -> u64 {
        self.sim().index
    }

    async fn last_term(&self) -> Result<u64, RaftError> {
        Ok(self.sim().term)
    }

    async fn leader_address(&self) -> Option<String> {
        let sim = self.sim();
        let leader = sim.leader.as_ref()?;
        sim.servers.get(leader).map(|s| s.address.clone())
    }

    async fn is_leader(&self) -> bool {
        self.sim().leader.as_ref() == Some(&self.local)
    }
}

impl Application for SimCluster {
    async fn autopilot_config(&self) -> Option<Config> {
        self.sim().config.clone()
    }

    async fn known_servers(&self) -> BTreeMap<ServerId, Server> {
        let _ = self.delay(CallKind::KnownServers).await;
        let sim = self.sim();
        sim.servers
            .iter()
            .filter(|(_, s)| s.known)
            .map(|(id, s)| (id.clone(), server_record(id.as_str(), s)))
            .collect()
    }

    async fn fetch_server_stats(
        &self,
        servers: &BTreeMap<ServerId, Server>,
        _budget: Duration,
    ) -> BTreeMap<ServerId, ServerStats> {
        if self.delay(CallKind::Stats).await.is_err() {
            return BTreeMap::new();
        }
        let sim = self.sim();
        let in_raft: BTreeSet<&ServerId> = sim.raft.servers.iter().map(|s| &s.id).collect();
        servers
            .keys()
            .filter_map(|id| {
                let s = sim.servers.get(id)?;
                if !s.alive {
                    return None;
                }
                let leading = sim.leader.as_ref() == Some(id);
                // A server outside Raft does not replicate.
                let replicating = in_raft.contains(id);
                Some((
                    id.clone(),
                    ServerStats {
                        last_contact: if leading {
                            LastContact(0)
                        } else if replicating {
                            LastContact::from_duration(Duration::from_millis(10))
                        } else {
                            LastContact::UNKNOWN
                        },
                        last_term: sim.term,
                        last_index: if replicating {
                            sim.index.saturating_sub(s.lag)
                        } else {
                            0
                        },
                    },
                ))
            })
            .collect()
    }

    fn notify_state(&self, _state: &State) {
        self.sim().states += 1;
    }

    async fn store_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        let mut sim = self.sim();
        if sim.leader.as_ref() != Some(&self.local) {
            return Err("not the leader".into());
        }
        sim.policy_record = Some(record.clone());
        Ok(())
    }

    async fn stored_policy(&self) -> Option<PolicyRecord> {
        self.sim().policy_record.clone()
    }

    async fn remove_failed_server(&self, server: &Server) {
        let mut sim = self.sim();
        let action = Action::RemoveFailedServer {
            id: server.id.clone(),
        };
        // Like a force-leave: the server is gone from Raft and from the application.
        sim.record(action, true, |sim| {
            sim.raft.servers.retain(|s| s.id != server.id);
            sim.servers.remove(&server.id);
            sim.removed_failed.push(server.id.clone());
        });
    }
}
