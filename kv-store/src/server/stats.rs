//! What the server counts, for INFO: connections, bytes, and calls, time and errors per
//! command. Each event loop counts into its own counters (no cache line is shared between
//! loops on the request path); INFO adds them up.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::commands::{COMMANDS, SUBCOMMANDS};

/// Where command `command` (its index in the table), or its subcommand `sub` (its index in
/// `SUBCOMMANDS`), is counted: Redis counts a container's subcommands apart
/// (`cmdstat_client|list`).
pub(super) fn index(command: u16, sub: Option<u8>) -> u16 {
    match sub {
        Some(s) => (COMMANDS.len() + usize::from(s)) as u16,
        None => command,
    }
}

/// The name counted under `index`.
fn name(index: usize) -> &'static str {
    match COMMANDS.get(index) {
        Some(spec) => spec.name,
        None => SUBCOMMANDS[index - COMMANDS.len()],
    }
}

/// How many names are counted.
fn counted() -> usize {
    COMMANDS.len() + SUBCOMMANDS.len()
}

/// One command's counters.
#[derive(Default)]
pub(super) struct Counters {
    calls: AtomicU64,
    /// Microseconds from each call's start to its answer, consensus included.
    usec: AtomicU64,
    /// Refused before running: a wrong number of arguments, a syntax error.
    rejected: AtomicU64,
    /// Ran and answered with an error.
    failed: AtomicU64,
}

/// One event loop's counters.
pub(super) struct LoopStats {
    commands: Box<[Counters]>,
    pub(super) connections: AtomicU64,
    pub(super) rejected_connections: AtomicU64,
    pub(super) net_in: AtomicU64,
    pub(super) net_out: AtomicU64,
    pub(super) error_replies: AtomicU64,
}

/// How a reply counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ran,
    Failed,
    Rejected,
}

impl LoopStats {
    fn new() -> LoopStats {
        LoopStats {
            commands: (0..counted()).map(|_| Counters::default()).collect(),
            connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            net_in: AtomicU64::new(0),
            net_out: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
        }
    }

    /// Counts one reply to the command counted under `command` (see [`index`]), started `took`
    /// ago.
    pub(super) fn count(&self, command: u16, outcome: Outcome, took: Duration) {
        let c = &self.commands[usize::from(command)];
        match outcome {
            Outcome::Rejected => add(&c.rejected, 1),
            Outcome::Ran | Outcome::Failed => {
                add(&c.calls, 1);
                add(&c.usec, took.as_micros().min(u128::from(u64::MAX)) as u64);
                if outcome == Outcome::Failed {
                    add(&c.failed, 1);
                }
            }
        }
    }

    fn reset(&self) {
        for c in self.commands.iter() {
            for n in [&c.calls, &c.usec, &c.rejected, &c.failed] {
                n.store(0, Relaxed);
            }
        }
        for n in [
            &self.connections,
            &self.rejected_connections,
            &self.net_in,
            &self.net_out,
            &self.error_replies,
        ] {
            n.store(0, Relaxed);
        }
    }
}

/// Adds to a counter (uncontended: only the owning loop adds).
pub(super) fn add(n: &AtomicU64, by: u64) {
    n.fetch_add(by, Relaxed);
}

/// Totals over every loop.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct Totals {
    pub(super) commands: u64,
    pub(super) connections: u64,
    pub(super) rejected_connections: u64,
    pub(super) net_in: u64,
    pub(super) net_out: u64,
    pub(super) error_replies: u64,
}

/// One command's totals.
pub(super) struct CommandTotals {
    pub(super) name: &'static str,
    pub(super) calls: u64,
    pub(super) usec: u64,
    pub(super) rejected: u64,
    pub(super) failed: u64,
}

/// Samples for the instantaneous rates, one per sampling period, over the last few seconds.
const SAMPLES: usize = 16;

/// The server's counters.
pub(super) struct Stats {
    loops: Box<[LoopStats]>,
    pub(super) started: Instant,
    /// Samples of (time, totals), oldest first.
    samples: Mutex<std::collections::VecDeque<(Instant, Totals)>>,
}

/// Rates per second over the sampled window.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct Rates {
    pub(super) ops: f64,
    pub(super) input_bytes: f64,
    pub(super) output_bytes: f64,
}

impl Stats {
    pub(super) fn new(loops: usize) -> Stats {
        Stats {
            loops: (0..loops).map(|_| LoopStats::new()).collect(),
            started: Instant::now(),
            samples: Mutex::new(std::collections::VecDeque::with_capacity(SAMPLES)),
        }
    }

    /// Loop `i`'s counters.
    pub(super) fn of_loop(&self, i: usize) -> &LoopStats {
        &self.loops[i]
    }

    pub(super) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for l in self.loops.iter() {
            t.commands += l
                .commands
                .iter()
                .map(|c| c.calls.load(Relaxed))
                .sum::<u64>();
            t.connections += l.connections.load(Relaxed);
            t.rejected_connections += l.rejected_connections.load(Relaxed);
            t.net_in += l.net_in.load(Relaxed);
            t.net_out += l.net_out.load(Relaxed);
            t.error_replies += l.error_replies.load(Relaxed);
        }
        t
    }

    /// Every command called or refused at least once since the start (or the last reset).
    pub(super) fn commands(&self) -> Vec<CommandTotals> {
        (0..counted())
            .map(|i| {
                let sum = |f: fn(&Counters) -> &AtomicU64| -> u64 {
                    self.loops
                        .iter()
                        .map(|l| f(&l.commands[i]).load(Relaxed))
                        .sum()
                };
                CommandTotals {
                    name: name(i),
                    calls: sum(|c| &c.calls),
                    usec: sum(|c| &c.usec),
                    rejected: sum(|c| &c.rejected),
                    failed: sum(|c| &c.failed),
                }
            })
            .filter(|c| c.calls > 0 || c.rejected > 0)
            .collect()
    }

    /// Takes a sample (called every 100 ms or so; the rates use the times taken).
    pub(super) fn sample(&self, now: Instant) {
        let totals = self.totals();
        let mut s = self.samples.lock();
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back((now, totals));
    }

    /// The rates over the sampled window (zero until two samples are in).
    pub(super) fn rates(&self) -> Rates {
        let s = self.samples.lock();
        let (Some((t0, a)), Some((t1, b))) = (s.front(), s.back()) else {
            return Rates::default();
        };
        let secs = t1.duration_since(*t0).as_secs_f64();
        if secs <= 0.0 {
            return Rates::default();
        }
        let per_sec = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
        Rates {
            ops: per_sec(a.commands, b.commands),
            input_bytes: per_sec(a.net_in, b.net_in),
            output_bytes: per_sec(a.net_out, b.net_out),
        }
    }

    /// CONFIG RESETSTAT.
    pub(super) fn reset(&self) {
        for l in self.loops.iter() {
            l.reset();
        }
        self.samples.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_loops_and_reset() {
        let stats = Stats::new(2);
        let set = COMMANDS.iter().position(|c| c.name == "set").unwrap() as u16;
        stats
            .of_loop(0)
            .count(set, Outcome::Ran, Duration::from_micros(5));
        stats
            .of_loop(1)
            .count(set, Outcome::Failed, Duration::from_micros(7));
        stats
            .of_loop(1)
            .count(set, Outcome::Rejected, Duration::ZERO);
        add(&stats.of_loop(0).net_in, 10);
        add(&stats.of_loop(1).net_in, 5);
        let t = stats.totals();
        assert_eq!((t.commands, t.net_in), (2, 15));
        let c = stats.commands();
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].name, c[0].calls, c[0].usec, c[0].rejected, c[0].failed),
            ("set", 2, 12, 1, 1)
        );
        stats.reset();
        assert!(stats.commands().is_empty());
        assert_eq!(stats.totals().net_in, 0);
    }

    #[test]
    fn rates_come_from_the_sampled_window() {
        let stats = Stats::new(1);
        let t0 = Instant::now();
        stats.sample(t0);
        assert_eq!(stats.rates().ops, 0.0);
        let get = COMMANDS.iter().position(|c| c.name == "get").unwrap() as u16;
        for _ in 0..50 {
            stats.of_loop(0).count(get, Outcome::Ran, Duration::ZERO);
        }
        stats.sample(t0 + Duration::from_millis(500));
        assert_eq!(stats.rates().ops, 100.0);
    }
}
