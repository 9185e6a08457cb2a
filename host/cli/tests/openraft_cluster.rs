//! End to end on real openraft nodes talking TCP on loopback (in one process): joining
//! servers are promoted, a dead voter is cleaned up, autopilot continues on the new
//! leader after the leader dies, and no acknowledged write is lost.

use std::net::SocketAddr;
use std::time::Duration;

use autopilot_cli::network::{Reply, Rpc, call};
use autopilot_cli::{DemoNode, NodeId};

#[path = "support/cluster.rs"]
mod cluster;
use cluster::*;

fn voters(node: &DemoNode) -> Vec<NodeId> {
    node.raft()
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_manages_a_real_openraft_cluster() {
    let ports: Vec<SocketAddr> = (0..5).map(|_| free_port()).collect();
    let (mut nodes, leader) = bootstrap_three(&ports, env!("CARGO_PKG_VERSION")).await;
    assert_eq!(voters(&leader).len(), 3);

    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let key = format!("k{i}");
        if write(&nodes, &key).await {
            acknowledged.push(key);
        }
    }
    assert!(
        acknowledged.len() >= 15,
        "writes go through: {}",
        acknowledged.len()
    );

    // Two servers join: added as learners, promoted once stable.
    for id in 4..=5u64 {
        let mut o = options(id, ports[(id - 1) as usize]);
        o.join = Some(leader.address().to_owned());
        nodes.insert(id, DemoNode::start(o).await.expect("node joins"));
    }
    wait_for("five voters", Duration::from_secs(20), async || {
        leader_of(&nodes).filter(|l| voters(l).len() == 5)
    })
    .await;

    // A voter that is not the leader dies: cleaned up without losing quorum.
    let leader = leader_of(&nodes).expect("leader");
    let victim = *nodes
        .keys()
        .find(|id| **id != leader.id())
        .expect("a follower");
    nodes.remove(&victim).expect("victim").shutdown().await;
    wait_for(
        "the dead voter removed",
        Duration::from_secs(20),
        async || leader_of(&nodes).filter(|l| !voters(l).contains(&victim)),
    )
    .await;
    for i in 20..30 {
        let key = format!("k{i}");
        if write(&nodes, &key).await {
            acknowledged.push(key);
        }
    }

    // The leader dies: another takes over and its autopilot carries on (it cleans up
    // the old leader).
    let old = leader_of(&nodes).expect("leader");
    let old_id = old.id();
    nodes.remove(&old_id).expect("old leader");
    old.shutdown().await;
    let new = wait_for("a new leader", Duration::from_secs(20), async || {
        leader_of(&nodes)
    })
    .await;
    assert_ne!(new.id(), old_id);
    wait_for(
        "the old leader removed",
        Duration::from_secs(30),
        async || leader_of(&nodes).filter(|l| !voters(l).contains(&old_id)),
    )
    .await;
    assert_eq!(voters(&leader_of(&nodes).expect("leader")).len(), 3);

    // No acknowledged write is lost.
    let leader = leader_of(&nodes).expect("leader");
    for key in &acknowledged {
        let reply = call(
            &link(),
            leader.address(),
            &Rpc::Read(key.clone()),
            Duration::from_secs(2),
        )
        .await
        .expect("read");
        match reply {
            Reply::Value(Some(v)) => assert_eq!(v, format!("value-{key}")),
            other => panic!("acknowledged write {key} lost: {other:?}"),
        }
    }
    for node in nodes.values() {
        node.shutdown().await;
    }
}

/// An automated upgrade on openraft: three 1.0.0 voters, three 1.1.0 servers join; the
/// upgrade policy promotes the new ones and demotes the old followers, for real. The
/// leadership transfer that would follow is refused by the openraft 0.9 adapter (no
/// safe way to do it), so the upgrade waits there with the leader in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_moves_the_votes_and_keeps_the_leader_on_openraft() {
    let ports: Vec<SocketAddr> = (0..6).map(|_| free_port()).collect();
    let (mut nodes, leader) = bootstrap_three(&ports, "1.0.0").await;
    let swap = call(
        &link(),
        leader.address(),
        &Rpc::SetPolicy(autopilot::PolicyRecord::component(
            autopilot_cli::components::UPGRADE_MIGRATION.to_vec(),
        )),
        Duration::from_secs(10),
    )
    .await
    .expect("swap");
    assert!(matches!(swap, Reply::PolicySet(_)), "{swap:?}");
    for id in 4..=6u64 {
        let mut o = options(id, ports[(id - 1) as usize]);
        o.join = Some(leader.address().to_owned());
        o.version = "1.1.0".into();
        nodes.insert(id, DemoNode::start(o).await.expect("node joins"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let leader = leader_of(&nodes);
        let mut seen = String::from("no leader");
        if let Some(l) = &leader {
            let mut v = voters(l);
            v.sort();
            let state = l.autopilot().state();
            seen = format!(
                "leader {} voters {v:?} upgrade {} policy {:?}",
                l.id(),
                state.ext,
                state
                    .policy
                    .as_ref()
                    .map(|p| (&p.active.name, p.history.back()))
            );
            let stalled_at_transfer = state.ext["status"] == "leader-transfer";
            if v == [l.id(), 4, 5, 6] && stalled_at_transfer {
                break l.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "upgrade incomplete: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // openraft 0.9 cannot transfer leadership: the upgrade stops there, with the new
    // version holding every vote but the old leader's, and the cluster keeps its leader.
    assert!(done.id() <= 3);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        leader_of(&nodes).is_some_and(|l| l.id() == done.id()),
        "the leader stays"
    );
    for node in nodes.values() {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_answers_the_operators_api_from_the_leaders_state() {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let (mut nodes, leader) = bootstrap_three(&ports, "1.0.0").await;
    let follower = a_follower(&nodes, &leader);
    let leader_id = leader.id().to_string();

    // Health: 200 once all three are healthy, from the leader and from a follower,
    // which names the leader it asked.
    wait_healthy(&leader, "1.0.0", false).await;
    for node in [&leader, &follower] {
        let (status, headers, body) = get_json(&api(node), "/v1/operator/autopilot/health").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers.get("x-autopilot-leader"), Some(&leader_id));
        assert_eq!(body["Healthy"], true);
        assert_eq!(body["FailureTolerance"], 1);
        let servers = body["Servers"].as_array().expect("Servers");
        assert_eq!(servers.len(), 3);
        assert_eq!(servers[0]["ID"], leader_id.as_str(), "the leader first");
        assert_eq!(servers[0]["Leader"], true);
        for server in servers {
            for field in [
                "ID",
                "Name",
                "Address",
                "SerfStatus",
                "Version",
                "Leader",
                "LastContact",
                "LastTerm",
                "LastIndex",
                "Healthy",
                "Voter",
                "StableSince",
            ] {
                assert!(server.get(field).is_some(), "{field} in {server}");
            }
            assert_eq!(server["SerfStatus"], "alive");
            assert_eq!(server["Voter"], true);
            assert_eq!(server["Version"], "1.0.0");
        }
    }

    // State, from a follower: Consul's fields, the policy, one entry per server.
    let (status, headers, body) = get_json(&api(&follower), "/v1/operator/autopilot/state").await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-autopilot-leader"), Some(&leader_id));
    for field in [
        "Healthy",
        "FailureTolerance",
        "OptimisticFailureTolerance",
        "Servers",
        "Leader",
        "Voters",
        "RedundancyZones",
        "ReadReplicas",
        "Upgrade",
        "Policy",
    ] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
    assert_eq!(body["Leader"], leader_id.as_str());
    assert_eq!(body["Voters"].as_array().map(Vec::len), Some(3));
    assert_eq!(body["Servers"][&leader_id]["Status"], "leader");
    assert_eq!(body["Policy"]["Active"]["Name"], "stable");

    // Metrics: Prometheus text on every node, the leader's per-node health on it.
    for node in [&leader, &follower] {
        let (status, headers, text) = get(&api(node), "/metrics").await;
        assert_eq!(status, 200);
        assert!(headers["content-type"].contains("openmetrics-text"));
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("parses as Prometheus text");
        let healthy = scrape
            .samples
            .iter()
            .find(|s| s.metric == "autopilot_healthy")
            .unwrap_or_else(|| panic!("autopilot_healthy in {text}"));
        let leads = node.id() == leader.id();
        assert_eq!(
            healthy.labels.get("leader"),
            Some(leads.to_string().as_str())
        );
        assert!(matches!(healthy.value, prometheus_parse::Value::Gauge(v) if v == 1.0));
        let per_node = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "autopilot_node_healthy")
            .count();
        assert_eq!(per_node, if leads { 3 } else { 0 }, "{text}");
        if leads {
            assert!(
                scrape
                    .samples
                    .iter()
                    .any(|s| s.metric.starts_with("autopilot_state_updates")),
                "{text}"
            );
        }
    }

    // A voter dies: 429 with the body, and the dead server's reason.
    let dead = follower.id();
    nodes.remove(&dead).expect("present").shutdown().await;
    let body = wait_for("an unhealthy report", Duration::from_secs(20), async || {
        let (status, _, body) = get_json(&api(&leader), "/v1/operator/autopilot/health").await;
        (status == 429).then_some(body)
    })
    .await;
    assert_eq!(body["Healthy"], false);
    assert_eq!(body["FailureTolerance"], 0);
    let (_, _, state) = get_json(&api(&leader), "/v1/operator/autopilot/state").await;
    let reason = state["Servers"][dead.to_string()]["Reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("unhealthy: "), "{state}");
    for node in nodes.values() {
        node.shutdown().await;
    }
}

/// A valid configuration body for PUT.
fn config_body(min_quorum: u32) -> serde_json::Value {
    serde_json::json!({
        "CleanupDeadServers": true,
        "LastContactThreshold": "1s",
        "MaxTrailingLogs": 400,
        "MinQuorum": min_quorum,
        "ServerStabilizationTime": "3s",
        "Ext": null
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_is_read_and_written_through_the_api_with_the_token() {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let (nodes, leader) = bootstrap_three(&ports, "1.0.0").await;
    let follower = a_follower(&nodes, &leader);
    let path = "/v1/operator/autopilot/configuration";

    // Before any write: each node's own settings, indexes 0, Go durations.
    let (status, _, config) = get_json(&api(&follower), path).await;
    assert_eq!(status, 200);
    assert_eq!(config["LastContactThreshold"], "1s");
    assert_eq!(config["ServerStabilizationTime"], "2s");
    assert_eq!(config["ModifyIndex"], 0);

    // No token, a wrong token: refused, nothing applied.
    let body = config_body(3).to_string();
    let (status, _, _) = request(&api(&follower), "PUT", path, None, body.as_bytes()).await;
    assert_eq!(status, 401);
    let (status, _, _) = request(&api(&follower), "PUT", path, Some("nope"), body.as_bytes()).await;
    assert_eq!(status, 401);

    // Malformed bodies: 400 naming the field, nothing applied.
    let mut unknown = config_body(3);
    unknown["Surprise"] = serde_json::json!(1);
    let mut wrong_type = config_body(3);
    wrong_type["MinQuorum"] = serde_json::json!("three");
    let mut bad_duration = config_body(3);
    bad_duration["LastContactThreshold"] = serde_json::json!("soon");
    let mut missing = config_body(3);
    missing
        .as_object_mut()
        .expect("object")
        .remove("MaxTrailingLogs");
    for (body, needle) in [
        ("{not json".to_owned(), "key must be a string"),
        (unknown.to_string(), "Surprise"),
        (wrong_type.to_string(), "MinQuorum"),
        (bad_duration.to_string(), "LastContactThreshold"),
        (missing.to_string(), "MaxTrailingLogs"),
    ] {
        let (status, _, text) =
            request(&api(&follower), "PUT", path, Some(TOKEN), body.as_bytes()).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    let (status, _, text) = request(
        &api(&follower),
        "PUT",
        &format!("{path}?cas=abc"),
        Some(TOKEN),
        config_body(3).to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("cas"), "{text}");
    let (_, _, config) = get_json(&api(&leader), path).await;
    assert_eq!(config["ModifyIndex"], 0, "nothing applied: {config}");

    // A write through a follower: replicated, and the leader's autopilot uses it.
    let (status, headers, text) = request(
        &api(&follower),
        "PUT",
        path,
        Some(TOKEN),
        config_body(3).to_string().as_bytes(),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "true"));
    assert_eq!(
        headers.get("x-autopilot-leader"),
        Some(&leader.id().to_string())
    );
    let written = wait_for(
        "the configuration everywhere",
        Duration::from_secs(10),
        async || {
            let mut seen = Vec::new();
            for node in nodes.values() {
                let (_, _, config) = get_json(&api(node), path).await;
                seen.push(config);
            }
            seen.iter()
                .all(|c| c["ServerStabilizationTime"] == "3s" && c["MaxTrailingLogs"] == 400)
                .then(|| seen[0].clone())
        },
    )
    .await;
    let index = written["ModifyIndex"].as_u64().expect("index");
    assert!(index > 0);
    assert_eq!(written["CreateIndex"], index);
    let used = leader.autopilot().application().effective_config().await;
    assert_eq!(used.server_stabilization_time, Duration::from_secs(3));

    // Check-and-set: a stale index is refused, the current one applies.
    let stale = format!("{path}?cas={}", index - 1);
    let (status, _, text) = request(
        &api(&leader),
        "PUT",
        &stale,
        Some(TOKEN),
        config_body(5).to_string().as_bytes(),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "false"));
    let (_, _, config) = get_json(&api(&leader), path).await;
    assert_eq!(config["MinQuorum"], 3, "a refused CAS changes nothing");
    let current = format!("{path}?cas={index}");
    let (status, _, text) = request(
        &api(&leader),
        "PUT",
        &current,
        Some(TOKEN),
        config_body(5).to_string().as_bytes(),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "true"));
    let (_, _, config) = get_json(&api(&leader), path).await;
    assert_eq!(config["MinQuorum"], 5);
    assert!(config["ModifyIndex"].as_u64().expect("index") > index);
    assert_eq!(config["CreateIndex"], index);
    for node in nodes.values() {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_token_refuses_writes_and_says_how_to_enable_them() {
    let port = free_port();
    let mut o = options(1, port);
    o.http_token = None;
    o.bootstrap = vec![(1, port.to_string())];
    let node = DemoNode::start(o).await.expect("node starts");
    let path = "/v1/operator/autopilot/configuration";
    let (status, _, text) = request(
        &api(&node),
        "PUT",
        path,
        Some(TOKEN),
        config_body(3).to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 403);
    assert!(text.contains("--http-token-file"), "{text}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_is_read_and_swapped_through_the_api() {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    let (nodes, leader) = bootstrap_three(&ports, "1.0.0").await;
    let follower = a_follower(&nodes, &leader);
    let path = "/v1/operator/autopilot/policy";
    let active = |body: &serde_json::Value| body["Active"]["Name"].as_str().map(str::to_owned);
    // A new leader reports its policy with its first state, a moment after it wins.
    let body = wait_for(
        "the leader's first state",
        Duration::from_secs(10),
        async || {
            let (status, _, body) = get_json(&api(&follower), path).await;
            assert_eq!(status, 200);
            body.get("Active").is_some().then_some(body)
        },
    )
    .await;
    assert_eq!(active(&body).as_deref(), Some("stable"));

    let cautious = autopilot_cli::components::CAUTIOUS;
    let (status, _, _) = request(&api(&follower), "PUT", path, None, cautious).await;
    assert_eq!(status, 401, "a swap needs the token");

    // Random bytes: refused by name, the running policy stays.
    let (status, headers, text) = request(
        &api(&follower),
        "PUT",
        path,
        Some(TOKEN),
        b"not a component",
    )
    .await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("not a component"), "{text}");
    assert_eq!(
        headers.get("x-autopilot-leader"),
        Some(&leader.id().to_string())
    );
    assert_eq!(
        leader.autopilot().policy_status().active.name.as_str(),
        "stable"
    );

    // A real component through a follower: swapped on the leader, seen from anywhere.
    let (status, _, text) = request(&api(&follower), "PUT", path, Some(TOKEN), cautious).await;
    assert_eq!(status, 200, "{text}");
    let swapped: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(swapped["Name"], "cautious");
    wait_for(
        "the swap in the state",
        Duration::from_secs(10),
        async || {
            let (_, _, body) = get_json(&api(&follower), path).await;
            (active(&body).as_deref() == Some("cautious")).then_some(())
        },
    )
    .await;
    for node in nodes.values() {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_leader_the_api_says_so_instead_of_guessing() {
    // Node 2 waits for node 1 (the lowest id) to initialise a cluster that never
    // starts: there is no leader, and node 2 has never led.
    let (absent, port) = (free_port(), free_port());
    let mut o = options(2, port);
    o.bootstrap = vec![(1, absent.to_string()), (2, port.to_string())];
    let node = DemoNode::start(o).await.expect("node starts");
    for path in [
        "/v1/operator/autopilot/health",
        "/v1/operator/autopilot/health?stale",
        "/v1/operator/autopilot/state",
    ] {
        let (status, _, body) = get_json(&api(&node), path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            body["Error"]
                .as_str()
                .is_some_and(|e| e.contains("no leader reachable")),
            "{path}: {body}"
        );
    }
    node.shutdown().await;
}
