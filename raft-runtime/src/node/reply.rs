//! Where a request's answer goes: a channel of its own (the `_async` methods), or a
//! [`Completions`] sink shared by a whole batch, each answer carrying its request's tag.

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::error::Error;

/// Where the answers to a batch of requests go ([`Node::propose_batch`](crate::Node::propose_batch)
/// and the batch reads): each answer arrives once, with the tag its request was given, from
/// whichever of the node's threads settles it (usually the apply thread).
///
/// An event loop implements it by queueing the answer and waking itself, so thousands of
/// requests cost no channel and no thread each. `complete` runs on the node's threads: it must
/// not block (queue and return).
pub trait Completions<T>: Send + Sync + 'static {
    /// The request tagged `tag` is settled with `result`.
    fn complete(&self, tag: u64, result: Result<T, Error>);
}

/// One request's way back to its client.
pub(crate) enum Reply<T> {
    /// A channel of its own, with room for the one answer.
    Channel(Sender<Result<T, Error>>),
    /// A batch's sink, and this request's tag in it.
    Tagged(Arc<dyn Completions<T>>, u64),
}

impl<T: 'static> Reply<T> {
    /// Answers. A client that stopped waiting is not an error.
    pub(crate) fn send(self, result: Result<T, Error>) {
        match self {
            Reply::Channel(tx) => {
                let _ = tx.send(result);
            }
            Reply::Tagged(sink, tag) => sink.complete(tag, result),
        }
    }
}
