//! Five nodes of the key-value store in one process, over TCP on loopback, each with its data on
//! disk in a temporary directory. The run: elect a leader, write and read through the client,
//! kill the leader and watch another take over with no acknowledged write lost, restart the old
//! leader and watch it catch up. Prints a timeline; exits 0 when every check held.
//!
//! `cargo run --example five_node_cluster`

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use examples::{free_node_addrs, start_node, Addresses, RunningNode, Tuning};
use kv_store::Client;
use raft_core::{NodeId, Role};

const NODES: u64 = 5;
const WRITES: usize = 100;

struct Demo {
    start: Instant,
    raft: HashMap<NodeId, std::net::SocketAddr>,
    clients: HashMap<NodeId, std::net::SocketAddr>,
    dir: tempfile::TempDir,
    nodes: HashMap<NodeId, RunningNode>,
    tuning: Tuning,
}

impl Demo {
    fn say(&self, what: impl AsRef<str>) {
        println!(
            "[{:>6.2}s] {}",
            self.start.elapsed().as_secs_f64(),
            what.as_ref()
        );
    }

    fn start(&mut self, id: NodeId) -> Result<(), String> {
        let addrs = Addresses {
            raft: self.raft.clone(),
            client: self.clients[&id],
            clients: self.clients.clone(),
        };
        let node = start_node(
            id,
            &addrs,
            &self.dir.path().join(format!("node-{id}")),
            &self.tuning,
        )?;
        self.nodes.insert(id, node);
        Ok(())
    }

    /// The node that leads, once one does (and the others agree).
    fn leader(&self, timeout: Duration) -> Result<(NodeId, u64), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let statuses: Vec<_> = self
                .nodes
                .values()
                .filter_map(|n| n.node.status().ok())
                .collect();
            if let Some(l) = statuses.iter().find(|s| s.role == Role::Leader) {
                let agree = statuses
                    .iter()
                    .filter(|s| s.leader == Some(l.id) && s.term == l.term)
                    .count();
                if agree as u64 > NODES / 2 {
                    return Ok((l.id, l.term));
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("no leader within {timeout:?}"))
    }

    fn client(&self) -> Client {
        let mut addrs: Vec<_> = self.clients.values().copied().collect();
        addrs.sort();
        Client::new(addrs, Duration::from_secs(10))
    }
}

fn run() -> Result<(), String> {
    let (raft, clients) = free_node_addrs(NODES as usize).map_err(|e| e.to_string())?;
    let mut demo = Demo {
        start: Instant::now(),
        raft: (1..=NODES).zip(raft).collect(),
        clients: (1..=NODES).zip(clients).collect(),
        dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        nodes: HashMap::new(),
        tuning: Tuning::default(),
    };
    demo.say(format!(
        "starting {NODES} nodes on 127.0.0.1, data in {}",
        demo.dir.path().display()
    ));
    for id in 1..=NODES {
        demo.start(id)?;
        demo.say(format!(
            "  node {id}: raft {}  clients {}",
            demo.raft[&id], demo.clients[&id]
        ));
    }
    let (leader, term) = demo.leader(Duration::from_secs(10))?;
    demo.say(format!("node {leader} elected leader (term {term})"));

    let mut client = demo.client();
    let t = Instant::now();
    for i in 0..WRITES {
        client
            .set(
                format!("key-{i}").as_bytes(),
                format!("value-{i}").as_bytes(),
            )
            .map_err(|e| e.to_string())?;
    }
    demo.say(format!(
        "wrote {WRITES} keys through the client in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    ));
    check_all(&mut client, WRITES)?;
    demo.say(format!("read all {WRITES} back (linearizable reads)"));

    demo.say(format!("killing the leader, node {leader}"));
    if let Some(n) = demo.nodes.remove(&leader) {
        n.stop();
    }
    let (new_leader, new_term) = demo.leader(Duration::from_secs(10))?;
    demo.say(format!(
        "node {new_leader} took over as leader (term {new_term})"
    ));
    check_all(&mut client, WRITES)?;
    demo.say(format!("all {WRITES} acknowledged writes are still there"));
    for i in WRITES..2 * WRITES {
        client
            .set(
                format!("key-{i}").as_bytes(),
                format!("value-{i}").as_bytes(),
            )
            .map_err(|e| e.to_string())?;
    }
    demo.say(format!("wrote {WRITES} more with node {leader} down"));

    demo.say(format!("restarting node {leader} from its data directory"));
    demo.start(leader)?;
    let target = demo.nodes[&new_leader]
        .node
        .status()
        .map_err(|e| e.to_string())?
        .commit_index;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let applied = demo.nodes[&leader]
            .node
            .status()
            .map_err(|e| e.to_string())?
            .applied_index;
        if applied >= target {
            demo.say(format!("node {leader} caught up: applied index {applied}"));
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "node {leader} did not catch up (applied {applied} of {target})"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let q = kv_store::Read::local_now(kv_store::Query::get(format!("key-{}", 2 * WRITES - 1)));
    let local = demo.nodes[&leader]
        .node
        .read_stale(q, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    if local != kv_store::Reply::Bulk(format!("value-{}", 2 * WRITES - 1).into_bytes()) {
        return Err(format!(
            "node {leader} holds the wrong value after catching up"
        ));
    }
    demo.say(format!(
        "node {leader} serves the newest write from its own state"
    ));
    for (_, n) in demo.nodes.drain() {
        n.stop();
    }
    demo.say("done: a leader was elected, lost and replaced, and no acknowledged write was lost");
    Ok(())
}

fn check_all(client: &mut Client, n: usize) -> Result<(), String> {
    for i in 0..n {
        let got = client
            .get(format!("key-{i}").as_bytes())
            .map_err(|e| e.to_string())?;
        if got != Some(format!("value-{i}").into_bytes()) {
            return Err(format!("key-{i}: expected value-{i}, got {got:?}"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("five_node_cluster failed: {e}");
            ExitCode::FAILURE
        }
    }
}
