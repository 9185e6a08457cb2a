//! Builds the shipped policy components (`promoters/`) for `wasm32-wasip2` with a
//! nested cargo, so the `autopilot` command can carry them for `autopilot demo`.

#[path = "../../tools/wasm_build.rs"]
mod wasm_build;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .ancestors()
        .nth(2)
        .expect("host/cli/ is two levels down")
        .to_owned();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // Shared with the integration tests' build.
    let target = wasm_build::guests_target(&out);
    for dir in ["tools", "sdk", "wit", "promoters"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    wasm_build::build(&root.join("promoters/Cargo.toml"), &target);
    let dir = target.join("wasm32-wasip2/release");
    let mut consts = String::new();
    for (name, file, what) in [
        ("STABLE", "stable_promoter.wasm", "stable"),
        ("CAUTIOUS", "cautious_promoter.wasm", "cautious"),
        (
            "REDUNDANCY_ZONES",
            "redundancy_zones_promoter.wasm",
            "redundancy-zones",
        ),
        (
            "UPGRADE_MIGRATION",
            "upgrade_migration_promoter.wasm",
            "upgrade-migration",
        ),
    ] {
        consts.push_str(&format!(
            "/// The {what} policy component.\npub const {name}: &[u8] = include_bytes!({:?});\n",
            dir.join(file).display().to_string()
        ));
    }
    std::fs::write(out.join("promoters.rs"), consts).expect("write promoters.rs");
}
