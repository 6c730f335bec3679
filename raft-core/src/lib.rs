//! `raft-core`: the Raft consensus protocol as a deterministic state machine.
//!
//! # Invariant: no I/O, no clock, no threads
//!
//! This crate never touches the network, the disk, the system clock or a thread. Time enters only
//! through [`Raft::tick`], randomness only from [`Config::seed`], and everything else through the
//! input methods below. Given the same configuration and the same sequence of inputs, a node
//! produces exactly the same outputs, which is what lets a simulator replay any run from its seed.
//!
//! # The contract
//!
//! A [`Raft`] has four kinds of methods:
//!
//! - **Getters** (`&self`): [`Raft::role`], [`Raft::term`], [`Raft::leader`],
//!   [`Raft::commit_index`], [`Raft::progress`] and the like.
//! - **Inputs** (`&mut self`), which only record what happened and queue work:
//!   [`Raft::step`] (a message from a peer), [`Raft::tick`] (one unit of logical time),
//!   [`Raft::propose`], [`Raft::read_index`], [`Raft::transfer_leadership`],
//!   [`Raft::propose_membership`], [`Raft::compact`] (the caller took a snapshot of its state
//!   machine), [`Raft::snapshot_chunk`] (a chunk of that snapshot the core asked to read), and
//!   the caller's acknowledgements [`Raft::handle_persisted`] and [`Raft::handle_applied`].
//!   Requests return an id at once, or a typed [`RejectReason`] when they cannot be taken.
//! - **Output**: [`Raft::ready`] drains everything waiting into one [`Ready`];
//!   [`Raft::has_ready`] says whether there is anything to drain.
//!
//! The caller's loop is: feed every input that has arrived, call `ready` once, then carry out
//! the `Ready` in this order:
//!
//! 1. **`messages`**: send them, now, in any order. They never depend on persistence that has
//!    not happened: a leader's appends go out while the leader persists the same entries itself
//!    (Raft thesis 10.2.1), and the core holds back any message of a follower or candidate (an
//!    append acknowledgement, a granted vote) until the persist it depends on is durable.
//! 2. **`persist`**: make it durable, then send **`persisted_messages`** (the messages that
//!    depend on exactly this persist) and call [`Raft::handle_persisted`] with its id. Write
//!    first its `snapshot_chunks` (pieces of a snapshot arriving from the leader), then its
//!    `snapshot`, if any (a snapshot from the leader, now whole, that replaces the whole stored
//!    log), then its hard state and entries. If `entries` starts at or below the last index
//!    already stored, drop the stored suffix from that index first. Requests must complete in id
//!    order; acknowledging an id acknowledges all earlier ones. The order of writes within one
//!    request does not matter for safety: the hard state's commit index never covers entries
//!    that are not durable yet. Persisting may run on another thread while the caller goes on
//!    calling inputs and `ready`: at most [`Config::inflight_persists_max`] requests are out at
//!    once. A message that depends on an earlier persist still in flight is held in the core and
//!    comes out in `messages` of a `Ready` after that persist is acknowledged; a caller that
//!    persists each `Ready` before the next never sees that case, and gets everything from one
//!    `Ready`.
//! 3. **`snapshot_reads`**: chunks of the caller's snapshot that the leader wants to send to a
//!    follower; read each (on another thread if reading is slow) and hand it back with
//!    [`Raft::snapshot_chunk`]. One that is never answered (the snapshot was replaced) is asked
//!    again later.
//! 4. **`events`**: outcomes of earlier requests ([`Event::ProposalAppended`],
//!    [`Event::ReadReady`], [`Event::Rejected`], ...) and role changes. They come before
//!    `committed` because they can name entries in it: a follower that forwarded a proposal may
//!    take the leader's answer and the append that commits the entry before it calls `ready`,
//!    and then gets the `ProposalAppended` and the entry in the same `Ready`; handled in this
//!    order, the caller learns where its proposal is before the entry is applied. A read named by
//!    `ReadReady { index }` may be served once the state machine has applied `index`, which may
//!    take the `committed` entries of this same `Ready`.
//! 5. **`snapshot`**, then **`committed`**: a snapshot received from the leader, once durable,
//!    replaces the state machine's state (read from what the caller stored); then apply the committed entries in order (skip
//!    [`EntryKind::Blank`] and [`EntryKind::Membership`] ones) and call [`Raft::handle_applied`].
//!    They are committed and durable on this node.
//!
//! One case comes out of this order: a proposal forwarded to the leader learns its position
//! from the leader's answer, and a network that reorders messages can deliver that answer after
//! the entry itself reached this node and was applied. Its `ProposalAppended` then names an
//! index the caller has already applied. The caller either answers from results it keeps for
//! recent entries (the entry at `index` with `term` is the proposal's), or reports that the
//! outcome is unknown; `raft-runtime` keeps a bounded window of recent results for this.
//!
//! Nothing the caller asks for is dropped silently: every proposal and read ends in an event (or
//! is refused by the call itself), including when leadership changes under it.
//!
//! # Example
//!
//! A one-node cluster driven by the loop above, with "storage" that is durable at once:
//!
//! ```
//! use raft_core::{Config, EntryKind, Event, Raft, Role};
//!
//! // The seed must differ at every start; a real caller draws it from the OS.
//! let mut node = Raft::new(Config::new(1, vec![1], 0x5EED)).unwrap();
//! let mut applied = Vec::new();
//! let mut drive = |node: &mut Raft, applied: &mut Vec<Vec<u8>>| {
//!     while node.has_ready() {
//!         let ready = node.ready();
//!         assert!(ready.messages.is_empty(), "no peers to talk to");
//!         if let Some(persist) = ready.persist {
//!             // Write persist.hard_state and persist.entries durably here, then send
//!             // ready.persisted_messages (none: no peers).
//!             node.handle_persisted(persist.id);
//!         }
//!         for entry in &ready.committed {
//!             if entry.kind == EntryKind::Command {
//!                 applied.push(entry.data.to_vec());
//!             }
//!         }
//!         if let Some(last) = ready.committed.last() {
//!             node.handle_applied(last.index);
//!         }
//!     }
//! };
//! while node.role() != Role::Leader {
//!     node.tick();
//!     drive(&mut node, &mut applied);
//! }
//! node.propose("hello".into()).unwrap();
//! drive(&mut node, &mut applied);
//! assert_eq!(applied, vec![b"hello".to_vec()]);
//!
//! let read = node.read_index().unwrap();
//! let ready = node.ready();
//! assert!(ready.events.contains(&Event::ReadReady { id: read, index: node.commit_index() }));
//! ```
//!
//! # What the core keeps in memory
//!
//! The log since the last compaction point, so it can send entries to followers without asking
//! the caller. Of the newest snapshot, only where it stands and its size: the caller keeps the
//! data, and the core asks for it chunk by chunk when a follower falls behind the compaction
//! point, one chunk in flight per follower. A snapshot arriving from the leader goes to the
//! caller chunk by chunk as it arrives, so no snapshot is ever whole in memory.
//!
//! # Membership
//!
//! A node uses the newest membership in its log, committed or not; a change of voters always
//! passes through a joint membership (old and new voters must both agree). See
//! [`Raft::propose_membership`] and [`Membership`].
#![warn(missing_docs)]

mod config;
mod error;
mod log;
mod membership;
mod message;
mod quorum;
mod raft;
mod rng;
mod tracker;
mod types;

pub use config::{Config, ReadMode};
pub use error::{CompactError, ConfigError, RejectReason, RestoreError, StartError};
pub use membership::{ChangeStep, Membership, MembershipChange};
pub use message::{
    AppendOutcome, Message, MessageBody, ProposalId, ProposeOutcome, ReadId, ReadOutcome,
};
pub use raft::ready::{Event, Request};
pub use raft::{Persist, PersistId, ProgressView, Raft, Ready, Restore, StepError};
pub use tracker::ProgressState;
pub use types::{
    Entry, EntryKind, HardState, Index, NodeId, Payload, Role, Snapshot, SnapshotChunk,
    SnapshotMeta, SnapshotRead, Term, ENTRY_OVERHEAD_BYTES,
};
