//! Property tests over random schedules: 3- and 5-node clusters under drops, duplicates, delays,
//! reordering, partitions, crashes and slow storage, with snapshots and log compaction, and with
//! random membership changes (growing, shrinking, learners joining and being promoted, the leader
//! replacing itself). The simulator checks the safety invariants (see `support/checker.rs`) after
//! every step, including that every node's state at an index is the same whether it replayed the
//! log or restored a snapshot; after the faults heal, a leader must be elected and commit a new
//! proposal on every member within a bounded number of ticks.
//!
//! `RAFT_PROPTEST_CASES` sets the number of schedules (default 256); `RAFT_SIM_SEED` replays one.

mod support;

use proptest::prelude::*;
use raft_core::{Config, ReadMode};
use support::sim::{Faults, Sim};

#[derive(Clone, Copy, Debug)]
struct Profile {
    nodes: u64,
    pre_vote: bool,
    check_quorum: bool,
    lease: bool,
    small_windows: bool,
    snapshots: bool,
    membership: bool,
}

fn tune(p: Profile) -> impl Fn(&mut Config) {
    move |c: &mut Config| {
        c.pre_vote = p.pre_vote;
        c.check_quorum = p.check_quorum || p.lease;
        if p.lease {
            c.read_mode = ReadMode::Lease;
        }
        if p.small_windows {
            c.append_entries_max = 2;
            c.inflight_messages_max = 2;
            c.inflight_persists_max = 2;
        }
    }
}

/// Steps of faults, then the healing check. Liveness is bounded by this many ticks.
const STEPS: u64 = 6000;
const LIVENESS_TICKS: u64 = 400;

/// Spare nodes that membership changes can add.
const SPARES: u64 = 2;

fn run(seed: u64, p: Profile) -> Sim {
    let spares = if p.membership { SPARES } else { 0 };
    let mut sim = Sim::with_spares(p.nodes, spares, seed, tune(p));
    sim.instant_persist = false;
    sim.faults = Faults::harsh();
    sim.snapshot_every = p.snapshots.then_some(10);
    sim.membership_changes = p.membership;
    for _ in 0..STEPS {
        sim.random_step();
    }
    sim.heal_all();
    sim.check_liveness(LIVENESS_TICKS);
    sim
}

fn profile() -> impl Strategy<Value = Profile> {
    (prop_oneof![Just(3u64), Just(5u64)], any::<[bool; 6]>()).prop_map(|(nodes, b)| Profile {
        nodes,
        pre_vote: b[0],
        check_quorum: b[1],
        lease: b[2],
        small_windows: b[3],
        snapshots: b[4],
        membership: b[5],
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: support::proptest_cases(256),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn random_schedules_keep_raft_safe_and_live(seed in any::<u64>(), p in profile()) {
        let sim = run(seed, p);
        prop_assert!(sim.checker.entries_applied > 0);
    }
}

/// Replays one seed with every profile: `RAFT_SIM_SEED=123 cargo test -p raft-core --test
/// sim_properties replay`. Without the variable it runs a fixed seed, so it always exercises the
/// simulator end to end.
#[test]
fn replay() {
    let seed = std::env::var("RAFT_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    for nodes in [3, 5] {
        for bits in 0..64u8 {
            let p = Profile {
                nodes,
                pre_vote: bits & 1 != 0,
                check_quorum: bits & 2 != 0,
                lease: bits & 4 != 0,
                small_windows: bits & 8 != 0,
                snapshots: bits & 16 != 0,
                membership: bits & 32 != 0,
            };
            let sim = run(seed, p);
            assert!(sim.checker.entries_applied > 0, "{p:?}");
        }
    }
}
