//! The policy seam inside a running node: a round's state build and policy call as
//! the runtime's loops make them (awaited on the executor: the component yields while
//! it works), against the same made directly (as `autopilot plan` does), on a
//! current-thread and a multi-thread tokio runtime; and, for comparison, handed to the
//! blocking pool (what a native policy that cannot yield gets). Prints a table.
//!
//! `cargo bench -p autopilot-integration-tests --bench seam`

mod common;

use std::hint::black_box;
use std::sync::Arc;

use autopilot::{PluginHost, PluginHostConfig};
use autopilot::{
    Policy, StablePolicy, annotate, build_state, consult_decide, consult_decide_async,
    judged_node_types,
};
use autopilot_integration_tests as guests;
use common::{measure, scenario, show};

/// One round's state building and policy consultation, as the runtime's state
/// update does it.
fn round(policy: &dyn Policy, inputs: &autopilot::StateInputs) {
    let mut state = build_state(inputs);
    let judge = judged_node_types(&state);
    let decided = consult_decide(policy, &inputs.config, &state, &judge);
    annotate(&mut state, &decided.answer);
    black_box((state, decided));
}

/// The same, awaiting the policy's future (as the runtime does).
async fn round_async(policy: &dyn Policy, inputs: &autopilot::StateInputs) {
    let mut state = build_state(inputs);
    let judge = judged_node_types(&state);
    let decided = consult_decide_async(policy, &inputs.config, &state, &judge).await;
    annotate(&mut state, &decided.answer);
    black_box((state, decided));
}

fn main() {
    let budget = common::time_per_measurement();
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
        "{:>7}  {:>8}  {:>10}  {:>14}  {:>14}  {:>7}  {:>14}",
        "servers", "policy", "direct", "current-thread", "multi-thread", "ratio", "blocking pool"
    );
    for n in [5, 100, 1_000] {
        let inputs = Arc::new(scenario(n));
        for (name, policy) in [("native", &native), ("wasm", &component)] {
            let direct = measure(budget, || round(policy.as_ref(), &inputs));
            let mut awaited = Vec::new();
            for runtime in [&current, &multi] {
                awaited.push(measure(budget, || {
                    runtime.block_on(round_async(policy.as_ref(), &inputs));
                }));
            }
            let handed = measure(budget, || {
                let (policy, inputs) = (Arc::clone(policy), Arc::clone(&inputs));
                current.block_on(async move {
                    tokio::task::spawn_blocking(move || round(policy.as_ref(), &inputs))
                        .await
                        .expect("round");
                });
            });
            let worst = awaited.iter().max().copied().unwrap_or_default();
            println!(
                "{n:>7}  {name:>8}  {:>10}  {:>14}  {:>14}  {:>6.2}x  {:>14}",
                show(direct),
                show(awaited[0]),
                show(awaited[1]),
                worst.as_secs_f64() / direct.as_secs_f64(),
                show(handed),
            );
        }
    }
}
