//! A policy that reads a file: it imports the WASI filesystem, which the host refuses.

use autopilot_sdk::{Config, Metadata, Policy, PolicyError, ServerState};

#[derive(Default)]
struct Snoop;

impl Policy for Snoop {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "snoop".into(),
            version: "0.1.0".into(),
        }
    }

    fn server_ext(
        &self,
        _config: &Config,
        _server: &ServerState,
    ) -> Result<Option<String>, PolicyError> {
        let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(Some(format!("{}", secret.len())))
    }
}

autopilot_sdk::export_promoter!(Snoop);
