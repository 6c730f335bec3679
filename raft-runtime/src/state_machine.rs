//! What the application plugs in: the replicated state machine.

use raft_core::Index;

/// A deterministic state machine: the same commands in the same order always give the same
/// state and the same responses. The runtime calls it from its apply thread only.
pub trait StateMachine: Send + 'static {
    /// Applies one committed command (at log position `index`) and returns the response for the
    /// client that proposed it.
    fn apply(&mut self, index: Index, command: &[u8]) -> Vec<u8>;

    /// Applies committed commands in order, one response each. Override to batch work.
    fn apply_batch(&mut self, commands: &[(Index, &[u8])]) -> Vec<Vec<u8>> {
        commands.iter().map(|(i, c)| self.apply(*i, c)).collect()
    }

    /// Answers a read-only query against the current state.
    fn query(&self, query: &[u8]) -> Vec<u8>;

    /// The whole state, serialized.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the whole state with one serialized by `snapshot`.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
}
