//! The stable policy as a component: every server is a `voter`, every non-voter that
//! has been healthy for the stabilization time is promoted, nothing is demoted, the
//! leader stays. It is the SDK's defaults, exported.

autopilot_sdk::export_promoter!(autopilot_sdk::Stable);
