//! A busy policy on real openraft nodes: three nodes in one process on a
//! current-thread runtime, the leader's autopilot running a component that spends
//! most of its budget on every call, for 30 seconds of real time; leadership never
//! changes (heartbeats are never held up by the policy). Alone in its test binary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use autopilot_cli::link::{ClusterKey, Link};
use autopilot_cli::{DemoNode, NodeId, NodeOptions};
use autopilot_integration_tests as guests;
use openraft::ServerState;

#[path = "../../host/cli/tests/support/cluster.rs"]
mod cluster;

use cluster::free_port;

fn leader_of(nodes: &BTreeMap<NodeId, DemoNode>) -> Option<(NodeId, u64)> {
    nodes.values().find_map(|n| {
        let metrics = n.raft().metrics().borrow().clone();
        (metrics.state == ServerState::Leader).then_some((n.id(), metrics.current_term))
    })
}

/// Iterations of the adversary's `spin` mode that use about three quarters of the
/// default fuel budget (about 12 units each; the `t22_budget` test measures it).
const BUSY: u64 = 37_500_000;

#[tokio::test(flavor = "current_thread")]
async fn a_busy_policy_never_costs_the_cluster_its_leader() {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let bootstrap: Vec<(NodeId, String)> = (1..=3)
        .map(|id| (id, ports[(id - 1) as usize].to_string()))
        .collect();
    let key = ClusterKey::generate().expect("randomness");
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        let mut options = NodeOptions::new(id, ports[(id - 1) as usize], Link::Keyed(key.clone()));
        options.cache_dir = Some(std::env::temp_dir().join("autopilot-test-cache"));
        options.bootstrap = bootstrap.clone();
        options.policy = Some(guests::component(guests::ADVERSARY));
        options.config.ext = serde_json::json!(format!("spin:{BUSY}"));
        nodes.insert(id, DemoNode::start(options).await.expect("node starts"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let (leader, term) = loop {
        if let Some(found) = leader_of(&nodes) {
            let node = &nodes[&found.0];
            if node.autopilot().policy_status().active.name == "adversary" {
                break found;
            }
        }
        assert!(
            Instant::now() < deadline,
            "a leader running the busy policy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            leader_of(&nodes),
            Some((leader, term)),
            "leadership changed after {:?}",
            started.elapsed()
        );
    }
    let ap = nodes[&leader].autopilot();
    let rounds = ap.counters().state_updates;
    let faults = ap.counters().policy_faults;
    eprintln!("{rounds} state updates through the busy policy, {faults} faults");
    assert!(rounds >= 30, "the policy ran all along: {rounds}");
    assert_eq!(faults, 0, "the busy policy stays within its budget");
    assert_eq!(ap.policy_status().active.name, "adversary");
    for node in nodes.values() {
        node.shutdown().await;
    }
}
