//! Entries committed and applied on every node of a 3-node cluster driven in one thread, with no
//! I/O: persistence is acknowledged at once and messages move between in-memory inboxes. This
//! measures the protocol's own cost, the figure comparable to raft-rs's "3 nodes in one thread in
//! memory" benchmark.
//!
//! Run: `cargo bench -p raft-core --bench commit_throughput`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raft_core::{Config, Message, Payload, Raft, Role};

struct Cluster {
    nodes: Vec<Raft>,
    inboxes: Vec<Vec<Message>>,
    applied: Vec<u64>,
}

impl Cluster {
    fn new() -> Cluster {
        let voters = vec![1, 2, 3];
        let nodes = voters
            .iter()
            .map(|&id| {
                let mut c = Config::new(id, voters.clone(), id);
                // Only node 1's clock runs, so it campaigns; without check-quorum the others
                // vote for it at once instead of honouring a lease from before their start.
                c.pre_vote = false;
                c.check_quorum = false;
                Raft::new(c).expect("valid config")
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            inboxes: vec![Vec::new(); 3],
            applied: vec![0; 3],
        };
        while cluster.nodes[0].role() != Role::Leader {
            cluster.nodes[0].tick();
            cluster.pump();
        }
        cluster
    }

    /// Moves messages and acknowledges persistence until every node is quiet.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                let inbox = std::mem::take(&mut self.inboxes[i]);
                let node = &mut self.nodes[i];
                for m in inbox {
                    node.step(m).expect("well-formed message");
                }
                while node.has_ready() {
                    busy = true;
                    let rd = node.ready();
                    for m in rd.messages {
                        self.inboxes[(m.to - 1) as usize].push(m);
                    }
                    if let Some(p) = rd.persist {
                        for m in rd.persisted_messages {
                            self.inboxes[(m.to - 1) as usize].push(m);
                        }
                        node.handle_persisted(p.id);
                    }
                    if let Some(last) = rd.committed.last() {
                        self.applied[i] = last.index;
                        node.handle_applied(last.index);
                    }
                }
            }
            if !busy && self.inboxes.iter().all(Vec::is_empty) {
                return;
            }
        }
    }

    /// Proposes `batch` entries of `payload` bytes, then runs until all nodes applied them.
    fn round(&mut self, batch: usize, payload: &[u8]) {
        for _ in 0..batch {
            self.nodes[0]
                .propose(Payload::from(payload))
                .expect("leader accepts");
        }
        self.pump();
        let last = self.nodes[0].last_index();
        debug_assert!(self.applied.iter().all(|&a| a == last));
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_3_nodes_in_memory");
    group.measurement_time(Duration::from_secs(4));
    for &(batch, payload_bytes) in &[(1usize, 16usize), (64, 16), (1, 1024), (64, 1024)] {
        let payload = vec![7u8; payload_bytes];
        group.throughput(Throughput::Elements(batch as u64));
        let id = BenchmarkId::new(format!("batch_{batch}"), format!("{payload_bytes}B"));
        group.bench_with_input(id, &batch, |b, &batch| {
            // A fresh cluster per sample keeps the in-memory log (there is no compaction yet)
            // from growing across the whole run.
            b.iter_custom(|iters| {
                let mut cluster = Cluster::new();
                let start = Instant::now();
                for _ in 0..iters {
                    cluster.round(batch, &payload);
                }
                start.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
