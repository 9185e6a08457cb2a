//! The `autopilot` command: `autopilot plan` replays a cluster snapshot and prints what
//! autopilot would do.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use autopilot::core::StablePromoter;
use autopilot::plan::{parse_snapshot, plan_round, render_table};

/// Autopilot for Raft clusters.
#[derive(Debug, Parser)]
#[command(name = "autopilot", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autopilot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan {
            inputs,
            promoter,
            json,
        } => plan(&inputs, promoter.as_deref(), json),
    }
}

fn plan(inputs: &std::path::Path, promoter: Option<&std::path::Path>, json: bool) -> Result<()> {
    if let Some(path) = promoter {
        anyhow::bail!(
            "unusable promoter {}: loading promoter components is not available in this build yet; \
             omit --promoter to use the built-in stable policy",
            path.display()
        );
    }
    let text = read_input(inputs)?;
    let snapshot = parse_snapshot(&text)?;
    let plan = plan_round(&snapshot, &StablePromoter);
    if json {
        let out = serde_json::to_string_pretty(&plan).context("cannot encode the plan as JSON")?;
        println!("{out}");
    } else {
        print!("{}", render_table(&plan));
    }
    Ok(())
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
