//! Active expiry: the leader reclaims keys whose deadline has passed, through the log, so an
//! idle cluster frees them too and every replica reclaims the same keys at the same entry.
//! The same thread's rounds take the samples INFO's rates come from.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use raft_core::Role;
use raft_runtime::Node;

use super::Shared;
use crate::machine::{wall_clock_ms, Command, KvStore, Query, Read, Reply, Write};

/// How often the earliest deadline is looked at.
const EVERY: Duration = Duration::from_millis(100);
/// The most keys one entry reclaims, so no entry is long to apply.
const PER_ENTRY: u32 = 1000;
/// How long one look or one proposal may take before the next round tries again.
const WAIT: Duration = Duration::from_secs(1);

pub(super) fn run(node: Arc<Node<KvStore>>, shared: Arc<Shared>) {
    let stopped = || shared.stop.load(Ordering::Acquire);
    while !stopped() {
        std::thread::sleep(EVERY);
        shared.stats.sample(std::time::Instant::now());
        // Due on this node's clock, or on the replicated one if a past leader's ran ahead.
        let ask = |q| node.read_stale(Read::local_at(wall_clock_ms(), q), WAIT);
        let now = match ask(Query::Clock) {
            Ok(Reply::Int(clock)) => wall_clock_ms().max(clock as u64),
            _ => continue,
        };
        let due = matches!(ask(Query::NextDeadline), Ok(Reply::Int(d)) if d as u64 <= now);
        if !due || !node.status().is_ok_and(|s| s.role == Role::Leader) {
            continue;
        }
        // One bounded entry after another while each found a full load.
        while !stopped() {
            let w = Write {
                session: None,
                time_ms: wall_clock_ms(),
                command: Command::ExpireDue { limit: PER_ENTRY },
            };
            match node.propose(w.encode(), WAIT) {
                Ok(Reply::Int(n)) if n == i64::from(PER_ENTRY) => {}
                _ => break,
            }
        }
    }
}
