//! One node of the key-value store per process, like the seed's servers:
//!
//! ```text
//! cargo run --example kv_server -- --id 1 \
//!     --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 \
//!     --client-addr 127.0.0.1:6301 --data-dir /tmp/kv1 \
//!     --client-addrs 1=127.0.0.1:6301,2=127.0.0.1:6302,3=127.0.0.1:6303
//! ```
//!
//! Clients speak RESP (`redis-cli -p 6301`). Ctrl-C shuts down cleanly; starting again on the same
//! data directory recovers. Bad flags print what is wrong and exit with code 2; a start that
//! fails (a data directory another process holds, a port in use, damaged data) exits with 1; a
//! node whose storage fails while running exits with 3.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples::{start_node_with, Addresses, Joining, Tuning};
use raft_core::NodeId;

#[derive(Parser, Debug)]
#[command(about = "One node of the replicated key-value store, serving the Redis protocol")]
struct Args {
    /// This node's id (a positive integer, one of the ids in --peers).
    #[arg(long)]
    id: NodeId,
    /// Every node's Raft address, this one's included: `1=127.0.0.1:7101,2=127.0.0.1:7102,...`.
    #[arg(long, value_parser = parse_peers)]
    peers: HashMap<NodeId, SocketAddr>,
    /// Where clients connect (RESP, as to Redis).
    #[arg(long)]
    client_addr: SocketAddr,
    /// Every node's client address, this one's included, in the form of --peers: where clients
    /// reach each node (this node's may name a host where --client-addr binds 0.0.0.0, with
    /// the same port). A new cluster's membership carries them, so any node can point
    /// cluster-aware clients (redis-py `RedisCluster`, ioredis `Cluster`) at the leader. Give
    /// every node the same list.
    #[arg(long, value_parser = parse_peers)]
    client_addrs: Option<HashMap<NodeId, SocketAddr>>,
    /// Where the node keeps its log, snapshots and term/vote (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Nodes of other clusters are refused; use the same id on every node of one cluster.
    #[arg(long, default_value_t = 1)]
    cluster_id: u64,
    /// Length of one tick in milliseconds (elections after 10-20 ticks of silence).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    tick_ms: u64,
    /// Snapshot once the log since the last snapshot reaches this percentage of its size (as
    /// Redis's auto-aof-rewrite-percentage)...
    #[arg(long, default_value_t = 100)]
    snapshot_log_percent: u64,
    /// ... but not before this many MiB of log...
    #[arg(long, default_value_t = 64)]
    snapshot_log_min_mib: u64,
    /// ... and always at this many MiB of log (0: no ceiling), which bounds the log held in
    /// memory.
    #[arg(long, default_value_t = 512)]
    snapshot_log_max_mib: u64,
    /// Also snapshot every this many applied entries (0: never).
    #[arg(long, default_value_t = 0)]
    snapshot_every: u64,
    /// Join an existing cluster instead of forming one: start as a non-member and wait to be
    /// added (`RAFT.ADDLEARNER <id> <host:port>` on any node; the address reaches every member
    /// through the log). --peers then lists the existing nodes and this one.
    #[arg(long)]
    join: bool,
    /// Most client connections at once; more are refused with an error.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_clients: u64,
    /// Largest request (and value) a client may send, in bytes.
    #[arg(long, default_value_t = 32 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_request_bytes: u64,
    /// Event-loop threads serving clients, each over many connections (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    io_threads: Option<u64>,
}

fn parse_peers(s: &str) -> Result<HashMap<NodeId, SocketAddr>, String> {
    let mut peers = HashMap::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not id=host:port"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("'{id}' is not a node id"))?;
        if id == 0 {
            return Err("node ids start at 1".into());
        }
        let addr: SocketAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{addr}' is not host:port"))?;
        if peers.insert(id, addr).is_some() {
            return Err(format!("node {id} appears twice"));
        }
    }
    if peers.is_empty() {
        return Err("at least one peer (this node) is needed".into());
    }
    Ok(peers)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    if !args.peers.contains_key(&args.id) {
        eprintln!(
            "error: --id {} is not in --peers (give every node's address, this one's too)",
            args.id
        );
        return ExitCode::from(2);
    }
    let clients = args.client_addrs.clone().unwrap_or_default();
    if !clients.is_empty() {
        let mut ids: Vec<_> = clients.keys().collect();
        let mut peers: Vec<_> = args.peers.keys().collect();
        ids.sort_unstable();
        peers.sort_unstable();
        let mine = clients.get(&args.id);
        let bind = args.client_addr;
        let matches = mine.is_some_and(|a| {
            a.port() == bind.port() && (bind.ip().is_unspecified() || a.ip() == bind.ip())
        });
        if ids != peers || !matches {
            eprintln!(
                "error: --client-addrs must list the ids of --peers, with {bind} for this node \
                 (--client-addr; any host if that binds 0.0.0.0, but the same port)"
            );
            return ExitCode::from(2);
        }
    }
    let addrs = Addresses {
        raft: args.peers.clone(),
        client: args.client_addr,
        clients,
    };
    let tuning = Tuning {
        cluster_id: args.cluster_id,
        tick: Duration::from_millis(args.tick_ms),
        snapshot: raft_runtime::SnapshotPolicy {
            log_percent: args.snapshot_log_percent,
            log_bytes_min: args.snapshot_log_min_mib.saturating_mul(1 << 20),
            log_bytes_max: args.snapshot_log_max_mib.saturating_mul(1 << 20),
            every_entries: args.snapshot_every,
        },
    };
    let how = Joining {
        join: args.join,
        clients_max: Some(args.max_clients as usize),
        request_bytes_max: Some(args.max_request_bytes as usize),
        io_threads: args.io_threads.map(|n| n as usize),
    };
    let node = match start_node_with(args.id, &addrs, &args.data_dir, &tuning, &how) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = node.node.recovery();
    println!(
        "node {} recovered in {} ms: a snapshot of {} bytes (at index {}), then {} log entries \
         ({} bytes)",
        args.id,
        r.duration.as_millis(),
        r.snapshot_bytes,
        r.snapshot_index,
        r.entries,
        r.entry_bytes
    );
    println!(
        "node {} serving clients on {} (raft on {}), data in {}",
        args.id,
        node.server.addr(),
        args.peers[&args.id],
        args.data_dir.display()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.send(());
    }) {
        eprintln!("error: cannot handle Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    // Fail-stop: a node whose storage (or state machine) failed exits with an error rather than
    // stay up answering PING while refusing everything else. Retrying a failed fsync is not
    // safe; a restart recovers from what is durable.
    loop {
        if let Some(e) = node.node.wait_for_failure(Duration::from_millis(100)) {
            tracing::error!(error = %e, "the node failed; exiting");
            eprintln!(
                "error: node {} failed: {e}; exiting (restart it to recover from its data directory)",
                args.id
            );
            return ExitCode::from(EXIT_NODE_FAILED);
        }
        match rx.try_recv() {
            Ok(()) | Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
    }
    println!("shutting down");
    node.stop();
    ExitCode::SUCCESS
}

/// The exit code of a node that failed while running (2 is for bad flags, 1 for a failed start).
const EXIT_NODE_FAILED: u8 = 3;
