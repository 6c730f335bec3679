//! What the application plugs in: the replicated state machine, and the point-in-time image of
//! it that a snapshot is made from.

use std::io::{Read, Write};

use raft_core::Index;

/// A deterministic state machine: the same commands in the same order always give the same
/// state and the same responses. The runtime calls it from its apply thread only.
///
/// Commands are bytes, because they travel through the log and over the network. Queries and
/// responses never leave the process, so they are the application's own types: the runtime
/// hands a response to the caller waiting on its entry (or read) as it is, with no encoding.
///
/// Snapshots are taken in two steps, so that applying never waits for one: the apply thread
/// asks for a [`StateMachine::Snapshot`] image of the state as it is (which should cost next to
/// nothing: a persistent, structurally shared map makes it a pointer copy), and the runtime's
/// snapshot thread writes that image out while applies go on.
pub trait StateMachine: Send + 'static {
    /// A read-only question, answered by [`StateMachine::query`].
    type Query: Send + 'static;
    /// The answer to a command or a query.
    type Response: Send + 'static;
    /// An immutable image of the state at one log position.
    type Snapshot: SnapshotImage;

    /// Applies one committed command (at log position `index`) and returns the response for the
    /// client that proposed it.
    fn apply(&mut self, index: Index, command: &[u8]) -> Self::Response;

    /// Applies committed commands in order and returns exactly one response per command, in the
    /// same order (the runtime stops the node if the count differs). Override to batch work.
    fn apply_batch(&mut self, commands: &[(Index, &[u8])]) -> Vec<Self::Response> {
        commands.iter().map(|(i, c)| self.apply(*i, c)).collect()
    }

    /// Answers a read-only query against the current state.
    fn query(&self, query: &Self::Query) -> Self::Response;

    /// An image of the state after the last command applied. Called on the apply thread, which
    /// waits for it: make it cheap (a `Vec<u8>` of the whole state works, but stalls every
    /// apply and reply for as long as it takes to build).
    fn snapshot(&self) -> Self::Snapshot;

    /// Replaces the whole state with one an image wrote ([`SnapshotImage::write_to`]), read as
    /// a stream: the runtime never holds a whole snapshot in memory to restore it.
    fn restore(&mut self, data: &mut dyn Read) -> Result<(), String>;
}

/// A point-in-time image of a state machine, written out on the runtime's snapshot thread while
/// the state machine itself goes on applying.
pub trait SnapshotImage: Send + 'static {
    /// Writes the image as [`StateMachine::restore`] reads it.
    fn write_to(self, out: &mut dyn Write) -> std::io::Result<()>;
}

/// The serialized state itself, for state machines small enough to copy whole.
impl SnapshotImage for Vec<u8> {
    fn write_to(self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(&self)
    }
}
