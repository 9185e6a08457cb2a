//! Paths of the policy components the integration tests load, built from source by
//! `build.rs` (nothing prebuilt is committed), and helpers shared by the tests.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Reads a built component.
pub fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("component {path} is readable: {e}"))
}
