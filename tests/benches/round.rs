//! One autopilot round, natively and through the stable component, at 5 to 10,000
//! servers; plus component load, instantiation and cache figures. Prints a table.
//!
//! `cargo bench -p autopilot-integration-tests --bench round`
//!
//! Scenario (the one the reference's figures were taken on): one leader and four
//! voters, every other server a healthy non-voter stable for a minute; every known
//! server has a name, an address, a version and a one-entry meta map; the previous
//! state holds every server. A round is the state build plus every promoter decision
//! of the round (extensions, node types, changes).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autopilot::core::{
    Config, LastContact, NodeStatus, RaftConfiguration, RaftServer, Server, ServerId, ServerStats,
    StablePolicy, StateInputs, Suffrage, compute_round, compute_state,
};
use autopilot::plan::plan_round;
use autopilot::plugin::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use chrono::{DateTime, TimeDelta, Utc};

fn scenario(n: usize) -> StateInputs {
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
fn measure(budget: Duration, mut f: impl FnMut()) -> Duration {
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

fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1_000.0)
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1_000.0)
    } else {
        format!("{:.2} ms", ns as f64 / 1_000_000.0)
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let bytes = guests::component(guests::STABLE_PROMOTER);
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );

    // Loading.
    let cold_host = PluginHost::new(PluginHostConfig::default()).expect("host");
    let t = Instant::now();
    let policy = cold_host.load(&bytes).expect("stable loads");
    let cold = t.elapsed();
    let cache_dir =
        std::env::temp_dir().join(format!("autopilot-bench-cache-{}", std::process::id()));
    let cached_host = PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(&cache_dir)),
        ..PluginHostConfig::default()
    })
    .expect("host");
    cached_host.load(&bytes).expect("fills the cache");
    let warm = measure(budget / 3, || {
        black_box(cached_host.load(&bytes).expect("cache load"));
    });
    let _ = std::fs::remove_dir_all(&cache_dir);
    let empty = autopilot::core::State::default();
    let instantiate = measure(budget / 3, || {
        black_box(
            policy
                .decide(&Config::default(), &empty, &[])
                .expect("call"),
        );
    });

    println!("Component: stable ({} KiB)", bytes.len() / 1024);
    println!("  cold compile + checks + metadata call : {}", show(cold));
    println!("  load from the artifact cache          : {}", show(warm));
    println!(
        "  fresh instance + one empty call        : {}",
        show(instantiate)
    );
    println!();

    let promoter = policy;
    // The same decisions from a policy that asks for every server's name, address,
    // version and metadata, to show what sending those strings costs.
    let with_details = cold_host
        .load(&guests::component(guests::STABLE_DETAILS))
        .expect("stable-details loads");
    println!(
        "{:>7}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}",
        "servers", "native round", "wasm round", "+ details", "native plan", "wasm plan",
    );
    // BENCH_SIZES=5,100 limits the sizes (for profiling).
    let sizes: Option<Vec<usize>> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    for n in [5, 100, 1_000, 10_000] {
        if sizes.as_ref().is_some_and(|s| !s.contains(&n)) {
            continue;
        }
        let inputs = scenario(n);
        let (state, decided) = compute_round(&inputs, &StablePolicy);
        assert_eq!(
            decided.answer.changes.promotions.len(),
            n.saturating_sub(5),
            "the scenario promotes"
        );
        let (wasm_state, wasm_decided) = compute_round(&inputs, &promoter);
        assert!(wasm_decided.fault.is_none(), "{:?}", wasm_decided.fault);
        assert_eq!(wasm_state, state);
        assert_eq!(wasm_decided.answer.changes, decided.answer.changes);
        let (_, details_decided) = compute_round(&inputs, &with_details);
        assert!(
            details_decided.fault.is_none(),
            "{:?}",
            details_decided.fault
        );
        assert_eq!(details_decided.answer.changes, decided.answer.changes);
        let native = measure(budget, || {
            black_box(compute_round(&inputs, &StablePolicy));
        });
        let wasm = measure(budget, || {
            black_box(compute_round(&inputs, &promoter));
        });
        let details = measure(budget, || {
            black_box(compute_round(&inputs, &with_details));
        });
        let native_plan = measure(budget / 2, || {
            black_box(plan_round(&inputs, &StablePolicy));
        });
        let wasm_plan = measure(budget / 2, || {
            black_box(plan_round(&inputs, &promoter));
        });
        println!(
            "{n:>7}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}",
            show(native),
            show(wasm),
            show(details),
            show(native_plan),
            show(wasm_plan)
        );
    }
    if let Some(kib) = peak_rss_kib() {
        println!();
        println!("Peak resident memory of this process: {} MiB", kib / 1024);
    }
}
