//! Policies written in Python (`promoters/python/stable`, componentize-py) and in
//! JavaScript (`promoters/js/stable`, built twice: componentize-js on SpiderMonkey and
//! componentize-qjs on QuickJS), built from source with their toolchains' default
//! settings, load into the real host (their runtimes import clocks, random,
//! filesystem, sockets and, for JavaScript, HTTP: all inert; QuickJS's uses the
//! component model's async ABI) and plan exactly like the built-in stable policy on
//! the reference's conformance cases, wake-up times included.

use std::sync::OnceLock;

use autopilot::plan::{parse_snapshot, plan_round};
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig, StablePolicy, compute_round};
use autopilot_integration_tests as guests;

fn load(bytes: &[u8]) -> ComponentPolicy {
    let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
    host.load(bytes).expect("the component loads")
}

fn python() -> &'static ComponentPolicy {
    static POLICY: OnceLock<ComponentPolicy> = OnceLock::new();
    POLICY.get_or_init(|| load(&guests::python_component("stable")))
}

fn javascript() -> &'static ComponentPolicy {
    static POLICY: OnceLock<ComponentPolicy> = OnceLock::new();
    POLICY.get_or_init(|| load(&guests::js_component("promoters/js/stable")))
}

fn rust() -> &'static ComponentPolicy {
    static POLICY: OnceLock<ComponentPolicy> = OnceLock::new();
    POLICY.get_or_init(|| load(&guests::component(guests::STABLE_PROMOTER)))
}

fn quickjs() -> &'static ComponentPolicy {
    static POLICY: OnceLock<ComponentPolicy> = OnceLock::new();
    POLICY.get_or_init(|| load(&guests::qjs_component("promoters/js/stable")))
}

/// A policy that calls `fetch`: its runtime links `wasi:http`, which the sandbox
/// satisfies with a handler that denies every request. The call is not a fault: the
/// request fails inside the guest, and the policy's own answer (no changes) stands
/// where the stable policy would promote.
#[test]
fn a_javascript_policy_that_fetches_is_denied_and_keeps_its_answer() {
    let fetcher = load(&guests::js_component("tests/guests/js/fetcher"));
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../host/tests/data/conformance/non-voter/inputs.json"),
    )
    .expect("inputs");
    let mut inputs = parse_snapshot(&text).expect("the case parses");
    // An hour on, the non-voter has been stable long enough to be promoted.
    inputs.current_state = Some(plan_round(&inputs, &StablePolicy).state);
    inputs.now += chrono::Duration::hours(1);
    let plan = plan_round(&inputs, &fetcher);
    assert!(plan.faults.is_empty(), "{:?}", plan.faults);
    let native = plan_round(&inputs, &StablePolicy);
    assert!(!native.actions.is_empty(), "the stable policy acts here");
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[test]
fn each_policy_names_itself() {
    for (policy, name) in [
        (python(), "stable-py"),
        (javascript(), "stable-js"),
        (quickjs(), "stable-js"),
    ] {
        assert_eq!(policy.info().name, name);
        assert!(!policy.info().reads_server_details);
    }
}

#[test]
fn each_policy_plans_every_conformance_case_like_the_built_in_one() {
    let cases =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/tests/data/conformance");
    let (mut seen, mut waking) = (0, 0);
    for entry in std::fs::read_dir(&cases).expect("the conformance cases") {
        let dir = entry.expect("a case").path();
        if !dir.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("inputs.json")).expect("inputs");
        let inputs = parse_snapshot(&text).expect("the case parses");
        let native = plan_round(&inputs, &StablePolicy);
        // The built-in policy leaves wake-ups to the runtime; the SDKs' stable
        // defaults ask for them, as the Rust SDK's stable component does.
        let (_, native_round) = compute_round(&inputs, rust());
        for (policy, name) in [
            (python(), "Python"),
            (javascript(), "JavaScript (SpiderMonkey)"),
            (quickjs(), "JavaScript (QuickJS)"),
        ] {
            let plan = plan_round(&inputs, policy);
            // The plan does not show when the policy wants its next round: compare it
            // with the Rust SDK's.
            let (_, round) = compute_round(&inputs, policy);
            assert_eq!(
                round.answer.wake_at,
                native_round.answer.wake_at,
                "{name} {}",
                dir.display()
            );
            assert!(
                plan.faults.is_empty(),
                "{name} {}: {:?}",
                dir.display(),
                plan.faults
            );
            assert_eq!(plan, native, "{name} {}", dir.display());
        }
        seen += 1;
        waking += usize::from(native_round.answer.wake_at.is_some());
    }
    assert_eq!(seen, 7);
    assert!(
        waking >= 1,
        "a case with a wake-up time checks the 64-bit answer"
    );
}

/// A component using the async ABI (QuickJS's) compiles on the host's second engine,
/// the one with wasmtime's concurrency support; every other component keeps the
/// plain engine. Both artifacts are cached, each under its own engine's fingerprint,
/// and a host started later on the same cache plans with them as before.
#[test]
fn an_async_abi_component_gets_its_own_engine_and_its_own_cached_artifact() {
    let dir = std::env::temp_dir().join(format!("autopilot-qjs-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || PluginHostConfig {
        cache: Some(autopilot::ArtifactCache::new(&dir)),
        ..PluginHostConfig::default()
    };
    let rust_bytes = guests::component(guests::STABLE_PROMOTER);
    let qjs_bytes = guests::qjs_component("promoters/js/stable");
    let host = PluginHost::new(config()).expect("host starts");
    let first = [
        host.load(&rust_bytes).expect("Rust loads"),
        host.load(&qjs_bytes).expect("QuickJS loads"),
    ];
    let fingerprints: std::collections::BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("the cache directory")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".cwasm")?;
            Some(stem.rsplit_once('-')?.1.to_owned())
        })
        .collect();
    assert_eq!(
        fingerprints.len(),
        2,
        "one artifact per engine: {fingerprints:?}"
    );
    let later = PluginHost::new(config()).expect("host starts");
    let again = [
        later.load(&rust_bytes).expect("Rust loads from the cache"),
        later
            .load(&qjs_bytes)
            .expect("QuickJS loads from the cache"),
    ];
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../host/tests/data/conformance/non-voter/inputs.json"),
    );
    let inputs = parse_snapshot(&text.expect("a conformance case")).expect("it parses");
    let native = plan_round(&inputs, &StablePolicy);
    for policy in first.iter().chain(&again) {
        assert_eq!(
            plan_round(&inputs, policy),
            native,
            "{}",
            policy.info().name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
