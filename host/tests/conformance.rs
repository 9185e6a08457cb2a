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
