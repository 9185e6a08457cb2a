//! Hot swaps of big policies on real openraft nodes: a Python (about 18 MB) and then a
//! JavaScript (about 12 MB) redundancy-zones policy, each built from source, swapped
//! into a running three-node cluster over the cluster link. The components travel
//! beside the Raft log (the log names only their digests), so the swap costs the
//! cluster neither its leader nor its term; every member holds the bytes; a node that
//! joins later fetches them from a peer when it needs them; and after the leader shuts
//! down, the next leader runs the swapped policy.

#[path = "../../host/cli/tests/support/cluster.rs"]
mod cluster;

use std::net::SocketAddr;
use std::time::Duration;

use autopilot::{Application, PolicyRecord};
use autopilot_cli::link::Link;
use autopilot_cli::network::{Reply, Rpc, call};
use autopilot_cli::{DemoNode, StoredPolicy};
use autopilot_integration_tests as guests;
use cluster::{bootstrap_three, free_port, leader_of, options, wait_for};

/// Whether the node at `address` holds the component with `digest`.
async fn holds(link: &Link, address: &str, digest: &str) -> bool {
    match call(
        link,
        address,
        &Rpc::GetBlob(digest.to_owned()),
        Duration::from_secs(30),
    )
    .await
    {
        Ok(Reply::Blob(Some(PolicyRecord::Component { digest: d, bytes }))) => {
            d == digest && autopilot::sha256_hex(&bytes) == digest
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_policies_swap_beside_the_log_and_survive_a_leader_change() {
    let python = guests::python_component("redundancy-zones");
    let javascript = guests::js_component("promoters/js/redundancy-zones");
    assert!(
        python.len() > 16 << 20,
        "CPython is in it: {} bytes",
        python.len()
    );
    assert!(
        javascript.len() > 8 << 20,
        "SpiderMonkey is in it: {} bytes",
        javascript.len()
    );

    let link = cluster::link();
    let ports: Vec<SocketAddr> = (0..4).map(|_| free_port()).collect();
    let (mut nodes, leader) = bootstrap_three(&ports, "1.0.0").await;
    let term = leader.raft().metrics().borrow().current_term;

    let mut digests = Vec::new();
    for (bytes, name) in [
        (&python, "redundancy-zones-py"),
        (&javascript, "redundancy-zones-js"),
    ] {
        let record = PolicyRecord::component(bytes.clone());
        let PolicyRecord::Component { digest, .. } = &record else {
            unreachable!("a component's record")
        };
        let digest = digest.clone();
        let reply = call(
            &link,
            leader.address(),
            &Rpc::SetPolicy(record),
            Duration::from_secs(180),
        )
        .await
        .expect("the leader answers");
        let Reply::PolicySet(active) = reply else {
            panic!("the swap to {name} was refused: {reply:?}")
        };
        assert_eq!(active.name, name);
        assert_eq!(leader.autopilot().policy_status().active.name, name);
        // The log names the digest; every member holds the bytes.
        let stored = leader.machine().data().await.policy;
        assert_eq!(
            stored,
            Some(StoredPolicy::Component {
                digest: digest.clone(),
                size: bytes.len() as u64
            })
        );
        // The swap went on once a majority held the bytes; the last member gets them
        // in the background.
        for node in nodes.values() {
            let what = format!("node {} to hold {name}", node.id());
            wait_for(&what, Duration::from_secs(30), async || {
                holds(&link, node.address(), &digest).await.then_some(())
            })
            .await;
        }
        digests.push(digest);
    }
    // Neither swap cost the cluster its leader.
    let now = leader_of(&nodes).expect("a leader");
    assert_eq!(now.id(), leader.id(), "the leader stayed");
    assert_eq!(
        now.raft().metrics().borrow().current_term,
        term,
        "no election"
    );

    // A node that joins now was not there when the bytes were shipped: asked for the
    // recorded policy (as it would be on becoming leader), it fetches them from a peer.
    let mut o = options(4, ports[3]);
    o.join = Some(leader.address().to_owned());
    let late = DemoNode::start(o).await.expect("node 4 starts");
    let js = &digests[1];
    assert!(
        !holds(&link, late.address(), js).await,
        "node 4 starts without it"
    );
    let record = wait_for(
        "node 4 to fetch the policy",
        Duration::from_secs(60),
        async || late.autopilot().application().stored_policy().await,
    )
    .await;
    assert_eq!(record, PolicyRecord::component(javascript.clone()));
    assert!(
        holds(&link, late.address(), js).await,
        "node 4 keeps what it fetched"
    );
    nodes.insert(4, late);

    // The leader goes; the next one runs the swapped policy.
    leader.shutdown().await;
    nodes.remove(&leader.id());
    let next = wait_for(
        "the next leader to run the swapped policy",
        Duration::from_secs(90),
        async || {
            leader_of(&nodes)
                .filter(|n| n.autopilot().policy_status().active.name == "redundancy-zones-js")
        },
    )
    .await;
    assert_ne!(next.id(), leader.id());
    assert_eq!(
        next.autopilot().policy_status().active.digest.as_deref(),
        Some(js.as_str())
    );
    for node in nodes.values() {
        node.shutdown().await;
    }
}
