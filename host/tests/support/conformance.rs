//! The reference's own state cases (`host/tests/data/conformance/`) and the comparison
//! contract, shared by the library's and the command's conformance tests.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The cases' folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("tests/data/conformance").is_dir())
        .expect("host/ holds tests/data/conformance")
        .join("tests/data/conformance")
}

/// Every case's folder, sorted.
pub fn cases() -> Vec<PathBuf> {
    let root = root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("conformance folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("inputs.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// A case file's JSON.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable case file");
    serde_json::from_str(&text).expect("case file is JSON")
}

/// Makes equal what the comparison contract says does not matter: timestamp spelling
/// and `null` versus an absent key.
pub fn normalise(value: &Value) -> Value {
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
