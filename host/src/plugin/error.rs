//! What can go wrong with a policy component, as values.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// A policy component that could not be loaded, or a call into one that failed. Every
/// message starts with the kind of failure; [`PluginError::kind`] gives it as a word.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginError {
    /// The component file could not be read.
    #[error("unreadable component {path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The bytes are not a WebAssembly component (a core module, or not WebAssembly).
    #[error("not a component: {0}")]
    NotAComponent(String),
    /// The component's digest is not on the allow-list.
    #[error("not pinned: component sha256:{digest} is not on the allow-list")]
    NotPinned {
        /// The component's sha256, hex.
        digest: String,
    },
    /// The component is malformed or could not be compiled.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// The component does not export the promoter interface.
    #[error("missing export: the component exports {found}, not {expected}")]
    MissingExport {
        /// What it exports (comma-separated).
        found: String,
        /// What the host needs.
        expected: String,
    },
    /// The component exports the promoter interface at an incompatible version, or
    /// with different types.
    #[error(
        "incompatible interface version: the component exports {found}, the host speaks {expected}"
    )]
    IncompatibleVersion {
        /// What it exports.
        found: String,
        /// What the host needs.
        expected: String,
    },
    /// The component imports something the sandbox does not grant (all such imports,
    /// comma-separated).
    #[error("forbidden import: the component imports {0}, which the sandbox does not grant")]
    ForbiddenImport(String),
    /// The component trapped (a panic, an `unreachable`, a bad memory access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The component exhausted its stack.
    #[error("trapped: stack overflow (recursion too deep)")]
    StackOverflow,
    /// The call used up its fuel budget (the deterministic bound on a call's work).
    #[error("out of budget: the call used all of its {0} units of fuel")]
    OutOfFuel(u64),
    /// The call ran past its wall-clock backstop (a guard against host stalls; the
    /// fuel budget is what normally bounds a call).
    #[error("out of time: the call ran longer than its {0:?} wall-clock backstop")]
    Deadline(Duration),
    /// The component called `exit` (WASI `wasi:cli/exit`) with this status.
    #[error("exited with status {0}")]
    Exited(i32),
    /// The component tried to grow its memory past the cap.
    #[error("out of memory: the component tried to grow its memory past the {0} byte cap")]
    OutOfMemory(usize),
    /// The policy returned an error value.
    #[error("policy error: {0}")]
    Policy(String),
    /// The policy returned decisions that fail validation.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The policy returned more extension data than the host accepts.
    #[error("invalid output: {bytes} bytes of extension data, over the {limit} byte limit")]
    OutputTooLarge {
        /// How much it returned.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The policy's answer would break a safety rule (see
    /// [`check_decisions`](crate::core::check_decisions)).
    #[error("unsafe answer: {0}")]
    Unsafe(String),
    /// The host itself could not set up the sandbox (not the component's fault).
    #[error("host error: {0}")]
    Host(String),
}

impl PluginError {
    /// The kind of failure as one word: `unreadable`, `not-a-component`,
    /// `not-pinned`, `invalid-component`, `missing-export`, `incompatible-version`,
    /// `forbidden-import`, `trap`, `stack-overflow`, `out-of-budget`, `deadline`,
    /// `exit`, `out-of-memory`, `policy-error`, `invalid-output`, `unsafe-answer`, `host`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "unreadable",
            Self::NotAComponent(_) => "not-a-component",
            Self::NotPinned { .. } => "not-pinned",
            Self::Invalid(_) => "invalid-component",
            Self::MissingExport { .. } => "missing-export",
            Self::IncompatibleVersion { .. } => "incompatible-version",
            Self::ForbiddenImport(_) => "forbidden-import",
            Self::Trap(_) => "trap",
            Self::StackOverflow => "stack-overflow",
            Self::OutOfFuel(_) => "out-of-budget",
            Self::Deadline(_) => "deadline",
            Self::Exited(_) => "exit",
            Self::OutOfMemory(_) => "out-of-memory",
            Self::Policy(_) => "policy-error",
            Self::InvalidOutput(_) | Self::OutputTooLarge { .. } => "invalid-output",
            Self::Unsafe(_) => "unsafe-answer",
            Self::Host(_) => "host",
        }
    }

    /// Whether the failure happened while running the policy (as opposed to loading
    /// it): these count toward rollback and make a round fall back.
    pub fn is_runtime(&self) -> bool {
        matches!(
            self,
            Self::Trap(_)
                | Self::StackOverflow
                | Self::OutOfFuel(_)
                | Self::Deadline(_)
                | Self::Exited(_)
                | Self::OutOfMemory(_)
                | Self::Policy(_)
                | Self::InvalidOutput(_)
                | Self::OutputTooLarge { .. }
                | Self::Unsafe(_)
        )
    }
}

impl From<PluginError> for crate::core::PolicyFault {
    fn from(e: PluginError) -> Self {
        Self::Failed {
            kind: e.kind(),
            message: e.to_string(),
            blames_policy: e.is_runtime(),
        }
    }
}
