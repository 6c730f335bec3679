//! The storage thread: takes every persist request waiting and makes them durable together,
//! one sync for the batch (group commit), then sends the messages that waited on it (a
//! follower's acknowledgements, a vote) itself when it has a transport handle, one hand-off
//! sooner than through the driver. The driver keeps heartbeating meanwhile.

use crossbeam_channel::{Receiver, Sender};
use raft_core::{Message, Persist};

use super::jobs::{StorageDone, StorageJob};
use crate::storage::Storage;
use crate::transport::Transport;

/// What waits for the next sync.
struct Pending {
    batch: Vec<Persist>,
    messages: Vec<Message>,
}

pub(crate) fn run(
    mut storage: impl Storage,
    jobs: Receiver<StorageJob>,
    done: Sender<StorageDone>,
    mut transport: Option<Box<dyn Transport>>,
) {
    let mut pending = Pending {
        batch: Vec::new(),
        messages: Vec::new(),
    };
    while let Ok(job) = jobs.recv() {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                StorageJob::Persist(p, messages) => {
                    pending.batch.push(p);
                    pending.messages.extend(messages);
                }
                StorageJob::SaveSnapshot(s) => {
                    // In order: what was queued before the snapshot is written first.
                    if !flush(&mut storage, &mut pending, &done, &mut transport) {
                        return;
                    }
                    if let Err(e) = storage.save_snapshot(&s) {
                        let _ = done.send(StorageDone::Failed(e));
                        return;
                    }
                }
                StorageJob::DiscardSnapshot(index) => storage.snapshots().discard(index),
            }
            next = jobs.try_recv().ok();
        }
        if !flush(&mut storage, &mut pending, &done, &mut transport) {
            return;
        }
    }
}

/// Writes the batch and sends (or hands back) its messages; false when storage failed (the
/// node must stop, and the messages, which would claim durability, are never sent).
fn flush(
    storage: &mut impl Storage,
    pending: &mut Pending,
    done: &Sender<StorageDone>,
    transport: &mut Option<Box<dyn Transport>>,
) -> bool {
    let Some(last) = pending.batch.last().map(|p| p.id) else {
        return true;
    };
    match storage.persist(&pending.batch) {
        Ok(()) => {
            pending.batch.clear();
            let mut messages = std::mem::take(&mut pending.messages);
            if let Some(t) = transport {
                if !messages.is_empty() {
                    t.send(std::mem::take(&mut messages));
                }
            }
            done.send(StorageDone::Persisted(last, messages)).is_ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failed; the node stops");
            let _ = done.send(StorageDone::Failed(e));
            false
        }
    }
}
