//! `autopilot kv get|put|delete`: the demo service's key-value store through a node's
//! HTTP API (`/v1/kv/<key>`, Consul's shape).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use autopilot_cli::client::{ApiClient, ApiResponse};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Subcommand;
use hyper::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::operator::{Target, answer};

/// `autopilot kv ...`.
#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Print a key's value (its bytes as stored, then a newline). With `--recurse`,
    /// every key starting with KEY as `KEY:VALUE` lines. Exits 1 when no key matches.
    Get {
        #[command(flatten)]
        target: Target,
        /// The key (with `--recurse`, a prefix; may be empty).
        key: String,
        /// Every key starting with KEY.
        #[arg(long)]
        recurse: bool,
        /// Answer from the node's own state, even without a leader (may be behind).
        #[arg(long)]
        stale: bool,
        /// Print the entries as the API gives them (JSON, with their indexes).
        #[arg(long)]
        detailed: bool,
    },
    /// Set a key. VALUE as given; `-` reads standard input; `@FILE` reads FILE.
    Put {
        #[command(flatten)]
        target: Target,
        /// The key.
        key: String,
        /// The value (`-`: standard input, `@FILE`: a file's bytes).
        value: String,
        /// Only if the key's ModifyIndex is still N (0: only if the key is absent).
        #[arg(long, value_name = "N")]
        cas: Option<u64>,
    },
    /// Delete a key (deleting an absent key succeeds).
    Delete {
        #[command(flatten)]
        target: Target,
        /// The key (with `--recurse`, a prefix).
        key: String,
        /// Only if the key's ModifyIndex is still N.
        #[arg(long, value_name = "N", conflicts_with = "recurse")]
        cas: Option<u64>,
        /// Every key starting with KEY.
        #[arg(long)]
        recurse: bool,
    },
}

/// What a key may hold in a path unescaped: letters, digits, `/` and the unreserved
/// marks; everything else is percent-encoded.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn path(key: &str, query: &[String]) -> String {
    let mut path = format!("/v1/kv/{}", utf8_percent_encode(key, KEY));
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// `autopilot kv get|put|delete`.
pub async fn kv(command: &KvCommand) -> Result<ExitCode> {
    match command {
        KvCommand::Get {
            target,
            key,
            recurse,
            stale,
            detailed,
        } => {
            let client = target.client()?;
            let query: Vec<String> = [(*recurse, "recurse"), (*stale, "stale")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| (*name).to_owned())
                .collect();
            let response = client.get(&path(key, &query)).await?;
            if response.status == 404 {
                bail!(
                    "no key {key:?}{}",
                    if *recurse { " or under it" } else { "" }
                );
            }
            let entries = answer(&response)?;
            let Value::Array(entries) = entries else {
                bail!("unexpected answer: {entries}");
            };
            let mut out = std::io::stdout().lock();
            if *detailed {
                writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            for entry in &entries {
                let value = match entry["Value"].as_str() {
                    Some(text) => STANDARD
                        .decode(text)
                        .context("the answer's Value is not base64")?,
                    None => Vec::new(),
                };
                if *recurse {
                    let name = entry["Key"].as_str().unwrap_or_default();
                    write!(out, "{name}:")?;
                }
                out.write_all(&value)?;
                writeln!(out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        KvCommand::Put {
            target,
            key,
            value,
            cas,
        } => {
            let body = read_value(value)?;
            let client = target.client()?;
            let query: Vec<String> = cas.iter().map(|n| format!("cas={n}")).collect();
            let response = client
                .request(
                    Method::PUT,
                    &path(key, &query),
                    body,
                    Some("application/octet-stream"),
                )
                .await?;
            applied(&client, &response, *cas, "written")
        }
        KvCommand::Delete {
            target,
            key,
            cas,
            recurse,
        } => {
            let client = target.client()?;
            let mut query: Vec<String> = cas.iter().map(|n| format!("cas={n}")).collect();
            if *recurse {
                query.push("recurse".to_owned());
            }
            let response = client
                .request(Method::DELETE, &path(key, &query), Vec::new(), None)
                .await?;
            applied(&client, &response, *cas, "deleted")
        }
    }
}

/// The value to write: the argument, standard input (`-`) or a file (`@FILE`).
fn read_value(value: &str) -> Result<Vec<u8>> {
    if value == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading the value from standard input")?;
        return Ok(bytes);
    }
    if let Some(file) = value.strip_prefix('@') {
        let file = PathBuf::from(file);
        return std::fs::read(&file).with_context(|| format!("reading {}", file.display()));
    }
    Ok(value.as_bytes().to_vec())
}

/// `true`: done (say so on stderr); `false`: the check-and-set did not match.
fn applied(
    client: &ApiClient,
    response: &ApiResponse,
    cas: Option<u64>,
    done: &str,
) -> Result<ExitCode> {
    match answer(response)? {
        Value::Bool(true) => {
            if let Some(leader) = &response.leader {
                eprintln!("{done} (through {}, leader {leader})", client.address());
            } else {
                eprintln!("{done}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Value::Bool(false) => Err(anyhow!(
            "not {done}: the key's ModifyIndex is not {}{}",
            cas.unwrap_or_default(),
            if cas == Some(0) {
                " (0: only if absent, or never for a delete)"
            } else {
                ""
            }
        )),
        other => bail!("unexpected answer: {other}"),
    }
}
