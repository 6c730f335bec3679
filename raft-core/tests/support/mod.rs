//! Test support shared by the integration tests: a deterministic cluster simulator and the
//! invariant checker it runs after every step.
#![allow(dead_code)]

pub mod checker;
pub mod harness;
mod node;
pub mod rng;
mod schedule;
pub mod sim;

/// Number of proptest cases: `RAFT_PROPTEST_CASES` or the given CI default.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("RAFT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
