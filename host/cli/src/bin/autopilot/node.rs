//! `autopilot node`: run one node of the demo service by hand.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use autopilot_cli::link::{ClusterKey, Link, read_secret_file};
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

/// `autopilot node`'s arguments.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The node's id (a number).
    #[arg(long)]
    pub id: u64,
    /// Where to listen, e.g. 127.0.0.1:7001.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Start a new cluster with these members, e.g. 1=127.0.0.1:7001,2=...
    #[arg(long, value_name = "ID=ADDR,...")]
    pub bootstrap: Option<String>,
    /// Join an existing cluster through this member's address.
    #[arg(long, value_name = "ADDR")]
    pub join: Option<String>,
    /// The policy component to run when this node leads and none is recorded.
    #[arg(long, value_name = "FILE.wasm")]
    pub policy: Option<PathBuf>,
    /// The software version this node reports (for upgrade policies).
    #[arg(long, value_name = "SEMVER")]
    pub software_version: Option<String>,
    /// The cluster's shared key (made by `autopilot keygen`; 0600): every
    /// connection to and from this node must prove it holds the same key.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure_dev")]
    pub cluster_key_file: Option<PathBuf>,
    /// Run without a cluster key: anyone who reaches the port can join, write and
    /// swap the policy. For development on a private network only.
    #[arg(long, conflicts_with = "cluster_key_file")]
    pub insecure_dev: bool,
    /// Serve the operator's HTTP API here (Consul's autopilot health and state
    /// endpoints, Prometheus metrics), e.g. 127.0.0.1:8500.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// The bearer token (a file, 0600) the HTTP API's writes require; without it
    /// they are refused.
    #[arg(long, value_name = "FILE", requires = "http")]
    pub http_token_file: Option<PathBuf>,
    /// Keep the Raft log, vote and snapshots in DIR (created if missing), so the node
    /// restarts with its data, killed or not. Without it everything is in memory and
    /// a restarted node is a new, empty server. A directory holding another node's
    /// data, or anything else, is refused (never wiped).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs a node until Ctrl-C.
pub async fn run(args: NodeArgs) -> Result<()> {
    let NodeArgs {
        id,
        listen,
        bootstrap,
        join,
        policy,
        software_version,
        cluster_key_file,
        insecure_dev: _,
        http,
        http_token_file,
        data_dir,
    } = args;
    // clap requires one of the two; no key file means --insecure-dev.
    let link = match cluster_key_file {
        Some(path) => Link::Keyed(ClusterKey::from_file(&path).map_err(anyhow::Error::msg)?),
        None => Link::Insecure,
    };
    if matches!(link, Link::Insecure) {
        eprintln!(
            "warning: --insecure-dev: anyone who reaches {listen} can join, write and swap the policy"
        );
    }
    let mut options = NodeOptions::new(id, listen, link);
    options.http = http;
    options.data_dir = data_dir;
    if let Some(path) = http_token_file {
        options.http_token =
            Some(read_secret_file(&path, "HTTP token file").map_err(anyhow::Error::msg)?);
    }
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
    if let Some(api) = node.http_address() {
        eprintln!("node {id} serves its HTTP API on http://{api}/v1/operator/autopilot/health");
    }
    tokio::signal::ctrl_c().await?;
    node.shutdown().await;
    Ok(())
}

fn bootstrap_and_join(options: &NodeOptions, join: Option<&str>) -> bool {
    !options.bootstrap.is_empty() && join.is_some()
}
