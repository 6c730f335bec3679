//! Quorum arithmetic, and nothing else: given who acknowledged what, which index is committed and
//! who won a vote. It knows nothing of roles, logs or messages; the tracker feeds it numbers.
//!
//! A [`JointConfig`] is two [`MajorityConfig`]s. With the outgoing half empty it behaves exactly
//! like the incoming majority alone, because an empty majority "always agrees": its committed
//! index is `Index::MAX` and its vote is always won. So the rest of the core always works with a
//! joint configuration and membership changes need no special case.

mod joint;
mod majority;
#[cfg(test)]
mod properties;

pub use joint::JointConfig;
pub use majority::MajorityConfig;

/// The outcome of a vote so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// Enough voters refused that no quorum can grant any more.
    Lost,
    /// Neither yet.
    Pending,
}
