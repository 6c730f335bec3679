//! The storage thread: takes every persist request waiting and makes them durable together,
//! one sync for the batch (group commit). The driver keeps heartbeating meanwhile.

use crossbeam_channel::{Receiver, Sender};

use super::jobs::{StorageDone, StorageJob};
use crate::storage::Storage;

pub(crate) fn run(
    mut storage: impl Storage,
    jobs: Receiver<StorageJob>,
    done: Sender<StorageDone>,
) {
    let mut batch = Vec::new();
    while let Ok(job) = jobs.recv() {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                StorageJob::Persist(p) => batch.push(p),
                StorageJob::SaveSnapshot(s) => {
                    // In order: what was queued before the snapshot is written first.
                    if !flush(&mut storage, &mut batch, &done) {
                        return;
                    }
                    if let Err(e) = storage.save_snapshot(&s) {
                        let _ = done.send(StorageDone::Failed(e));
                        return;
                    }
                }
            }
            next = jobs.try_recv().ok();
        }
        if !flush(&mut storage, &mut batch, &done) {
            return;
        }
    }
}

/// Writes the batch; false when storage failed (the node must stop).
fn flush(
    storage: &mut impl Storage,
    batch: &mut Vec<raft_core::Persist>,
    done: &Sender<StorageDone>,
) -> bool {
    let Some(last) = batch.last().map(|p| p.id) else {
        return true;
    };
    match storage.persist(batch) {
        Ok(()) => {
            batch.clear();
            done.send(StorageDone::Persisted(last)).is_ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "storage failed; the node stops");
            let _ = done.send(StorageDone::Failed(e));
            false
        }
    }
}
