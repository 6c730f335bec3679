//! Test support, behind the `testing` feature: not part of kv-store's stable API.
//!
//! - [`linearizability`]: a checker for key-value histories, and a generator of histories that
//!   are linearizable by construction.
//! - [`nemesis`]: one fault-injection harness, generic over [`nemesis::Cluster`], so the same
//!   clients, faults and checks run against nodes in one process (kv-store's suite) and against
//!   `kv_server` processes (the examples' suite).
//! - `invariants.rs`: what the harness checks beyond one key's linearizability (transactions,
//!   WATCH, deadlines).
//! - [`seeded`]: the seeded random-number generator the harness and its users draw from, so a
//!   seed replays the same choices.
//!
//! It is a feature rather than a separate crate because the design fixes the workspace's
//! crates; kv-store's own tests turn it on through a dev-dependency on kv-store itself.

mod invariants;
pub mod linearizability;
pub mod nemesis;

use rand::SeedableRng;

/// The test-support generator: `rand_xoshiro`'s SplitMix64, the one generator of the whole tree
/// (raft-core draws its timeouts from it, and its simulator too); the same sequence for the same
/// seed on every platform.
pub type TestRng = rand_xoshiro::SplitMix64;

/// A generator seeded with `seed`.
pub fn seeded(seed: u64) -> TestRng {
    TestRng::seed_from_u64(seed)
}
