//! The operator's HTTP API on a demo node (`autopilot node --http ADDR`): Consul's
//! autopilot endpoints, with each server's reason; the latest round as a plan
//! snapshot; Prometheus metrics; a live page (`/ui`).
//!
//! Any node answers. The leader runs autopilot and answers from its own state; a
//! follower asks the leader over the cluster link (so with the cluster key) and names
//! it in the `X-Autopilot-Leader` header; with `?stale` a node that cannot reach a
//! leader answers from the last state it computed itself (`X-Autopilot-Stale: true`).
//! Writes (`PUT`) need `Authorization: Bearer <token>` with the node's
//! `--http-token-file`; without a configured token they are refused (403). A write
//! is one Raft entry, applied whole or not at all.
//!
//! The demo service's key-value store is served in the shape of Consul's KV API
//! (`/v1/kv/<key>`): reads linearizable unless `?stale`, writes and deletes with
//! `?cas=N`, answered `true` or `false`.

use std::time::Duration;

use autopilot::{Config, PolicyRecord, RaftState, ServerId, ServerState, State, compare_servers};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State as Shared};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::DemoNode;
use crate::network::{Reply, Rpc, StatusReport, call};

/// How long a follower waits for the leader's state.
const LEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest JSON body a write accepts.
const MAX_JSON_BODY: usize = 1 << 20;

/// How long a follower waits for the leader to load, check and swap a policy.
const SWAP_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest value a key may hold (Consul's default limit).
const MAX_KV_VALUE: usize = 512 << 10;

/// The longest key accepted.
const MAX_KV_KEY: usize = 1024;

/// The longest duration a configuration may hold (a year), as `autopilot plan` allows.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The API's routes over `node`.
pub fn router(node: DemoNode) -> Router {
    Router::new()
        .route("/v1/operator/autopilot/health", get(health))
        .route("/v1/operator/autopilot/state", get(state))
        .route(
            "/v1/operator/autopilot/configuration",
            get(get_config).put(put_config.layer(DefaultBodyLimit::max(MAX_JSON_BODY))),
        )
        .route(
            "/v1/operator/autopilot/policy",
            get(get_policy).put(put_policy.layer(DefaultBodyLimit::max(
                // The largest policy upload: the plugin host's component size limit.
                autopilot::PluginLimits::default().component_bytes,
            ))),
        )
        .route("/v1/operator/autopilot/snapshot", get(snapshot))
        .route(
            "/v1/kv/",
            get(kv_get_root).put(kv_put_root).delete(kv_delete_root),
        )
        .route(
            "/v1/kv/{*key}",
            get(kv_get)
                .put(kv_put.layer(DefaultBodyLimit::max(MAX_KV_VALUE)))
                .delete(kv_delete),
        )
        .route("/metrics", get(metrics))
        .route("/ui", get(ui))
        .with_state(node)
}

/// Serves the API on `listener` until the task is dropped.
///
/// # Errors
/// When the listener fails.
pub async fn serve(node: DemoNode, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(node)).await
}

/// Query parameters every read takes.
#[derive(Debug, Default, Deserialize)]
struct ReadParams {
    /// Present (any value, or none): answer from this node when no leader is reachable.
    stale: Option<String>,
}

/// The leader's view: its report, autopilot's state in it, and the headers that say
/// where it came from.
struct View {
    report: StatusReport,
    state: State,
    headers: HeaderMap,
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "Error": message }))).into_response()
}

/// A refused request: its status and one line saying why (JSON `{"Error": ...}`).
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, &self.1)
    }
}

/// Autopilot's state from the leader (this node or over the link), or this node's own
/// last state when `stale` allows it.
async fn leader_view(node: &DemoNode, stale: bool) -> Result<View, Response> {
    let metrics = node.raft().metrics().borrow().clone();
    let local = node.status_report(&metrics).await;
    let mut headers = HeaderMap::new();
    if let Some(state) = local.autopilot.clone() {
        headers.insert("X-Autopilot-Leader", header_value(&node.id().to_string()));
        return Ok(View {
            report: local,
            state,
            headers,
        });
    }
    if let Some((id, address)) = node.current_leader()
        && let Ok(Reply::Status(report)) =
            call(node.link(), &address, &Rpc::Status, LEADER_TIMEOUT).await
        && let Some(state) = report.autopilot.clone()
    {
        headers.insert("X-Autopilot-Leader", header_value(&id.to_string()));
        return Ok(View {
            report,
            state,
            headers,
        });
    }
    if stale && let Some(state) = node.autopilot().application().latest_state() {
        headers.insert("X-Autopilot-Stale", HeaderValue::from_static("true"));
        let report = StatusReport {
            autopilot: Some(state.clone()),
            ..local
        };
        return Ok(View {
            report,
            state,
            headers,
        });
    }
    Err(error(
        StatusCode::SERVICE_UNAVAILABLE,
        "no leader reachable; add ?stale to read this node's own last state",
    ))
}

/// Servers best first: the leader, then voters as autopilot orders them, then the rest.
fn ordered(state: &State) -> Vec<&ServerId> {
    let mut ids: Vec<&ServerId> = state.servers.keys().collect();
    ids.sort_by(|a, b| compare_servers(a, b, state));
    ids
}

fn last_contact(server: &ServerState) -> String {
    server
        .stats
        .last_contact
        .as_duration()
        .map_or_else(|| "unknown".to_owned(), go_duration)
}

/// A duration as Go prints it (what Consul's clients parse): `0s`, `750ns`, `1.5ms`,
/// `2.25s`, `3m20s`, `1h0m5s`.
fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let trimmed = |value: f64, unit: &str| {
        let text = format!("{value:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text}{unit}")
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return trimmed(nanos as f64 / 1e3, "µs");
    }
    if nanos < 1_000_000_000 {
        return trimmed(nanos as f64 / 1e6, "ms");
    }
    let secs = d.as_secs();
    let (hours, minutes) = (secs / 3600, secs % 3600 / 60);
    let rest = d
        .saturating_sub(Duration::from_secs(hours * 3600 + minutes * 60))
        .as_secs_f64();
    let seconds = trimmed(rest, "s");
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

fn stable_since(server: &ServerState) -> String {
    server
        .health
        .stable_since
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `GET /v1/operator/autopilot/health`: Consul's `OperatorHealthReply`, 200 when the
/// cluster is healthy and 429 when not (as Consul), with the body either way.
async fn health(Shared(node): Shared<DemoNode>, Query(params): Query<ReadParams>) -> Response {
    let view = match leader_view(&node, params.stale.is_some()).await {
        Ok(view) => view,
        Err(response) => return response,
    };
    let state = &view.state;
    let servers: Vec<Value> = ordered(state)
        .into_iter()
        .filter_map(|id| state.servers.get(id).map(|s| (id, s)))
        .map(|(id, s)| {
            json!({
                "ID": id,
                "Name": s.server.name,
                "Address": s.server.address,
                "SerfStatus": s.server.node_status.to_string(),
                "Version": s.server.version,
                "Leader": s.state == RaftState::Leader,
                "LastContact": last_contact(s),
                "LastTerm": s.stats.last_term,
                "LastIndex": s.stats.last_index,
                "Healthy": s.health.healthy,
                "Voter": s.has_voting_rights(),
                "StableSince": stable_since(s),
            })
        })
        .collect();
    let body = json!({
        "Healthy": state.healthy,
        "FailureTolerance": state.failure_tolerance,
        "Servers": servers,
    });
    let status = if state.healthy {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    (status, view.headers, axum::Json(body)).into_response()
}

/// How many servers could fail one at a time, each replaced by a healthy non-voter's
/// promotion before the next, without losing quorum: the healthy servers beyond a
/// quorum of the voters.
fn optimistic_failure_tolerance(state: &State) -> usize {
    let voters = state
        .servers
        .values()
        .filter(|s| s.has_voting_rights())
        .count();
    let healthy = state.servers.values().filter(|s| s.health.healthy).count();
    healthy.saturating_sub(voters / 2 + 1)
}

/// `GET /v1/operator/autopilot/state`: Consul's `AutopilotState`, each server with
/// its `Reason`, and the active `Policy` with its history.
async fn state(Shared(node): Shared<DemoNode>, Query(params): Query<ReadParams>) -> Response {
    let view = match leader_view(&node, params.stale.is_some()).await {
        Ok(view) => view,
        Err(response) => return response,
    };
    let state = &view.state;
    // The metadata key naming a zone, as the zones policy reads it.
    let config = node.autopilot().application().effective_config().await;
    let zone_tag = config
        .ext
        .get("zone_tag")
        .and_then(Value::as_str)
        .unwrap_or("zone")
        .to_owned();
    let servers: serde_json::Map<String, Value> = state
        .servers
        .iter()
        .map(|(id, s)| {
            let mut entry = json!({
                "ID": id,
                "Name": s.server.name,
                "Address": s.server.address,
                "NodeStatus": s.server.node_status.to_string(),
                "Version": s.server.version,
                "LastContact": last_contact(s),
                "LastTerm": s.stats.last_term,
                "LastIndex": s.stats.last_index,
                "Healthy": s.health.healthy,
                "StableSince": stable_since(s),
                "RedundancyZone": s
                    .server
                    .meta
                    .as_deref()
                    .and_then(|m| m.get(&zone_tag))
                    .cloned()
                    .unwrap_or_default(),
                "UpgradeVersion": s.server.version,
                "ReadReplica": false,
                "Status": s.state.to_string(),
                "Meta": s.server.meta,
                "NodeType": s.server.node_type,
            });
            if let Some(reason) = view.report.reasons.get(id) {
                entry["Reason"] = json!(reason);
            }
            (id.to_string(), entry)
        })
        .collect();
    let body = json!({
        "Healthy": state.healthy,
        "FailureTolerance": state.failure_tolerance,
        "OptimisticFailureTolerance": optimistic_failure_tolerance(state),
        "Servers": servers,
        "Leader": state.leader,
        "Voters": state.voters,
        "RedundancyZones": state.ext.get("RedundancyZones").cloned().unwrap_or_else(|| json!({})),
        "ReadReplicas": [],
        "Upgrade": state.ext.get("Upgrade").cloned().unwrap_or(Value::Null),
        "Policy": state.policy,
    });
    (view.headers, axum::Json(body)).into_response()
}

type Labels = Vec<(String, String)>;

/// `GET /metrics`: Prometheus text. On every node, with a `leader` label saying
/// whether this node leads: `autopilot_healthy` (0 or 1) and
/// `autopilot_failure_tolerance`, from the leader's state (absent when no leader is
/// reachable). On the leader also `autopilot_node_healthy{node_id}` and its
/// counters: state updates, reconcile rounds, actions, policy faults and errors.
async fn metrics(Shared(node): Shared<DemoNode>) -> Response {
    let mut registry = Registry::default();
    let leads = node.raft().metrics().borrow().state == openraft::ServerState::Leader;
    let role: Labels = vec![("leader".into(), leads.to_string())];
    let healthy = Family::<Labels, Gauge>::default();
    let tolerance = Family::<Labels, Gauge>::default();
    registry.register(
        "autopilot_healthy",
        "Whether every server is healthy (1) or not (0), as the leader sees it",
        healthy.clone(),
    );
    registry.register(
        "autopilot_failure_tolerance",
        "How many voters could fail with the cluster keeping a healthy quorum",
        tolerance.clone(),
    );
    if let Ok(view) = leader_view(&node, false).await {
        healthy
            .get_or_create(&role)
            .set(i64::from(view.state.healthy));
        tolerance
            .get_or_create(&role)
            .set(i64::from(view.state.failure_tolerance));
    }
    if leads {
        let state = node.autopilot().state();
        let per_node = Family::<Labels, Gauge>::default();
        registry.register(
            "autopilot_node_healthy",
            "Whether the server is healthy (1) or not (0)",
            per_node.clone(),
        );
        for (id, s) in &state.servers {
            per_node
                .get_or_create(&vec![("node_id".into(), id.to_string())])
                .set(i64::from(s.health.healthy));
        }
        let counters = node.autopilot().counters();
        for (name, help, value) in [
            (
                "autopilot_state_updates",
                "States computed",
                counters.state_updates,
            ),
            (
                "autopilot_state_update_errors",
                "State updates that failed",
                counters.state_update_errors,
            ),
            (
                "autopilot_reconcile_rounds",
                "Reconcile rounds run",
                counters.reconcile_rounds,
            ),
            (
                "autopilot_reconcile_errors",
                "Reconcile rounds that failed",
                counters.reconcile_errors,
            ),
            (
                "autopilot_prune_errors",
                "Pruning passes that failed",
                counters.prune_errors,
            ),
            (
                "autopilot_policy_fallbacks",
                "Policy answers not used (a failed call or an unsafe answer): the stable policy's were",
                counters.policy_faults,
            ),
        ] {
            let counter = Counter::<u64>::default();
            counter.inc_by(value);
            registry.register(name, help, counter);
        }
        register_measured(&mut registry, &node.autopilot().metrics());
    }
    let mut text = String::new();
    if encode(&mut text, &registry).is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics",
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The runtime's measurements: actions by operation, policy calls by function and
/// outcome with their durations, policy changes by outcome.
fn register_measured(registry: &mut Registry, measured: &autopilot::Metrics) {
    let labelled = |registry: &mut Registry, name: &str, help: &str, values: Vec<(Labels, u64)>| {
        let family = Family::<Labels, Counter<u64>>::default();
        for (labels, value) in values {
            family.get_or_create(&labels).inc_by(value);
        }
        registry.register(name, help, family);
    };
    let label = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    labelled(
        registry,
        "autopilot_actions",
        "Actions executed successfully, by operation",
        measured
            .actions
            .iter()
            .map(|(op, n)| (vec![label("op", op)], *n))
            .collect(),
    );
    labelled(
        registry,
        "autopilot_policy_calls",
        "Policy calls by function and outcome (ok, or the fault's kind)",
        measured
            .policy_calls
            .iter()
            .map(|((function, outcome), n)| {
                (
                    vec![
                        label("function", function.as_str()),
                        label("outcome", outcome),
                    ],
                    *n,
                )
            })
            .collect(),
    );
    labelled(
        registry,
        "autopilot_policy_swaps",
        "Policy changes by outcome (swapped, refused, rolled-back)",
        measured
            .policy_swaps
            .iter()
            .map(|(outcome, n)| (vec![label("outcome", outcome)], *n))
            .collect(),
    );
    registry.register(
        "autopilot_policy_call_duration_seconds",
        "How long policy calls took, wall time",
        DurationHistogram(measured.policy_call_seconds.clone()),
    );
}

/// A histogram the runtime has already counted, encoded as Prometheus's.
#[derive(Debug)]
struct DurationHistogram(autopilot::Histogram);

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.0.sum, self.0.count, &self.0.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Query parameters of a write.
#[derive(Debug, Default, Deserialize)]
struct WriteParams {
    /// Check-and-set: apply only if the record's modify index is this.
    cas: Option<String>,
    /// Present (any value, or none): a policy upload is previewed, not swapped in.
    #[serde(rename = "dry-run")]
    dry_run: Option<String>,
}

/// Refuses a write unless writes are enabled and the request carries the token.
fn authorize(node: &DemoNode, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = node.http_token() else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "writes are disabled on this node: start it with --http-token-file FILE".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compare digests, in time independent of where they differ.
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(token.as_bytes()),
    );
    let differ = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if differ != 0 {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a write needs `Authorization: Bearer <token>` with this node's token".into(),
        ));
    }
    Ok(())
}

/// `GET /v1/operator/autopilot/configuration`: Consul's `AutopilotConfiguration`
/// (the fields that apply), from this node's copy of the replicated record.
async fn get_config(Shared(node): Shared<DemoNode>) -> Response {
    let app = node.autopilot().application();
    let record = app.config_record().await;
    let config = app.effective_config().await;
    let (create, modify) = record.map_or((0, 0), |r| (r.create_index, r.modify_index));
    axum::Json(json!({
        "CleanupDeadServers": config.cleanup_dead_servers,
        "LastContactThreshold": go_duration(config.last_contact_threshold),
        "MaxTrailingLogs": config.max_trailing_logs,
        "MinQuorum": config.min_quorum,
        "ServerStabilizationTime": go_duration(config.server_stabilization_time),
        "Ext": config.ext,
        "CreateIndex": create,
        "ModifyIndex": modify,
    }))
    .into_response()
}

/// A configuration as an operator writes it (Consul's layout, durations as Go
/// spells them). Every tunable is required; the indexes a client read back are
/// accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    #[serde(rename = "CleanupDeadServers")]
    cleanup_dead_servers: bool,
    #[serde(rename = "LastContactThreshold")]
    last_contact_threshold: String,
    #[serde(rename = "MaxTrailingLogs")]
    max_trailing_logs: u64,
    #[serde(rename = "MinQuorum")]
    min_quorum: u32,
    #[serde(rename = "ServerStabilizationTime")]
    server_stabilization_time: String,
    #[serde(rename = "Ext", default)]
    ext: Value,
    #[serde(rename = "CreateIndex", default)]
    _create_index: Option<u64>,
    #[serde(rename = "ModifyIndex", default)]
    _modify_index: Option<u64>,
}

/// Parses a duration as Go spells it: `0`, `200ms`, `1m30s`, `1.5h`.
fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, scale) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
        ]
        .into_iter()
        .filter(|(u, _)| rest.starts_with(u))
        .max_by_key(|(u, _)| u.len())?;
        rest = rest.get(unit.len()..)?;
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn duration_field(field: &str, text: &str) -> Result<Duration, ApiError> {
    let bad = |why: &str| ApiError(StatusCode::BAD_REQUEST, format!("{field}: {text:?} {why}"));
    let d = parse_go_duration(text).ok_or_else(|| bad("is not a duration (e.g. 200ms, 10s)"))?;
    if d > MAX_DURATION {
        return Err(bad("is longer than a year"));
    }
    Ok(d)
}

/// `PUT /v1/operator/autopilot/configuration[?cas=N]`: replaces the configuration
/// through Raft (on the leader, which a follower asks), answering `true`, or `false`
/// when `cas` is given and is not the current modify index. Nothing is applied unless
/// the whole body is valid.
async fn put_config(
    Shared(node): Shared<DemoNode>,
    Query(params): Query<WriteParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorize(&node, &headers) {
        return refused.into_response();
    }
    let cas = match params.cas.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "cas: must be a modify index (a whole number)",
            );
        }
    };
    let mut json = serde_json::Deserializer::from_slice(&body);
    let parsed: ConfigBody = match serde_path_to_error::deserialize(&mut json) {
        Ok(parsed) => parsed,
        Err(e) => {
            let path = e.path().to_string();
            let message = if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            };
            return error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let config = Config {
        cleanup_dead_servers: parsed.cleanup_dead_servers,
        last_contact_threshold: match duration_field(
            "LastContactThreshold",
            &parsed.last_contact_threshold,
        ) {
            Ok(d) => d,
            Err(refused) => return refused.into_response(),
        },
        max_trailing_logs: parsed.max_trailing_logs,
        min_quorum: parsed.min_quorum,
        server_stabilization_time: match duration_field(
            "ServerStabilizationTime",
            &parsed.server_stabilization_time,
        ) {
            Ok(d) => d,
            Err(refused) => return refused.into_response(),
        },
        ext: parsed.ext,
    };
    let (reply, headers) =
        match on_leader(&node, Rpc::SetConfig { config, cas }, LEADER_TIMEOUT).await {
            Ok(answer) => answer,
            Err(refused) => return refused.into_response(),
        };
    match reply {
        Reply::Applied(applied) => (headers, axum::Json(applied)).into_response(),
        other => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the leader did not apply it: {other:?}"),
        ),
    }
}

/// Sends a write to the leader (handled here when this node leads), within
/// `timeout`; the answer comes with the header naming the leader.
async fn on_leader(
    node: &DemoNode,
    rpc: Rpc,
    timeout: Duration,
) -> Result<(Reply, HeaderMap), ApiError> {
    let leads = node.raft().metrics().borrow().state == openraft::ServerState::Leader;
    let (reply, leader) = if leads {
        (node.handle_rpc(rpc).await, node.id())
    } else {
        let Some((id, address)) = node.current_leader() else {
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "no leader to write to".into(),
            ));
        };
        let reply = call(node.link(), &address, &rpc, timeout)
            .await
            .map_err(|e| {
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the leader did not answer: {e}"),
                )
            })?;
        (reply, id)
    };
    let mut headers = HeaderMap::new();
    headers.insert("X-Autopilot-Leader", header_value(&leader.to_string()));
    Ok((reply, headers))
}

/// `GET /v1/operator/autopilot/policy`: the active policy (name, version, digest,
/// since when) and the history of swaps, refusals and rollbacks, from the leader.
async fn get_policy(Shared(node): Shared<DemoNode>, Query(params): Query<ReadParams>) -> Response {
    match leader_view(&node, params.stale.is_some()).await {
        Ok(view) => (view.headers, axum::Json(view.state.policy)).into_response(),
        Err(response) => response,
    }
}

/// `PUT /v1/operator/autopilot/policy[?dry-run]` (body: the component): the leader
/// loads, checks, dry-runs and swaps it, as the library's `set_policy`, and records it
/// for every later leader. Answers the policy now active, or 422 with the named refusal
/// (the running policy stays). With `?dry-run` nothing is swapped: the answer is what
/// the candidate would do with the latest round (`autopilot plan --json`'s layout,
/// with the candidate's `Faults`).
async fn put_policy(
    Shared(node): Shared<DemoNode>,
    Query(params): Query<WriteParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorize(&node, &headers) {
        return refused.into_response();
    }
    let rpc = if params.dry_run.is_some() {
        Rpc::PreviewPolicy(PolicyRecord::component(body.to_vec()))
    } else {
        Rpc::SetPolicy(PolicyRecord::component(body.to_vec()))
    };
    let (reply, headers) = match on_leader(&node, rpc, SWAP_TIMEOUT).await {
        Ok(answer) => answer,
        Err(refused) => return refused.into_response(),
    };
    match reply {
        Reply::PolicySet(active) => (headers, axum::Json(active)).into_response(),
        Reply::Preview(plan) => json_text(headers, plan),
        Reply::Error(refusal) => {
            let mut response = error(StatusCode::UNPROCESSABLE_ENTITY, &refusal);
            response.headers_mut().extend(headers);
            response
        }
        other => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the leader did not swap it: {other:?}"),
        ),
    }
}

/// Query parameters of the KV endpoints (Consul's names).
#[derive(Debug, Default, Deserialize)]
struct KvParams {
    /// Present: any node answers from its own applied state (no leader needed).
    stale: Option<String>,
    /// Present: every key starting with the given one.
    recurse: Option<String>,
    /// Present: the value's bytes alone (GET of one key).
    raw: Option<String>,
    /// Check-and-set on the key's modify index (PUT, DELETE).
    cas: Option<String>,
}

impl KvParams {
    fn cas(&self) -> Result<Option<u64>, ApiError> {
        match self.cas.as_deref().map(str::parse::<u64>) {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(_)) => Err(ApiError(
                StatusCode::BAD_REQUEST,
                "cas: must be a modify index (a whole number)".into(),
            )),
        }
    }
}

fn check_key(key: &str, recurse: bool) -> Result<(), ApiError> {
    if key.is_empty() && !recurse {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "missing key name: /v1/kv/<key>".into(),
        ));
    }
    if key.len() > MAX_KV_KEY {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "the key is {} bytes, over the {MAX_KV_KEY}-byte limit",
                key.len()
            ),
        ));
    }
    Ok(())
}

async fn kv_get_root(node: Shared<DemoNode>, params: Query<KvParams>) -> Response {
    kv_read(node.0, String::new(), params.0).await
}

async fn kv_get(
    node: Shared<DemoNode>,
    Path(key): Path<String>,
    params: Query<KvParams>,
) -> Response {
    kv_read(node.0, key, params.0).await
}

/// `GET /v1/kv/<key>[?recurse][?raw][?stale]`: Consul's answer, a JSON array of
/// `{Key, Value (base64), CreateIndex, ModifyIndex, LockIndex, Flags}` (404 when no
/// key matches), with `X-Consul-Index`. Linearizable by default: the leader (this
/// node or, from a follower, over the cluster link) confirms its leadership with a
/// quorum before it reads. With `?stale` this node answers from what it has applied,
/// leader or not.
async fn kv_read(node: DemoNode, key: String, params: KvParams) -> Response {
    let recurse = params.recurse.is_some();
    if let Err(refused) = check_key(&key, recurse) {
        return refused.into_response();
    }
    let (entries, index, mut headers) = if params.stale.is_some() {
        let (entries, index) = node.machine().kv(&key, recurse).await;
        let mut headers = HeaderMap::new();
        let known = node.current_leader().is_some();
        headers.insert(
            "X-Consul-KnownLeader",
            HeaderValue::from_static(if known { "true" } else { "false" }),
        );
        (entries, index, headers)
    } else {
        let rpc = Rpc::KvGet {
            key: key.clone(),
            recurse,
        };
        match on_leader(&node, rpc, LEADER_TIMEOUT).await {
            Ok((Reply::Kv { entries, index }, headers)) => (entries, index, headers),
            Ok((other, _)) => return not_done("read", other),
            Err(refused) => return refused.into_response(),
        }
    };
    let index = entries
        .iter()
        .map(|(_, e)| e.modify_index)
        .max()
        .unwrap_or(index);
    headers.insert("X-Consul-Index", header_value(&index.to_string()));
    if entries.is_empty() {
        return (StatusCode::NOT_FOUND, headers).into_response();
    }
    if params.raw.is_some() && !recurse {
        let value = entries.into_iter().next().map(|(_, e)| e.value);
        return (headers, value.unwrap_or_default()).into_response();
    }
    let body: Vec<Value> = entries
        .into_iter()
        .map(|(key, entry)| {
            use base64::Engine;
            let value = (!entry.value.is_empty())
                .then(|| base64::engine::general_purpose::STANDARD.encode(&entry.value));
            json!({
                "Key": key,
                "Value": value,
                "CreateIndex": entry.create_index,
                "ModifyIndex": entry.modify_index,
                "LockIndex": 0,
                "Flags": 0,
            })
        })
        .collect();
    (headers, axum::Json(body)).into_response()
}

async fn kv_put_root(
    node: Shared<DemoNode>,
    params: Query<KvParams>,
    headers: HeaderMap,
) -> Response {
    kv_write(node.0, String::new(), params.0, headers, Some(Vec::new())).await
}

async fn kv_put(
    node: Shared<DemoNode>,
    Path(key): Path<String>,
    params: Query<KvParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    kv_write(node.0, key, params.0, headers, Some(body.to_vec())).await
}

async fn kv_delete_root(
    node: Shared<DemoNode>,
    params: Query<KvParams>,
    headers: HeaderMap,
) -> Response {
    kv_write(node.0, String::new(), params.0, headers, None).await
}

async fn kv_delete(
    node: Shared<DemoNode>,
    Path(key): Path<String>,
    params: Query<KvParams>,
    headers: HeaderMap,
) -> Response {
    kv_write(node.0, key, params.0, headers, None).await
}

/// `PUT /v1/kv/<key>[?cas=N]` (body: the value) and `DELETE /v1/kv/<key>[?cas=N]
/// [?recurse]`: one Raft entry through the leader, answering `true`, or `false` when
/// `cas` did not match (for PUT, `cas=0` means "only if absent"; for DELETE, 0 never
/// matches). Writes need the token. `value` is `None` for a delete.
async fn kv_write(
    node: DemoNode,
    key: String,
    params: KvParams,
    headers: HeaderMap,
    value: Option<Vec<u8>>,
) -> Response {
    if let Err(refused) = authorize(&node, &headers) {
        return refused.into_response();
    }
    let recurse = value.is_none() && params.recurse.is_some();
    let checked = check_key(&key, recurse).and_then(|()| params.cas());
    let cas = match checked {
        Ok(cas) => cas,
        Err(refused) => return refused.into_response(),
    };
    if recurse && cas.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "cas applies to one key, not with recurse",
        );
    }
    let rpc = match value {
        Some(value) => Rpc::KvPut { key, value, cas },
        None => Rpc::KvDelete { key, cas, recurse },
    };
    match on_leader(&node, rpc, LEADER_TIMEOUT).await {
        Ok((Reply::Applied(applied), headers)) => (headers, axum::Json(applied)).into_response(),
        Ok((other, _)) => not_done("write", other),
        Err(refused) => refused.into_response(),
    }
}

/// The leader's answer was not the one asked for: it no longer leads, or the request
/// failed there.
fn not_done(what: &str, reply: Reply) -> Response {
    let message = match reply {
        Reply::NotLeader(Some((id, _))) => format!("not done: node {id} leads now; retry"),
        Reply::NotLeader(None) => "not done: no leader now; retry".to_owned(),
        Reply::Error(e) => format!("the {what} failed on the leader: {e}"),
        other => format!("the leader did not answer the {what}: {other:?}"),
    };
    error(StatusCode::SERVICE_UNAVAILABLE, &message)
}

/// A JSON document already written, with `headers`.
fn json_text(headers: HeaderMap, text: String) -> Response {
    let mut response = (headers, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /v1/operator/autopilot/snapshot`: the leader's latest round as an `autopilot
/// plan` snapshot (with `LastRound`: what that round did), so `autopilot plan --inputs`
/// replays it or shows what a candidate policy would do to the live cluster. 503
/// before the first round.
async fn snapshot(Shared(node): Shared<DemoNode>) -> Response {
    let (reply, headers) = match on_leader(&node, Rpc::Record, LEADER_TIMEOUT).await {
        Ok(answer) => answer,
        Err(refused) => return refused.into_response(),
    };
    match reply {
        Reply::Record(Some(text)) => json_text(headers, text),
        Reply::Record(None) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no reconcile round has run yet; try again in a few seconds",
        ),
        Reply::Error(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        other => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the leader did not answer with a record: {other:?}"),
        ),
    }
}

/// `GET /ui`: one self-contained page (no CDN, no build step) that reads the state
/// endpoint every 2 s and shows health, failure tolerance, the servers with their
/// reasons, and the active policy with its history.
async fn ui() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("ui.html"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(750)), "750ns");
        assert_eq!(go_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_millis(2_250)), "2.25s");
        assert_eq!(go_duration(Duration::from_secs(200)), "3m20s");
        assert_eq!(go_duration(Duration::from_secs(3605)), "1h0m5s");
    }

    #[test]
    fn go_durations_parse_back() {
        use super::parse_go_duration as parse;
        for d in [
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_micros(1_500),
            Duration::from_millis(2_250),
            Duration::from_secs(200),
            Duration::from_secs(3605),
        ] {
            assert_eq!(parse(&go_duration(d)), Some(d), "{d:?}");
        }
        assert_eq!(parse("1.5h"), Some(Duration::from_secs(5400)));
        for bad in ["", "10", "ten seconds", "5x", "-1s", "s"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
