//! Propose throughput and latency of a 3-node cluster in one process: in-memory transport,
//! disk storage in a temporary directory, fsync on and off, 1 and 64 concurrent proposers.
//! Prints commits per second, fsyncs per second, and p50/p99 latency.
//!
//! Run: `cargo bench -p raft-runtime --bench propose` (`BENCH_SECONDS` sets each run's length).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use raft_core::{Index, Role};
use raft_runtime::storage::{RealFs, Vfs};
use raft_runtime::{
    DiskOptions, DiskStorage, MemNetwork, Node, NodeConfig, StateMachine, SyncPolicy,
};

/// Counts the syncs the storage asks for.
#[derive(Clone)]
struct CountingFs(Arc<AtomicU64>);

impl Vfs for CountingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn raft_runtime::storage::FileRead>> {
        RealFs.open_read(path)
    }
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        RealFs.append(path, data)
    }
    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
        RealFs.write_at(path, offset, data)
    }
    fn preallocate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.preallocate(path, len)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFs.truncate(path, len)
    }
    fn sync(&self, path: &Path) -> io::Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        RealFs.sync(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        RealFs.sync_dir(dir)
    }
}

#[derive(Default)]
struct Kv(BTreeMap<Vec<u8>, Vec<u8>>);

impl StateMachine for Kv {
    type Query = Vec<u8>;
    type Response = Vec<u8>;
    type Snapshot = Vec<u8>;

    fn apply(&mut self, _index: Index, command: &[u8]) -> Vec<u8> {
        let (k, v) = command.split_at(command.len().min(8));
        self.0.insert(k.to_vec(), v.to_vec()).unwrap_or_default()
    }
    fn query(&self, query: &Vec<u8>) -> Vec<u8> {
        self.0.get(query).cloned().unwrap_or_default()
    }
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }
    fn restore(&mut self, _data: &mut dyn std::io::Read) -> Result<(), String> {
        Ok(())
    }
}

fn run(sync: SyncPolicy, proposers: usize, seconds: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let net = MemNetwork::new();
    let syncs = Arc::new(AtomicU64::new(0));
    let ids = vec![1, 2, 3];
    let nodes: Vec<Arc<Node<Kv>>> = ids
        .iter()
        .map(|&id| {
            let mut cfg = NodeConfig::new(id, ids.clone());
            cfg.tick_interval = Duration::from_millis(5);
            cfg.snapshot = raft_runtime::SnapshotPolicy::never();
            let options = DiskOptions {
                sync,
                ..DiskOptions::default()
            };
            let storage = DiskStorage::open_with(
                CountingFs(syncs.clone()),
                dir.path().join(id.to_string()),
                options,
            )
            .expect("storage");
            let (transport, inbox) = net.join(id);
            Arc::new(Node::start(cfg, Kv::default(), storage, transport, inbox).expect("node"))
        })
        .collect();
    let leader = loop {
        if let Some(n) = nodes
            .iter()
            .find(|n| n.status().is_ok_and(|s| s.role == Role::Leader))
        {
            break n.clone();
        }
        thread::sleep(Duration::from_millis(10));
    };
    // Warm up, then measure.
    leader
        .propose(b"warmup".to_vec(), Duration::from_secs(10))
        .expect("warm-up write");
    let syncs_before = syncs.load(Ordering::Relaxed);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..proposers)
        .map(|w| {
            let leader = leader.clone();
            thread::spawn(move || {
                let mut latencies_us = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let cmd = format!("{w:04}{i:04}value-{i}").into_bytes();
                    if leader.propose(cmd, Duration::from_secs(10)).is_ok() {
                        latencies_us.push(t.elapsed().as_micros() as u64);
                    }
                    i += 1;
                }
                latencies_us
            })
        })
        .collect();
    let mut all: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let fsyncs = syncs.load(Ordering::Relaxed) - syncs_before;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "fsync {:<6} proposers {:>2}: {:>8.0} commits/s  {:>7.0} fsyncs/s (3 nodes)  p50 {:>6} us  p99 {:>6} us",
        if sync == SyncPolicy::Always { "on" } else { "off" },
        proposers,
        all.len() as f64 / elapsed,
        fsyncs as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );
    drop(leader);
    for n in nodes {
        if let Ok(n) = Arc::try_unwrap(n) {
            n.shutdown();
        }
    }
}

fn main() {
    // `cargo test --benches` runs this too; keep that short.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    if quick {
        return;
    }
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        for proposers in [1, 64] {
            run(sync, proposers, seconds);
        }
    }
}
