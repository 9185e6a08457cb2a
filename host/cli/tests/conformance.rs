//! Replays the reference's own state cases (`host/tests/data/conformance/`) through
//! the `autopilot plan --json` command, comparing JSON values.

use std::process::Command;

#[path = "../../tests/support/conformance.rs"]
mod support;

use serde_json::Value;
use support::{cases, normalise, read_json};

#[test]
fn plan_command_reproduces_every_reference_state() {
    for dir in cases() {
        let output = Command::new(env!("CARGO_BIN_EXE_autopilot"))
            .args(["plan", "--json", "--inputs"])
            .arg(dir.join("inputs.json"))
            .output()
            .expect("autopilot runs");
        assert!(
            output.status.success(),
            "case {}: {output:?}",
            dir.display()
        );
        let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON output");
        let want = read_json(&dir.join("state.json"));
        assert_eq!(
            normalise(&plan["State"]),
            normalise(&want),
            "case {}",
            dir.display()
        );
        // Under the stable policy none of these snapshots calls for a change: the only
        // non-voter is new (not yet stable) and nobody has failed or gone stale.
        assert_eq!(
            plan["Actions"],
            Value::Array(vec![]),
            "case {}",
            dir.display()
        );
        let errors = plan["Errors"].as_array().expect("Errors is a list");
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref() == Some("no-leader") {
            assert_eq!(errors.len(), 1, "no-leader reports the missing leader");
            assert!(
                errors[0]
                    .as_str()
                    .is_some_and(|e| e.contains("without a leader"))
            );
        } else {
            assert!(errors.is_empty(), "case {}: {errors:?}", dir.display());
        }
    }
}

#[test]
fn plan_command_prints_a_table_by_default() {
    let dir = support::root().join("typical");
    let output = Command::new(env!("CARGO_BIN_EXE_autopilot"))
        .args(["plan", "--inputs"])
        .arg(dir.join("inputs.json"))
        .output()
        .expect("autopilot runs");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Healthy: true   Failure tolerance: 1   Leader: 7875975d"));
    assert!(lines[2].starts_with("ID "), "{text}");
    // The leader's row comes first, then the voters in the reference's order.
    assert!(lines[3].starts_with("7875975d-d54b-49c1-a400-9fefcc706c67  node1"));
    assert!(lines[4].starts_with("e72eb8da-604d-47cd-bd7f-69ec120ea2b7  node3"));
    assert!(lines[5].starts_with("ecfc5237-63c3-4b09-94b9-d5682d9ae5b1  node2"));
    assert!(text.contains("Actions: none"));
}
