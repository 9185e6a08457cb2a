//! What the cluster tests share: real openraft nodes on loopback with the HTTP API
//! on, the cluster key, waiting, and plain HTTP requests.
// Each test crate that includes this uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use autopilot_cli::link::{ClusterKey, Link};
use autopilot_cli::network::{Reply, Rpc, call};
use autopilot_cli::{DemoNode, NodeId, NodeOptions, Request};
use openraft::ServerState;

/// A loopback port free now, for a node started a moment later. Taken below the
/// kernel's ephemeral range (32768 and up on Linux): a port the kernel hands out (to
/// a `:0` bind or as a connection's source port, which the tests make by the hundred)
/// can be taken again between this check and the node's bind; one below the range
/// only by another explicit bind. Each process starts at its own offset and moves on.
pub fn free_port() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (offset + n) % SPAN).expect("below 32768");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if std::net::TcpListener::bind(address).is_ok() {
            return address;
        }
    }
    panic!("no free loopback port between {FIRST} and {}", FIRST + SPAN)
}

/// The tests' cluster key: every node and client here authenticates with it.
pub fn link() -> Link {
    static KEY: std::sync::OnceLock<ClusterKey> = std::sync::OnceLock::new();
    Link::Keyed(
        KEY.get_or_init(|| ClusterKey::generate().expect("randomness"))
            .clone(),
    )
}

pub fn options(id: NodeId, listen: SocketAddr) -> NodeOptions {
    let mut options = NodeOptions::new(id, listen, link());
    options.http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.http_token = Some(TOKEN.to_owned());
    options.cache_dir = Some(std::env::temp_dir().join("autopilot-test-cache"));
    options
}

pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn leader_of(nodes: &BTreeMap<NodeId, DemoNode>) -> Option<DemoNode> {
    nodes
        .values()
        .find(|n| n.raft().metrics().borrow().state == ServerState::Leader)
        .cloned()
}

pub async fn write(nodes: &BTreeMap<NodeId, DemoNode>, key: &str) -> bool {
    let Some(leader) = leader_of(nodes) else {
        return false;
    };
    let rpc = Rpc::Write(Request::Set {
        key: key.to_owned(),
        value: format!("value-{key}"),
    });
    matches!(
        call(&link(), leader.address(), &rpc, Duration::from_secs(2)).await,
        Ok(Reply::Ok)
    )
}

/// Starts nodes 1 to 3 as a new cluster on the first three of `ports`, reporting
/// `version`, and waits for a leader.
pub async fn bootstrap_three(
    ports: &[SocketAddr],
    version: &str,
) -> (BTreeMap<NodeId, DemoNode>, DemoNode) {
    let nodes = start_three(ports, version, None).await;
    let leader = wait_for("a leader", Duration::from_secs(10), async || {
        leader_of(&nodes)
    })
    .await;
    (nodes, leader)
}

/// Starts nodes 1 to 3 as one cluster on the first three of `ports`, reporting
/// `version`, each durable in its own of `dirs` if given (started again on the same
/// directories, they come back as the same cluster).
pub async fn start_three(
    ports: &[SocketAddr],
    version: &str,
    dirs: Option<&[std::path::PathBuf]>,
) -> BTreeMap<NodeId, DemoNode> {
    let bootstrap: Vec<(NodeId, String)> = (1..=3)
        .map(|id| (id, ports[(id - 1) as usize].to_string()))
        .collect();
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        let mut o = options(id, ports[(id - 1) as usize]);
        o.bootstrap = bootstrap.clone();
        o.version = version.to_owned();
        o.data_dir = dirs.map(|dirs| dirs[(id - 1) as usize].clone());
        nodes.insert(id, DemoNode::start(o).await.expect("node starts"));
    }
    nodes
}

/// The HTTP API's write token in these tests.
pub const TOKEN: &str = "test-token";

/// A plain HTTP/1.1 GET: status, headers (lower-case names), body.
pub async fn get(address: &str, path: &str) -> (u16, BTreeMap<String, String>, String) {
    request(address, "GET", path, None, b"").await
}

/// A plain HTTP/1.1 request, with a bearer token if given.
pub async fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, BTreeMap<String, String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the API");
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send the body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

pub async fn get_json(
    address: &str,
    path: &str,
) -> (u16, BTreeMap<String, String>, serde_json::Value) {
    let (status, headers, body) = get(address, path).await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, headers, value)
}

pub fn a_follower(nodes: &BTreeMap<NodeId, DemoNode>, leader: &DemoNode) -> DemoNode {
    nodes
        .values()
        .find(|n| n.id() != leader.id())
        .cloned()
        .expect("a follower")
}

pub fn api(node: &DemoNode) -> String {
    node.http_address().expect("serves the API").to_owned()
}

/// Waits until `leader` answers healthy with every server registered at `version`
/// (each node registers with the leader shortly after it starts) and, if `round`,
/// until it has recorded a reconcile round.
pub async fn wait_healthy(leader: &DemoNode, version: &str, round: bool) {
    wait_for(
        "a healthy, registered cluster",
        Duration::from_secs(30),
        async || {
            let (status, _, body) = get_json(&api(leader), "/v1/operator/autopilot/health").await;
            let registered = body["Servers"]
                .as_array()
                .is_some_and(|s| s.iter().all(|s| s["Version"] == version));
            let rounded = !round || leader.autopilot().last_round().is_some();
            (status == 200 && registered && rounded).then_some(())
        },
    )
    .await;
}
