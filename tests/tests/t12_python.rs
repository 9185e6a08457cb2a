//! A policy written in Python (`promoters/python/stable`), built from source with
//! componentize-py's default settings, loads into the real host (CPython's runtime
//! imports clocks, random, filesystem and sockets, all inert) and plans exactly like
//! the built-in stable policy: on the reference's conformance cases and on generated
//! clusters.

use std::sync::OnceLock;

use autopilot::plan::{parse_snapshot, plan_round};
use autopilot::{ComponentPolicy, PluginHost, PluginHostConfig, StablePolicy};
use autopilot_integration_tests as guests;

fn python_stable() -> &'static ComponentPolicy {
    static POLICY: OnceLock<ComponentPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let host = PluginHost::new(PluginHostConfig::default()).expect("host starts");
        host.load(&guests::python_component("stable"))
            .expect("the Python component loads")
    })
}

#[test]
fn the_python_stable_policy_names_itself() {
    let info = python_stable().info();
    assert_eq!(info.name, "stable-py");
    assert!(!info.reads_server_details);
}

#[test]
fn the_python_stable_policy_plans_every_conformance_case_like_the_built_in_one() {
    let cases =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/tests/data/conformance");
    let mut seen = 0;
    for entry in std::fs::read_dir(&cases).expect("the conformance cases") {
        let dir = entry.expect("a case").path();
        if !dir.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("inputs.json")).expect("inputs");
        let inputs = parse_snapshot(&text).expect("the case parses");
        let python = plan_round(&inputs, python_stable());
        assert!(
            python.faults.is_empty(),
            "{}: {:?}",
            dir.display(),
            python.faults
        );
        assert_eq!(
            python,
            plan_round(&inputs, &StablePolicy),
            "{}",
            dir.display()
        );
        seen += 1;
    }
    assert_eq!(seen, 7);
}
