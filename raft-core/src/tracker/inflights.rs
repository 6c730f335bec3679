//! The window of appends sent to one follower and not yet acknowledged.

use std::collections::VecDeque;

/// Appends in flight to one follower, bounded by message count and by bytes.
#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    /// `(last index carried, bytes carried)` per message, oldest first.
    window: VecDeque<(u64, u64)>,
    bytes: u64,
    messages_max: usize,
    bytes_max: u64,
}

impl Inflights {
    pub(crate) fn new(messages_max: usize, bytes_max: u64) -> Inflights {
        Inflights {
            window: VecDeque::new(),
            bytes: 0,
            messages_max,
            bytes_max,
        }
    }

    /// Full when either bound is reached; a new message waits for acknowledgements.
    pub(crate) fn is_full(&self) -> bool {
        self.window.len() >= self.messages_max || self.bytes >= self.bytes_max
    }

    pub(crate) fn add(&mut self, last_index: u64, bytes: u64) {
        debug_assert!(!self.is_full(), "inflight window overflow");
        debug_assert!(self
            .window
            .back()
            .is_none_or(|(last, _)| *last < last_index));
        self.window.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose entries are all at or below `index`.
    pub(crate) fn free_to(&mut self, index: u64) {
        while let Some(&(last, bytes)) = self.window.front() {
            if last > index {
                break;
            }
            self.window.pop_front();
            self.bytes -= bytes;
        }
    }

    pub(crate) fn reset(&mut self) {
        self.window.clear();
        self.bytes = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.window.len()
    }
}
