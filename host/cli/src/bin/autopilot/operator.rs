//! The operator commands: `autopilot state`, `health`, `config get|set`,
//! `policy status|set` and `record`, against any node's HTTP API (`autopilot node
//! --http`). A follower forwards to the leader; what answered is on standard error.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use autopilot_cli::client::{ApiClient, ApiResponse};
use autopilot_cli::link::read_secret_file;
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

const STATE: &str = "/v1/operator/autopilot/state";
const HEALTH: &str = "/v1/operator/autopilot/health";
const CONFIG: &str = "/v1/operator/autopilot/configuration";
const POLICY: &str = "/v1/operator/autopilot/policy";
const SNAPSHOT: &str = "/v1/operator/autopilot/snapshot";

/// Exit status of `autopilot health` when the cluster answers unhealthy.
const UNHEALTHY: u8 = 2;

/// Where the node's API is, and the token for writes.
#[derive(Debug, Args)]
pub struct Target {
    /// The node's API address (what it was started with as `--http`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8500")]
    http: String,
    /// A file holding the API's write token (the node's `--http-token-file`); writes
    /// need it.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// How long to wait for an answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

impl Target {
    /// A client for this node's API, with the token if a file was given.
    pub fn client(&self) -> Result<ApiClient> {
        let token = match &self.token_file {
            Some(path) => Some(
                read_secret_file(path, "the API token file")
                    .map_err(|e| anyhow!(e))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(ApiClient::new(
            self.http.clone(),
            token,
            Duration::from_secs(self.timeout),
        ))
    }
}

/// `autopilot config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration (Consul's `AutopilotConfiguration` JSON).
    Get {
        #[command(flatten)]
        target: Target,
    },
    /// Change settings: `KEY=VALUE ...`, with Consul's names (`MinQuorum=5`,
    /// `LastContactThreshold=500ms`, `CleanupDeadServers=false`) and policy settings
    /// as `Ext.NAME=JSON` (`Ext.zone_tag=rack`). Replicated through Raft.
    Set {
        #[command(flatten)]
        target: Target,
        /// The settings to change.
        #[arg(value_name = "KEY=VALUE", required = true)]
        settings: Vec<String>,
        /// Apply only if the configuration's ModifyIndex is still N (see `config get`).
        #[arg(long, value_name = "N")]
        cas: Option<u64>,
    },
}

/// `autopilot policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The active policy and its history of swaps, refusals and rollbacks.
    Status {
        #[command(flatten)]
        target: Target,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Swap in a policy component: the leader loads, checks and dry-runs it first, and
    /// keeps the running policy if any step fails.
    Set {
        #[command(flatten)]
        target: Target,
        /// The component.
        file: PathBuf,
        /// Show what it would do with the latest round; swap nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Write a new policy project (a working policy, native tests, a README) to start
    /// from.
    New {
        /// The policy's language.
        #[arg(long, value_enum)]
        lang: crate::author::Lang,
        /// The policy's name (lowercase letters, digits, dashes).
        name: String,
        /// Where to write it (default `./NAME`); it must not exist.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Rust only: the `autopilot-sdk` crate's directory (default: the checkout this
        /// command was built from).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Build a policy project into a component with its language's toolchain
    /// (cargo, componentize-py or componentize-js, on their defaults) and check that
    /// the host loads it.
    Build {
        /// The project (default: the current directory).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The component to write (default `DIR/NAME.wasm`).
        #[arg(short, long, value_name = "FILE.wasm")]
        out: Option<PathBuf>,
        /// JavaScript only: which toolchain builds it (SpiderMonkey's componentize-js,
        /// about 12 MB, or QuickJS's componentize-qjs, about 1.8 MB).
        #[arg(long, value_enum, default_value = "spidermonkey")]
        js_engine: crate::author::JsEngine,
    },
}

/// The node and whether it answered for the leader, on standard error.
fn say_who(target: &ApiClient, response: &ApiResponse) {
    if let Some(leader) = &response.leader {
        eprintln!("(answered by {}, leader {leader})", target.address());
    }
}

/// The body of a 2xx answer as JSON, or the node's refusal as the error.
pub fn answer(response: &ApiResponse) -> Result<Value> {
    if !(200..300).contains(&response.status) {
        bail!(
            "the node refused ({}): {}",
            response.status,
            response.error_message()
        );
    }
    response
        .json()
        .with_context(|| format!("the answer is not JSON: {}", response.text()))
}

/// `autopilot state [--json]`.
pub async fn state(target: &Target, json: bool) -> Result<ExitCode> {
    let client = target.client()?;
    let response = client.get(STATE).await?;
    say_who(&client, &response);
    let state = answer(&response)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&state)?);
    } else {
        print!("{}", render_state(&state));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A table of rows under a header, columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, header.to_vec());
    for row in rows {
        line(&mut out, row.iter().map(String::as_str).collect());
    }
    out
}

/// `consul operator autopilot state`'s summary, then one row per server (the leader
/// first, then voters), each with its reason.
fn render_state(state: &Value) -> String {
    let mut out = String::new();
    let leader = text(&state["Leader"]);
    let voters: Vec<String> = state["Voters"]
        .as_array()
        .map(|v| v.iter().map(text).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Healthy:                      {}",
        text(&state["Healthy"])
    );
    let _ = writeln!(
        out,
        "Failure Tolerance:            {}",
        text(&state["FailureTolerance"])
    );
    let _ = writeln!(
        out,
        "Optimistic Failure Tolerance: {}",
        text(&state["OptimisticFailureTolerance"])
    );
    let _ = writeln!(out, "Leader:                       {leader}");
    let _ = writeln!(out, "Voters:                       {}", voters.join(" "));
    let active = &state["Policy"]["Active"];
    if active.is_object() {
        let _ = writeln!(
            out,
            "Policy:                       {} {} (since {})",
            text(&active["Name"]),
            text(&active["Version"]),
            text(&active["ActiveSince"])
        );
    }
    let _ = writeln!(out);
    let mut servers: Vec<&Value> = state["Servers"]
        .as_object()
        .map(|m| m.values().collect())
        .unwrap_or_default();
    let rank = |s: &Value| {
        let id = text(&s["ID"]);
        let voter = voters.iter().position(|v| *v == id);
        (id != leader, voter.is_none(), voter, id)
    };
    servers.sort_by_key(|s| rank(s));
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|s| {
            vec![
                text(&s["ID"]),
                text(&s["Name"]),
                text(&s["Address"]),
                text(&s["Status"]),
                text(&s["NodeType"]),
                if s["Healthy"] == true { "yes" } else { "no" }.to_owned(),
                text(&s["LastContact"]),
                text(&s["LastIndex"]),
                text(&s["Reason"]),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "ID",
            "Name",
            "Address",
            "Raft",
            "Node type",
            "Healthy",
            "Last contact",
            "Index",
            "Reason",
        ],
        &rows,
    ));
    out
}

/// `autopilot health [--json]`: exit 0 healthy, 2 unhealthy; unreachable is an error
/// (exit 1).
pub async fn health(target: &Target, json: bool) -> Result<ExitCode> {
    let client = target.client()?;
    let response = client.get(HEALTH).await?;
    say_who(&client, &response);
    if response.status != 200 && response.status != 429 {
        bail!(
            "the node cannot say ({}): {}",
            response.status,
            response.error_message()
        );
    }
    let health = response
        .json()
        .with_context(|| format!("the answer is not JSON: {}", response.text()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&health)?);
    } else {
        let healthy = health["Healthy"] == true;
        println!(
            "{}: failure tolerance {}",
            if healthy { "healthy" } else { "unhealthy" },
            text(&health["FailureTolerance"])
        );
        let unhealthy = health["Servers"].as_array().into_iter().flatten();
        for server in unhealthy.filter(|s| s["Healthy"] != true) {
            println!(
                "  {} ({}) is unhealthy: last contact {}, index {}",
                text(&server["ID"]),
                text(&server["Name"]),
                text(&server["LastContact"]),
                text(&server["LastIndex"])
            );
        }
    }
    Ok(if response.status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(UNHEALTHY)
    })
}

/// `autopilot config get|set`.
pub async fn config(command: &ConfigCommand) -> Result<ExitCode> {
    match command {
        ConfigCommand::Get { target } => {
            let client = target.client()?;
            let response = client.get(CONFIG).await?;
            println!("{}", serde_json::to_string_pretty(&answer(&response)?)?);
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set {
            target,
            settings,
            cas,
        } => {
            let client = target.client()?;
            let current = answer(&client.get(CONFIG).await?)?;
            let Value::Object(mut config) = current else {
                bail!("the configuration is not a JSON object: {current}");
            };
            config.remove("CreateIndex");
            config.remove("ModifyIndex");
            for setting in settings {
                apply_setting(&mut config, setting)?;
            }
            let path = match cas {
                Some(n) => format!("{CONFIG}?cas={n}"),
                None => CONFIG.to_owned(),
            };
            let body = serde_json::to_vec(&Value::Object(config))?;
            let response = client.put(&path, body, "application/json").await?;
            say_who(&client, &response);
            match answer(&response)? {
                Value::Bool(true) => {
                    eprintln!("applied");
                    Ok(ExitCode::SUCCESS)
                }
                Value::Bool(false) => bail!(
                    "not applied: the configuration's ModifyIndex is no longer {}",
                    cas.unwrap_or_default()
                ),
                other => bail!("unexpected answer: {other}"),
            }
        }
    }
}

/// The settings `config set` knows, with Consul's names.
const SETTINGS: [&str; 5] = [
    "CleanupDeadServers",
    "LastContactThreshold",
    "MaxTrailingLogs",
    "MinQuorum",
    "ServerStabilizationTime",
];

/// Applies one `KEY=VALUE` to the configuration object. Keys match Consul's names
/// ignoring case; `Ext.NAME` sets a policy setting (the value as JSON, else a string).
fn apply_setting(config: &mut Map<String, Value>, setting: &str) -> Result<()> {
    let (key, value) = setting
        .split_once('=')
        .ok_or_else(|| anyhow!("{setting:?}: expected KEY=VALUE"))?;
    if let Some(name) = key
        .strip_prefix("Ext.")
        .or_else(|| key.strip_prefix("ext."))
    {
        if name.is_empty() {
            bail!("{setting:?}: Ext.NAME needs a name");
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        let ext = config
            .entry("Ext")
            .or_insert_with(|| Value::Object(Map::new()));
        if !ext.is_object() {
            *ext = Value::Object(Map::new());
        }
        if let Value::Object(ext) = ext {
            ext.insert(name.to_owned(), value);
        }
        return Ok(());
    }
    let Some(name) = SETTINGS.iter().find(|s| s.eq_ignore_ascii_case(key)) else {
        bail!(
            "{key:?} is not a setting; the settings are {} and Ext.NAME",
            SETTINGS.join(", ")
        );
    };
    let parsed = match *name {
        "CleanupDeadServers" => Value::Bool(
            value
                .parse()
                .map_err(|_| anyhow!("{name}: {value:?} is not true or false"))?,
        ),
        "MaxTrailingLogs" | "MinQuorum" => Value::from(
            value
                .parse::<u64>()
                .map_err(|_| anyhow!("{name}: {value:?} is not a whole number"))?,
        ),
        // Durations as Go spells them; the node checks them and names the field.
        _ => Value::String(value.to_owned()),
    };
    config.insert((*name).to_owned(), parsed);
    Ok(())
}

/// `autopilot policy status|set`.
pub async fn policy(command: &PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::Status { target, json } => {
            let client = target.client()?;
            let response = client.get(POLICY).await?;
            say_who(&client, &response);
            let status = answer(&response)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", render_policy(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Set {
            target,
            file,
            dry_run,
            json,
        } => {
            let client = target.client()?;
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let path = if *dry_run {
                format!("{POLICY}?dry-run")
            } else {
                POLICY.to_owned()
            };
            let response = client.put(&path, bytes, "application/wasm").await?;
            say_who(&client, &response);
            let body = answer(&response)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else if *dry_run {
                print!("{}", render_preview(&body));
            } else {
                println!(
                    "active: {} {} (sha256 {})",
                    text(&body["Name"]),
                    text(&body["Version"]),
                    text(&body["Digest"])
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        // Local commands, run by `main` without a runtime.
        PolicyCommand::New { .. } | PolicyCommand::Build { .. } => {
            anyhow::bail!("`policy new` and `policy build` talk to no node")
        }
    }
}

fn render_policy(status: &Value) -> String {
    let mut out = String::new();
    let active = &status["Active"];
    let _ = writeln!(
        out,
        "Active: {} {} since {}",
        text(&active["Name"]),
        text(&active["Version"]),
        text(&active["ActiveSince"])
    );
    if active["Digest"].is_string() {
        let _ = writeln!(out, "Digest: sha256 {}", text(&active["Digest"]));
    }
    for loading in status["Loading"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "Loading: {} since {}",
            text(&loading["Source"]),
            text(&loading["Since"])
        );
    }
    let rows: Vec<Vec<String>> = status["History"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let detail = match e["Kind"].as_str() {
                Some("Swapped") => text(&e["To"]),
                Some("Refused") => format!("{}: {}", text(&e["Source"]), text(&e["Reason"])),
                _ => format!(
                    "{} -> {}: {}",
                    text(&e["From"]),
                    text(&e["To"]),
                    text(&e["Reason"])
                ),
            };
            vec![text(&e["At"]), text(&e["Kind"]), detail]
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out);
        out.push_str(&table(&["At", "Event", "Detail"], &rows));
    }
    out
}

fn render_preview(plan: &Value) -> String {
    let mut out = String::from("On the latest round, the candidate would:\n");
    let actions = plan["Actions"].as_array().cloned().unwrap_or_default();
    if actions.is_empty() {
        out.push_str("  do nothing\n");
    }
    for (n, action) in actions.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} {}",
            n + 1,
            text(&action["Op"]),
            text(&action["ID"])
        );
    }
    if let Some(reasons) = plan["Reasons"].as_object().filter(|r| !r.is_empty()) {
        out.push_str("Reasons:\n");
        for (id, reason) in reasons {
            let _ = writeln!(out, "  {id}: {}", text(reason));
        }
    }
    for fault in plan["Faults"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "fault (the stable policy decided instead): {}",
            text(fault)
        );
    }
    for error in plan["Errors"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "error: {}", text(error));
    }
    out
}

/// `autopilot record`: the leader's latest round as a plan snapshot, on standard
/// output (`autopilot record > snap.json`, then `autopilot plan --inputs snap.json`).
pub async fn record(target: &Target) -> Result<ExitCode> {
    let client = target.client()?;
    let response = client.get(SNAPSHOT).await?;
    say_who(&client, &response);
    let snapshot = answer(&response)?;
    println!("{}", serde_json::to_string_pretty(&snapshot)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::apply_setting;
    use serde_json::{Map, Value, json};

    #[test]
    fn settings_are_parsed_by_their_type() {
        let mut config = Map::new();
        for setting in [
            "minquorum=5",
            "CleanupDeadServers=false",
            "LastContactThreshold=500ms",
            "Ext.zone_tag=rack",
            "Ext.upgrade={\"version\":\"1.2\"}",
        ] {
            apply_setting(&mut config, setting).expect(setting);
        }
        assert_eq!(
            Value::Object(config),
            json!({"MinQuorum": 5, "CleanupDeadServers": false,
                   "LastContactThreshold": "500ms",
                   "Ext": {"zone_tag": "rack", "upgrade": {"version": "1.2"}}})
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_name() {
        let mut config = Map::new();
        for (setting, says) in [
            ("MinQuorum", "KEY=VALUE"),
            ("Quorum=3", "is not a setting"),
            ("MinQuorum=three", "MinQuorum"),
            ("CleanupDeadServers=yes", "true or false"),
            ("Ext.=1", "needs a name"),
        ] {
            let error = apply_setting(&mut config, setting)
                .expect_err(setting)
                .to_string();
            assert!(error.contains(says), "{setting}: {error}");
        }
        assert!(config.is_empty(), "nothing half-applied");
    }
}
