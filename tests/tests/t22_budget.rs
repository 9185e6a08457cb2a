//! A call's budget is work, not time: fuel makes the verdict of a replay the same on
//! an idle and on a loaded machine, and the wall-clock backstop still stops a call
//! when fuel is off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use autopilot::{
    ArtifactCache, ComponentPolicy, PluginError, PluginHost, PluginHostConfig, PluginLimits,
};
use autopilot::{Config, State};
use autopilot_integration_tests as guests;

fn adversary(limits: PluginLimits) -> ComponentPolicy {
    PluginHost::new(PluginHostConfig {
        limits,
        cache: Some(ArtifactCache::new(
            std::env::temp_dir().join("autopilot-test-cache"),
        )),
        ..PluginHostConfig::default()
    })
    .expect("host")
    .load(&guests::component(guests::ADVERSARY))
    .expect("adversary loads")
}

fn with_fuel(fuel: u64) -> ComponentPolicy {
    adversary(PluginLimits {
        fuel: Some(fuel),
        // Far beyond what any call here needs: fuel decides.
        deadline: Duration::from_secs(60),
        ..PluginLimits::default()
    })
}

fn spin(iterations: u64) -> Config {
    Config {
        ext: serde_json::json!(format!("spin:{iterations}")),
        ..Config::default()
    }
}

/// Whether the call passes with `policy`'s budget.
fn passes(policy: &ComponentPolicy, config: &Config) -> bool {
    match policy.try_decide(config, &State::default(), &[]) {
        Ok(_) => true,
        Err(PluginError::OutOfFuel(_)) => false,
        Err(other) => panic!("unexpected failure: {other}"),
    }
}

/// Runs `f` while two threads keep every core of the machine busy.
fn under_load<T>(f: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let burners: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
        })
        .collect();
    let result = f();
    stop.store(true, Ordering::Relaxed);
    for burner in burners {
        burner.join().expect("burner");
    }
    result
}

#[test]
fn the_same_call_needs_the_same_fuel_idle_and_under_load() {
    let config = spin(200_000);
    // The least fuel the call passes with, by bisection.
    let (mut low, mut high) = (0u64, 50_000_000u64);
    assert!(passes(&with_fuel(high), &config), "the bound is generous");
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if passes(&with_fuel(mid), &config) {
            high = mid;
        } else {
            low = mid;
        }
    }
    let exact = high;
    eprintln!("spin:200000 needs {exact} units of fuel");
    // The verdict at the exact budget, and one unit below, never changes: not on an
    // idle machine, not with every core busy.
    let enough = with_fuel(exact);
    let short = with_fuel(exact - 1);
    for _ in 0..3 {
        assert!(passes(&enough, &config));
        assert!(!passes(&short, &config));
    }
    under_load(|| {
        for _ in 0..3 {
            assert!(passes(&enough, &config));
            assert!(!passes(&short, &config));
        }
    });
}

#[test]
fn a_call_out_of_fuel_says_so_and_the_next_call_runs() {
    let policy = with_fuel(autopilot::DEFAULT_FUEL);
    let looping = Config {
        ext: serde_json::json!("loop"),
        ..Config::default()
    };
    let error = policy
        .try_decide(&looping, &State::default(), &[])
        .expect_err("out of fuel");
    assert_eq!(error.kind(), "out-of-budget", "{error}");
    assert!(error.to_string().contains("units of fuel"), "{error}");
    assert!(passes(&policy, &Config::default()));
}

#[test]
fn without_fuel_the_wall_clock_backstop_stops_a_call() {
    let policy = adversary(PluginLimits {
        fuel: None,
        deadline: Duration::from_millis(50),
        ..PluginLimits::default()
    });
    let looping = Config {
        ext: serde_json::json!("loop"),
        ..Config::default()
    };
    let error = policy
        .try_decide(&looping, &State::default(), &[])
        .expect_err("stopped");
    assert_eq!(error.kind(), "deadline", "{error}");
    assert!(error.to_string().contains("wall-clock backstop"), "{error}");
}
