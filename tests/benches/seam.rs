//! The policy seam inside a running node: what a policy call costs when the runtime
//! hands it to the blocking pool (as autopilot's loops do) against the same call made
//! directly (as `autopilot plan` does), on a current-thread and a multi-thread tokio
//! runtime. Prints a table.
//!
//! `cargo bench -p autopilot-integration-tests --bench seam`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use autopilot::core::{
    Policy, StablePolicy, annotate, build_state, consult_decide, judged_node_types,
};
use autopilot::plugin::{PluginHost, PluginHostConfig};
use autopilot_integration_tests as guests;
use common::{measure, scenario, show};

/// One round's state building and policy consultation, as the runtime's state
/// update does it.
fn round(policy: &dyn Policy, inputs: &autopilot::core::StateInputs) {
    let mut state = build_state(inputs);
    let judge = judged_node_types(&state);
    let decided = consult_decide(policy, &inputs.config, &state, &judge);
    annotate(&mut state, &decided.answer);
    black_box((state, decided));
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    let host = PluginHost::new(PluginHostConfig::default()).expect("host");
    let component: Arc<dyn Policy> = Arc::new(
        host.load(&guests::component(guests::STABLE_PROMOTER))
            .expect("stable loads"),
    );
    let native: Arc<dyn Policy> = Arc::new(StablePolicy);
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "{:>7}  {:>8}  {:>12}  {:>14}  {:>14}  {:>7}",
        "servers", "policy", "direct", "current-thread", "multi-thread", "ratio"
    );
    for n in [5, 100, 1_000] {
        let inputs = Arc::new(scenario(n));
        for (name, policy) in [("native", &native), ("wasm", &component)] {
            let direct = measure(budget, || round(policy.as_ref(), &inputs));
            let mut handed = Vec::new();
            for runtime in [&current, &multi] {
                handed.push(measure(budget, || {
                    let (policy, inputs) = (Arc::clone(policy), Arc::clone(&inputs));
                    runtime.block_on(async move {
                        tokio::task::spawn_blocking(move || round(policy.as_ref(), &inputs))
                            .await
                            .expect("round");
                    });
                }));
            }
            let worst = handed.iter().max().copied().unwrap_or_default();
            println!(
                "{n:>7}  {name:>8}  {:>12}  {:>14}  {:>14}  {:>6.2}x",
                show(direct),
                show(handed[0]),
                show(handed[1]),
                worst.as_secs_f64() / direct.as_secs_f64()
            );
        }
    }
}
