//! `autopilot plan`: replay a cluster snapshot through the core and report the state
//! and the actions autopilot would take, without touching any cluster.

mod render;
mod round;
mod snapshot;

pub use render::render_table;
pub use round::{Plan, plan_round};
pub use snapshot::{SnapshotError, parse_snapshot, snapshot_json};
