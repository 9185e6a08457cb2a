//! The WASI interfaces standard toolchains link into a component (CPython's and
//! SpiderMonkey's runtimes, Rust's `std`), satisfied so that they grant nothing and
//! keep a policy a pure function of its input:
//!
//! | interface | what the policy gets |
//! | --- | --- |
//! | `wasi:clocks/wall-clock` | the round's `now`, every time |
//! | `wasi:clocks/monotonic-clock` | 0, never advancing; every timer is already due |
//! | `wasi:random/*` | bytes from a generator seeded with a fixed seed, afresh each call |
//! | `wasi:filesystem/*` | no preopened directory, so nothing to open |
//! | `wasi:sockets/*` | every socket and name lookup refused (`access-denied`) |
//! | `wasi:http/{types,outgoing-handler}` | every function traps (a fault: the round takes the stable policy's answer) |
//!
//! So a replay of a round gives the same answer, whenever and wherever it runs.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, Linker, Resource, ResourceTable, ResourceType};
use wasmtime::{Engine, bail};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, Error as IoError};

use super::sandbox::Sandbox;
use crate::core::Timestamp;

/// The seed of every call's random generators: the same bytes every call.
const SEED: u64 = 0x6175_746f_7069_6c74;

/// Sets a WASI context's clocks, randomness and network to the inert ones; `now` is
/// what the wall clock reads (the round's instant; the Unix epoch for calls outside a
/// round). Builders start with no preopened directory and no network use allowed; this
/// says so again, so a change of their defaults cannot grant anything.
pub(crate) fn configure(builder: &mut WasiCtxBuilder, now: Timestamp) {
    let since_epoch = Duration::new(
        u64::try_from(now.timestamp()).unwrap_or(0),
        now.timestamp_subsec_nanos(),
    );
    builder
        .wall_clock(FixedWallClock(since_epoch))
        .monotonic_clock(FrozenMonotonicClock)
        .secure_random(StdRng::seed_from_u64(SEED))
        .insecure_random(StdRng::seed_from_u64(SEED ^ 1))
        .insecure_random_seed(u128::from(SEED))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
}

/// A wall clock stopped at one instant.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never advances.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

/// `wasi:clocks/monotonic-clock` over the instance's resource table: reads 0, and a
/// timer is a pollable that is always ready (time does not pass inside a call, so
/// there is nothing to wait for, and no executor's timer is needed).
pub(crate) struct InertMonotonic;

impl HasData for InertMonotonic {
    type Data<'a> = MonotonicView<'a>;
}

/// The instance's resource table, as the monotonic clock's host sees it.
pub(crate) struct MonotonicView<'a>(pub(crate) &'a mut ResourceTable);

/// A timer that is already due.
struct Due;

#[wasmtime_wasi_io::async_trait]
impl Pollable for Due {
    async fn ready(&mut self) {}
}

impl MonotonicView<'_> {
    fn due(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = self.0.push(Due)?;
        subscribe(self.0, timer)
    }
}

impl monotonic_clock::Host for MonotonicView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(FrozenMonotonicClock.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(FrozenMonotonicClock.resolution())
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }
}

/// A resource of an interface the host links to traps: never created, since every
/// function that could create one traps.
struct Trapped;

/// Links each import of `component` for which `trapped` holds (checked by the caller
/// to be one of the interfaces the host stubs) to functions that trap when called.
/// Its resources are fresh host types, except those it takes from `wasi:io`, which
/// must be the very types the rest of the linker uses.
pub(crate) fn link_traps(
    linker: &mut Linker<Sandbox>,
    component: &Component,
    engine: &Engine,
    trapped: impl Fn(&str) -> bool,
) -> wasmtime::Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !trapped(name) {
            continue;
        }
        let mut stub = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export}");
                    stub.func_new(export, move |_, _, _, _| {
                        bail!("`{what}` called: the sandbox grants no HTTP")
                    })?;
                }
                ComponentItem::Resource(_) => {
                    let ty = match export {
                        "input-stream" => ResourceType::host::<DynInputStream>(),
                        "output-stream" => ResourceType::host::<DynOutputStream>(),
                        "pollable" => ResourceType::host::<DynPollable>(),
                        "io-error" | "error" => ResourceType::host::<IoError>(),
                        _ => ResourceType::host::<Trapped>(),
                    };
                    stub.resource(export, ty, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
