//! Paths of the policy components the integration tests load, built from source by
//! `build.rs` (nothing prebuilt is committed), and helpers shared by the tests.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Reads a built component.
pub fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("component {path} is readable: {e}"))
}

/// A policy toolchain's command, found as `autopilot policy build` finds it;
/// `install` says how to get it when missing.
fn tool(env: &str, name: &str, dirs: &[std::path::PathBuf], install: &str) -> std::path::PathBuf {
    autopilot_cli::toolchain::find_tool(env, name, dirs).unwrap_or_else(|| {
        panic!("the tests need {name}: {install} (scripts/test does it), or set {env}")
    })
}

/// The componentize-py the Python policies are built with.
fn componentize_py() -> std::path::PathBuf {
    tool(
        "AUTOPILOT_COMPONENTIZE_PY",
        "componentize-py",
        &[],
        "`pip install componentize-py==0.25.1`",
    )
}

/// Builds a policy from source once per `tool` and name in this test process (into
/// this crate's build directory) and returns the component's bytes. `command` gets
/// the repository's root and the file to write, and says how to build it.
fn build_once(
    tool: &str,
    name: &str,
    command: impl FnOnce(&std::path::Path, &std::path::Path) -> std::process::Command,
) -> Vec<u8> {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<BTreeMap<String, Vec<u8>>>> = OnceLock::new();
    let key = format!("{tool}/{name}");
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(bytes) = built.get(&key) {
        return bytes.clone();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned();
    let out = std::path::Path::new(env!("OUT_DIR")).join(tool);
    std::fs::create_dir_all(&out).expect("an output directory");
    // Test processes may build at once: each writes its own file.
    let file = out.join(format!("{name}-{}.wasm", std::process::id()));
    let output = command(&root, &file)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
    assert!(
        output.status.success(),
        "{tool} failed to build {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&file).expect("the built component");
    let _ = std::fs::remove_file(&file);
    built.insert(key, bytes.clone());
    bytes
}

/// Builds the Python policy `promoters/python/<name>/app.py` (with the SDK,
/// `sdk/python`) from source with componentize-py's default settings against the
/// repository's `wit/`, and returns the component's bytes.
pub fn python_component(name: &str) -> Vec<u8> {
    build_once("componentize-py", name, |root, file| {
        let mut command = std::process::Command::new(componentize_py());
        command
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "promoter", "componentize", "-p"])
            .arg(root.join("promoters/python").join(name))
            .arg("-p")
            .arg(root.join("sdk/python"))
            .arg("app")
            .arg("-o")
            .arg(file);
        command
    })
}

/// The componentize-js the JavaScript policies are built with (called directly, not
/// through `jco`): first the one `scripts/test` installs under `target/js/`.
fn componentize_js(root: &std::path::Path) -> std::path::PathBuf {
    tool(
        "AUTOPILOT_COMPONENTIZE_JS",
        "componentize-js",
        &[root.join("target/js/node_modules/.bin")],
        "`npm install --prefix target/js @bytecodealliance/componentize-js@0.23.0`",
    )
}

/// Builds the JavaScript policy `<dir>/policy.js` (`dir` from the repository's root,
/// e.g. `promoters/js/stable`) from source with componentize-js's default settings
/// against the repository's `wit/`, and returns the component's bytes.
pub fn js_component(dir: &str) -> Vec<u8> {
    let name = dir.replace('/', "-");
    build_once("componentize-js", &name, |root, file| {
        let mut command = std::process::Command::new(componentize_js(root));
        // Relative imports (the SDK's) resolve against the working directory: build
        // from the repository's root with a relative path.
        command
            .current_dir(root)
            .arg(std::path::Path::new(dir).join("policy.js"))
            .arg("--wit")
            .arg(root.join("wit"))
            .args(["--world-name", "promoter", "-o"])
            .arg(file);
        command
    })
}

/// The componentize-qjs (QuickJS) the JavaScript policies are also built with: first
/// the one `scripts/test` installs under `target/js/`.
fn componentize_qjs(root: &std::path::Path) -> std::path::PathBuf {
    tool(
        "AUTOPILOT_COMPONENTIZE_QJS",
        "componentize-qjs",
        &[root.join("target/js/node_modules/.bin")],
        "`npm install --prefix target/js componentize-qjs@0.4.5`",
    )
}

/// Builds the JavaScript policy `<dir>/policy.js` with componentize-qjs (QuickJS) on
/// its default settings (the component-model async ABI, WASI imported) and returns
/// the component's bytes: the same source as [`js_component`], another engine.
pub fn qjs_component(dir: &str) -> Vec<u8> {
    let name = dir.replace('/', "-");
    build_once("componentize-qjs", &name, |root, file| {
        let mut command = std::process::Command::new(componentize_qjs(root));
        command
            .current_dir(root)
            .arg("--wit")
            .arg(root.join("wit"))
            .args(["--world", "promoter", "--js"])
            .arg(std::path::Path::new(dir).join("policy.js"))
            // Relative imports (the SDK's) resolve inside the module root.
            .arg("--module-root")
            .arg(root)
            .arg("-o")
            .arg(file);
        command
    })
}
