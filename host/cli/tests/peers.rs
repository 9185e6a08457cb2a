//! A node's ports from outside: only peers holding the cluster key get a request
//! read, a wrong key is reported on both sides, a flood of connections cannot make
//! the node hold much memory, and the operator's API answers the operator commands.
//! Each test runs `autopilot node` processes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use autopilot_cli::link::{ClusterKey, Link};
use autopilot_cli::network::{Reply, Rpc, call};
use autopilot_cli::{NodeId, Request};

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// A folder of the test's own, emptied.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-peers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create");
    dir
}

fn new_key(dir: &Path, name: &str) -> (PathBuf, Link) {
    let path = dir.join(name);
    let key = ClusterKey::generate().expect("randomness");
    key.write_new(&path).expect("write key");
    let read = ClusterKey::from_file(&path).expect("reads back");
    (path, Link::Keyed(read))
}

/// An `autopilot node` process, killed on drop; its stderr goes to `log`.
struct Node {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(dir: &Path, id: NodeId, key: &Path, join: Option<&str>) -> Self {
        Self::start_with(dir, id, key, join, &[])
    }

    /// As `start`, with more arguments for `autopilot node`.
    fn start_with(
        dir: &Path,
        id: NodeId,
        key: &Path,
        join: Option<&str>,
        extra: &[String],
    ) -> Self {
        let address = free_address();
        let log = dir.join(format!("node-{id}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_autopilot"));
        command
            .args(["node", "--id", &id.to_string(), "--listen", &address])
            .arg("--cluster-key-file")
            .arg(key)
            .args(extra)
            .env("AUTOPILOT_CACHE_DIR", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        match join {
            Some(peer) => command.args(["--join", peer]),
            None => command.args(["--bootstrap", &format!("{id}={address}")]),
        };
        let child = command.spawn().expect("node starts");
        Self {
            child,
            address,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

async fn status(link: &Link, address: &str) -> Option<autopilot_cli::network::StatusReport> {
    match call(link, address, &Rpc::Status, Duration::from_secs(2)).await {
        Ok(Reply::Status(s)) => Some(s),
        _ => None,
    }
}

/// Waits until the node leads its one-node cluster.
async fn until_leading(link: &Link, node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if status(link, &node.address).await.is_some_and(|s| s.leader) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the node never led; its log:\n{}", node.log());
}

async fn until_logged(node: &Node, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = node.log();
        if log.contains(text) || Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_the_key_can_neither_join_nor_write_nor_swap_the_policy() {
    let dir = folder("strangers");
    let (key, link) = new_key(&dir, "cluster.key");
    let (_, wrong) = new_key(&dir, "other.key");
    let node = Node::start(&dir, 1, &key, None);
    until_leading(&link, &node).await;

    let write = Rpc::Write(Request::Set {
        key: "k".into(),
        value: "planted".into(),
    });
    let join = Rpc::Join {
        id: 9,
        address: "127.0.0.1:1".into(),
        version: "9.9.9".into(),
    };
    let swap = Rpc::SetPolicy(autopilot::PolicyRecord::component(
        b"\0asm\x0d\x00\x01\x00".to_vec(),
    ));
    for rpc in [&write, &join, &swap] {
        let plain = call(&Link::Insecure, &node.address, rpc, Duration::from_secs(2))
            .await
            .expect_err("a peer without a key is refused");
        assert_eq!(plain.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(
            plain.to_string().contains("requires a cluster key"),
            "{plain}"
        );
        let keyed = call(&wrong, &node.address, rpc, Duration::from_secs(2))
            .await
            .expect_err("a peer with another key is refused");
        assert_eq!(keyed.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(
            keyed.to_string().contains("cluster key does not match"),
            "{keyed}"
        );
    }

    // Nothing happened: no write, no new member, the same policy.
    let read = call(
        &link,
        &node.address,
        &Rpc::Read("k".into()),
        Duration::from_secs(2),
    )
    .await
    .expect("read");
    assert!(matches!(read, Reply::Value(None)), "{read:?}");
    let report = status(&link, &node.address).await.expect("status");
    let state = report
        .autopilot
        .expect("the leader reports autopilot's state");
    assert_eq!(state.servers.len(), 1, "{:?}", state.servers.keys());
    let policy = state.policy.expect("the active policy");
    assert_eq!(
        policy.active.name, "stable",
        "the built-in policy still runs"
    );
    // The node logged each refusal, naming the cause.
    let log = until_logged(&node, "refused a peer").await;
    assert!(log.contains("has no cluster key"), "{log}");
    assert!(log.contains("cluster key does not match"), "{log}");

    // The key holder, though, writes.
    let ok = call(&link, &node.address, &write, Duration::from_secs(2))
        .await
        .expect("write");
    assert!(matches!(ok, Reply::Ok), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_key_is_refused_with_a_clear_message_on_both_sides() {
    let dir = folder("wrong-key");
    let (key, link) = new_key(&dir, "cluster.key");
    let (other, _) = new_key(&dir, "other.key");
    let first = Node::start(&dir, 1, &key, None);
    until_leading(&link, &first).await;

    let mut second = Node::start(&dir, 2, &other, Some(&first.address));
    let deadline = Instant::now() + Duration::from_secs(20);
    let exited = loop {
        if let Some(status) = second.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node with another key kept running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!exited.success());
    let theirs = second.log();
    assert!(
        theirs.contains("could not join the cluster")
            && theirs.contains("cluster key does not match"),
        "{theirs}"
    );
    let ours = until_logged(&first, "cluster key does not match").await;
    assert!(ours.contains("refused a peer"), "{ours}");
    let report = status(&link, &first.address).await.expect("status");
    assert_eq!(report.autopilot.map(|s| s.servers.len()), Some(1));

    // With the right key it joins.
    let third = Node::start(&dir, 3, &key, Some(&first.address));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let servers = status(&link, &first.address)
            .await
            .and_then(|s| s.autopilot)
            .map(|s| s.servers.len());
        if servers == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", third.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_announcing_huge_frames_stays_within_budget() {
    let dir = folder("flood");
    let (key, link) = new_key(&dir, "cluster.key");
    let node = Node::start(&dir, 1, &key, None);
    until_leading(&link, &node).await;
    let before = node.rss_kib();

    // 300 connections, each announcing a 64 MiB frame (as a plain peer would) or the
    // largest handshake message, and sending 256 KiB of it, then holding on.
    let address = node.address.clone();
    let held = tokio::task::spawn_blocking(move || {
        let junk = vec![0x5a_u8; 256 << 10];
        let mut held = Vec::new();
        for i in 0..300 {
            let Ok(mut stream) = TcpStream::connect(&address) else {
                continue;
            };
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let header: &[u8] = if i % 2 == 0 {
                b"APP1\x04\x00\x00\x00"
            } else {
                b"APK1\xff\xff"
            };
            let _ = stream.write_all(header);
            let _ = stream.write_all(&junk);
            held.push(stream);
        }
        held
    })
    .await
    .expect("flood");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = node.rss_kib();
    let grown = during.saturating_sub(before);
    eprintln!("resident memory under the flood: {before} KiB -> {during} KiB");
    // 300 x 256 KiB would be 75 MiB if the node buffered what it was sent.
    assert!(
        grown < 32 << 10,
        "resident memory grew by {grown} KiB ({before} -> {during})"
    );

    // Every flooding connection is refused or cut off at the handshake's deadline,
    // and the node answers its own cluster again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&link, &node.address).await.is_none() {
        assert!(Instant::now() < deadline, "the node never answered again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut open = 0;
    for mut stream in held {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut sink = Vec::new();
        if let Err(e) = stream.read_to_end(&mut sink)
            && matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        {
            open += 1;
        }
    }
    assert_eq!(open, 0, "flooding connections the node kept open");
}

#[test]
fn a_node_needs_a_cluster_key_or_an_explicit_insecure_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args(["node", "--id", "1", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--cluster-key-file"), "{stderr}");
}

#[test]
fn a_key_file_others_can_read_or_that_is_not_a_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder("key-files");
    let (path, _) = new_key(&dir, "cluster.key");
    let mode = std::fs::metadata(&path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "keygen writes it private");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = ClusterKey::from_file(&path).expect_err("readable by others");
    assert!(e.contains("open to group or others"), "{e}");

    let bad = dir.join("bad.key");
    std::fs::write(&bad, "not hex at all").expect("write");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let e = ClusterKey::from_file(&bad).expect_err("not a key");
    assert!(e.contains("expected 64 hex digits"), "{e}");

    let output = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args([
            "node",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--cluster-key-file",
        ])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("open to group or others"), "{stderr}");
}

/// Runs the `autopilot` binary with `args`, off the async executor.
async fn autopilot(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_autopilot"))
            .args(&args)
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the command's thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_process_serves_the_operators_api_to_the_commands() {
    let dir = folder("api");
    let (key, link) = new_key(&dir, "cluster.key");
    // A token file as `autopilot keygen` writes it (0600).
    let token = dir.join("api.token");
    ClusterKey::generate()
        .expect("randomness")
        .write_new(&token)
        .expect("token written");
    let http = free_address();
    let extra = vec![
        "--http".to_owned(),
        http.clone(),
        "--http-token-file".to_owned(),
        token.display().to_string(),
    ];
    let node = Node::start_with(&dir, 1, &key, None, &extra);
    until_leading(&link, &node).await;
    let with = |words: &[&str]| {
        let mut all: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        all.extend(["--http".to_owned(), http.clone()]);
        all
    };
    let token = token.display().to_string();

    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let out = autopilot(with(&["health", "--json"])).await;
        if out.status.code() == Some(0) || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        health.status.code(),
        Some(0),
        "{}\nnode log:\n{}",
        String::from_utf8_lossy(&health.stderr),
        node.log()
    );
    let json: serde_json::Value = serde_json::from_slice(&health.stdout).expect("JSON health");
    assert_eq!(json["Servers"][0]["ID"], "1");

    let out = autopilot(with(&["state"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Leader:                       1"));

    // A write with the token file applies; with the wrong token it is refused.
    let out = autopilot(with(&[
        "config",
        "set",
        "MinQuorum=1",
        "--token-file",
        &token,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (wrong, _) = new_key(&dir, "other.token");
    let wrong = wrong.display().to_string();
    let out = autopilot(with(&[
        "config",
        "set",
        "MinQuorum=2",
        "--token-file",
        &wrong,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let out = autopilot(with(&["config", "get"])).await;
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON config");
    assert_eq!(config["MinQuorum"], 1);
}
