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
//! | `wasi:http/{types,outgoing-handler}` | requests can be built, and sending one fails with `HTTP-request-denied` |
//!
//! So a replay of a round gives the same answer, whenever and wherever it runs.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::StoreContextMut;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

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

/// `wasi:http`'s state in the sandbox: wasmtime-wasi-http's own context (its
/// `types` implementation builds the requests) and hooks that never send one.
#[derive(Default)]
pub(crate) struct InertHttp {
    ctx: WasiHttpCtx,
    hooks: NoHttp,
}

impl InertHttp {
    /// The view `wasi:http/types` is implemented for, over the instance's table.
    pub(crate) fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView {
            ctx: &mut self.ctx,
            table,
            hooks: &mut self.hooks,
        }
    }
}

/// Hooks that send nothing. The sandbox's `outgoing-handler` ([`deny_http_requests`])
/// refuses every request before it would reach them; should one get here, it is
/// denied too.
#[derive(Default)]
struct NoHttp;

type SentRequest = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for NoHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> SentRequest {
        Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) })
    }
}

/// The `wasi:http/outgoing-handler` revision the sandbox defines (wasmtime-wasi-http's;
/// a component built against another 0.2 revision links to it by semver).
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// Defines `wasi:http/outgoing-handler#handle` to answer every request with the
/// interface's own `HTTP-request-denied`, at once: nothing is sent or scheduled.
pub(crate) fn deny_http_requests(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    type Handled = Result<Resource<HostFutureIncomingResponse>, ErrorCode>;
    linker.instance(OUTGOING_HANDLER)?.func_wrap(
        "handle",
        |mut store: StoreContextMut<'_, Sandbox>,
         (request, options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<RequestOptions>>,
        )|
         -> wasmtime::Result<(Handled,)> {
            // Both are the guest's to give away: drop them, then refuse.
            let table = &mut store.data_mut().table;
            table.delete(request)?;
            if let Some(options) = options {
                table.delete(options)?;
            }
            Ok((Err(ErrorCode::HttpRequestDenied),))
        },
    )
}
