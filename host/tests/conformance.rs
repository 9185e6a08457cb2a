//! Replays the reference's own state cases (`data/conformance/`) through the plan
//! library and the `autopilot plan --json` command, comparing JSON values.

use std::path::{Path, PathBuf};
use std::process::Command;

use autopilot::StablePolicy;
use autopilot::plan::{parse_snapshot, plan_round};
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("conformance folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("inputs.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable case file");
    serde_json::from_str(&text).expect("case file is JSON")
}

/// Makes equal what the comparison contract says does not matter: timestamp spelling
/// and `null` versus an absent key.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalise(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::String(t.with_timezone(&chrono::Utc).to_rfc3339()),
            Err(_) => value.clone(),
        },
        other => other.clone(),
    }
}

#[test]
fn every_case_is_present() {
    let names: Vec<String> = cases()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        names,
        [
            "no-leader",
            "non-voter",
            "not-the-leader",
            "one-failed",
            "staging",
            "state-overrides",
            "typical"
        ]
    );
}

#[test]
fn library_reproduces_every_reference_state() {
    for dir in cases() {
        let text = std::fs::read_to_string(dir.join("inputs.json")).expect("inputs");
        let inputs = parse_snapshot(&text).expect("conformance inputs parse");
        let plan = plan_round(&inputs, &StablePolicy);
        let got = serde_json::to_value(&plan.state).expect("state encodes");
        let want = read_json(&dir.join("state.json"));
        assert_eq!(normalise(&got), normalise(&want), "case {}", dir.display());
    }
}

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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance/typical");
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
