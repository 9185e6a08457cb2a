//! The `autopilot` command: `autopilot plan` replays a cluster snapshot and prints what
//! autopilot would do.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod author;
mod demo;
mod kv;
mod node;
mod operator;

use autopilot::StablePolicy;
use autopilot::plan::{parse_snapshot, plan_round, render_table};
use autopilot::{ArtifactCache, PluginError, PluginHost, PluginHostConfig};
use autopilot_cli::link::ClusterKey;

/// Autopilot for Raft clusters.
#[derive(Debug, Parser)]
#[command(name = "autopilot", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A live demo: autopilot managing a real openraft cluster of node processes on
    /// loopback, with a client writing throughout (under a minute).
    Demo,
    /// Run one node of the demo service (a replicated key-value store on openraft with
    /// autopilot on the leader).
    Node(node::NodeArgs),
    /// Write a new random cluster key to FILE (created 0600; it must not exist).
    Keygen {
        /// Where to write it.
        file: PathBuf,
    },
    /// Show what autopilot would do with a cluster snapshot, touching nothing.
    Plan {
        /// The snapshot (the reference's JSON layout); `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        inputs: PathBuf,
        /// A promoter component (.wasm); without it, the built-in stable policy.
        #[arg(long, value_name = "FILE.wasm")]
        promoter: Option<PathBuf>,
        /// Print JSON for machines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Autopilot's state from a running node's API: health, failure tolerance, the
    /// policy and each server with its reason.
    State {
        #[command(flatten)]
        target: operator::Target,
        /// Print the JSON answer (Consul's `AutopilotState`, with reasons).
        #[arg(long)]
        json: bool,
    },
    /// Whether the cluster is healthy: exit 0 healthy, 2 unhealthy, 1 unreachable.
    Health {
        #[command(flatten)]
        target: operator::Target,
        /// Print the JSON answer (Consul's `OperatorHealthReply`).
        #[arg(long)]
        json: bool,
    },
    /// Read or change autopilot's configuration (replicated through Raft).
    #[command(subcommand)]
    Config(operator::ConfigCommand),
    /// Inspect, preview or swap the placement policy; write and build new ones.
    #[command(subcommand)]
    Policy(operator::PolicyCommand),
    /// Read, write and delete keys of the demo service's replicated key-value store
    /// (Consul's KV shape: linearizable reads, check-and-set writes).
    #[command(subcommand)]
    Kv(kv::KvCommand),
    /// Print the leader's latest round as a snapshot for `autopilot plan --inputs`.
    Record {
        #[command(flatten)]
        target: operator::Target,
    },
}

fn main() -> ExitCode {
    // Logs (including what policies print) go to stderr when RUST_LOG asks for them;
    // by default the command's own output stays clean.
    // A node logs warnings (refused peers, policy faults) even without RUST_LOG.
    let cli = Cli::parse();
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) => Some(filter),
        Err(_) if matches!(cli.command, Command::Node(_)) => Some("warn".to_owned()),
        Err(_) => None,
    };
    if let Some(filter) = filter {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("autopilot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let done = |result: Result<()>| result.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Demo => done(runtime()?.block_on(demo::run(demo::current_exe()?))),
        Command::Node(args) => done(runtime()?.block_on(node::run(args))),
        Command::Keygen { file } => {
            ClusterKey::generate()?
                .write_new(&file)
                .with_context(|| format!("cannot write the key to {}", file.display()))?;
            eprintln!("wrote a new cluster key to {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            inputs,
            promoter,
            json,
        } => done(plan(&inputs, promoter.as_deref(), json)),
        Command::State { target, json } => {
            client_runtime()?.block_on(operator::state(&target, json))
        }
        Command::Health { target, json } => {
            client_runtime()?.block_on(operator::health(&target, json))
        }
        Command::Config(command) => client_runtime()?.block_on(operator::config(&command)),
        Command::Policy(operator::PolicyCommand::New {
            lang,
            name,
            dir,
            sdk,
        }) => done(author::new(lang, &name, dir.as_deref(), sdk.as_deref())),
        Command::Policy(operator::PolicyCommand::Build {
            dir,
            out,
            js_engine,
        }) => done(author::build(&dir, out.as_deref(), js_engine)),
        Command::Policy(command) => client_runtime()?.block_on(operator::policy(&command)),
        Command::Kv(command) => client_runtime()?.block_on(kv::kv(&command)),
        Command::Record { target } => client_runtime()?.block_on(operator::record(&target)),
    }
}

fn plan(inputs: &std::path::Path, promoter: Option<&std::path::Path>, json: bool) -> Result<()> {
    let text = read_input(inputs)?;
    let snapshot = parse_snapshot(&text)?;
    let plan = match promoter {
        None => plan_round(&snapshot, &StablePolicy),
        Some(path) => {
            let unusable = |e: &dyn std::fmt::Display| {
                anyhow::anyhow!("unusable promoter {}: {e}", path.display())
            };
            let host = PluginHost::new(PluginHostConfig {
                cache: ArtifactCache::default_location(),
                ..PluginHostConfig::default()
            })
            .map_err(|e: PluginError| unusable(&e))?;
            let policy = host.load_file(path).map_err(|e| unusable(&e))?;
            let plan = plan_round(&snapshot, &policy);
            // A dry run must show the policy's own decisions: a fallback would hide
            // exactly what the operator wants to see.
            if let Some(fault) = plan.faults.first() {
                return Err(unusable(fault));
            }
            plan
        }
    };
    if json {
        let out = serde_json::to_string_pretty(&plan).context("cannot encode the plan as JSON")?;
        println!("{out}");
    } else {
        print!("{}", render_table(&plan));
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A small runtime for one request at a time.
fn client_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn read_input(path: &std::path::Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the snapshot from standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the snapshot {}", path.display()))
}
