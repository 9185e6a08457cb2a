//! The demo service's key-value store from outside, on real openraft nodes: Consul's
//! KV shape over HTTP (`/v1/kv/<key>`: check-and-set, indexes, prefixes, raw values,
//! the write token, linearizable reads through followers, `?stale` without a leader)
//! and `autopilot kv get|put|delete`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use autopilot_cli::DemoNode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

#[path = "support/cluster.rs"]
mod cluster;
use cluster::*;

async fn put(node: &DemoNode, path: &str, body: &[u8]) -> (u16, String) {
    let (status, _, answer) = request(&api(node), "PUT", path, Some(TOKEN), body).await;
    (status, answer)
}

/// The status of a PUT of `length` bytes (a write failing once the node has
/// answered is no failure: it may answer before it has read everything).
async fn sized_put(node: &DemoNode, path: &str, length: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = api(node);
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect to the API");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    let sender = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let _ = write.write_all(&vec![b'x'; length]).await;
        write
    });
    let mut raw = Vec::new();
    let _ = read.read_to_end(&mut raw).await;
    drop(sender.await);
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {text}"))
}

async fn delete(node: &DemoNode, path: &str) -> (u16, String) {
    let (status, _, answer) = request(&api(node), "DELETE", path, Some(TOKEN), b"").await;
    (status, answer)
}

/// The one entry at `path` (asserting there is exactly one), and `X-Consul-Index`.
async fn entry(node: &DemoNode, path: &str) -> (Value, u64) {
    let (status, headers, body) = get_json(&api(node), path).await;
    assert_eq!(status, 200, "{path}: {body}");
    let entries = body.as_array().expect("an array");
    assert_eq!(entries.len(), 1, "{body}");
    let index = headers["x-consul-index"].parse().expect("an index");
    (entries[0].clone(), index)
}

fn value_of(entry: &Value) -> Vec<u8> {
    STANDARD
        .decode(entry["Value"].as_str().expect("a value"))
        .expect("base64")
}

fn index(entry: &Value, name: &str) -> u64 {
    entry[name].as_u64().expect("an index")
}

async fn three_nodes() -> (BTreeMap<u64, DemoNode>, DemoNode) {
    let ports: Vec<SocketAddr> = (0..3).map(|_| free_port()).collect();
    bootstrap_three(&ports, "1.0.0").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_api_has_consuls_shape_with_check_and_set_and_linearizable_reads() {
    let (nodes, leader) = three_nodes().await;
    let followers: Vec<DemoNode> = nodes
        .values()
        .filter(|n| n.id() != leader.id())
        .cloned()
        .collect();
    let (a, b) = (&followers[0], &followers[1]);

    // Writes need the token, on any node.
    let (status, _, _) = request(&api(a), "PUT", "/v1/kv/greeting", None, b"hi").await;
    assert_eq!(status, 401);
    let (status, _, _) = request(&api(a), "PUT", "/v1/kv/greeting", Some("wrong"), b"hi").await;
    assert_eq!(status, 401);

    // A write through one follower is read at once through the other: reads go to
    // the leader, which confirms it leads before it reads.
    let (status, headers, answer) =
        request(&api(a), "PUT", "/v1/kv/greeting", Some(TOKEN), b"hello").await;
    assert_eq!((status, answer.as_str()), (200, "true"));
    assert_eq!(
        headers["x-autopilot-leader"],
        leader.id().to_string(),
        "the write went to the leader"
    );
    let (first, header_index) = entry(b, "/v1/kv/greeting").await;
    assert_eq!(first["Key"], "greeting");
    assert_eq!(value_of(&first), b"hello");
    let created = index(&first, "CreateIndex");
    assert_eq!(index(&first, "ModifyIndex"), created);
    assert_eq!(header_index, created);
    assert_eq!(
        (first["LockIndex"].as_u64(), first["Flags"].as_u64()),
        (Some(0), Some(0))
    );

    // ?raw: the bytes alone.
    let (status, _, raw) = get(&api(b), "/v1/kv/greeting?raw").await;
    assert_eq!((status, raw.as_str()), (200, "hello"));

    // Check-and-set: a stale index and "only if absent" are refused, the current
    // index is taken; the create index stays, the modify index moves on.
    assert_eq!(
        put(a, "/v1/kv/greeting?cas=0", b"no").await,
        (200, "false".into())
    );
    let stale = created + 1000;
    assert_eq!(
        put(a, &format!("/v1/kv/greeting?cas={stale}"), b"no").await,
        (200, "false".into())
    );
    assert_eq!(value_of(&entry(b, "/v1/kv/greeting").await.0), b"hello");
    assert_eq!(
        put(b, &format!("/v1/kv/greeting?cas={created}"), b"bonjour").await,
        (200, "true".into())
    );
    let (second, _) = entry(a, "/v1/kv/greeting").await;
    assert_eq!(value_of(&second), b"bonjour");
    assert_eq!(index(&second, "CreateIndex"), created);
    let modified = index(&second, "ModifyIndex");
    assert!(modified > created, "{second}");
    // The old index no longer matches.
    assert_eq!(
        put(a, &format!("/v1/kv/greeting?cas={created}"), b"no").await,
        (200, "false".into())
    );
    assert_eq!(
        put(a, "/v1/kv/fresh?cas=0", b"new").await,
        (200, "true".into())
    );

    // Any bytes round-trip.
    let binary: Vec<u8> = (0..=255).collect();
    assert_eq!(put(&leader, "/v1/kv/bin/all", &binary).await.0, 200);
    assert_eq!(value_of(&entry(a, "/v1/kv/bin/all").await.0), binary);

    // Keys with characters a path must escape.
    assert_eq!(put(a, "/v1/kv/with%20space%3F", b"odd").await.0, 200);
    let (odd, _) = entry(b, "/v1/kv/with%20space%3F").await;
    assert_eq!(odd["Key"], "with space?");

    // Prefixes: ?recurse lists in key order; a recursive delete takes them all.
    for key in ["dir/b", "dir/a", "dirt"] {
        assert_eq!(
            put(a, &format!("/v1/kv/{key}"), key.as_bytes()).await.0,
            200
        );
    }
    let (status, _, listed) = get_json(&api(b), "/v1/kv/dir/?recurse").await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|e| e["Key"].as_str())
        .collect();
    assert_eq!(keys, ["dir/a", "dir/b"]);
    let (_, _, everything) = get_json(&api(b), "/v1/kv/?recurse").await;
    assert_eq!(everything.as_array().map(Vec::len), Some(7), "{everything}");
    assert_eq!(delete(a, "/v1/kv/dir/?recurse").await, (200, "true".into()));
    assert_eq!(get(&api(b), "/v1/kv/dir/?recurse").await.0, 404);
    assert_eq!(entry(b, "/v1/kv/dirt").await.0["Key"], "dirt");

    // Deletes: cas 0 never matches, a stale index is refused, the current one taken;
    // a missing key answers 404 with an index.
    assert_eq!(
        delete(a, "/v1/kv/greeting?cas=0").await,
        (200, "false".into())
    );
    assert_eq!(
        delete(a, &format!("/v1/kv/greeting?cas={created}")).await,
        (200, "false".into())
    );
    assert_eq!(
        delete(a, &format!("/v1/kv/greeting?cas={modified}")).await,
        (200, "true".into())
    );
    let (status, headers, body) = get(&api(b), "/v1/kv/greeting").await;
    assert_eq!((status, body.as_str()), (404, ""));
    assert!(headers["x-consul-index"].parse::<u64>().expect("an index") > modified);
    // Deleting an absent key succeeds, as in Consul.
    assert_eq!(delete(a, "/v1/kv/greeting").await, (200, "true".into()));

    // Bad requests say what is wrong.
    for (method, path) in [
        ("PUT", "/v1/kv/"),
        ("PUT", "/v1/kv/x?cas=seven"),
        ("DELETE", "/v1/kv/x?cas=1&recurse"),
        ("GET", "/v1/kv/"),
    ] {
        let (status, _, body) = request(&api(a), method, path, Some(TOKEN), b"v").await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(body.contains("\"Error\""), "{method} {path}: {body}");
    }
    assert_eq!(sized_put(a, "/v1/kv/big", (512 << 10) + 1).await, 413);
    assert_eq!(sized_put(a, "/v1/kv/big", 512 << 10).await, 200);

    for node in nodes.values() {
        node.shutdown().await;
    }
}

/// Without a leader a default read is refused (it cannot be linearizable); `?stale`
/// answers from what the node has applied, saying no leader is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_answers_without_a_leader_and_a_default_read_does_not() {
    let (mut nodes, leader) = three_nodes().await;
    assert_eq!(put(&leader, "/v1/kv/k", b"v").await, (200, "true".into()));
    let survivor = a_follower(&nodes, &leader);
    wait_for(
        "the write applied on a follower",
        Duration::from_secs(10),
        async || {
            let (status, _, _) = get(&api(&survivor), "/v1/kv/k?stale").await;
            (status == 200).then_some(())
        },
    )
    .await;
    let (status, headers, body) = get(&api(&survivor), "/v1/kv/k?stale&raw").await;
    assert_eq!((status, body.as_str()), (200, "v"));
    assert_eq!(headers["x-consul-knownleader"], "true");

    for id in nodes.keys().copied().collect::<Vec<_>>() {
        if id != survivor.id() {
            nodes.remove(&id).expect("a node").shutdown().await;
        }
    }
    // Once the survivor gives up on the old leader, no read can be linearizable.
    wait_for(
        "the survivor to lose its leader",
        Duration::from_secs(20),
        async || survivor.current_leader().is_none().then_some(()),
    )
    .await;
    let (status, _, refused) = get(&api(&survivor), "/v1/kv/k").await;
    assert_eq!(status, 503, "{refused}");
    assert!(refused.contains("\"Error\""), "{refused}");
    let (status, headers, body) = get(&api(&survivor), "/v1/kv/k?stale&raw").await;
    assert_eq!((status, body.as_str()), (200, "v"));
    assert_eq!(headers["x-consul-knownleader"], "false");
    survivor.shutdown().await;
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autopilot-kv-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Runs the `autopilot` binary with `args`, `stdin` as its input (off the executor).
async fn autopilot(args: Vec<String>, stdin: &[u8]) -> Output {
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_autopilot"))
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        child
            .stdin
            .take()
            .expect("its input")
            .write_all(&stdin)
            .expect("input written");
        child.wait_with_output().expect("it ends")
    })
    .await
    .expect("the command's thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_commands_write_read_and_delete_through_any_node() {
    let (nodes, leader) = three_nodes().await;
    let follower = a_follower(&nodes, &leader);
    let dir = scratch_dir("commands");
    let token_file = dir.join("token");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&token_file)
            .expect("a private token file");
        file.write_all(TOKEN.as_bytes()).expect("token written");
    }
    let value_file = dir.join("value");
    std::fs::write(&value_file, b"from a file\n").expect("value written");
    let http = api(&follower);
    let run = async |words: &[&str], stdin: &[u8]| {
        let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        args.extend(["--http".to_owned(), http.clone()]);
        if matches!(words.get(1), Some(&"put" | &"delete")) {
            args.extend(["--token-file".to_owned(), token_file.display().to_string()]);
        }
        let out = autopilot(args, stdin).await;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };

    let (code, _, err) = run(&["kv", "put", "app/name", "demo"], b"").await;
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("written"), "{err}");
    assert_eq!(run(&["kv", "get", "app/name"], b"").await.1, "demo\n");

    // From standard input and from a file.
    assert_eq!(
        run(&["kv", "put", "app/stdin", "-"], b"piped").await.0,
        Some(0)
    );
    assert_eq!(run(&["kv", "get", "app/stdin"], b"").await.1, "piped\n");
    let file_arg = format!("@{}", value_file.display());
    assert_eq!(
        run(&["kv", "put", "app/file", &file_arg], b"").await.0,
        Some(0)
    );
    assert_eq!(
        run(&["kv", "get", "app/file"], b"").await.1,
        "from a file\n\n"
    );

    // Check-and-set with the index --detailed shows.
    let (_, detailed, _) = run(&["kv", "get", "app/name", "--detailed"], b"").await;
    let detailed: Value = serde_json::from_str(&detailed).expect("JSON");
    let modify = detailed[0]["ModifyIndex"].as_u64().expect("an index");
    let stale = (modify + 100).to_string();
    let (code, _, err) = run(&["kv", "put", "app/name", "x", "--cas", &stale], b"").await;
    assert_eq!(code, Some(1));
    assert!(err.contains("not written"), "{err}");
    let current = modify.to_string();
    assert_eq!(
        run(
            &["kv", "put", "app/name", "renamed", "--cas", &current],
            b""
        )
        .await
        .0,
        Some(0)
    );
    assert_eq!(
        run(&["kv", "get", "app/name", "--stale"], b"").await.0,
        Some(0)
    );

    // A prefix, listed and deleted.
    let (_, listed, _) = run(&["kv", "get", "app/", "--recurse"], b"").await;
    assert_eq!(
        listed,
        "app/file:from a file\n\napp/name:renamed\napp/stdin:piped\n"
    );
    let (code, _, err) = run(&["kv", "delete", "app/stdin"], b"").await;
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["kv", "get", "app/stdin"], b"").await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no key \"app/stdin\""), "{err}");
    assert_eq!(
        run(&["kv", "delete", "app/", "--recurse"], b"").await.0,
        Some(0)
    );
    assert_eq!(
        run(&["kv", "get", "app/", "--recurse"], b"").await.0,
        Some(1)
    );

    // Without the token file, a write is refused with the node's reason.
    let out = autopilot(
        vec![
            "kv".into(),
            "put".into(),
            "k".into(),
            "v".into(),
            "--http".into(),
            http.clone(),
        ],
        b"",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for node in nodes.values() {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
