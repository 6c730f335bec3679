//! A linearizability checker for key-value histories (Wing and Gong's search with Lowe's
//! memoization, as in Porcupine), partitioned per key.
//!
//! A history is what clients saw: for each operation its invocation and completion times and
//! its outcome. An operation whose outcome the client never learned (a timeout, a lost
//! connection) may have taken effect at any point after its invocation, or never. The history is
//! linearizable if every key's operations can be put in one order, consistent with real time,
//! in which a single copy of the key answers exactly what the clients saw.

mod generate;
mod search;

pub use generate::generated;
pub use search::{check_key, STATES_MAX};

use std::collections::BTreeMap;
use std::fmt;

/// What an operation did to, or saw of, one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Saw this value (`None`: absent).
    Read(Option<Vec<u8>>),
    /// Set the key to this value.
    Write(Vec<u8>),
    /// Compare-and-set: `Some(swapped)` when the outcome is known.
    Cas {
        /// The value the key had to hold (`None`: absent).
        expected: Option<Vec<u8>>,
        /// The value it was to get.
        new: Vec<u8>,
        /// Whether it swapped; `None` when the client never learned.
        swapped: Option<bool>,
    },
    /// Removed the key.
    Delete,
}

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client that invoked it.
    pub client: u64,
    /// The key it concerns.
    pub key: Vec<u8>,
    /// What it did, or saw.
    pub op: Op,
    /// When the client invoked it (any monotonic clock, e.g. nanoseconds since the start).
    pub invoked: u64,
    /// When the client learned the outcome; `None` if it never did (it may or may not have
    /// taken effect). Reads without a known outcome should be left out: they change nothing.
    pub completed: Option<u64>,
}

/// The verdict on a history.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's operations have a valid order.
    Linearizable,
    /// The smallest key's history that has no valid order, in readable form.
    Violation {
        /// The key.
        key: Vec<u8>,
        /// Its operations, one line each, in invocation order (see [`describe`]).
        history: String,
    },
    /// The search for this key exceeded [`STATES_MAX`] states without an answer.
    Inconclusive {
        /// The key.
        key: Vec<u8>,
        /// How many operations it has.
        operations: usize,
    },
}

/// Checks a whole history, one key at a time.
pub fn check(history: &[Operation]) -> Verdict {
    let mut by_key: BTreeMap<&[u8], Vec<&Operation>> = BTreeMap::new();
    for o in history {
        by_key.entry(&o.key).or_default().push(o);
    }
    let mut failures: Vec<(&[u8], Vec<&Operation>)> = Vec::new();
    let mut inconclusive = None;
    for (key, ops) in by_key {
        match check_key(&ops) {
            Some(true) => {}
            Some(false) => failures.push((key, ops)),
            None => inconclusive = Some((key.to_vec(), ops.len())),
        }
    }
    failures.sort_by_key(|(_, ops)| ops.len());
    match (failures.into_iter().next(), inconclusive) {
        (Some((key, ops)), _) => Verdict::Violation {
            key: key.to_vec(),
            history: describe(&ops),
        },
        (None, Some((key, operations))) => Verdict::Inconclusive { key, operations },
        (None, None) => Verdict::Linearizable,
    }
}

/// Checks `history`; on a violation writes the failing key's history to `failure_file` and
/// returns a message naming the key and the file (also when the check was inconclusive).
pub fn check_or_record(
    history: &[Operation],
    failure_file: &std::path::Path,
) -> Result<(), String> {
    match check(history) {
        Verdict::Linearizable => Ok(()),
        Verdict::Inconclusive { key, operations } => Err(format!(
            "the check of key {} ({operations} operations) was inconclusive",
            String::from_utf8_lossy(&key)
        )),
        Verdict::Violation { key, history } => {
            let _ = std::fs::write(failure_file, &history);
            Err(format!(
                "not linearizable on key {}; its history is in {}:\n{history}",
                String::from_utf8_lossy(&key),
                failure_file.display()
            ))
        }
    }
}

/// One line per operation, in invocation order.
pub fn describe(ops: &[&Operation]) -> String {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|o| o.invoked);
    ops.iter().map(|o| format!("{o}\n")).collect()
}

fn show(v: &Option<Vec<u8>>) -> String {
    v.as_ref().map_or("nil".into(), |b| {
        format!("{:?}", String::from_utf8_lossy(b))
    })
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.op {
            Op::Read(v) => format!("read -> {}", show(v)),
            Op::Write(v) => format!("write {}", show(&Some(v.clone()))),
            Op::Cas {
                expected,
                new,
                swapped,
            } => format!(
                "cas {} -> {}: {}",
                show(expected),
                show(&Some(new.clone())),
                swapped.map_or("unknown".into(), |s| s.to_string())
            ),
            Op::Delete => "delete".into(),
        };
        let done = self
            .completed
            .map_or("never (outcome unknown)".into(), |t| t.to_string());
        write!(
            f,
            "client {:>3}: {:<40} invoked {:>12}, completed {}",
            self.client, what, self.invoked, done
        )
    }
}
