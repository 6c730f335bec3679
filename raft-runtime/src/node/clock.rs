//! The driver's clock: elapsed monotonic time, not delivered ticks, decides how far the core's
//! clock moves.
//!
//! A tick channel delivers one tick after a stall of any length (a stopped process, a VM pause,
//! a starved or blocked thread), so a node that counted delivered ticks would come back thinking
//! almost no time had passed: a leader would trust a lease that expired long ago and notice the
//! loss of its quorum late. Here the driver asks, before it steps anything, how many whole tick
//! intervals have passed since the last tick it gave the core, and gives the core that many.

use std::time::{Duration, Instant};

pub(crate) struct Clock {
    interval: Duration,
    /// The instant the next tick falls due.
    next: Instant,
    /// Most ticks given in one catch-up. Past a few election timeouts, more ticks change
    /// nothing the core decides (every timeout, lease and expiry has run out), and giving them
    /// one by one would only queue heartbeats nobody needs.
    catch_up_max: u64,
}

impl Clock {
    pub(crate) fn new(interval: Duration, catch_up_max: u64, now: Instant) -> Clock {
        assert!(!interval.is_zero(), "the tick interval must be positive");
        assert!(catch_up_max >= 1);
        Clock {
            interval,
            next: now + interval,
            catch_up_max,
        }
    }

    /// The ticks due at `now` (at most `catch_up_max`), counted as given.
    pub(crate) fn due(&mut self, now: Instant) -> u64 {
        if now < self.next {
            return 0;
        }
        let late = now.duration_since(self.next);
        let whole = (late.as_nanos() / self.interval.as_nanos()) as u64 + 1;
        // Kept on the grid of tick instants, so ticks neither drift nor bunch up.
        self.next += self.interval * u32::try_from(whole).unwrap_or(u32::MAX);
        if self.next <= now {
            // Only when the multiplication saturated: start the grid again from now.
            self.next = now + self.interval;
        }
        whole.min(self.catch_up_max)
    }

    /// Throws away the time passed so far (a paused node's clock stands still).
    pub(crate) fn skip(&mut self, now: Instant) {
        self.due(now);
    }

    /// How long until the next tick falls due.
    pub(crate) fn until_next(&self, now: Instant) -> Duration {
        self.next.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ticks_follow_elapsed_time_not_wakeups() {
        let t0 = Instant::now();
        let mut c = Clock::new(10 * MS, 1000, t0);
        assert_eq!(c.due(t0 + 5 * MS), 0);
        assert_eq!(c.due(t0 + 10 * MS), 1);
        assert_eq!(c.due(t0 + 19 * MS), 0);
        // A stall of 3 s is 300 ticks, however few wakeups the driver had.
        assert_eq!(c.due(t0 + 3010 * MS), 300);
        assert_eq!(c.until_next(t0 + 3012 * MS), 8 * MS);
    }

    #[test]
    fn a_long_stall_is_capped_and_paused_time_is_skipped() {
        let t0 = Instant::now();
        let mut c = Clock::new(10 * MS, 50, t0);
        assert_eq!(c.due(t0 + 3600 * 1000 * MS), 50);
        c.skip(t0 + 7200 * 1000 * MS);
        assert_eq!(c.due(t0 + 7200 * 1000 * MS + 10 * MS), 1);
    }
}
