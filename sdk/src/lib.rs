//! Write autopilot promoter policies as WebAssembly components.
//!
//! A policy decides which servers of a Raft cluster vote, which are demoted, who
//! leads, and which dead servers may be removed. You write it as a type implementing
//! [`Policy`], whose every method defaults to the stable policy (promote servers once
//! they have been healthy for the stabilization time; never demote), so you override
//! only what your policy changes. [`export_promoter!`] turns it into a component that
//! the autopilot host loads into a sandbox: no clock, filesystem, network or
//! environment; the time to judge stability by comes inside the [`State`].
//!
//! Because the sandbox grants no randomness or clock, a policy must not use what needs
//! them: `std::collections::HashMap` with its default hasher (use `BTreeMap`),
//! `std::time`, or files; the host refuses a component that imports them, naming the
//! import.
//!
//! ```
//! use autopilot_sdk::{Changes, Config, Metadata, Policy, PolicyError, State, is_stable};
//!
//! /// Promotes stable non-voters, but never beyond five voters.
//! #[derive(Default)]
//! struct AtMostFive;
//!
//! impl Policy for AtMostFive {
//!     fn metadata(&self) -> Metadata {
//!         Metadata { name: "at-most-five".into(), version: "1.0.0".into() }
//!     }
//!
//!     fn changes(&self, _config: &Config, state: &State) -> Result<Changes, PolicyError> {
//!         let room = 5usize.saturating_sub(state.voters.len());
//!         let promotions = state
//!             .servers
//!             .values()
//!             .filter(|s| s.raft_state == autopilot_sdk::RaftState::NonVoter)
//!             .filter(|s| is_stable(state, s))
//!             .take(room)
//!             .map(|s| s.server.id.clone())
//!             .collect();
//!         Ok(Changes { promotions, ..Changes::default() })
//!     }
//!
//!     // It never reads names, addresses, versions or metadata: the host need not
//!     // send them, which makes each round cheaper.
//!     fn reads_server_details(&self) -> bool {
//!         false
//!     }
//! }
//!
//! // In the component crate (crate-type = ["cdylib"], built for wasm32-wasip2):
//! // autopilot_sdk::export_promoter!(AtMostFive);
//!
//! // Natively, test it with the builders:
//! use autopilot_sdk::testing::StateBuilder;
//! use autopilot_sdk::{RaftState::*, Timestamp, decide};
//! use std::time::Duration;
//!
//! let min = Duration::from_secs(60);
//! let mut builder = StateBuilder::new(Timestamp::from_secs(1_700_000_000), Duration::from_secs(10));
//! builder = builder.server("a", Leader, true, min);
//! for id in ["b", "c", "d", "e", "f"] {
//!     builder = builder.server(id, NonVoter, true, min);
//! }
//! let decisions = decide(&AtMostFive, &Config::default(), builder.build(), &[])?;
//! assert_eq!(decisions.changes.promotions, ["b", "c", "d", "e"]);
//! # Ok::<(), PolicyError>(())
//! ```

#[doc(hidden)]
pub mod bindings {
    //! Generated from `wit/promoter.wit` (the single source of the contract).
    #![allow(missing_docs, clippy::all)]
    wit_bindgen::generate!({
        world: "promoter",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "autopilot_sdk::bindings",
    });
}

#[doc(hidden)]
pub mod guest;
mod helpers;
#[cfg(feature = "native")]
pub mod native;
mod policy;
pub mod testing;
mod types;

pub use helpers::{
    compare_servers, failure_tolerance, is_stable, next_stable_after, quorum, safe_changes,
    sort_servers,
};
pub use policy::{Policy, Stable, VOTER, decide, stable_changes};
pub use types::*;

/// Exports a [`Policy`] (a type that is also `Default`) as the component's `policy`
/// interface. Use it once, in a `cdylib` crate built for `wasm32-wasip2`; on other
/// targets it expands to nothing, so the same crate can be unit-tested natively.
#[macro_export]
macro_rules! export_promoter {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct AutopilotPolicyExport;

            impl $crate::bindings::exports::autopilot::promoter::policy::Guest
                for AutopilotPolicyExport
            {
                fn metadata() -> $crate::bindings::autopilot::promoter::types::PolicyInfo {
                    $crate::guest::metadata::<$policy>()
                }

                fn decide(
                    config: $crate::bindings::autopilot::promoter::types::Config,
                    state: $crate::bindings::autopilot::promoter::types::State,
                    judge_node_types: ::std::vec::Vec<::std::string::String>,
                ) -> ::std::result::Result<
                    $crate::bindings::autopilot::promoter::types::Decisions,
                    $crate::bindings::autopilot::promoter::types::PolicyError,
                > {
                    $crate::guest::run_decide::<$policy>(config, state, judge_node_types)
                }

                fn filter_removals(
                    config: $crate::bindings::autopilot::promoter::types::Config,
                    state: $crate::bindings::autopilot::promoter::types::State,
                    failed: $crate::bindings::autopilot::promoter::types::FailedServers,
                ) -> ::std::result::Result<
                    $crate::bindings::autopilot::promoter::types::Removals,
                    $crate::bindings::autopilot::promoter::types::PolicyError,
                > {
                    $crate::guest::run_filter_removals::<$policy>(config, state, failed)
                }
            }

    $crate::bindings::export!(AutopilotPolicyExport with_types_in $crate::bindings);
        };
    };
}
