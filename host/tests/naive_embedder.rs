//! An embedder's first, naive implementation of `Raft` and `Application`, written
//! against the public API only: node types left at `Server::new`'s default, no call
//! to enable reconciliation, the leader left out of its own stats. It gets promotions
//! and dead-voter cleanup; and where an input it controls makes autopilot hold back,
//! autopilot says so at `warn`, once per server and cause.

#[path = "support/log.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot::{Application, Autopilot, Raft, RaftError};
use autopilot::{
    Config, LastContact, NodeStatus, NodeType, RaftConfiguration, RaftServer, Server, ServerId,
    ServerStats, State, Suffrage,
};
use support::capture;
use tokio::time::sleep;

/// The toy cluster: one Raft configuration, the application's view of liveness.
#[derive(Default)]
struct Cluster {
    raft: RaftConfiguration,
    /// Servers the application sees, and whether each is alive.
    alive: BTreeMap<ServerId, bool>,
    /// Servers the application was told to remove (it reports them as left).
    removed: BTreeSet<ServerId>,
    /// Whether `remove_failed_server` also takes the server out of Raft.
    removal_leaves_raft: bool,
    /// Node type for every record (`None`: `Server::new`'s default).
    node_type: Option<NodeType>,
    /// Alive servers the stats fetch leaves out (besides the leader, always left out).
    no_stats: BTreeSet<ServerId>,
}

#[derive(Clone, Default)]
struct Toy(Arc<Mutex<Cluster>>);

const TERM: u64 = 2;
const INDEX: u64 = 40;

fn address(id: &ServerId) -> String {
    format!("{id}.toy:7000")
}

impl Toy {
    fn new(voters: &[&str]) -> Self {
        let toy = Toy::default();
        {
            let mut c = toy.0.lock().expect("lock");
            c.removal_leaves_raft = true;
            for v in voters {
                let id = ServerId::from(*v);
                c.raft.servers.push(RaftServer {
                    suffrage: Suffrage::Voter,
                    address: address(&id).as_str().into(),
                    id: id.clone(),
                });
                c.alive.insert(id, true);
            }
        }
        toy
    }

    fn with<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        f(&mut self.0.lock().expect("lock"))
    }

    fn start_server(&self, id: &str) -> Server {
        self.with(|c| c.alive.insert(id.into(), true));
        Server::new(id, address(&id.into()), NodeStatus::Alive)
    }

    fn kill(&self, id: &str) {
        self.with(|c| c.alive.insert(id.into(), false));
    }

    fn voters(&self) -> Vec<String> {
        self.with(|c| {
            c.raft
                .servers
                .iter()
                .filter(|s| s.suffrage == Suffrage::Voter)
                .map(|s| s.id.to_string())
                .collect()
        })
    }

    fn set_suffrage(&self, id: &ServerId, address: &str, suffrage: Suffrage) {
        self.with(|c| match c.raft.servers.iter_mut().find(|s| &s.id == id) {
            Some(s) => s.suffrage = suffrage,
            None => c.raft.servers.push(RaftServer {
                suffrage,
                id: id.clone(),
                address: address.into(),
            }),
        });
    }
}

impl Raft for Toy {
    async fn add_nonvoter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        self.set_suffrage(id, address, Suffrage::Nonvoter);
        Ok(())
    }

    async fn add_voter(&self, id: &ServerId, address: &str) -> Result<(), RaftError> {
        self.set_suffrage(id, address, Suffrage::Voter);
        Ok(())
    }

    async fn demote_voter(&self, id: &ServerId) -> Result<(), RaftError> {
        self.set_suffrage(id, "", Suffrage::Nonvoter);
        Ok(())
    }

    async fn remove_server(&self, id: &ServerId) -> Result<(), RaftError> {
        self.with(|c| c.raft.servers.retain(|s| &s.id != id));
        Ok(())
    }

    async fn transfer_leadership(&self, _: &ServerId, _: &str) -> Result<(), RaftError> {
        Err(RaftError::Unsupported("no transfers in the toy".into()))
    }

    async fn configuration(&self) -> Result<RaftConfiguration, RaftError> {
        Ok(self.with(|c| c.raft.clone()))
    }

    async fn last_index(&self) -> u64 {
        INDEX
    }

    async fn last_term(&self) -> Result<u64, RaftError> {
        Ok(TERM)
    }

    async fn leader_address(&self) -> Option<String> {
        Some(address(&"a".into()))
    }

    async fn is_leader(&self) -> bool {
        true
    }
}

impl Application for Toy {
    async fn autopilot_config(&self) -> Option<Config> {
        Some(Config::default())
    }

    async fn known_servers(&self) -> BTreeMap<ServerId, Server> {
        self.with(|c| {
            c.alive
                .iter()
                .map(|(id, alive)| {
                    let status = if c.removed.contains(id) {
                        NodeStatus::Left
                    } else if *alive {
                        NodeStatus::Alive
                    } else {
                        NodeStatus::Failed
                    };
                    let mut server = Server::new(id.clone(), address(id), status);
                    if let Some(node_type) = &c.node_type {
                        server.node_type = node_type.clone();
                    }
                    (id.clone(), server)
                })
                .collect()
        })
    }

    async fn fetch_server_stats(
        &self,
        servers: &BTreeMap<ServerId, Server>,
        _budget: Duration,
    ) -> BTreeMap<ServerId, ServerStats> {
        // Naive: every follower that answers, and not the leader itself.
        self.with(|c| {
            servers
                .keys()
                .filter(|id| id.as_str() != "a" && c.alive.get(*id) == Some(&true))
                .filter(|id| !c.no_stats.contains(*id))
                .map(|id| {
                    let stats = ServerStats {
                        last_contact: LastContact::from_duration(Duration::from_millis(10)),
                        last_term: TERM,
                        last_index: INDEX,
                    };
                    (id.clone(), stats)
                })
                .collect()
        })
    }

    fn notify_state(&self, _: &State) {}

    async fn remove_failed_server(&self, server: &Server) {
        self.with(|c| {
            c.removed.insert(server.id.clone());
            if c.removal_leaves_raft {
                c.raft.servers.retain(|s| s.id != server.id);
                c.alive.remove(&server.id);
            }
        });
    }
}

#[tokio::test(start_paused = true)]
async fn a_naive_embedder_gets_promotions_and_dead_voter_cleanup() {
    let toy = Toy::new(&["a", "b", "c"]);
    let ap = Autopilot::builder(toy.clone(), toy.clone()).build();
    ap.start().await;
    sleep(Duration::from_secs(3)).await;

    // The leader left itself out of its stats; autopilot filled them in.
    let state = ap.state();
    let leader = &state.servers[&ServerId::from("a")];
    assert!(leader.health.healthy, "the leader reads healthy");
    assert_eq!(state.failure_tolerance, 1, "three healthy voters");

    let d = toy.start_server("d");
    ap.add_server(&d).await.expect("d joins as a non-voter");
    sleep(Duration::from_secs(20)).await;
    assert_eq!(toy.voters(), ["a", "b", "c", "d"], "d promoted once stable");

    toy.kill("c");
    sleep(Duration::from_secs(30)).await;
    assert_eq!(toy.voters(), ["a", "b", "d"], "the dead voter is removed");
    assert!(toy.with(|c| c.removed.contains(&ServerId::from("c"))));
    ap.stop().await;
}

/// A writer the test's log subscriber appends to.
#[tokio::test(start_paused = true)]
async fn a_failed_voter_kept_for_its_node_type_is_warned_about_once() {
    let (log, _guard) = capture();
    let toy = Toy::new(&["a", "b", "c", "d", "e"]);
    toy.with(|c| c.node_type = Some(NodeType::from("")));
    let ap = Autopilot::builder(toy.clone(), toy.clone()).build();
    ap.start().await;
    sleep(Duration::from_secs(3)).await;
    toy.kill("e");
    sleep(Duration::from_secs(60)).await;
    assert!(
        toy.voters().contains(&"e".to_owned()),
        "kept: no server counts as a potential voter"
    );
    assert_eq!(
        log.warnings(&["failed voter kept", "server=e"]),
        1,
        "warned once"
    );

    // Fixed: the warning's advice works.
    toy.with(|c| c.node_type = None);
    sleep(Duration::from_secs(30)).await;
    assert_eq!(toy.voters(), ["a", "b", "c", "d"]);
    assert_eq!(log.warnings(&["failed voter kept", "server=e"]), 1);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn missing_stats_are_warned_about_once_per_server() {
    let (log, _guard) = capture();
    let toy = Toy::new(&["a", "b", "c"]);
    toy.with(|c| c.no_stats.insert("b".into()));
    let ap = Autopilot::builder(toy.clone(), toy.clone()).build();
    ap.start().await;
    sleep(Duration::from_secs(30)).await;
    assert!(!ap.state().servers[&ServerId::from("b")].health.healthy);
    assert_eq!(log.warnings(&["no stats", "server=b"]), 1, "warned once");
    assert_eq!(
        log.warnings(&["no stats", "server=a"]),
        0,
        "the leader's are filled in"
    );
    assert_eq!(log.warnings(&["no stats", "server=c"]), 0);

    // Cleared, then back: warned again.
    toy.with(|c| c.no_stats.clear());
    sleep(Duration::from_secs(10)).await;
    assert!(ap.state().servers[&ServerId::from("b")].health.healthy);
    toy.with(|c| c.no_stats.insert("b".into()));
    sleep(Duration::from_secs(10)).await;
    assert_eq!(log.warnings(&["no stats", "server=b"]), 2);
    ap.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_removal_the_application_leaves_in_raft_is_warned_about_once() {
    let (log, _guard) = capture();
    let toy = Toy::new(&["a", "b", "c", "d", "e"]);
    toy.with(|c| c.removal_leaves_raft = false);
    let ap = Autopilot::builder(toy.clone(), toy.clone()).build();
    ap.start().await;
    sleep(Duration::from_secs(3)).await;
    toy.kill("e");
    sleep(Duration::from_secs(60)).await;
    assert!(toy.with(|c| c.removed.contains(&ServerId::from("e"))));
    assert!(toy.voters().contains(&"e".to_owned()), "still in Raft");
    assert_eq!(
        log.warnings(&["still in the Raft configuration", "server=e"]),
        1
    );
    ap.stop().await;
}
