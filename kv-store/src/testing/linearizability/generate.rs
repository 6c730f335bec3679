//! Random histories that are linearizable by construction, for testing and benchmarking the
//! checker.

use std::collections::HashMap;

use rand::Rng as _;

use super::{Op, Operation};
use crate::testing::seeded;

/// A random linearizable history of about `ops` operations: clients' operations overlap, each
/// takes effect at a random moment inside its interval against a real single copy, and some
/// writes never complete.
pub fn generated(ops: usize, keys: u64, clients: u64, seed: u64) -> Vec<Operation> {
    let mut rng = seeded(seed);
    // Plan each client's operations as back-to-back intervals, then apply them in the order of
    // their linearization points.
    let mut planned = Vec::new();
    for c in 0..clients {
        let mut t: u64 = rng.gen_range(0..10);
        for _ in 0..ops as u64 / clients {
            let start = t + 1 + rng.gen_range(0..5);
            let end = start + 1 + rng.gen_range(0..20);
            let point = rng.gen_range(start..end);
            let (key, kind) = (rng.gen_range(0..keys), rng.gen_range(0..10));
            planned.push((point, c, start, end, key, kind));
            t = end;
        }
    }
    planned.sort();
    let mut store: HashMap<u64, Option<Vec<u8>>> = HashMap::new();
    let mut history = Vec::new();
    for (i, (_point, c, start, end, key, kind)) in planned.into_iter().enumerate() {
        let cur = store.entry(key).or_default();
        let value = format!("{c}-{i}").into_bytes();
        let (o, completed) = match kind {
            0..=3 => (Op::Read(cur.clone()), Some(end)),
            4..=6 => {
                *cur = Some(value.clone());
                (Op::Write(value), Some(end))
            }
            7 => {
                // Outcome never learned: it did take effect.
                *cur = Some(value.clone());
                (Op::Write(value), None)
            }
            _ => {
                let expected = cur.clone();
                *cur = Some(value.clone());
                (
                    Op::Cas {
                        expected,
                        new: value,
                        swapped: Some(true),
                    },
                    Some(end),
                )
            }
        };
        history.push(Operation {
            client: c,
            key: format!("key{key}").into_bytes(),
            op: o,
            invoked: start,
            completed,
        });
    }
    history
}
