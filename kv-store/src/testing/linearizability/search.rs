//! The search for one key: walk the history's invocation and completion events in time order;
//! at each invocation, try to take that operation effect now (if the single-copy model agrees
//! with what it saw), else look further; when a completion is reached whose operation has not
//! taken effect, undo the last choice. States already explored (which operations are done, and
//! the value) are remembered and never explored twice.

use std::collections::HashSet;

use super::{Op, Operation};

/// One event of the doubly linked event list.
#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    /// The matching event (call <-> return); `usize::MAX` for a call that never returns.
    partner: usize,
    prev: usize,
    next: usize,
}

const NONE: usize = usize::MAX;

/// The single-copy model: the operation's effect on `state`, if what it saw is consistent.
fn step(state: &Option<Vec<u8>>, op: &Op) -> Option<Option<Vec<u8>>> {
    match op {
        Op::Read(v) => (v == state).then(|| state.clone()),
        Op::Write(v) => Some(Some(v.clone())),
        Op::Delete => Some(None),
        Op::Cas {
            expected,
            new,
            swapped,
        } => {
            let matches = state == expected;
            match swapped {
                Some(s) if *s != matches => None,
                _ if matches => Some(Some(new.clone())),
                _ => Some(state.clone()),
            }
        }
    }
}

/// Most distinct states one key's search may remember before it gives up. Histories with many
/// concurrent operations of unknown outcome can make the search exponential; past this bound
/// the answer is "inconclusive" instead of exhausting memory.
pub const STATES_MAX: usize = 4_000_000;

/// Whether one key's operations are linearizable (starting from an absent key); `None` when the
/// search gave up (see [`STATES_MAX`]).
pub fn check_key(ops: &[&Operation]) -> Option<bool> {
    // Events sorted by time; at equal times, calls before returns (overlap is the safe reading).
    let mut times: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        times.push((o.invoked, true, i));
        if let Some(c) = o.completed {
            times.push((c.max(o.invoked), false, i));
        }
    }
    times.sort_by_key(|(t, is_call, i)| (*t, !*is_call, *i));
    let n = times.len();
    let mut events: Vec<Event> = times
        .iter()
        .enumerate()
        .map(|(k, (_, is_call, op))| Event {
            op: *op,
            is_call: *is_call,
            partner: NONE,
            prev: if k == 0 { NONE } else { k - 1 },
            next: if k + 1 == n { NONE } else { k + 1 },
        })
        .collect();
    let mut call_of = vec![NONE; ops.len()];
    for k in 0..n {
        if events[k].is_call {
            call_of[events[k].op] = k;
        }
    }
    for k in 0..n {
        if !events[k].is_call {
            let c = call_of[events[k].op];
            events[k].partner = c;
            events[c].partner = k;
        }
    }
    let mut head = if n == 0 { NONE } else { 0 };
    let words = ops.len().div_ceil(64);
    let mut done = vec![0u64; words];
    let mut state: Option<Vec<u8>> = None;
    let mut cache: HashSet<(Vec<u64>, Option<Vec<u8>>)> = HashSet::new();
    // (call event, state before it) for each operation taken.
    let mut stack: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    let mut cursor = head;
    loop {
        // Success: only calls that never return are left (they may never have happened).
        let mut k = head;
        let mut only_open_calls = true;
        while k != NONE {
            if !(events[k].is_call && events[k].partner == NONE) {
                only_open_calls = false;
                break;
            }
            k = events[k].next;
        }
        if only_open_calls {
            return Some(true);
        }
        if cache.len() > STATES_MAX {
            return None;
        }
        if cursor != NONE && events[cursor].is_call {
            let e = events[cursor];
            if let Some(next_state) = step(&state, &ops[e.op].op) {
                let mut bits = done.clone();
                bits[e.op / 64] |= 1 << (e.op % 64);
                if cache.insert((bits.clone(), next_state.clone())) {
                    stack.push((cursor, std::mem::replace(&mut state, next_state)));
                    done = bits;
                    lift(&mut events, &mut head, cursor);
                    cursor = head;
                    continue;
                }
            }
            cursor = e.next;
            continue;
        }
        // A return whose operation has not taken effect (or the end): undo the last choice.
        let Some((call, before)) = stack.pop() else {
            return Some(false);
        };
        state = before;
        let op = events[call].op;
        done[op / 64] &= !(1 << (op % 64));
        unlift(&mut events, &mut head, call);
        cursor = events[call].next;
    }
}

/// Takes a call (and its return) out of the list.
fn lift(events: &mut [Event], head: &mut usize, call: usize) {
    unlink(events, head, call);
    let ret = events[call].partner;
    if ret != NONE {
        unlink(events, head, ret);
    }
}

fn unlink(events: &mut [Event], head: &mut usize, k: usize) {
    let Event { prev, next, .. } = events[k];
    if prev != NONE {
        events[prev].next = next;
    } else {
        *head = next;
    }
    if next != NONE {
        events[next].prev = prev;
    }
}

/// Puts a lifted call (and its return) back where they were. Events are relinked in the reverse
/// order of `lift`, so their neighbours are exactly as they were then.
fn unlift(events: &mut [Event], head: &mut usize, call: usize) {
    let ret = events[call].partner;
    if ret != NONE {
        relink(events, head, ret);
    }
    relink(events, head, call);
}

fn relink(events: &mut [Event], head: &mut usize, k: usize) {
    let Event { prev, next, .. } = events[k];
    if prev != NONE {
        events[prev].next = k;
    } else {
        *head = k;
    }
    if next != NONE {
        events[next].prev = k;
    }
}
