//! `autopilot node`: run one node of the demo service by hand.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use autopilot_cli::link::Link;
use autopilot_cli::{DemoNode, NodeId, NodeOptions};

/// Parses `1=127.0.0.1:7001,2=127.0.0.1:7002`.
pub fn parse_members(text: &str) -> Result<Vec<(NodeId, String)>> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (id, address) = part
                .split_once('=')
                .with_context(|| format!("member {part:?} is not ID=ADDRESS"))?;
            let id: NodeId = id
                .trim()
                .parse()
                .with_context(|| format!("member id {id:?} is not a number"))?;
            Ok((id, address.trim().to_owned()))
        })
        .collect()
}

/// Runs a node until Ctrl-C.
pub async fn run(
    id: NodeId,
    listen: SocketAddr,
    bootstrap: Option<String>,
    join: Option<String>,
    policy: Option<PathBuf>,
    software_version: Option<String>,
    link: Link,
) -> Result<()> {
    if matches!(link, Link::Insecure) {
        eprintln!(
            "warning: --insecure-dev: anyone who reaches {listen} can join, write and swap the policy"
        );
    }
    let mut options = NodeOptions::new(id, listen, link);
    if let Some(version) = software_version {
        options.version = version;
    }
    if let Some(members) = bootstrap {
        options.bootstrap = parse_members(&members)?;
        if !options.bootstrap.iter().any(|(m, _)| *m == id) {
            bail!("--bootstrap must list this node ({id}) among the members");
        }
    }
    if bootstrap_and_join(&options, join.as_deref()) {
        bail!("give either --bootstrap (a new cluster) or --join (an existing one), not both");
    }
    options.join = join;
    if let Some(path) = policy {
        options.policy = Some(
            std::fs::read(&path)
                .with_context(|| format!("cannot read the policy {}", path.display()))?,
        );
    }
    let node = DemoNode::start(options).await?;
    eprintln!("node {id} listening on {}", node.address());
    tokio::signal::ctrl_c().await?;
    node.shutdown().await;
    Ok(())
}

fn bootstrap_and_join(options: &NodeOptions, join: Option<&str>) -> bool {
    !options.bootstrap.is_empty() && join.is_some()
}
