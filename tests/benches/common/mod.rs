//! What the benchmarks share: the round scenario, the timing loop and the printing.
#![allow(dead_code, reason = "each benchmark uses its own part")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use autopilot::{
    Config, LastContact, NodeStatus, NodeType, RaftConfiguration, RaftServer, Server, ServerId,
    ServerStats, StablePolicy, StateInputs, Suffrage, compute_state,
};
use chrono::{DateTime, TimeDelta, Utc};

/// The round scenario at `n` servers (see the `round` benchmark's header).
pub fn scenario(n: usize) -> StateInputs {
    let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid");
    let id = |i: usize| ServerId::from(format!("{i:08x}-0000-4000-8000-{i:012x}"));
    let mut raft = RaftConfiguration::default();
    let mut known = BTreeMap::new();
    let mut stats = BTreeMap::new();
    for i in 0..n {
        let address = format!("10.{}.{}.{}:8300", i / 65536, (i / 256) % 256, i % 256);
        raft.servers.push(RaftServer {
            suffrage: if i < 5 {
                Suffrage::Voter
            } else {
                Suffrage::Nonvoter
            },
            id: id(i),
            address: address.as_str().into(),
        });
        let mut server = Server::new(id(i), address, NodeStatus::Alive);
        server.name = format!("node-{i}").into();
        server.version = "1.17.0".into();
        server.raft_version = 3;
        server.meta = Some(std::sync::Arc::new(
            [("zone".to_owned(), format!("zone-{}", i % 3))].into(),
        ));
        server.is_leader = i == 0;
        // As in the reference's harness (`../shared/bench/go-oracle/scenario.py`): the
        // application's records carry no node type; the policy assigns `voter`.
        server.node_type = NodeType::default();
        known.insert(id(i), server);
        stats.insert(
            id(i),
            ServerStats {
                last_contact: LastContact(if i == 0 { 0 } else { 5_000_000 }),
                last_term: 7,
                last_index: 10_000,
            },
        );
    }
    let mut inputs = StateInputs {
        now: now - TimeDelta::seconds(60),
        first_state_time: now - TimeDelta::seconds(3600),
        config: Config::default(),
        raft_config: raft,
        known_servers: known,
        latest_index: 10_000,
        last_term: 7,
        is_leader: true,
        fetched_stats: stats,
        leader_id: Some(id(0)),
        current_state: None,
    };
    // The previous state: every server, healthy since a minute ago.
    let previous = compute_state(&inputs, &StablePolicy);
    inputs.current_state = Some(previous);
    inputs.now = now;
    inputs
}

/// Median time per call of `f`, over batches filling about `budget`.
pub fn measure(budget: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(50));
    let per_batch =
        (Duration::from_millis(20).as_nanos() / once.as_nanos()).clamp(1, 100_000) as u32;
    let batches =
        (budget.as_nanos() / (once.as_nanos() * u128::from(per_batch))).clamp(5, 200) as usize;
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        samples.push(t.elapsed() / per_batch);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// A duration in the unit that suits it.
pub fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1_000.0)
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1_000.0)
    } else {
        format!("{:.2} ms", ns as f64 / 1_000_000.0)
    }
}

/// The process's peak resident memory.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The time per measurement: `BENCH_MS` milliseconds, 1,500 by default.
pub fn time_per_measurement() -> Duration {
    Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    )
}
