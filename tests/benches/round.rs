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

mod common;

use std::hint::black_box;
use std::time::Instant;

use autopilot::plan::plan_round;
use autopilot::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot::{Config, Policy, StablePolicy, compute_round};
use autopilot_integration_tests as guests;
use common::{measure, peak_rss_kib, scenario, show};

fn main() {
    let bytes = guests::component(guests::STABLE_PROMOTER);
    let budget = common::time_per_measurement();

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
    let empty = autopilot::State::default();
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
