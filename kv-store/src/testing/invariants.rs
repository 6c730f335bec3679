//! Invariants beyond one key's linearizability, checked as the clients go and at the end of a
//! run: transactions are never seen half-applied, WATCH never lets a conflicting transaction
//! commit, and keys with a deadline are there before it and gone after it.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng as _;

use super::nemesis::{Client, Cluster, Outcome, CLIENTS, SETTLE};
use super::{seeded, TestRng};

/// The accounts transfers move amounts between, the counter WATCH guards, and how far each
/// side of a deadline a read must be to count.
const ACCOUNTS: [&[u8]; 2] = [b"account-a", b"account-b"];
const COUNTER: &[u8] = b"counter";
const DEADLINE_MARGIN_NS: u64 = 20_000_000;

/// What the transaction and deadline workloads saw, checked as it comes in and at the end.
#[derive(Default)]
pub(super) struct Checks {
    /// Invariants seen broken.
    violations: Vec<String>,
    /// WATCH-guarded increments acknowledged as run.
    increments: u64,
    /// WATCH-guarded increments whose outcome is unknown.
    increments_unknown: u64,
    /// Transactions and deadline operations completed.
    operations: u64,
}

/// A client's last SET with a deadline on its own key, while its outcome is known.
pub(super) struct Expiring {
    value: Vec<u8>,
    ms: u64,
    invoked: u64,
    completed: u64,
}

impl Checks {
    /// One more operation checked.
    pub(super) fn count(&mut self) {
        self.operations += 1;
    }

    /// Operations checked.
    pub(super) fn operations(&self) -> u64 {
        self.operations
    }

    /// An invariant seen broken.
    pub(super) fn violated(&mut self, why: String) {
        self.violations.push(why);
    }

    /// What was broken, if anything: the first few, and how many in all.
    pub(super) fn verdict(&self) -> Option<String> {
        const SHOWN: usize = 5;
        let v = &self.violations;
        (!v.is_empty()).then(|| {
            let shown = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
            format!("{} violations: {shown}", v.len())
        })
    }
}

/// A transfer between the accounts, or a read of both in one transaction, which must find
/// them summing to zero.
pub(super) fn transactions<C: Client>(client: &mut C, rng: &mut TestRng) -> Result<(), String> {
    let [a, b] = ACCOUNTS;
    if rng.gen_bool(0.5) {
        let amount = rng.gen_range(1..10);
        let _ = client.transfer(rng, a, b, amount);
        return Ok(());
    }
    match client.read_both(rng, a, b) {
        Outcome::Done((x, y)) if x + y != 0 => Err(format!(
            "a transaction saw a transfer half-applied: accounts {x} and {y}"
        )),
        _ => Ok(()),
    }
}

/// An increment of the counter guarded by WATCH, tallied.
pub(super) fn increment<C: Client>(
    client: &mut C,
    rng: &mut TestRng,
    checks: &Mutex<Checks>,
) -> Result<(), String> {
    let outcome = client.watched_increment(rng, COUNTER);
    let mut c = checks.lock().expect("no client panicked");
    match outcome {
        Outcome::Done(true) => c.increments += 1,
        Outcome::Unknown => c.increments_unknown += 1,
        Outcome::Done(false) | Outcome::NotApplied => {}
    }
    Ok(())
}

/// On the client's own key: a SET with a deadline, or a read that must see the value well
/// before the deadline and nothing well after it.
pub(super) fn deadlines<C: Client>(
    client: &mut C,
    rng: &mut TestRng,
    id: u64,
    value: &[u8],
    expiring: &mut Option<Expiring>,
    now: &dyn Fn() -> u64,
) -> Result<(), String> {
    let key = format!("expiring-{id}").into_bytes();
    if expiring.is_none() || rng.gen_bool(0.3) {
        let ms = rng.gen_range(30..150);
        let invoked = now();
        *expiring = match client.set_px(rng, &key, value, ms) {
            Outcome::Done(()) => Some(Expiring {
                value: value.to_vec(),
                ms,
                invoked,
                completed: now(),
            }),
            // What the key holds is not known until the next acknowledged SET.
            Outcome::NotApplied | Outcome::Unknown => None,
        };
        return Ok(());
    }
    let Some(e) = expiring.as_ref() else {
        return Ok(());
    };
    let invoked = now();
    let Outcome::Done(seen) = client.read(rng, &key) else {
        return Ok(());
    };
    let completed = now();
    let deadline_ns = e.ms * 1_000_000;
    // The deadline lies between the SET's invocation and completion, plus its TTL.
    if completed + DEADLINE_MARGIN_NS < e.invoked + deadline_ns && seen.as_ref() != Some(&e.value) {
        return Err(format!(
            "client {id}'s key read {seen:?} before its deadline ({} ms TTL)",
            e.ms
        ));
    }
    if invoked > e.completed + deadline_ns + DEADLINE_MARGIN_NS && seen.is_some() {
        return Err(format!(
            "client {id}'s key read {seen:?} after its deadline ({} ms TTL)",
            e.ms
        ));
    }
    Ok(())
}

/// Healed: a transaction reading both accounts must find them summing to zero, and the
/// counter must hold every acknowledged increment and no more than those plus the unknown.
pub(super) fn final_checks<C: Cluster>(c: &Arc<C>, seed: u64, checks: &mut Checks) {
    let mut client = C::client(c, CLIENTS + 2);
    let mut rng = seeded(seed.wrapping_add(3));
    let deadline = Instant::now() + SETTLE;
    let [a, b] = ACCOUNTS;
    let (x, y) = loop {
        if let Outcome::Done(both) = client.read_both(&mut rng, a, b) {
            break both;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no answer after healing"
        );
        thread::sleep(Duration::from_millis(20));
    };
    if x + y != 0 {
        checks.violated(format!("the accounts end at {x} and {y}"));
    }
    let counter = loop {
        if let Outcome::Done(v) = client.read(&mut rng, COUNTER) {
            break v.map_or(0, |v| {
                String::from_utf8_lossy(&v)
                    .parse::<u64>()
                    .unwrap_or(u64::MAX)
            });
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no answer after healing"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let (least, most) = (
        checks.increments,
        checks.increments + checks.increments_unknown,
    );
    if !(least..=most).contains(&counter) {
        checks.violated(format!(
            "the WATCHed counter ends at {counter}, outside {least}..={most}: an increment \
             was lost or invented"
        ));
    }
}
