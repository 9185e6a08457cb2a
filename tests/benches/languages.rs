//! Policies per language: the stable and redundancy-zones policies written in Rust,
//! Python (componentize-py) and JavaScript (componentize-js, and the same sources with
//! componentize-qjs: QuickJS), each built from source on
//! its toolchain's defaults. For each: the build from source, the component's size,
//! the cold compile (load with no artifact cache: compile, checks, metadata call), a
//! load from a warm artifact cache, and one round (state build and every policy
//! decision, as the `round` benchmark measures it) at 5, 100 and 1,000 servers,
//! measured without the fuel budget so that a round over it shows its full cost (the
//! last column names the sizes at which a round exceeds the default budget, where the
//! runtime would fault it and take the stable policy's answer). Prints a table.
//!
//! `cargo bench -p autopilot-integration-tests --bench languages`
//! (the Python and JavaScript toolchains as `scripts/test` installs them)

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use autopilot::{ArtifactCache, PluginHost, PluginHostConfig, PluginLimits, compute_round};
use autopilot_integration_tests as guests;
use common::{measure, scenario, show};

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn main() {
    let budget = common::time_per_measurement();
    let sizes = [5, 100, 1_000];
    let scenarios: Vec<_> = sizes.iter().map(|&n| scenario(n)).collect();
    type Build = Box<dyn Fn() -> Vec<u8>>;
    let policies: Vec<(&str, &str, Build)> = vec![
        (
            "Rust",
            "stable",
            Box::new(|| guests::component(guests::STABLE_PROMOTER)),
        ),
        (
            "Rust",
            "redundancy-zones",
            Box::new(|| guests::component(guests::REDUNDANCY_ZONES_PROMOTER)),
        ),
        (
            "Python",
            "stable",
            Box::new(|| guests::python_component("stable")),
        ),
        (
            "Python",
            "redundancy-zones",
            Box::new(|| guests::python_component("redundancy-zones")),
        ),
        (
            "JavaScript",
            "stable",
            Box::new(|| guests::js_component("promoters/js/stable")),
        ),
        (
            "JavaScript",
            "redundancy-zones",
            Box::new(|| guests::js_component("promoters/js/redundancy-zones")),
        ),
        (
            "QuickJS",
            "stable",
            Box::new(|| guests::qjs_component("promoters/js/stable")),
        ),
        (
            "QuickJS",
            "redundancy-zones",
            Box::new(|| guests::qjs_component("promoters/js/redundancy-zones")),
        ),
    ];
    println!(
        "{:<10}  {:<16}  {:>8}  {:>8}  {:>9}  {:>9}  {:>10}  {:>10}  {:>10}  over budget",
        "language",
        "policy",
        "build",
        "size",
        "cold load",
        "warm load",
        "round 5",
        "round 100",
        "round 1000"
    );
    let unlimited = PluginHost::new(PluginHostConfig {
        limits: PluginLimits {
            fuel: None,
            deadline: Duration::from_secs(30),
            ..PluginLimits::default()
        },
        ..PluginHostConfig::default()
    })
    .expect("host");
    for (language, name, build) in policies {
        let t = Instant::now();
        let bytes = build();
        // Rust components are built by the test crate's build script, not here.
        let built = if language == "Rust" {
            "(cargo)".to_owned()
        } else {
            seconds(t.elapsed())
        };
        let cold_host = PluginHost::new(PluginHostConfig::default()).expect("host");
        let t = Instant::now();
        let policy = cold_host.load(&bytes).expect("the component loads");
        let cold = t.elapsed();
        let cache_dir =
            std::env::temp_dir().join(format!("autopilot-bench-languages-{}", std::process::id()));
        let cached = PluginHost::new(PluginHostConfig {
            cache: Some(ArtifactCache::new(&cache_dir)),
            ..PluginHostConfig::default()
        })
        .expect("host");
        cached.load(&bytes).expect("fills the cache");
        let warm = measure(budget / 3, || {
            black_box(cached.load(&bytes).expect("a cached load"));
        });
        let _ = std::fs::remove_dir_all(&cache_dir);
        let free = unlimited.load(&bytes).expect("the component loads");
        let mut over = Vec::new();
        let rounds: Vec<String> = scenarios
            .iter()
            .zip(sizes)
            .map(|(inputs, n)| {
                let (_, decided) = compute_round(inputs, &free);
                assert!(
                    decided.fault.is_none(),
                    "{language} {name}: {:?}",
                    decided.fault
                );
                let (_, budgeted) = compute_round(inputs, &policy);
                if budgeted.fault.is_some() {
                    over.push(n.to_string());
                }
                show(measure(budget, || {
                    black_box(compute_round(inputs, &free));
                }))
            })
            .collect();
        println!(
            "{language:<10}  {name:<16}  {built:>8}  {:>5.1} MB  {:>9}  {:>9}  {:>10}  {:>10}  {:>10}  {}",
            bytes.len() as f64 / 1e6,
            seconds(cold),
            show(warm),
            rounds[0],
            rounds[1],
            rounds[2],
            if over.is_empty() {
                "-".to_owned()
            } else {
                over.join(", ")
            },
        );
    }
}
