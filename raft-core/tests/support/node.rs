//! What one simulated node holds: its Raft (while up), its "disk", its state machine, and the
//! fault rates the simulator applies.

use std::collections::VecDeque;

use raft_core::{
    Config, Entry, Event, HardState, Index, Message, Payload, Persist, Raft, Snapshot,
};

/// Fault rates, in per mille per opportunity.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub drop: u64,
    pub duplicate: u64,
    /// Chance that a delivery takes a random message of the link instead of the oldest.
    pub reorder: u64,
    /// Messages become deliverable up to this many ticks after they are sent.
    pub delay_ticks_max: u64,
    pub crash: u64,
    pub partition: u64,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            drop: 0,
            duplicate: 0,
            reorder: 0,
            delay_ticks_max: 0,
            crash: 0,
            partition: 0,
        }
    }

    pub fn harsh() -> Faults {
        Faults {
            drop: 100,
            duplicate: 50,
            reorder: 150,
            delay_ticks_max: 3,
            crash: 4,
            partition: 4,
        }
    }
}

/// What a node has on "disk".
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    /// The snapshot's data.
    pub snapshot_data: Payload,
    /// Chunks of a snapshot from the leader written so far.
    pub incoming: Vec<u8>,
    /// The log after the snapshot.
    pub entries: Vec<Entry>,
}

impl Durable {
    pub(super) fn base(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }

    pub(super) fn write(&mut self, p: &Persist) {
        if let Some(hs) = p.hard_state {
            self.hard_state = hs;
        }
        for c in &p.snapshot_chunks {
            if c.offset == 0 {
                self.incoming.clear();
            }
            assert_eq!(
                c.offset,
                self.incoming.len() as u64,
                "chunks are written in order"
            );
            self.incoming.extend_from_slice(&c.data);
        }
        if let Some(snapshot) = &p.snapshot {
            assert_eq!(
                self.incoming.len() as u64,
                snapshot.bytes,
                "the snapshot is whole"
            );
            self.snapshot_data = Payload::copy_from_slice(&std::mem::take(&mut self.incoming));
            self.snapshot = Some((**snapshot).clone());
            self.entries.clear();
        }
        if let Some(first) = p.entries.first() {
            let keep = (first.index - self.base() - 1) as usize;
            self.entries.truncate(keep);
            self.entries.extend(p.entries.iter().cloned());
        }
    }

    /// The snapshot is durable: entries it covers are deleted.
    pub(super) fn compacted(&mut self, snapshot: Snapshot, data: Payload) {
        let drop = (snapshot.meta.index - self.base()) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = Some(snapshot);
        self.snapshot_data = data;
    }

    /// The chunk of the durable snapshot that `read` asks for, if that snapshot is still here.
    pub(super) fn read(&self, read: &raft_core::SnapshotRead) -> Option<Payload> {
        let here = self.snapshot.as_ref()?.meta.index == read.index;
        let from = read.offset as usize;
        let to = from + read.len as usize;
        here.then(|| Payload::copy_from_slice(&self.snapshot_data[from..to]))
    }
}

/// The simulated state machine: a running hash of everything applied. Two nodes at the same
/// index must have the same hash, however they got there (replay, or snapshot plus tail).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateMachine {
    pub index: Index,
    pub hash: u64,
}

/// Snapshots carry this many filler bytes after the state, so that they travel in several chunks.
const SNAPSHOT_FILLER_BYTES: usize = 2500;

impl StateMachine {
    pub(super) fn apply(&mut self, e: &Entry) {
        let mut h =
            self.hash ^ e.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ e.term.rotate_left(29);
        for b in e.data.iter() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3);
        }
        self.hash = h.rotate_left(7);
        self.index = e.index;
    }

    pub(super) fn encode(&self) -> Payload {
        let mut v = Vec::with_capacity(16 + SNAPSHOT_FILLER_BYTES);
        v.extend_from_slice(&self.index.to_le_bytes());
        v.extend_from_slice(&self.hash.to_le_bytes());
        v.extend((0..SNAPSHOT_FILLER_BYTES).map(|i| (i % 251) as u8));
        Payload::copy_from_slice(&v)
    }

    pub(super) fn decode(data: &[u8]) -> StateMachine {
        assert_eq!(
            data.len(),
            16 + SNAPSHOT_FILLER_BYTES,
            "snapshot arrived whole"
        );
        StateMachine {
            index: u64::from_le_bytes(data[..8].try_into().expect("8 bytes")),
            hash: u64::from_le_bytes(data[8..16].try_into().expect("8 bytes")),
        }
    }
}

pub struct SimNode {
    pub raft: Option<Raft>,
    pub config: Config,
    pub durable: Durable,
    /// Persists handed out and not yet durable, each with the messages to send once it is.
    pub pending_persists: VecDeque<(Persist, Vec<Message>)>,
    /// Entries applied in this incarnation, in order (payloads of non-commands emptied).
    pub applied: Vec<Entry>,
    pub sm: StateMachine,
    pub events: Vec<Event>,
    /// A snapshot image taken and still being "written" (in the background, as the runtime's
    /// snapshot thread does): its index and data.
    pub pending_snapshot: Option<(Index, Payload)>,
}

impl SimNode {
    pub fn raft(&self) -> &Raft {
        self.raft.as_ref().expect("node is down")
    }

    pub fn raft_mut(&mut self) -> &mut Raft {
        self.raft.as_mut().expect("node is down")
    }

    pub fn is_up(&self) -> bool {
        self.raft.is_some()
    }

    pub fn applied_index(&self) -> Index {
        self.sm.index
    }
}
