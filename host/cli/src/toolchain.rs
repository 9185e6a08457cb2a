//! Finding a policy toolchain's command (componentize-py, componentize-js,
//! componentize-qjs), as `autopilot policy build` and the tests do.

use std::path::PathBuf;

/// The command `name`: the path in the environment variable `env` if set, else the
/// first `dirs/name` that is a file, else the first on the `PATH`; `None` when it is
/// nowhere.
pub fn find_tool(env: &str, name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.iter()
        .cloned()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::find_tool;

    #[test]
    fn a_listed_directory_comes_before_the_path_and_absence_is_none() {
        let dir = std::env::temp_dir().join(format!("autopilot-tool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        std::fs::write(dir.join("some-tool"), b"").expect("a file");
        let unset = "AUTOPILOT_TEST_TOOL_UNSET";
        assert_eq!(
            find_tool(unset, "some-tool", std::slice::from_ref(&dir)),
            Some(dir.join("some-tool"))
        );
        assert_eq!(
            find_tool(unset, "no-such-tool-anywhere", std::slice::from_ref(&dir)),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
