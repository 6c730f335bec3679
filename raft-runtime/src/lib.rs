//! `raft-runtime`: runs the `raft-core` protocol on threads, with pluggable storage, transport and
//! state machine.
//!
//! A [`Node`] has five threads:
//! - the **driver** owns the core, takes every message, client request, tick and
//!   acknowledgement waiting, and carries out the core's `Ready`. It never touches the disk or the
//!   state machine, so heartbeats never wait behind that work;
//! - the **storage** thread takes every persist request waiting and makes them durable with one
//!   sync (group commit), while the leader's appends are already on their way to followers;
//! - the **apply** thread runs the [`StateMachine`], answers the clients waiting on each entry,
//!   serves reads once their index is applied, and captures a point-in-time image of the state
//!   when a snapshot is due;
//! - the **snapshot** thread writes that image straight into the storage's [`SnapshotStore`]
//!   while applies go on, so that a snapshot's cost never lands on the apply path;
//! - the **snapshot reader** thread reads the chunks of the snapshot that the leader sends to
//!   followers behind its log, from the store, one chunk at a time.
//!
//! The pieces an application provides or picks: a [`StateMachine`], a [`Storage`]
//! ([`MemStorage`] here) and a [`Transport`] ([`MemNetwork`] for one process).
#![warn(missing_docs)]

mod config;
mod error;
mod node;
mod state_machine;
pub mod storage;
pub mod transport;

/// The protocol core this runtime drives, for what the re-exports below do not cover.
pub use raft_core;
/// The core's types that a runtime user meets: ids, roles, the protocol's configuration,
/// membership changes, why a request was refused, and what custom storage and transports
/// handle.
pub use raft_core::{
    ChangeStep, Config as RaftConfig, Entry, EntryKind, HardState, Index, Membership,
    MembershipChange, Message, NodeId, Payload, Persist, PersistId, ProgressView, ReadMode,
    RejectReason, Restore, Role, Snapshot, SnapshotChunk, SnapshotMeta, SnapshotRead, StartError,
    Term,
};

pub use config::{NodeConfig, SnapshotPolicy};
pub use error::Error;
pub use node::{Answer, Completions, Node, Recovery, Status};
pub use state_machine::{SnapshotImage, StateMachine};
pub use storage::{
    DiskOptions, DiskStorage, MemStorage, SnapshotStore, SnapshotWriter, Storage, StorageError,
    SyncPolicy,
};
pub use transport::{inbound_channel, Inbound, Inbox, MemNetwork, MemTransport, Transport};
