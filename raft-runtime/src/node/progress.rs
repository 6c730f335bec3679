//! How far the apply thread has got, shared with the driver without a message per batch: the
//! driver reads it whenever it wakes (it wakes at every tick at least), and asks for a message
//! only while it is held back by the apply thread (too many entries committed and not applied).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use raft_core::Index;

/// Sequentially consistent, both of them: the driver sets its flag and then reads `applied`,
/// the apply thread stores `applied` and then reads the flag, so one of the two always sees
/// the other's write (with weaker orderings both could read the old values, and the driver
/// would hear of the batch only at its next tick).
pub(crate) struct ApplyProgress {
    applied: AtomicU64,
    /// The driver waits for the apply thread: each applied batch is reported by message.
    driver_waiting: AtomicBool,
}

impl ApplyProgress {
    pub(crate) fn new(applied: Index) -> ApplyProgress {
        ApplyProgress {
            applied: AtomicU64::new(applied),
            driver_waiting: AtomicBool::new(false),
        }
    }

    /// The apply thread: the state machine holds every entry through `index`.
    pub(crate) fn advance(&self, index: Index) {
        self.applied.store(index, Ordering::SeqCst);
    }

    pub(crate) fn applied(&self) -> Index {
        self.applied.load(Ordering::SeqCst)
    }

    /// The apply thread: whether the driver wants a message for this batch.
    pub(crate) fn driver_waiting(&self) -> bool {
        self.driver_waiting.load(Ordering::SeqCst)
    }

    /// The driver: whether it wants a message per applied batch.
    pub(crate) fn set_driver_waiting(&self, on: bool) {
        self.driver_waiting.store(on, Ordering::SeqCst);
    }
}
