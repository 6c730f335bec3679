//! What the application plugs in: the replicated state machine.

use raft_core::Index;

/// A deterministic state machine: the same commands in the same order always give the same
/// state and the same responses. The runtime calls it from its apply thread only.
///
/// Commands are bytes, because they travel through the log and over the network. Queries and
/// responses never leave the process, so they are the application's own types: the runtime
/// hands a response to the caller waiting on its entry (or read) as it is, with no encoding.
pub trait StateMachine: Send + 'static {
    /// A read-only question, answered by [`StateMachine::query`].
    type Query: Send + 'static;
    /// The answer to a command or a query.
    type Response: Send + 'static;

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

    /// The whole state, serialized.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the whole state with one serialized by `snapshot`.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
}
