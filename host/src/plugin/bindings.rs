//! Generated from `wit/promoter.wit`, the single source of the plugin contract. The
//! generated types go no further than `convert.rs` and `validate.rs`.

wasmtime::component::bindgen!({
    world: "promoter",
    path: "../wit",
});

pub use self::autopilot::promoter::types as wit;
