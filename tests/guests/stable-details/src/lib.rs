//! The stable policy, declaring that it reads server details: every round then carries
//! each server's name, address, version and metadata. The benchmark uses it to show
//! what those strings cost; the tests, that a policy asking for them gets them.

use autopilot_sdk::{Config, Metadata, Policy, PolicyError, ServerState, Stable};

#[derive(Default)]
struct StableWithDetails;

impl Policy for StableWithDetails {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "stable-with-details".into(),
            ..Stable.metadata()
        }
    }

    /// Echoes what arrived, so a test can see the details reached the policy:
    /// `name|address|version|zone`.
    fn server_ext(
        &self,
        config: &Config,
        server: &ServerState,
    ) -> Result<Option<String>, PolicyError> {
        if config.ext.as_deref() != Some("{\"echo\":true}") {
            return Ok(None);
        }
        let s = &server.server;
        let zone = s
            .meta
            .as_ref()
            .and_then(|m| m.get("zone"))
            .map_or("", String::as_str);
        let text = format!("{}|{}|{}|{}", s.name, s.address, s.version, zone);
        Ok(Some(format!("{text:?}")))
    }

    fn reads_server_details(&self) -> bool {
        true
    }
}

autopilot_sdk::export_promoter!(StableWithDetails);
