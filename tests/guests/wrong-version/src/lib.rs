//! A component exporting the promoter interface at a version the host does not speak.

wit_bindgen::generate!({ world: "promoter", path: "wit" });

struct Future;

impl exports::autopilot::promoter::policy::Guest for Future {
    fn metadata() -> String {
        "from the future".into()
    }
}

export!(Future);
