//! A policy that uses what a standard toolchain's runtime reaches for: the clocks,
//! random bytes, a file, a socket, an HTTP request, a sleep. The host satisfies each inertly; this
//! reports what it got, as every server's extension (JSON text).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use autopilot_sdk::{Config, Metadata, Policy, PolicyError, ServerState};

#[derive(Default)]
struct Probe;

/// Builds a GET request with `wasi:http` and sends it: what sending answered.
fn http_get() -> String {
    use wasip2::http::outgoing_handler::handle;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    if request.set_scheme(Some(&Scheme::Http)).is_err()
        || request.set_authority(Some("127.0.0.1:9")).is_err()
        || request.set_path_with_query(Some("/")).is_err()
    {
        return "request refused".into();
    }
    match handle(request, None) {
        Ok(_) => "sent".into(),
        Err(code) => format!("{code:?}"),
    }
}

fn error_kind<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}", e.kind()),
    }
}

impl Policy for Probe {
    fn metadata(&self) -> Metadata {
        Metadata {
            name: "wasi-probe".into(),
            version: "0.1.0".into(),
        }
    }

    fn server_ext(
        &self,
        _config: &Config,
        _server: &ServerState,
    ) -> Result<Option<String>, PolicyError> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut bytes = [0u8; 8];
        let random = match getrandom::fill(&mut bytes) {
            Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            Err(e) => format!("error: {e}"),
        };
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        let slept_ms = started.elapsed().as_millis();
        let probe = serde_json::json!({
            "wall_secs": wall,
            "random": random,
            "file": error_kind(std::fs::read_to_string("/etc/passwd")),
            "dir": error_kind(std::fs::read_dir("/")),
            "socket": error_kind(std::net::TcpStream::connect("127.0.0.1:9")),
            "http": http_get(),
            "lookup": error_kind(std::net::ToSocketAddrs::to_socket_addrs("example.com:80")),
            "slept_ms": slept_ms,
        });
        Ok(Some(probe.to_string()))
    }
}

autopilot_sdk::export_promoter!(Probe);
