//! Replays the reference's own state cases (`data/conformance/`) through the plan
//! library, comparing JSON values.

#[path = "support/conformance.rs"]
mod support;

use autopilot::StablePolicy;
use autopilot::plan::{parse_snapshot, plan_round};
use support::{cases, normalise, read_json};

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

/// A snapshot written from parsed inputs parses back to the same inputs: what
/// `GET /v1/operator/autopilot/snapshot` writes, `autopilot plan` reads whole.
#[test]
fn snapshots_written_from_inputs_parse_back_to_them() {
    use autopilot::plan::snapshot_json;
    let mut cases_seen = 0;
    for dir in cases() {
        let text = std::fs::read_to_string(dir.join("inputs.json")).expect("inputs");
        let inputs = parse_snapshot(&text).expect("conformance inputs parse");
        let written = snapshot_json(&inputs).expect("inputs serialize");
        let again = parse_snapshot(&written.to_string()).expect("written snapshot parses");
        assert_eq!(again, inputs, "case {}", dir.display());
        cases_seen += 1;
    }
    assert_eq!(cases_seen, 7);
}
