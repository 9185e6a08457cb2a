//! Durable nodes (`--data-dir`): a cluster stopped and started again from its
//! directories keeps its data; node processes killed with SIGKILL and restarted read
//! back what was written; a directory of another node, or holding something else, is
//! refused and left as it was.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use autopilot_cli::{DemoNode, NodeId};
use serde_json::Value;

#[path = "support/cluster.rs"]
mod cluster;
use cluster::*;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-durable-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Every key under `/v1/kv/`, read linearizably through `node`: key → (value, modify
/// index).
async fn everything(node: &DemoNode) -> Option<BTreeMap<String, (String, u64)>> {
    let (status, _, body) = get(&api(node), "/v1/kv/?recurse").await;
    if status != 200 {
        return None;
    }
    let entries: Value = serde_json::from_str(&body).ok()?;
    use base64::Engine;
    entries
        .as_array()?
        .iter()
        .map(|e| {
            let value = base64::engine::general_purpose::STANDARD
                .decode(e["Value"].as_str()?)
                .ok()?;
            Some((
                e["Key"].as_str()?.to_owned(),
                (String::from_utf8(value).ok()?, e["ModifyIndex"].as_u64()?),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_started_again_from_its_directories_keeps_its_data() {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let root = scratch_dir("restart");
    let dirs: Vec<PathBuf> = (1..=3).map(|id| root.join(format!("node{id}"))).collect();
    let nodes = start_three(&ports, "1.0.0", Some(&dirs)).await;
    let leader = wait_for("a leader", Duration::from_secs(10), async || {
        leader_of(&nodes)
    })
    .await;
    for i in 0..5 {
        let (status, _, body) = request(
            &api(&leader),
            "PUT",
            &format!("/v1/kv/before/{i}"),
            Some(TOKEN),
            format!("value {i}").as_bytes(),
        )
        .await;
        assert_eq!((status, body.as_str()), (200, "true"));
    }
    // A policy component: the log names it, each node keeps its bytes on disk.
    let (status, _, text) = request(
        &api(&leader),
        "PUT",
        "/v1/operator/autopilot/policy",
        Some(TOKEN),
        autopilot_cli::components::CAUTIOUS,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    // A snapshot on every node, then more writes: a restart reads the snapshot and
    // applies the entries after it again.
    for node in nodes.values() {
        node.raft().trigger().snapshot().await.expect("a snapshot");
    }
    wait_for("the snapshots", Duration::from_secs(10), async || {
        nodes
            .values()
            .all(|n| n.raft().metrics().borrow().snapshot.is_some())
            .then_some(())
    })
    .await;
    for i in 0..3 {
        let (status, _, _) = request(
            &api(&leader),
            "PUT",
            &format!("/v1/kv/after/{i}"),
            Some(TOKEN),
            format!("later {i}").as_bytes(),
        )
        .await;
        assert_eq!(status, 200);
    }
    let before = everything(&leader).await.expect("the data");
    assert_eq!(before.len(), 8);
    let term = leader.raft().metrics().borrow().current_term;
    for node in nodes.values() {
        node.shutdown().await;
    }
    drop(nodes);

    let nodes = start_three(&ports, "1.0.0", Some(&dirs)).await;
    let leader = wait_for("a leader again", Duration::from_secs(20), async || {
        leader_of(&nodes)
    })
    .await;
    // The saved vote keeps terms from going back (openraft may let a leader whose
    // vote was committed lead on in its term).
    assert!(leader.raft().metrics().borrow().current_term >= term);
    let after = wait_for("the data read back", Duration::from_secs(20), async || {
        everything(&leader).await
    })
    .await;
    assert_eq!(after, before, "every key, value and modify index is back");
    // The new leader runs the recorded component, read from its own disk (no member
    // holds it in memory after a whole-cluster restart).
    wait_for("the recorded policy", Duration::from_secs(20), async || {
        (leader.autopilot().policy_status().active.name == "cautious").then_some(())
    })
    .await;
    // And the cluster goes on writing.
    let (status, _, body) = request(
        &api(&leader),
        "PUT",
        "/v1/kv/restarted",
        Some(TOKEN),
        b"yes",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "true"));
    for node in nodes.values() {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&root);
}

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("the directory")
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect()
}

async fn refusal(id: NodeId, dir: &Path) -> String {
    let mut o = options(id, free_port());
    o.data_dir = Some(dir.to_owned());
    let before = tree(dir);
    let error = DemoNode::start(o)
        .await
        .map(|node| node.id())
        .expect_err("the directory is refused");
    // (Compared whole, printed by name only: the files are binary.)
    assert!(
        tree(dir) == before,
        "something in {} changed: {:?}",
        dir.display(),
        before.keys().collect::<Vec<_>>()
    );
    format!("{error:#}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_or_damaged_directory_is_refused_and_left_alone() {
    let root = scratch_dir("refused");
    // Node 1's directory.
    let mine = root.join("node1");
    let mut o = options(1, free_port());
    o.data_dir = Some(mine.clone());
    o.bootstrap = vec![(1, o.listen.to_string())];
    let node = DemoNode::start(o).await.expect("node 1 starts");
    node.shutdown().await;
    drop(node);
    let message = refusal(2, &mine).await;
    assert!(
        message.contains("belongs to node 1, not node 2"),
        "{message}"
    );

    // A directory with something else in it.
    let other = root.join("other");
    std::fs::create_dir_all(&other).expect("a directory");
    std::fs::write(other.join("notes.txt"), b"mine").expect("a file");
    let message = refusal(1, &other).await;
    assert!(message.contains("not a node's data directory"), "{message}");

    // A database file that is not one.
    let damaged = root.join("damaged");
    std::fs::create_dir_all(&damaged).expect("a directory");
    std::fs::write(damaged.join("raft.redb"), vec![0x5a; 8192]).expect("a file");
    let message = refusal(1, &damaged).await;
    assert!(
        message.contains("not a readable node database"),
        "{message}"
    );

    // A file where the directory should be.
    let file = root.join("plain-file");
    std::fs::write(&file, b"x").expect("a file");
    let mut o = options(1, free_port());
    o.data_dir = Some(file.clone());
    let error = DemoNode::start(o)
        .await
        .map(|n| n.id())
        .expect_err("refused");
    assert!(
        format!("{error:#}").contains("not a directory"),
        "{error:#}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A node process, killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_process(id: u64, ports: &[SocketAddr], http: SocketAddr, root: &Path) -> Process {
    let members: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}={p}", i + 1))
        .collect();
    let child = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args(["node", "--id", &id.to_string()])
        .args(["--listen", &ports[(id - 1) as usize].to_string()])
        .args(["--bootstrap", &members.join(",")])
        .args([
            "--cluster-key-file",
            &root.join("cluster.key").display().to_string(),
        ])
        .args(["--http", &http.to_string()])
        .args([
            "--http-token-file",
            &root.join("api.token").display().to_string(),
        ])
        .args([
            "--data-dir",
            &root.join(format!("node{id}")).display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a node process");
    Process(child)
}

fn kv(http: SocketAddr, root: &Path, words: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .arg("kv")
        .args(words)
        .args(["--http", &http.to_string()])
        .args([
            "--token-file",
            &root.join("api.token").display().to_string(),
        ])
        .args(["--timeout", "5"])
        .output()
        .expect("autopilot kv runs")
}

/// Retries `words` until it succeeds (a new cluster needs a moment for a leader).
async fn kv_until_ok(http: SocketAddr, root: &Path, words: &[&str]) -> String {
    let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    wait_for(
        "autopilot kv to succeed",
        Duration::from_secs(30),
        async || {
            let root = root.to_owned();
            let words = words.clone();
            let out = tokio::task::spawn_blocking(move || {
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                kv(http, &root, &words)
            })
            .await
            .expect("the command's thread");
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_processes_killed_and_restarted_read_back_what_was_written() {
    let root = scratch_dir("sigkill");
    let status = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args(["keygen", &root.join("cluster.key").display().to_string()])
        .status()
        .expect("keygen runs");
    assert!(status.success());
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(root.join("api.token"))
            .expect("a private token file");
        file.write_all(TOKEN.as_bytes()).expect("token written");
    }
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let https: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let start = |id: u64| node_process(id, &ports, https[(id - 1) as usize], &root);
    let mut processes: Vec<Process> = (1..=3).map(start).collect();

    kv_until_ok(https[0], &root, &["put", "durable/a", "first"]).await;
    kv_until_ok(https[1], &root, &["put", "durable/b", "second"]).await;
    let listed = kv_until_ok(https[2], &root, &["get", "durable/", "--recurse"]).await;
    assert_eq!(listed, "durable/a:first\ndurable/b:second\n");

    // SIGKILL every node at once: nothing is flushed on the way out.
    for process in &mut processes {
        process.0.kill().expect("SIGKILL");
        process.0.wait().expect("reaped");
    }
    processes.clear();
    let _restarted: Vec<Process> = (1..=3).map(start).collect();
    let listed = kv_until_ok(https[1], &root, &["get", "durable/", "--recurse"]).await;
    assert_eq!(listed, "durable/a:first\ndurable/b:second\n");
    kv_until_ok(https[0], &root, &["put", "durable/c", "third"]).await;
    let value = kv_until_ok(https[2], &root, &["get", "durable/c"]).await;
    assert_eq!(value, "third\n");
    drop(_restarted);
    let _ = std::fs::remove_dir_all(&root);
}

/// The voters of the leader's latest membership, once there is a leader.
fn voters(nodes: &BTreeMap<NodeId, DemoNode>) -> Option<Vec<NodeId>> {
    let leader = leader_of(nodes)?;
    let metrics = leader.raft().metrics().borrow().clone();
    Some(metrics.membership_config.membership().voter_ids().collect())
}

/// A node down long enough for autopilot to remove it as failed comes back from its
/// directory, announces itself, and is admitted and promoted again (as Consul's
/// leader re-adds a live member missing from Raft). It used to stay outside: its one
/// announcement could come before the removal, and the leader's record of its last
/// probe still said failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_removed_while_down_is_a_voter_again_once_it_is_back() {
    const N: u64 = 4;
    let ports: Vec<SocketAddr> = (0..N).map(|_| free_port()).collect();
    let root = scratch_dir("rejoin");
    let bootstrap: Vec<(NodeId, String)> = (1..=N)
        .map(|id| (id, ports[(id - 1) as usize].to_string()))
        .collect();
    let options_of = |id: NodeId| {
        let mut o = options(id, ports[(id - 1) as usize]);
        o.bootstrap = bootstrap.clone();
        o.data_dir = Some(root.join(format!("node{id}")));
        o
    };
    let mut nodes = BTreeMap::new();
    for id in 1..=N {
        let node = DemoNode::start(options_of(id)).await.expect("node starts");
        nodes.insert(id, node);
    }
    wait_for("four voters", Duration::from_secs(20), async || {
        voters(&nodes).filter(|v| v.len() == N as usize)
    })
    .await;

    // Down long enough (two contact thresholds) to be failed, then removed.
    let leader = wait_for("a leader", Duration::from_secs(10), async || {
        leader_of(&nodes)
    })
    .await;
    let victim = (1..=N)
        .rev()
        .find(|id| *id != leader.id())
        .expect("a follower");
    nodes.remove(&victim).expect("running").shutdown().await;
    wait_for(
        "the crashed node's removal",
        Duration::from_secs(30),
        async || voters(&nodes).filter(|v| !v.contains(&victim)),
    )
    .await;

    let back = DemoNode::start(options_of(victim))
        .await
        .expect("restarts from its directory");
    nodes.insert(victim, back);
    wait_for(
        "the node a voter again",
        Duration::from_secs(30),
        async || voters(&nodes).filter(|v| v.contains(&victim) && v.len() == N as usize),
    )
    .await;
    // And it stays one: it is alive, so nothing removes it again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        voters(&nodes).is_some_and(|v| v.contains(&victim)),
        "removed again"
    );
    for node in nodes.values() {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&root);
}
