//! How a node runs: the protocol's configuration plus the runtime's own knobs.

use std::time::Duration;

use raft_core::Config as RaftConfig;

/// Configuration of a [`Node`](crate::Node).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The protocol's configuration (id, voters, timeouts in ticks, limits).
    pub raft: RaftConfig,
    /// Wall-clock length of one tick. Election timeouts and heartbeats are counted in ticks.
    pub tick_interval: Duration,
    /// Most client requests queued for the driver; beyond it requests fail with `Busy`.
    pub request_queue_max: usize,
    /// Take a snapshot after this many entries applied since the last one (0: never).
    pub snapshot_every_entries: u64,
    /// Or after this many command bytes applied since the last one (0: never).
    pub snapshot_every_bytes: u64,
    /// Recent results the apply thread remembers, for proposals whose position is learnt after
    /// they were applied (forwarded proposals can be).
    pub recent_results_max: usize,
    /// Most stale reads (`Node::read_stale`) waiting for the apply thread; beyond it they fail
    /// with `Busy`. The core bounds everything else the driver hands that thread, but not these.
    pub stale_reads_max: usize,
    /// While the apply thread lags the commit index by more than this many entries, new
    /// proposals and reads fail with `Busy`, so that clients waiting on the apply thread stay
    /// bounded.
    pub apply_lag_entries_max: u64,
}

impl NodeConfig {
    /// Defaults for node `id` of a new cluster of `voters`: 10 ms ticks (elections after
    /// 100-200 ms of silence, heartbeats every 20 ms), and a seed drawn from the OS. (The node
    /// also mixes a fresh draw into the seed every time it starts, so reusing a configuration
    /// for a restart is safe.)
    pub fn new(id: u64, voters: Vec<u64>) -> NodeConfig {
        NodeConfig {
            raft: RaftConfig::new(id, voters, fresh_seed()),
            tick_interval: Duration::from_millis(10),
            request_queue_max: 65_536,
            snapshot_every_entries: 100_000,
            snapshot_every_bytes: 256 << 20,
            recent_results_max: 65_536,
            stale_reads_max: 65_536,
            apply_lag_entries_max: 262_144,
        }
    }
}

/// Randomness from the operating system (through the standard library's hasher keys) and the
/// clock.
pub(crate) fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}
