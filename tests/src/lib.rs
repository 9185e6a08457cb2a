//! Paths of the policy components the integration tests load, built from source by
//! `build.rs` (nothing prebuilt is committed), and helpers shared by the tests.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Reads a built component.
pub fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("component {path} is readable: {e}"))
}

/// The componentize-py the Python policies are built with: `AUTOPILOT_COMPONENTIZE_PY`,
/// else `componentize-py` on the PATH (`pip install componentize-py==0.25.1`;
/// `scripts/test` installs it when missing).
fn componentize_py() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("AUTOPILOT_COMPONENTIZE_PY") {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("componentize-py"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the Python policy tests need componentize-py 0.25.1: `pip install \
                 componentize-py==0.25.1` (scripts/test does it), or set \
                 AUTOPILOT_COMPONENTIZE_PY"
            )
        })
}

/// Builds the Python policy `promoters/python/<name>/app.py` from source with
/// componentize-py's default settings against the repository's `wit/`, and returns
/// the component's bytes (built into this crate's build directory, once per name and
/// test process).
pub fn python_component(name: &str) -> Vec<u8> {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<BTreeMap<String, Vec<u8>>>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(bytes) = built.get(name) {
        return bytes.clone();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned();
    let out = std::path::Path::new(env!("OUT_DIR")).join("python");
    std::fs::create_dir_all(&out).expect("an output directory");
    // Test processes may build at once: each writes its own file.
    let file = out.join(format!("{name}-{}.wasm", std::process::id()));
    let output = std::process::Command::new(componentize_py())
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", "promoter", "componentize", "-p"])
        .arg(root.join("promoters/python").join(name))
        .arg("app")
        .arg("-o")
        .arg(&file)
        .output()
        .expect("componentize-py runs");
    assert!(
        output.status.success(),
        "componentize-py failed to build {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&file).expect("the built component");
    let _ = std::fs::remove_file(&file);
    built.insert(name.to_owned(), bytes.clone());
    bytes
}
