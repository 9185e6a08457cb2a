//! `autopilot demo`: a live demonstration on a real openraft cluster of node processes
//! on loopback. A client writes and reads the whole time while servers join, a voter
//! dies, the leader dies, and the policy is swapped; a live table shows autopilot's
//! view; a summary closes it. The nodes share a cluster key generated for the run, so
//! every connection (the demo's client's included) is authenticated.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use autopilot::{PolicyRecord, State};
use autopilot_cli::link::{ClusterKey, Link};
use autopilot_cli::network::{Reply, Rpc, StatusReport, call};
use autopilot_cli::{NodeId, Request};

const RPC_TIMEOUT: Duration = Duration::from_millis(800);

struct Cluster {
    exe: PathBuf,
    dir: PathBuf,
    policy: PathBuf,
    key_file: PathBuf,
    link: Link,
    addresses: BTreeMap<NodeId, String>,
    /// Where each node serves the operator's HTTP API.
    apis: BTreeMap<NodeId, String>,
    children: BTreeMap<NodeId, Child>,
}

impl Cluster {
    fn spawn(&mut self, id: NodeId, bootstrap: Option<&str>, join: Option<&str>) -> Result<()> {
        let address = self
            .addresses
            .get(&id)
            .context("no address for the node")?
            .clone();
        let api = self
            .apis
            .get(&id)
            .context("no API address for the node")?
            .clone();
        let log = std::fs::File::create(self.dir.join(format!("node-{id}.log")))?;
        let mut command = Command::new(&self.exe);
        command
            .args([
                "node",
                "--id",
                &id.to_string(),
                "--listen",
                &address,
                "--policy",
            ])
            .arg(&self.policy)
            .arg("--cluster-key-file")
            .arg(&self.key_file)
            .args(["--http", &api])
            .env("AUTOPILOT_CACHE_DIR", self.dir.join("cache"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        if let Some(members) = bootstrap {
            command.args(["--bootstrap", members]);
        }
        if let Some(peer) = join {
            command.args(["--join", peer]);
        }
        self.children
            .insert(id, command.spawn().context("cannot start a node process")?);
        Ok(())
    }

    async fn kill(&mut self, id: NodeId) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill().await;
        }
    }

    async fn kill_all(&mut self) {
        let ids: Vec<NodeId> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id).await;
        }
    }

    async fn statuses(&self) -> BTreeMap<NodeId, StatusReport> {
        let mut out = BTreeMap::new();
        for id in self.children.keys() {
            if let Some(address) = self.addresses.get(id)
                && let Ok(Reply::Status(status)) =
                    call(&self.link, address, &Rpc::Status, RPC_TIMEOUT).await
            {
                out.insert(*id, status);
            }
        }
        out
    }

    async fn leader(&self) -> Option<(NodeId, StatusReport)> {
        self.statuses().await.into_iter().find(|(_, s)| s.leader)
    }
}

/// What the client saw.
#[derive(Default)]
struct Client {
    acknowledged: Vec<String>,
    attempts: u64,
    last_ack: Option<Instant>,
    reads: u64,
    stale_reads: u64,
}

/// The event log under the live view.
#[derive(Default)]
struct Events(Vec<(Duration, String)>);

fn free_address() -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

async fn leader_address(link: &Link, addresses: &BTreeMap<NodeId, String>) -> Option<String> {
    for address in addresses.values() {
        if let Ok(Reply::Status(s)) = call(link, address, &Rpc::Status, RPC_TIMEOUT).await
            && s.leader
        {
            return Some(address.clone());
        }
    }
    None
}

/// Runs the demo; returns an error if an acknowledged write was lost.
pub async fn run(exe: PathBuf) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("autopilot-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let policy = dir.join("stable.wasm");
    std::fs::write(&policy, autopilot_cli::components::STABLE)?;
    let key = ClusterKey::generate()?;
    let key_file = dir.join("cluster.key");
    key.write_new(&key_file)
        .with_context(|| format!("cannot write {}", key_file.display()))?;
    let mut apis = BTreeMap::new();
    let mut addresses = BTreeMap::new();
    for id in 1..=5 {
        addresses.insert(id, free_address()?);
        apis.insert(id, free_address()?);
    }
    let mut cluster = Cluster {
        exe,
        dir: dir.clone(),
        policy,
        key_file,
        link: Link::Keyed(key),
        addresses,
        apis,
        children: BTreeMap::new(),
    };
    let result = tokio::select! {
        result = script(&mut cluster) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    cluster.kill_all().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn wait_until<T>(
    cluster: &Cluster,
    timeout: Duration,
    view: &View,
    mut check: impl FnMut(&BTreeMap<NodeId, StatusReport>) -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let statuses = cluster.statuses().await;
        view.render(&statuses);
        if let Some(value) = check(&statuses) {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("the demo timed out (see the node logs)");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn voters(status: &StatusReport) -> Vec<String> {
    status
        .autopilot
        .as_ref()
        .map(|s| s.voters.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// The leader's id, once its autopilot runs the named policy.
fn leader_running(statuses: &BTreeMap<NodeId, StatusReport>, policy: &str) -> Option<NodeId> {
    leader_view(statuses)
        .filter(|l| {
            l.autopilot
                .as_ref()
                .and_then(|a| a.policy.as_ref())
                .is_some_and(|p| p.active.name == policy)
        })
        .map(|l| l.id)
}

fn leader_view(statuses: &BTreeMap<NodeId, StatusReport>) -> Option<&StatusReport> {
    statuses
        .values()
        .find(|s| s.leader && s.autopilot.is_some())
}

/// The demo, phase by phase; each phase returns what the summary reports.
async fn script(cluster: &mut Cluster) -> Result<()> {
    let view = View {
        started: Instant::now(),
        events: Arc::new(Mutex::new(Events::default())),
        live: std::io::stdout().is_terminal(),
        last_print: Mutex::new(None),
    };
    start_voters(cluster, &view).await?;
    let client = Arc::new(Mutex::new(Client::default()));
    let writer = tokio::spawn(write_continuously(
        Arc::clone(&client),
        cluster.addresses.clone(),
        cluster.link.clone(),
    ));
    // A freshly started autopilot waives the stabilization time until it has run that
    // long; wait it out so the joins below show it.
    let settle = Instant::now() + Duration::from_millis(2_500);
    while Instant::now() < settle {
        view.render(&cluster.statuses().await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let promote_time = join_two(cluster, &view).await?;
    let cleanup_time = kill_a_voter(cluster, &view).await?;
    swap_policy(cluster, &view).await?;
    let failover = kill_the_leader(cluster, &view, &client).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    writer.abort();
    let audit = audit_writes(cluster, &client).await?;
    view.force_render(&cluster.statuses().await);
    summarise(&view, promote_time, cleanup_time, &failover, &audit);
    if audit.lost > 0 {
        bail!("{} acknowledged writes were lost", audit.lost);
    }
    Ok(())
}

/// Nodes 1, 2 and 3 start as voters; returns once the leader's autopilot sees them
/// healthy.
async fn start_voters(cluster: &mut Cluster, view: &View) -> Result<()> {
    let members: String = (1..=3)
        .map(|id| format!("{id}={}", cluster.addresses[&id]))
        .collect::<Vec<_>>()
        .join(",");
    for id in 1..=3 {
        cluster.spawn(id, Some(&members), None)?;
    }
    view.say("started nodes 1, 2 and 3 (3 voters)");
    wait_until(cluster, Duration::from_secs(15), view, |s| {
        leader_view(s)
            .filter(|l| voters(l).len() == 3 && l.autopilot.as_ref().is_some_and(|a| a.healthy))
            .map(|l| l.id)
    })
    .await?;
    view.say("cluster healthy; a client writes a key every 20 ms");
    view.say(&format!(
        "live page: http://{api}/ui; operator API on every node, e.g. `autopilot state --http {api}`",
        // Node 3 lives through the whole script (1 and 2 are killed).
        api = cluster.apis[&3]
    ));
    Ok(())
}

/// The client: writes a key every 20 ms to whoever leads, remembers what was
/// acknowledged, and every tenth write reads back an earlier one.
async fn write_continuously(
    client: Arc<Mutex<Client>>,
    addresses: BTreeMap<NodeId, String>,
    link: Link,
) {
    let mut leader = None;
    let mut i = 0u64;
    loop {
        if leader.is_none() {
            leader = leader_address(&link, &addresses).await;
        }
        if let Some(address) = leader.clone() {
            let key = format!("key-{i}");
            let rpc = Rpc::Write(Request::Set {
                key: key.clone(),
                value: format!("value-{i}"),
            });
            let ok = matches!(
                call(&link, &address, &rpc, RPC_TIMEOUT).await,
                Ok(Reply::Ok)
            );
            if let Ok(mut c) = client.lock() {
                c.attempts += 1;
                if ok {
                    c.acknowledged.push(key);
                    c.last_ack = Some(Instant::now());
                }
            }
            if ok {
                i += 1;
            } else {
                leader = None;
            }
            if ok && i.is_multiple_of(10) {
                let key = format!("key-{}", i / 2);
                let read = call(&link, &address, &Rpc::Read(key.clone()), RPC_TIMEOUT).await;
                if let Ok(mut c) = client.lock() {
                    c.reads += 1;
                    let expected = format!("value-{}", i / 2);
                    if !matches!(read, Ok(Reply::Value(Some(ref v))) if *v == expected) {
                        c.stale_reads += 1;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Nodes 4 and 5 join as non-voters; returns how long until both were promoted.
async fn join_two(cluster: &mut Cluster, view: &View) -> Result<Duration> {
    let join_peer = cluster.addresses[&1].clone();
    let joined = Instant::now();
    cluster.spawn(4, None, Some(&join_peer))?;
    cluster.spawn(5, None, Some(&join_peer))?;
    view.say("nodes 4 and 5 join (non-voters until stable for 2 s)");
    wait_until(cluster, Duration::from_secs(20), view, |s| {
        leader_view(s)
            .filter(|l| voters(l).len() == 5)
            .map(|l| l.id)
    })
    .await?;
    let promote_time = joined.elapsed();
    view.say(&format!(
        "nodes 4 and 5 promoted: 5 voters ({:.1} s after joining)",
        promote_time.as_secs_f64()
    ));
    Ok(promote_time)
}

/// A voter that is not the leader dies; returns how long until autopilot removed it.
async fn kill_a_voter(cluster: &mut Cluster, view: &View) -> Result<Duration> {
    let statuses = cluster.statuses().await;
    let leader = statuses
        .values()
        .find(|s| s.leader)
        .map(|s| s.id)
        .context("no leader")?;
    let victim = [2, 3, 4, 5, 1]
        .into_iter()
        .find(|id| *id != leader)
        .context("no victim")?;
    let killed = Instant::now();
    cluster.kill(victim).await;
    view.say(&format!("killed voter {victim} (SIGKILL)"));
    let victim_id = victim.to_string();
    wait_until(cluster, Duration::from_secs(20), view, |s| {
        leader_view(s)
            .filter(|l| !voters(l).contains(&victim_id) && voters(l).len() == 4)
            .map(|l| l.id)
    })
    .await?;
    let cleanup_time = killed.elapsed();
    view.say(&format!(
        "voter {victim} detected failed and removed ({:.1} s); 4 voters, quorum kept",
        cleanup_time.as_secs_f64()
    ));
    Ok(cleanup_time)
}

/// The leader's policy is swapped for the `cautious` component, without a restart.
async fn swap_policy(cluster: &mut Cluster, view: &View) -> Result<()> {
    let current = cluster
        .leader()
        .await
        .map(|(id, _)| id)
        .context("no leader")?;
    let leader_address = cluster.addresses[&current].clone();
    match call(
        &cluster.link,
        &leader_address,
        &Rpc::SetPolicy(PolicyRecord::component(
            autopilot_cli::components::CAUTIOUS.to_vec(),
        )),
        Duration::from_secs(10),
    )
    .await
    {
        Ok(Reply::PolicySet(_)) => {
            view.say("swapped the policy: stable -> cautious (component, no restart)")
        }
        Ok(other) => bail!("the policy swap was refused: {other:?}"),
        Err(e) => bail!("the policy swap failed: {e}"),
    }
    wait_until(cluster, Duration::from_secs(10), view, |s| {
        leader_running(s, "cautious")
    })
    .await?;
    Ok(())
}

/// How the cluster came through its leader's death.
struct Failover {
    elect_time: Duration,
    resume_time: Duration,
}

/// The leader dies: a new one is elected, writes resume, the new leader's autopilot
/// removes the old leader and runs the replicated policy.
async fn kill_the_leader(
    cluster: &mut Cluster,
    view: &View,
    client: &Mutex<Client>,
) -> Result<Failover> {
    let old_leader = cluster
        .leader()
        .await
        .map(|(id, _)| id)
        .context("no leader")?;
    let acks_before = client.lock().map(|c| c.acknowledged.len()).unwrap_or(0);
    let leader_killed = Instant::now();
    cluster.kill(old_leader).await;
    view.say(&format!("killed the leader, node {old_leader}"));
    let new_leader = wait_until(cluster, Duration::from_secs(20), view, |s| {
        leader_view(s).map(|l| l.id)
    })
    .await?;
    let elect_time = leader_killed.elapsed();
    view.say(&format!(
        "node {new_leader} leads ({:.1} s); its autopilot takes over",
        elect_time.as_secs_f64()
    ));
    let resume_deadline = Instant::now() + Duration::from_secs(15);
    let resume_time = loop {
        let (n, last) = client
            .lock()
            .map(|c| (c.acknowledged.len(), c.last_ack))
            .unwrap_or((0, None));
        if n > acks_before && last.is_some_and(|t| t > leader_killed) {
            break last
                .map(|t| t.duration_since(leader_killed))
                .unwrap_or_default();
        }
        if Instant::now() > resume_deadline {
            bail!("writes did not resume after the leader died");
        }
        view.render(&cluster.statuses().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    view.say(&format!(
        "writes resumed {:.1} s after the leader died",
        resume_time.as_secs_f64()
    ));
    let old_id = old_leader.to_string();
    wait_until(cluster, Duration::from_secs(20), view, |s| {
        leader_view(s)
            .filter(|l| !voters(l).contains(&old_id))
            .map(|l| l.id)
    })
    .await?;
    view.say(&format!(
        "old leader {old_leader} removed by the new leader's autopilot"
    ));
    wait_until(cluster, Duration::from_secs(10), view, |s| {
        leader_running(s, "cautious")
    })
    .await?;
    view.say(&format!(
        "node {new_leader} runs the recorded policy: cautious (replicated policy record)"
    ));
    Ok(Failover {
        elect_time,
        resume_time,
    })
}

/// What the client saw, and how many acknowledged writes are missing now.
#[derive(Default)]
struct Audit {
    attempts: u64,
    acknowledged: usize,
    reads: u64,
    failed_reads: u64,
    lost: usize,
}

/// Reads every acknowledged key back from the leader.
async fn audit_writes(cluster: &Cluster, client: &Mutex<Client>) -> Result<Audit> {
    let (acknowledged, attempts, reads, failed_reads) = client
        .lock()
        .map(|c| (c.acknowledged.clone(), c.attempts, c.reads, c.stale_reads))
        .unwrap_or_default();
    let reader = leader_address_of(cluster)
        .await
        .context("no leader to read from")?;
    let mut lost = 0usize;
    for key in &acknowledged {
        match call(
            &cluster.link,
            &reader,
            &Rpc::Read(key.clone()),
            Duration::from_secs(2),
        )
        .await
        {
            Ok(Reply::Value(Some(_))) => {}
            _ => lost += 1,
        }
    }
    Ok(Audit {
        attempts,
        acknowledged: acknowledged.len(),
        reads,
        failed_reads,
        lost,
    })
}

fn summarise(
    view: &View,
    promote_time: Duration,
    cleanup_time: Duration,
    failover: &Failover,
    audit: &Audit,
) {
    println!();
    println!("Summary");
    println!(
        "  time to promote the joining servers : {:.1} s (stabilization 2 s)",
        promote_time.as_secs_f64()
    );
    println!(
        "  time to clean up the dead voter     : {:.1} s",
        cleanup_time.as_secs_f64()
    );
    println!(
        "  time to elect a new leader          : {:.1} s",
        failover.elect_time.as_secs_f64()
    );
    println!(
        "  time until writes resumed           : {:.1} s",
        failover.resume_time.as_secs_f64()
    );
    println!("  writes attempted                    : {}", audit.attempts);
    println!(
        "  writes acknowledged                 : {}",
        audit.acknowledged
    );
    println!(
        "  reads during the run                : {} ({} failed or stale)",
        audit.reads, audit.failed_reads
    );
    println!("  acknowledged writes lost            : {}", audit.lost);
    println!(
        "  total                               : {:.1} s",
        view.started.elapsed().as_secs_f64()
    );
}

async fn leader_address_of(cluster: &Cluster) -> Option<String> {
    let (id, _) = cluster.leader().await?;
    cluster.addresses.get(&id).cloned()
}

/// The live terminal view: the leader's autopilot state and the event log.
struct View {
    started: Instant,
    events: Arc<Mutex<Events>>,
    live: bool,
    last_print: Mutex<Option<Instant>>,
}

impl View {
    /// Adds an event to the log under the live view.
    fn say(&self, text: &str) {
        if let Ok(mut events) = self.events.lock() {
            events.0.push((self.started.elapsed(), text.to_owned()));
        }
    }

    fn render(&self, statuses: &BTreeMap<NodeId, StatusReport>) {
        // Not a terminal: a frame every 2 s is enough for a log.
        if !self.live {
            let mut last = self
                .last_print
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.force_render(statuses);
    }

    fn force_render(&self, statuses: &BTreeMap<NodeId, StatusReport>) {
        let mut out = String::new();
        if self.live {
            out.push_str("\x1b[2J\x1b[H");
        }
        out.push_str(&format!(
            "autopilot demo — {:.1} s — openraft cluster on loopback\n\n",
            self.started.elapsed().as_secs_f64()
        ));
        match leader_view(statuses).and_then(|l| l.autopilot.clone().map(|a| (l.id, a))) {
            Some((leader, state)) => out.push_str(&table(leader, &state)),
            None => out.push_str("(no leader)\n"),
        }
        out.push_str("\nEvents\n");
        if let Ok(events) = self.events.lock() {
            for (at, text) in events.0.iter().rev().take(12).rev() {
                out.push_str(&format!("  {:>5.1} s  {text}\n", at.as_secs_f64()));
            }
        }
        if !self.live {
            out.push_str("----\n");
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

fn table(leader: NodeId, state: &State) -> String {
    let (name, version) = state.policy.as_ref().map_or(("?", ""), |p| {
        (p.active.name.as_str(), p.active.version.as_str())
    });
    let mut out = format!(
        "Leader: node {leader}   Healthy: {}   Failure tolerance: {}   Policy: {name} {version}\n\n",
        state.healthy, state.failure_tolerance,
    );
    out.push_str(&format!(
        "{:<4} {:<16} {:<10} {:<10} {:<8} {:<13} {:<13} {:>7}\n",
        "ID", "Address", "Raft", "Type", "Healthy", "Stable for", "Last contact", "Index"
    ));
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    for (id, server) in &state.servers {
        let stable_for = format!(
            "{:.1} s",
            (now - server.health.stable_since).num_milliseconds() as f64 / 1000.0
        );
        let contact = server.stats.last_contact.as_duration().map_or_else(
            || "unknown".to_owned(),
            |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
        );
        out.push_str(&format!(
            "{:<4} {:<16} {:<10} {:<10} {:<8} {:<13} {:<13} {:>7}\n",
            id.as_str(),
            server.server.address.as_str(),
            server.state.as_str(),
            server.server.node_type.as_str(),
            if server.health.healthy { "yes" } else { "no" },
            stable_for,
            contact,
            server.stats.last_index
        ));
    }
    out
}

/// The path of this executable (the node processes run it too).
pub fn current_exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot locate the autopilot executable")
}
