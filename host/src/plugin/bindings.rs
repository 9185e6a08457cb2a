//! Generated from `wit/promoter.wit`, the single source of the plugin contract. The
//! generated types go no further than the plugin module: `convert.rs` (enums and
//! small records lowered into a call), `component.rs` (the call's result) and
//! `validate.rs` (which turns the result into core types).

wasmtime::component::bindgen!({
    world: "promoter",
    path: "wit",
});

pub use self::autopilot::promoter::types as wit;
