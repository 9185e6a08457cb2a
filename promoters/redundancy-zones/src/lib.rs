//! The redundancy-zones policy as a component: one voter per zone, the others hot
//! standbys; see `promoters/zones` for the logic and `docs/policies/redundancy-zones.md`.

pub use autopilot_zones::*;

autopilot_sdk::export_promoter!(autopilot_zones::RedundancyZones);
