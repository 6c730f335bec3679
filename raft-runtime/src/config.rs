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
    /// When to snapshot: see [`SnapshotPolicy`].
    pub snapshot: SnapshotPolicy,
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
            snapshot: SnapshotPolicy::default(),
            recent_results_max: 65_536,
            stale_reads_max: 65_536,
            apply_lag_entries_max: 262_144,
        }
    }
}

/// When a node snapshots: once the log since the last snapshot has grown past a share of that
/// snapshot's size (as Redis rewrites its append-only file once it has grown by
/// `auto-aof-rewrite-percentage`), but never for less than a floor of log, and always by a
/// ceiling, which bounds the log a node holds in memory. So the cost of snapshots, which grows
/// with the data, stays proportional to the writes that pay for it.
///
/// The log is counted in command bytes applied. A snapshot is never taken while the previous
/// one is still being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Snapshot once the log since the last snapshot is this many percent of its size.
    pub log_percent: u64,
    /// ... but not before the log since then is this many bytes.
    pub log_bytes_min: u64,
    /// ... and always once it is this many bytes (0: no ceiling).
    pub log_bytes_max: u64,
    /// Also snapshot after this many entries applied since the last one (0: never). For tests
    /// and for state machines whose commands are small but whose state grows fast.
    pub every_entries: u64,
}

impl Default for SnapshotPolicy {
    /// 100 % of the snapshot, at least 64 MiB and at most 512 MiB of log.
    fn default() -> SnapshotPolicy {
        SnapshotPolicy {
            log_percent: 100,
            log_bytes_min: 64 << 20,
            log_bytes_max: 512 << 20,
            every_entries: 0,
        }
    }
}

impl SnapshotPolicy {
    /// Never snapshot.
    pub fn never() -> SnapshotPolicy {
        SnapshotPolicy {
            log_percent: 0,
            log_bytes_min: 0,
            log_bytes_max: 0,
            every_entries: 0,
        }
    }

    /// Snapshot after every `n` entries applied, and by no other rule.
    pub fn every_entries(n: u64) -> SnapshotPolicy {
        SnapshotPolicy {
            every_entries: n,
            ..SnapshotPolicy::never()
        }
    }

    /// Whether a snapshot is due, `entries` and `log_bytes` since the last one, which was
    /// `snapshot_bytes` large.
    pub fn due(&self, entries: u64, log_bytes: u64, snapshot_bytes: u64) -> bool {
        if self.every_entries > 0 && entries >= self.every_entries {
            return true;
        }
        if self.log_bytes_max > 0 && log_bytes >= self.log_bytes_max {
            return true;
        }
        let by_share = snapshot_bytes.saturating_mul(self.log_percent) / 100;
        let threshold = by_share.max(self.log_bytes_min);
        (self.log_percent > 0 || self.log_bytes_min > 0) && log_bytes > 0 && log_bytes >= threshold
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
