//! Policy swap latency (warm artifact cache, cold compile) and the longest pause a
//! running round sees while swaps happen. Prints a table.
//!
//! `cargo bench -p autopilot-integration-tests --bench swap`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use autopilot::Config;
use autopilot::testing::SimCluster;
use autopilot::{ArtifactCache, PluginHost, PluginHostConfig};
use autopilot::{Autopilot, PolicySource};
use autopilot_integration_tests as guests;

fn host(cache: &std::path::Path) -> PluginHost {
    PluginHost::new(PluginHostConfig {
        cache: Some(ArtifactCache::new(cache)),
        ..PluginHostConfig::default()
    })
    .expect("host")
}

fn cluster() -> SimCluster {
    let names: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    SimCluster::new(&ids, Config::default())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bytes = guests::component(guests::STABLE_PROMOTER);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = std::env::temp_dir().join(format!("autopilot-swap-bench-{}", std::process::id()));

    runtime.block_on(async {
        // Cold: a fresh cache every time, so every swap compiles.
        let mut cold = Vec::new();
        for i in 0..5 {
            let sim = cluster();
            let ap = Autopilot::builder(sim.clone(), sim.clone())
                .plugin_host(host(&root.join(format!("cold-{i}"))))
                .build();
            ap.start().await;
            let t = Instant::now();
            ap.set_policy(PolicySource::Bytes(bytes.clone()))
                .await
                .expect("swap");
            cold.push(t.elapsed());
            ap.stop().await;
        }

        // Warm: the artifact is cached; alternate with the built-in policy so every
        // call is a real swap.
        let sim = cluster();
        let ap = Autopilot::builder(sim.clone(), sim.clone())
            .plugin_host(host(&root.join("warm")))
            .reconciliation_enabled(true)
            .build();
        ap.start().await;
        ap.set_policy(PolicySource::Bytes(bytes.clone()))
            .await
            .expect("fills the cache");
        let mut warm = Vec::new();
        for _ in 0..50 {
            ap.set_policy(PolicySource::Builtin).await.expect("builtin");
            let t = Instant::now();
            ap.set_policy(PolicySource::Bytes(bytes.clone()))
                .await
                .expect("swap");
            warm.push(t.elapsed());
        }

        // Pause: rounds back to back, first alone, then while another task swaps.
        let rounds = |n: usize, ap: Autopilot<SimCluster, SimCluster>| async move {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                ap.reconcile_now().await;
                times.push(t.elapsed());
            }
            times
        };
        // The baseline runs half its rounds on each of the two policies the swapper
        // alternates between.
        let mut quiet = rounds(1_000, ap.clone()).await;
        ap.set_policy(PolicySource::Builtin).await.expect("builtin");
        quiet.extend(rounds(1_000, ap.clone()).await);
        let swapping = Arc::new(AtomicBool::new(true));
        let swapper = {
            let ap = ap.clone();
            let swapping = Arc::clone(&swapping);
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let mut swaps = 0u32;
                while swapping.load(Ordering::Relaxed) {
                    let source = if swaps.is_multiple_of(2) {
                        PolicySource::Builtin
                    } else {
                        PolicySource::Bytes(bytes.clone())
                    };
                    ap.set_policy(source).await.expect("swap");
                    swaps += 1;
                }
                swaps
            })
        };
        let busy = rounds(2_000, ap.clone()).await;
        swapping.store(false, Ordering::Relaxed);
        let swaps = swapper.await.expect("swapper");
        ap.stop().await;

        let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
        let p99 = |v: &[Duration]| {
            let mut v = v.to_vec();
            v.sort();
            v[v.len() * 99 / 100]
        };
        println!("Policy swap (stable component, 20-server cluster)");
        println!(
            "  cold (compile + checks + dry run)   : {:.1} ms (median of 5)",
            median(cold).as_secs_f64() * 1e3
        );
        println!(
            "  warm (artifact cache + dry run)     : {:.2} ms (median of 50)",
            median(warm).as_secs_f64() * 1e3
        );
        println!();
        println!("Rounds while swapping ({swaps} swaps during 2,000 rounds)");
        println!(
            "  round, no swaps   : median {:?}, p99 {:?}, max {:?}",
            median(quiet.clone()),
            p99(&quiet),
            max(&quiet)
        );
        println!(
            "  round, swapping   : median {:?}, p99 {:?}, max {:?}",
            median(busy.clone()),
            p99(&busy),
            max(&busy)
        );
        println!(
            "  longest extra pause: {:?}",
            max(&busy).saturating_sub(max(&quiet))
        );
    });
    let _ = std::fs::remove_dir_all(&root);
}
