//! A component exporting the policy interface under the current name and version, but
//! with functions of other types: the host must refuse it at load, by name.

wit_bindgen::generate!({ world: "promoter", path: "wit" });

struct Impostor;

impl exports::autopilot::promoter::policy::Guest for Impostor {
    fn metadata() -> String {
        "impostor".into()
    }

    fn decide(round: u32) -> String {
        round.to_string()
    }

    fn filter_removals() -> Vec<u32> {
        Vec::new()
    }
}

export!(Impostor);
