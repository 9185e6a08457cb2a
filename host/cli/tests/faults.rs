//! Fault runs on a durable cluster, checked for linearizability.
//!
//! Each run (one seed) starts five durable nodes in-process, lets three clients read,
//! write and compare-and-set four keys through random nodes' HTTP API while faults
//! are injected on a seeded schedule: nodes crashed (stopped at once, their state
//! whatever their data directories hold) and restarted from their directories, and
//! the network between nodes partitioned (one or two nodes cut off from the rest, both
//! ways). On two seeds in three the network is also lossy all along
//! ([`NetFaults::set_lossy`]): requests lost before delivery, replies lost after it,
//! Raft's messages delivered twice, delays; on half of them one or two nodes' disks
//! are slow (each write 2-15 ms longer). A monitor samples every node every 20 ms:
//! at most one leader a term, and autopilot's quorum floor (no round plans, and no
//! leader's membership has, fewer voters than MinQuorum). Then every fault is healed, the cluster
//! must converge (a leader and five voters, every node answering), and the clients'
//! history is checked with stateright's linearizability tester, one key at a time
//! (linearizability is local: a history is linearizable when each key's is).
//!
//! `FAULT_SEEDS=N` (default 20, what the test command runs) and `FAULT_FIRST_SEED=S`
//! (default 0) choose the seeds; `scripts/faults --seeds N` runs a longer campaign.
//! The seed fixes the schedule of faults and client operations; the timing of the
//! real network and executor around it is not replayed exactly.
//!
//! Not yet here (see the open issue): an exact replay of a seed (the network and
//! executor's timing is real), and leadership transfer (openraft 0.10).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autopilot_cli::disk::DiskDelay;
use autopilot_cli::netfaults::NetFaults;
use autopilot_cli::{DemoNode, NodeId};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

#[path = "support/cluster.rs"]
mod cluster;
use cluster::*;

const NODES: u64 = 5;
/// Four keys: each key's history is checked on its own, and the check's cost grows
/// steeply with the operations of unknown outcome in one history.
const KEYS: [&str; 4] = ["w", "x", "y", "z"];
const CLIENTS: usize = 3;
/// The nodes' MinQuorum (`NodeOptions::new`'s configuration).
const MIN_QUORUM: usize = 3;
/// How long clients run and faults are injected, per seed.
const RUN: Duration = Duration::from_secs(4);
/// Each client operation's deadline (an operation cut off by it has an unknown outcome).
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// One key as a register: read, write, and compare-and-set by value (the API's
/// check-and-set compares modify indexes; every written value is unique, so "the
/// index I read" and "the value I read" name the same write).
#[derive(Clone, Debug, Default, PartialEq)]
struct Register(Option<String>);

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Read,
    Write(String),
    Cas { expect: Option<String>, new: String },
}

#[derive(Clone, Debug, PartialEq)]
enum Ret {
    Value(Option<String>),
    Written,
    Swapped(bool),
}

impl SequentialSpec for Register {
    type Op = Op;
    type Ret = Ret;

    fn invoke(&mut self, op: &Op) -> Ret {
        match op {
            Op::Read => Ret::Value(self.0.clone()),
            Op::Write(value) => {
                self.0 = Some(value.clone());
                Ret::Written
            }
            Op::Cas { expect, new } => {
                let swapped = self.0 == *expect;
                if swapped {
                    self.0 = Some(new.clone());
                }
                Ret::Swapped(swapped)
            }
        }
    }
}

type Tester = LinearizabilityTester<usize, Register>;

/// One event of a key's history, in the order it happened.
#[derive(Clone, Debug)]
enum Event {
    Invoke(usize, Op),
    Return(usize, Ret),
}

/// A key's history as it happens: events in real-time order, with the operations
/// that certainly did nothing (refused before they were written, or a read that
/// never answered: it constrains nothing) struck out before the check.
#[derive(Debug, Default)]
struct History {
    events: Vec<Event>,
    void: std::collections::BTreeSet<(usize, usize)>,
}

impl History {
    /// Records an invocation; returns its position, to void it later.
    fn invoke(&mut self, thread: usize, op: Op) -> usize {
        self.events.push(Event::Invoke(thread, op));
        self.events.len() - 1
    }

    fn returned(&mut self, thread: usize, ret: Ret) {
        self.events.push(Event::Return(thread, ret));
    }

    fn void(&mut self, thread: usize, at: usize) {
        self.void.insert((thread, at));
    }

    /// Operations whose outcome stayed unknown.
    fn in_flight(&self) -> usize {
        let invoked = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::Invoke(..)))
            .count();
        let returned = self.events.len() - invoked;
        invoked - returned - self.void.len()
    }

    /// The tester fed with every event but the voided operations'.
    fn tester(&self) -> Tester {
        let mut tester = Tester::new(Register::default());
        for (at, event) in self.events.iter().enumerate() {
            match event {
                Event::Invoke(thread, op) if !self.void.contains(&(*thread, at)) => {
                    tester
                        .on_invoke(*thread, op.clone())
                        .expect("a well-formed history");
                }
                Event::Return(thread, ret) => {
                    tester
                        .on_return(*thread, ret.clone())
                        .expect("a well-formed history");
                }
                Event::Invoke(..) => {}
            }
        }
        tester
    }
}

/// The run's shared state: the nodes by id (absent while crashed), their directories
/// and ports, and one history per key.
struct Run {
    nodes: tokio::sync::Mutex<BTreeMap<NodeId, DemoNode>>,
    /// The network faults every node's link meets.
    net: NetFaults,
    /// Each node's disk delay (kept across its restarts).
    disks: Vec<DiskDelay>,
    ports: Vec<SocketAddr>,
    dirs: Vec<PathBuf>,
    histories: BTreeMap<&'static str, Mutex<History>>,
}

impl Run {
    fn options(&self, id: NodeId) -> autopilot_cli::NodeOptions {
        let mut o = options(id, self.ports[(id - 1) as usize]);
        o.bootstrap = (1..=NODES)
            .map(|i| (i, self.ports[(i - 1) as usize].to_string()))
            .collect();
        o.data_dir = Some(self.dirs[(id - 1) as usize].clone());
        o.link = self.net.wrap(o.link, &self.address(id));
        o.disk_delay = self.disks[(id - 1) as usize].clone();
        o
    }

    fn address(&self, id: NodeId) -> String {
        self.ports[(id - 1) as usize].to_string()
    }

    /// Cuts `isolated` off from the other nodes (both ways).
    fn isolate(&self, isolated: &[NodeId]) {
        let (inside, outside): (Vec<NodeId>, Vec<NodeId>) =
            (1..=NODES).partition(|id| isolated.contains(id));
        let names = |ids: Vec<NodeId>| ids.into_iter().map(|id| self.address(id)).collect();
        self.net.partition(&[names(inside), names(outside)]);
    }

    async fn start(&self, id: NodeId) {
        let node = DemoNode::start(self.options(id))
            .await
            .unwrap_or_else(|e| panic!("node {id} (re)starts from its directory: {e:#}"));
        self.nodes.lock().await.insert(id, node);
    }

    async fn crash(&self, id: NodeId) {
        let node = self.nodes.lock().await.remove(&id);
        if let Some(node) = node {
            node.shutdown().await;
        }
    }

    async fn api_of_any(&self, rng: &mut StdRng) -> Option<String> {
        let nodes = self.nodes.lock().await;
        let up: Vec<&DemoNode> = nodes.values().collect();
        if up.is_empty() {
            return None;
        }
        Some(api(up[rng.random_range(0..up.len())]))
    }
}

/// What one exchange gave.
enum Answer {
    /// The connection was refused: the request reached nothing.
    Unsent,
    /// No answer (timeout, a connection cut): the outcome is unknown.
    Unknown,
    /// The status and body.
    Got(u16, String),
}

/// One HTTP exchange, recording `op` in `history` under `thread` once the connection
/// is made (a refused connection leaves no trace); also returns where it was recorded.
async fn exchange(
    address: &str,
    method: &str,
    path: &str,
    body: &[u8],
    history: &Mutex<History>,
    thread: usize,
    op: Op,
) -> (Answer, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(OP_TIMEOUT, tokio::net::TcpStream::connect(address)).await
    else {
        return (Answer::Unsent, usize::MAX);
    };
    let at = lock(history).invoke(thread, op);
    let token = if method == "GET" {
        String::new()
    } else {
        format!("Authorization: Bearer {TOKEN}\r\n")
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{token}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let talk = async {
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    };
    match tokio::time::timeout(OP_TIMEOUT, talk).await {
        Ok(Some((status, body))) => (Answer::Got(status, body), at),
        _ => (Answer::Unknown, at),
    }
}

fn lock(history: &Mutex<History>) -> std::sync::MutexGuard<'_, History> {
    history
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A linearizable read's answer: the value and its modify index, `None` for an
/// absent key; `Err` when the answer says nothing (not 200 or 404).
fn read_answer(status: u16, body: &str) -> Result<Option<(String, u64)>, ()> {
    match status {
        404 => Ok(None),
        200 => {
            let entries: serde_json::Value = serde_json::from_str(body).map_err(|_| ())?;
            let entry = entries.get(0).ok_or(())?;
            let value = base64::engine::general_purpose::STANDARD
                .decode(entry["Value"].as_str().ok_or(())?)
                .map_err(|_| ())?;
            let value = String::from_utf8(value).map_err(|_| ())?;
            Ok(Some((value, entry["ModifyIndex"].as_u64().ok_or(())?)))
        }
        _ => Err(()),
    }
}

/// Reads `key` as one operation of `thread`: the value and index if answered; a read
/// without an answer is voided (it constrains nothing).
async fn read(
    address: &str,
    key: &str,
    history: &Mutex<History>,
    thread: usize,
) -> Option<Option<(String, u64)>> {
    let path = format!("/v1/kv/{key}");
    let (answer, at) = exchange(address, "GET", &path, b"", history, thread, Op::Read).await;
    let seen = match answer {
        Answer::Got(status, body) => read_answer(status, &body).ok(),
        Answer::Unsent | Answer::Unknown => None,
    };
    let mut history = lock(history);
    match &seen {
        Some(value) => {
            history.returned(thread, Ret::Value(value.as_ref().map(|(v, _)| v.clone())));
        }
        None if at != usize::MAX => history.void(thread, at),
        None => {}
    }
    seen
}

/// One client: a seeded stream of operations, each recorded in its key's history.
/// A thread whose operation's outcome is unknown leaves it in flight and continues
/// under a new thread id (the tester lets the lost operation take effect or not).
async fn client(run: Arc<Run>, seed: u64, first_thread: usize, threads: Arc<Mutex<usize>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut thread = first_thread;
    let mut written = 0u64;
    let deadline = tokio::time::Instant::now() + RUN;
    while tokio::time::Instant::now() < deadline {
        let key = KEYS[rng.random_range(0..KEYS.len())];
        let Some(address) = run.api_of_any(&mut rng).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let history = &run.histories[key];
        let new_value = |written: &mut u64| {
            *written += 1;
            format!("c{first_thread}-{written}")
        };
        // Whether the thread may go on: its last operation returned, or surely did
        // nothing.
        let settled = match rng.random_range(0..3) {
            0 => {
                // A read that gets no answer is voided, so the thread can go on.
                read(&address, key, history, thread).await;
                true
            }
            1 => {
                let value = new_value(&mut written);
                let path = format!("/v1/kv/{key}");
                let op = Op::Write(value.clone());
                let body = value.as_bytes();
                match exchange(&address, "PUT", &path, body, history, thread, op).await {
                    (Answer::Unsent, _) => true,
                    (Answer::Got(200, text), _) if text == "true" => {
                        lock(history).returned(thread, Ret::Written);
                        true
                    }
                    (Answer::Got(status, text), at) if refused(status, &text) => {
                        lock(history).void(thread, at);
                        true
                    }
                    _ => false,
                }
            }
            _ => {
                // Compare-and-set on what a read saw: the read is its own operation.
                let Some(seen) = read(&address, key, history, thread).await else {
                    continue;
                };
                let (expect, index) = match seen {
                    Some((v, index)) => (Some(v), index),
                    None => (None, 0),
                };
                let value = new_value(&mut written);
                let path = format!("/v1/kv/{key}?cas={index}");
                let op = Op::Cas {
                    expect,
                    new: value.clone(),
                };
                let body = value.as_bytes();
                match exchange(&address, "PUT", &path, body, history, thread, op).await {
                    (Answer::Unsent, _) => true,
                    (Answer::Got(200, text), _) if text == "true" || text == "false" => {
                        lock(history).returned(thread, Ret::Swapped(text == "true"));
                        true
                    }
                    (Answer::Got(status, text), at) if refused(status, &text) => {
                        lock(history).void(thread, at);
                        true
                    }
                    _ => false,
                }
            }
        };
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..40))).await;
        if !settled {
            retire(&threads, &mut thread);
        }
    }
}

/// Whether a write's answer says it was refused before anything was written: a bad
/// request or the token (4xx), no leader to send it to, a leader that refused the
/// connection (a crashed one: the request was never sent), a request the network
/// lost on its way to the leader, or a node that was no longer leading when it
/// arrived (it never reached Raft there).
fn refused(status: u16, body: &str) -> bool {
    (400..500).contains(&status)
        || (status == 503
            && (body.contains("no leader to write to")
                || body.contains("Connection refused")
                || body.contains("not delivered (injected network fault)")
                || body.contains("not done: ")))
}

/// Leaves the current thread's operation in flight and takes a fresh thread id.
fn retire(threads: &Mutex<usize>, thread: &mut usize) {
    let mut next = threads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *thread = *next;
    *next += 1;
}

/// What the invariant monitor saw over one run.
#[derive(Debug, Default)]
struct Watched {
    /// Samples of every running node's metrics taken.
    samples: usize,
    /// Autopilot rounds (each leader's latest, as it changed) checked.
    rounds: usize,
    /// Leaders seen by term.
    leaders: BTreeMap<u64, std::collections::BTreeSet<NodeId>>,
    /// What broke, if anything.
    broken: Vec<String>,
}

/// Voters in a round's Raft configuration after its planned actions.
fn voters_after(round: &autopilot::Round) -> (usize, usize) {
    use autopilot::{Action, Suffrage};
    let mut voters: std::collections::BTreeSet<&autopilot::ServerId> = round
        .inputs
        .raft_config
        .servers
        .iter()
        .filter(|s| s.suffrage == Suffrage::Voter)
        .map(|s| &s.id)
        .collect();
    let before = voters.len();
    for action in &round.actions {
        match action {
            Action::AddVoter { id, .. } => {
                voters.insert(id);
            }
            Action::DemoteVoter { id }
            | Action::RemoveServer { id }
            | Action::RemoveFailedServer { id } => {
                voters.remove(id);
            }
            _ => {}
        }
    }
    (before, voters.len())
}

/// Samples every running node every 20 ms until `stop`, checking Raft's election
/// safety (at most one leader a term) and autopilot's quorum floor on every round a
/// leader plans (its actions never take the voters below MinQuorum, nor lower while
/// they are already below it) and in the leader's membership (never fewer than
/// MinQuorum voters once the cluster had committed a configuration with them).
async fn watch(run: Arc<Run>, stop: tokio::sync::watch::Receiver<bool>) -> Watched {
    let mut watched = Watched::default();
    let mut last_round: BTreeMap<NodeId, Arc<autopilot::Round>> = BTreeMap::new();
    let mut had_quorum = false;
    while !*stop.borrow() {
        {
            let nodes = run.nodes.lock().await;
            for node in nodes.values() {
                let metrics = node.raft().metrics().borrow().clone();
                watched.samples += 1;
                if metrics.state != openraft::ServerState::Leader {
                    continue;
                }
                watched
                    .leaders
                    .entry(metrics.current_term)
                    .or_default()
                    .insert(node.id());
                let voters = metrics
                    .membership_config
                    .membership()
                    .get_joint_config()
                    .last()
                    .map_or(0, |c| c.len());
                // Only a committed configuration counts toward "the cluster had
                // them": one appended but never committed (its leader crashed first)
                // may vanish from every log, and the next leader rightly goes on from
                // the last committed one. (Seed 328 once reported a leader of two
                // voters that no round had planned, under the earlier rule that counted
                // any configuration a leader showed; three reruns did not repeat it.) A leader
                // holds every committed entry, so its configuration is at least as new
                // as the last committed one, and a drop below MinQuorum after that is
                // a change somebody made.
                let committed = metrics.membership_config.log_id() <= &metrics.last_applied;
                had_quorum |= committed && voters >= MIN_QUORUM;
                if had_quorum && voters < MIN_QUORUM {
                    watched.broken.push(format!(
                        "leader {} (term {}) has {voters} voters, under MinQuorum \
                         (configuration {:?}, applied {:?})",
                        node.id(),
                        metrics.current_term,
                        metrics.membership_config,
                        metrics.last_applied,
                    ));
                }
                if let Some(round) = node.autopilot().last_round()
                    && last_round
                        .insert(node.id(), Arc::clone(&round))
                        .is_none_or(|seen| !Arc::ptr_eq(&seen, &round))
                {
                    watched.rounds += 1;
                    let (before, after) = voters_after(&round);
                    if after < before && after < MIN_QUORUM {
                        watched.broken.push(format!(
                            "a round on node {} plans {before} -> {after} voters: {:?}",
                            node.id(),
                            round.actions
                        ));
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (term, leaders) in &watched.leaders {
        if leaders.len() > 1 {
            watched
                .broken
                .push(format!("term {term} had leaders {leaders:?}"));
        }
    }
    watched
}

/// What one seed's run saw.
#[derive(Debug, Default)]
struct Report {
    crashes: usize,
    restarts: usize,
    /// Partitions made (each ended by the next network event or the heal).
    partitions: usize,
    /// Whether the network lost, duplicated and delayed requests all along.
    lossy: bool,
    /// Nodes whose disks were slow all along.
    slow_disks: usize,
    operations: usize,
    /// Operations whose outcome stayed unknown (left for the checker to place).
    in_flight: usize,
    check_time: Duration,
    converged_in: Duration,
    /// Metrics samples the invariant monitor took.
    samples: usize,
    /// Autopilot rounds it checked.
    rounds: usize,
}

async fn run_seed(seed: u64) -> Report {
    let root = std::env::temp_dir().join(format!("autopilot-faults-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let run = Arc::new(Run {
        nodes: tokio::sync::Mutex::new(BTreeMap::new()),
        net: NetFaults::new(seed ^ 0x6e65_7477),
        disks: (0..NODES).map(|_| DiskDelay::default()).collect(),
        ports: (0..NODES).map(|_| free_port()).collect(),
        dirs: (1..=NODES)
            .map(|id| root.join(format!("node{id}")))
            .collect(),
        histories: KEYS
            .iter()
            .map(|k| (*k, Mutex::new(History::default())))
            .collect(),
    });
    for id in 1..=NODES {
        run.start(id).await;
    }
    wait_for("a first leader", Duration::from_secs(20), async || {
        leader_of(&*run.nodes.lock().await)
    })
    .await;

    let (stop_watching, stop) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(watch(Arc::clone(&run), stop));

    let threads = Arc::new(Mutex::new(CLIENTS * 1000));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let seed = seed.wrapping_mul(31).wrapping_add(c as u64);
            tokio::spawn(client(Arc::clone(&run), seed, c, Arc::clone(&threads)))
        })
        .collect();

    // The network under the whole run, by seed: clean, or lossy (requests lost,
    // replies lost, requests delivered twice, delays).
    let lossy = match seed % 3 {
        0 => None,
        1 => Some((0.05, 0.05, Duration::ZERO..Duration::from_millis(20))),
        _ => Some((0.02, 0.10, Duration::ZERO..Duration::from_millis(5))),
    };
    if let Some((drop, duplicate, delay)) = lossy.clone() {
        run.net.set_lossy(drop, duplicate, delay);
    }
    // On half the seeds, one or two nodes' disks are slow (each write 2-15 ms longer).
    let mut disk_rng = StdRng::seed_from_u64(seed ^ 0xd15c);
    let mut slow_disks = 0;
    if disk_rng.random_bool(0.5) {
        for _ in 0..disk_rng.random_range(1..=2) {
            let node = disk_rng.random_range(0..NODES) as usize;
            let delay = Duration::from_millis(disk_rng.random_range(2..=15));
            run.disks[node].set(delay);
        }
        slow_disks = run.disks.iter().filter(|d| !d.get().is_zero()).count();
    }

    // The fault schedule: every 300-700 ms partition the network (one or two nodes
    // cut off from the rest) or end the partition, crash a running node (at most two
    // down at once, sometimes the leader) or restart a crashed one.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut report = Report {
        lossy: lossy.is_some(),
        slow_disks,
        ..Report::default()
    };
    let mut down: Vec<NodeId> = Vec::new();
    let mut partitioned = false;
    let deadline = tokio::time::Instant::now() + RUN;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..700))).await;
        if rng.random_bool(0.25) {
            if partitioned {
                run.net.partition(&[]);
            } else {
                let first = rng.random_range(1..=NODES);
                let mut isolated = vec![first];
                if rng.random_bool(0.5) {
                    isolated.push(first % NODES + 1);
                }
                run.isolate(&isolated);
                report.partitions += 1;
            }
            partitioned = !partitioned;
            continue;
        }
        let restart = !down.is_empty() && (down.len() == 2 || rng.random_bool(0.5));
        if restart {
            let id = down.remove(rng.random_range(0..down.len()));
            run.start(id).await;
            report.restarts += 1;
        } else {
            let victim = if rng.random_bool(0.3) {
                leader_of(&*run.nodes.lock().await).map(|n| n.id())
            } else {
                None
            };
            let up: Vec<NodeId> = (1..=NODES).filter(|id| !down.contains(id)).collect();
            let id = victim.unwrap_or_else(|| up[rng.random_range(0..up.len())]);
            run.crash(id).await;
            down.push(id);
            report.crashes += 1;
        }
    }
    for client in clients {
        client.await.expect("a client");
    }
    eprintln!("seed {seed}: clients done; healing {down:?}");

    // Heal, then converge: a leader with all five as voters, every node answering.
    let healed = tokio::time::Instant::now();
    run.net.heal();
    for disk in &run.disks {
        disk.set(Duration::ZERO);
    }
    for id in down.drain(..) {
        run.start(id).await;
        report.restarts += 1;
    }
    let mut checks = 0u32;
    wait_for(
        "convergence after the faults",
        Duration::from_secs(60),
        async || {
            let nodes = run.nodes.lock().await;
            checks += 1;
            if checks.is_multiple_of(100) {
                // Every 5 s without convergence: where each node stands.
                for node in nodes.values() {
                    let m = node.raft().metrics().borrow().clone();
                    eprintln!(
                        "seed {seed}: node {}: {:?} term {} leader {:?} last log {:?} applied {:?} \
                         voters {:?} learners {:?} replication {:?}",
                        node.id(),
                        m.state,
                        m.current_term,
                        m.current_leader,
                        m.last_log_index,
                        m.last_applied.map(|l| l.index),
                        m.membership_config
                            .membership()
                            .voter_ids()
                            .collect::<Vec<_>>(),
                        m.membership_config
                            .membership()
                            .learner_ids()
                            .collect::<Vec<_>>(),
                        m.replication,
                    );
                }
            }
            let leader = leader_of(&nodes)?;
            let voters = leader
                .raft()
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .count();
            // Every node follows that leader and has applied all it has.
            let applied = leader.raft().metrics().borrow().last_applied;
            let all_answer = nodes.values().all(|n| {
                let metrics = n.raft().metrics().borrow().clone();
                metrics.current_leader == Some(leader.id()) && metrics.last_applied == applied
            });
            (voters == NODES as usize && all_answer).then_some(())
        },
    )
    .await;
    report.converged_in = healed.elapsed();
    stop_watching.send_replace(true);
    let watched = watcher.await.expect("the monitor");
    assert!(
        watched.broken.is_empty(),
        "seed {seed}: invariants broken:\n{}",
        watched.broken.join("\n")
    );
    report.samples = watched.samples;
    report.rounds = watched.rounds;
    eprintln!(
        "seed {seed}: converged in {:?}; checking",
        report.converged_in
    );

    for (key, history) in &run.histories {
        let history = lock(history);
        let tester = history.tester();
        report.operations += tester.len();
        report.in_flight += history.in_flight();
        eprintln!(
            "seed {seed}: key {key}: {} operations, {} of unknown outcome",
            tester.len(),
            history.in_flight()
        );
        let checked = std::time::Instant::now();
        let linear = tester.serialized_history().is_some();
        report.check_time += checked.elapsed();
        assert!(
            linear,
            "seed {seed}: the history of key {key:?} is not linearizable:\n{:?}",
            history.events
        );
    }
    for node in run.nodes.lock().await.values() {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&root);
    report
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_faults_keep_the_kv_linearizable_and_the_cluster_converges() {
    let seeds = env_number("FAULT_SEEDS", 20);
    let first = env_number("FAULT_FIRST_SEED", 0);
    let (mut crashes, mut restarts, mut operations, mut partitions) = (0, 0, 0, 0);
    let (mut lossy, mut rounds, mut slow) = (0, 0, 0);
    let mut converge: Vec<Duration> = Vec::new();
    for seed in first..first + seeds {
        eprintln!("seed {seed}: running");
        let report = run_seed(seed).await;
        eprintln!("seed {seed}: {report:?}");
        crashes += report.crashes;
        restarts += report.restarts;
        partitions += report.partitions;
        lossy += usize::from(report.lossy);
        rounds += report.rounds;
        slow += usize::from(report.slow_disks > 0);
        operations += report.operations;
        converge.push(report.converged_in);
    }
    converge.sort();
    let median = converge
        .get(converge.len() / 2)
        .copied()
        .unwrap_or_default();
    let worst = converge.last().copied().unwrap_or_default();
    println!(
        "fault runs: {seeds} seeds from {first}; crashes {crashes}, restarts {restarts}, \
         partitions {partitions}; {lossy} seeds on a lossy network, {slow} with slow disks; \
         {operations} client operations checked; linearizability violations 0; \
         {rounds} autopilot rounds and every 20 ms's leaders checked, invariants broken 0; \
         convergence after healing: median {median:?}, worst {worst:?}"
    );
    assert!(
        crashes > 0 && operations > 0,
        "the runs injected faults and did work"
    );
}
