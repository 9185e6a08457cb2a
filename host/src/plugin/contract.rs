//! The contract a component must keep to load: a component binary, imports from the
//! allowed WASI set only, and an export of a policy interface revision the host
//! speaks.

use wasmtime::Engine;
use wasmtime::component::{Component, ComponentExportIndex};

use super::error::PluginError;

/// The interface a policy component must export.
pub const POLICY_INTERFACE: &str = "autopilot:promoter/policy@0.3.0";

/// Imports a component may have: the WASI interfaces a standard guest toolchain links
/// even when the policy never calls them. They are satisfied without granting
/// anything (no arguments, environment or input; output bounded and captured).
const ALLOWED_IMPORTS: &[&str] = &[
    // Types only (records and enums shared by the contract): no functions to call.
    "autopilot:promoter/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    // Inert (`inert.rs`): the round's instant, a frozen monotonic clock, seeded random
    // bytes, no directories, no network.
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
    // componentize-js links these for `fetch`: a request can be built, and sending it
    // fails with `HTTP-request-denied`.
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// The revision of the contract a component was built against. The host speaks
/// every revision it lists here, so a policy keeps working when the host moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    /// `autopilot:promoter@0.1.x`: every server record carries every field.
    V0_1,
    /// `autopilot:promoter@0.2.x`: server details only on request.
    V0_2,
    /// `autopilot:promoter@0.3.x`: decisions say when to look again (`wake-at`).
    V0_3,
}

/// Where a component's three policy functions are, found once at load.
pub(crate) struct PolicyExports {
    pub(crate) metadata: ComponentExportIndex,
    pub(crate) decide: ComponentExportIndex,
    pub(crate) filter_removals: ComponentExportIndex,
}

impl PolicyExports {
    /// The functions of the policy interface `interface` (the export name the
    /// component uses) in `component`.
    pub(crate) fn find(component: &Component, interface: &str) -> Result<Self, PluginError> {
        let missing = |what: &str| PluginError::MissingExport {
            found: format!("{interface} without `{what}`"),
            expected: POLICY_INTERFACE.to_owned(),
        };
        let (_, instance) = component
            .get_export(None, interface)
            .ok_or_else(|| missing(interface))?;
        let func = |name: &str| {
            component
                .get_export_index(Some(&instance), name)
                .ok_or_else(|| missing(name))
        };
        Ok(Self {
            metadata: func("metadata")?,
            decide: func("decide")?,
            filter_removals: func("filter-removals")?,
        })
    }
}

/// A component starts with `\0asm` and the component layer's version bytes; a core
/// module has version 1 there.
pub(crate) fn check_component_header(bytes: &[u8]) -> Result<(), PluginError> {
    match bytes.get(..8) {
        Some([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]) => Ok(()),
        Some([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) => Err(PluginError::NotAComponent(
            "this is a core WebAssembly module; build the policy as a component \
             (for example with cargo build --target wasm32-wasip2)"
                .into(),
        )),
        Some([0x00, 0x61, 0x73, 0x6d, ..]) => Err(PluginError::NotAComponent(
            "unsupported WebAssembly binary version".into(),
        )),
        _ => Err(PluginError::NotAComponent(format!(
            "not WebAssembly ({} bytes without the \\0asm header)",
            bytes.len()
        ))),
    }
}

/// The name of an interface without its version (`wasi:io/error@0.2.12` → `wasi:io/error`).
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// Checks every import is in the host's table ([`ALLOWED_IMPORTS`]); a refusal names
/// every import that is not.
pub(crate) fn check_imports(component: &Component, engine: &Engine) -> Result<(), PluginError> {
    let component_type = component.component_type();
    let forbidden: Vec<&str> = component_type
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !ALLOWED_IMPORTS.contains(&unversioned(name)))
        .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(PluginError::ForbiddenImport(forbidden.join(", ")))
    }
}

/// Checks the component exports a version of the policy interface the host speaks,
/// and returns the name it exports it under and the contract revision.
pub(crate) fn check_exports(
    component: &Component,
    engine: &Engine,
) -> Result<(String, Contract), PluginError> {
    let component_type = component.component_type();
    let exports: Vec<&str> = component_type.exports(engine).map(|(n, _)| n).collect();
    let wanted = unversioned(POLICY_INTERFACE);
    if let Some(other) = exports.iter().find(|n| unversioned(n) == wanted) {
        // 0.3.x is the current contract; 0.2.x and 0.1.x, the previous ones, are still
        // spoken so that policies built against them keep working. Anything else is not.
        let version = other.split_once('@').map_or("", |(_, v)| v);
        let contract = if version.starts_with("0.3.") {
            Some(Contract::V0_3)
        } else if version.starts_with("0.2.") {
            Some(Contract::V0_2)
        } else if version.starts_with("0.1.") {
            Some(Contract::V0_1)
        } else {
            None
        };
        if let Some(contract) = contract {
            return Ok(((*other).to_owned(), contract));
        }
        return Err(PluginError::IncompatibleVersion {
            found: (*other).to_owned(),
            expected: format!("{POLICY_INTERFACE} (or @0.2.x, @0.1.x)"),
        });
    }
    Err(PluginError::MissingExport {
        found: if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        },
        expected: POLICY_INTERFACE.to_owned(),
    })
}
