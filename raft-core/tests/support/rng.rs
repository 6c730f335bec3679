//! The simulator's draws, from the tree's one seeded generator (`rand_xoshiro`'s SplitMix64),
//! so a seed replays a run exactly.

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::SplitMix64;

#[derive(Clone, Debug)]
pub struct SimRng(SplitMix64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng(SplitMix64::seed_from_u64(seed ^ 0x5DEE_CE66_D1CE_4E5B))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}
