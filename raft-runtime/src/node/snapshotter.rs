//! The snapshot thread: writes out the point-in-time images the apply thread captures, straight
//! into the snapshot store, while the apply thread goes on applying, and hands each finished
//! snapshot to the driver. And the snapshot reader thread, which reads the chunks the leader
//! sends to followers out of the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use raft_core::{Index, Payload, SnapshotRead};

use super::jobs::ApplyDone;
use crate::config::SnapshotPolicy;
use crate::state_machine::SnapshotImage;
use crate::storage::{SnapshotStore, StorageError};

/// An image of the state machine after entry `index` was applied.
pub(crate) struct SnapshotJob<I> {
    pub(crate) index: Index,
    pub(crate) image: I,
}

/// The apply thread's side: when a snapshot is due, and the hand-off to the snapshot thread.
/// At most one snapshot is being written at a time; while one is, no other is started.
pub(crate) struct Snapshots<I> {
    policy: SnapshotPolicy,
    jobs: Sender<SnapshotJob<I>>,
    shared: Arc<Shared>,
    /// Where the last snapshot (taken or restored) was.
    last_index: Index,
    /// Command bytes applied since then.
    log_bytes: u64,
}

/// What the two threads share.
#[derive(Default)]
struct Shared {
    /// A snapshot is being written.
    busy: AtomicBool,
    /// The size of the last snapshot written, which sets when the next is due.
    last_bytes: AtomicU64,
}

impl<I: SnapshotImage> Snapshots<I> {
    /// The apply thread's side, and the snapshot thread's work (to run on its own thread).
    pub(crate) fn new(
        policy: SnapshotPolicy,
        applied: Index,
        store: Arc<dyn SnapshotStore>,
        done: Sender<ApplyDone>,
    ) -> (Snapshots<I>, impl FnOnce() + Send + 'static) {
        // One image in the channel at most: `busy` is set before it is sent, and cleared only
        // once it has been written.
        let (jobs, rx) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared::default());
        let worker = {
            let shared = shared.clone();
            move || write_images(rx, &*store, done, &shared)
        };
        let snapshots = Snapshots {
            policy,
            jobs,
            shared,
            last_index: applied,
            log_bytes: 0,
        };
        (snapshots, worker)
    }

    /// `bytes` of commands were applied.
    pub(crate) fn applied_bytes(&mut self, bytes: u64) {
        self.log_bytes += bytes;
    }

    /// The state was replaced by a snapshot of `index` (`bytes` large, if known).
    pub(crate) fn restored(&mut self, index: Index, bytes: Option<u64>) {
        self.last_index = index;
        self.log_bytes = 0;
        if let Some(b) = bytes {
            self.shared.last_bytes.store(b, Ordering::Relaxed);
        }
    }

    /// Whether a snapshot is due at `applied` and none is being written.
    pub(crate) fn due(&self, applied: Index) -> bool {
        let entries = applied.saturating_sub(self.last_index);
        let last_bytes = self.shared.last_bytes.load(Ordering::Relaxed);
        entries > 0
            && self.policy.due(entries, self.log_bytes, last_bytes)
            && !self.shared.busy.load(Ordering::Acquire)
    }

    /// Hands the image of the state after `index` to the snapshot thread. False when that
    /// thread is gone.
    pub(crate) fn start(&mut self, index: Index, image: I) -> bool {
        self.shared.busy.store(true, Ordering::Release);
        self.last_index = index;
        self.log_bytes = 0;
        match self.jobs.try_send(SnapshotJob { index, image }) {
            Ok(()) => true,
            // `busy` was clear, so the thread had taken the last image and has room for this.
            Err(TrySendError::Full(_)) => unreachable!("a snapshot was started while busy"),
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The snapshot thread's loop: writes each image into the store, then hands the snapshot to
/// the driver.
fn write_images<I: SnapshotImage>(
    jobs: Receiver<SnapshotJob<I>>,
    store: &dyn SnapshotStore,
    done: Sender<ApplyDone>,
    shared: &Shared,
) {
    while let Ok(SnapshotJob { index, image }) = jobs.recv() {
        let written = store.create(index).and_then(|mut out| {
            image.write_to(&mut *out).map_err(|e| StorageError::Io {
                path: format!("the snapshot of entry {index}"),
                source: Arc::new(e),
            })?;
            out.finish()
        });
        let bytes = match written {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = done.send(ApplyDone::StorageFailed(e));
                return;
            }
        };
        shared.last_bytes.store(bytes, Ordering::Relaxed);
        shared.busy.store(false, Ordering::Release);
        if done
            .send(ApplyDone::SnapshotTaken { index, bytes })
            .is_err()
        {
            return;
        }
    }
}

/// The snapshot reader thread's loop: reads each chunk the core asked for and hands it to the
/// driver. A chunk of a snapshot replaced meanwhile is skipped: the core asks again.
pub(crate) fn serve_reads(
    reads: Receiver<SnapshotRead>,
    store: Arc<dyn SnapshotStore>,
    done: Sender<ApplyDone>,
) {
    while let Ok(read) = reads.recv() {
        match store.read(read.index, read.offset, read.len) {
            Ok(data) => {
                let chunk = ApplyDone::SnapshotChunk(read, Payload::from(&data[..]));
                if done.send(chunk).is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, index = read.index, "a snapshot chunk is gone"),
        }
    }
}
