//! The budget of a policy call: how long the default fuel budget lasts, what metering
//! fuel costs a round, and how much of the budget a stable round uses. Prints figures.
//!
//! `cargo bench -p autopilot-integration-tests --bench budget`

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use autopilot::{Config, NodeType, State, compute_round, judged_node_types};
use autopilot::{DEFAULT_FUEL, PluginError, PluginHost, PluginHostConfig, PluginLimits};
use autopilot_integration_tests as guests;
use common::{measure, scenario, show};

fn host(fuel: Option<u64>) -> PluginHost {
    PluginHost::new(PluginHostConfig {
        limits: PluginLimits {
            fuel,
            deadline: Duration::from_secs(30),
            ..PluginLimits::default()
        },
        ..PluginHostConfig::default()
    })
    .expect("host")
}

fn main() {
    // BENCH_SIZES=5,100 limits the sizes of the metering table.
    let sizes: Option<Vec<usize>> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let budget = common::time_per_measurement();
    let adversary = guests::component(guests::ADVERSARY);
    let stable = guests::component(guests::STABLE_PROMOTER);

    // How long the default budget lasts: a policy that loops until it runs out.
    let metered = host(Some(DEFAULT_FUEL));
    let looping = metered.load(&adversary).expect("adversary loads");
    let config = Config {
        ext: serde_json::json!("loop"),
        ..Config::default()
    };
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let outcome = looping.try_decide(&config, &State::default(), &[]);
            assert!(
                matches!(outcome, Err(PluginError::OutOfFuel(_))),
                "{outcome:?}"
            );
            t.elapsed()
        })
        .collect();
    runs.sort();
    println!(
        "Default budget: {DEFAULT_FUEL} units of fuel; a busy loop exhausts it in {} (median of 5)",
        show(runs[2])
    );

    // What metering costs: the same round with and without fuel, for the stable
    // component and for the same policy reading every server's details (more guest
    // work per server, so more metered code).
    let unmetered = host(None);
    let details = guests::component(guests::STABLE_DETAILS);
    for (name, bytes) in [("stable", &stable), ("stable-details", &details)] {
        let with_fuel = metered.load(bytes).expect("loads");
        let without_fuel = unmetered.load(bytes).expect("loads");
        println!();
        println!(
            "{:>7}  {:>14}  {:>14}  {:>8}   ({name})",
            "servers", "wasm round", "without fuel", "cost"
        );
        for n in [5, 100, 1_000, 10_000] {
            if sizes.as_ref().is_some_and(|s| !s.contains(&n)) {
                continue;
            }
            let inputs = scenario(n);
            let fueled = measure(budget, || {
                black_box(compute_round(&inputs, &with_fuel));
            });
            let bare = measure(budget, || {
                black_box(compute_round(&inputs, &without_fuel));
            });
            println!(
                "{n:>7}  {:>14}  {:>14}  {:>7.0}%",
                show(fueled),
                show(bare),
                (fueled.as_secs_f64() / bare.as_secs_f64() - 1.0) * 100.0
            );
        }
    }

    // How much of the budget the largest stable round uses: the least fuel it passes
    // with, found by bisection (fuel is deterministic, so one call per probe).
    let inputs = scenario(10_000);
    let (state, _) = compute_round(&inputs, &autopilot::StablePolicy);
    let judge: Vec<NodeType> = judged_node_types(&state);
    let (mut low, mut high) = (1u64, DEFAULT_FUEL);
    while high - low > high / 100 {
        let mid = low + (high - low) / 2;
        let policy = host(Some(mid)).load(&stable).expect("loads");
        match policy.try_decide(&inputs.config, &state, &judge) {
            Ok(_) => high = mid,
            Err(PluginError::OutOfFuel(_)) => low = mid,
            Err(other) => panic!("{other}"),
        }
    }
    println!();
    println!(
        "A stable round at 10,000 servers uses about {high} units of fuel ({:.1}% of the default budget)",
        high as f64 * 100.0 / DEFAULT_FUEL as f64
    );
}
