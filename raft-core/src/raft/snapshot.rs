//! Snapshots: compacting the log behind one, streaming it in chunks to a follower that needs
//! compacted entries, and receiving one from the leader.

use super::Raft;
use crate::error::CompactError;
use crate::message::{AppendOutcome, MessageBody};
use crate::types::{Index, NodeId, Payload, Snapshot, SnapshotMeta};

/// A snapshot arriving chunk by chunk.
#[derive(Debug)]
pub(super) struct IncomingSnapshot {
    meta: SnapshotMeta,
    total_bytes: u64,
    data: Vec<u8>,
}

impl Raft {
    /// The caller captured the state machine after applying every entry up to `index` in `data`.
    /// The core keeps the snapshot to send to followers that fall behind, and forgets the log
    /// entries before it, except the last `compaction_tail_entries`.
    pub fn compact(&mut self, index: Index, data: Payload) -> Result<(), CompactError> {
        let applied = self.log.applied();
        if index > applied {
            return Err(CompactError::NotApplied { index, applied });
        }
        let current = self.snapshot.as_ref().map_or(0, |s| s.meta.index);
        let Some(term) = self.log.term(index).filter(|_| index > current) else {
            return Err(CompactError::NotNewer { index, current });
        };
        let meta = SnapshotMeta {
            index,
            term,
            membership: self.log.membership_at(index).clone(),
        };
        self.snapshot = Some(Snapshot { meta, data });
        self.log
            .compact_to(index.saturating_sub(self.cfg.compaction_tail_entries));
        Ok(())
    }

    /// Sends `peer` the next chunk of the snapshot, starting over when a newer snapshot
    /// replaced the one it was getting. Returns false when there is no snapshot to send.
    pub(super) fn send_snapshot_chunk(&mut self, peer: NodeId) -> bool {
        let Some(snapshot) = &self.snapshot else {
            return false;
        };
        let index = snapshot.meta.index;
        let total_bytes = snapshot.data.len() as u64;
        let Some(pr) = self.tracker.progress_mut(peer) else {
            return false;
        };
        if pr.state() != crate::ProgressState::Snapshot || pr.snapshot_index() != index {
            pr.become_snapshot(index);
        }
        if pr.is_paused() {
            return true;
        }
        let offset = pr.snapshot_offset().min(total_bytes);
        let end = (offset + self.cfg.snapshot_chunk_bytes).min(total_bytes);
        pr.chunk_sent();
        let meta = Box::new(snapshot.meta.clone());
        let data = Payload::from(&snapshot.data[offset as usize..end as usize]);
        self.send(
            peer,
            MessageBody::InstallSnapshot {
                meta,
                offset,
                total_bytes,
                data,
            },
        );
        true
    }

    /// The leader learns how much of the snapshot a follower holds.
    pub(super) fn snapshot_chunk_answered(&mut self, peer: NodeId, index: Index, next_offset: u64) {
        if let Some(pr) = self.tracker.progress_mut(peer) {
            pr.mark_answered();
            pr.chunk_acked(index, next_offset);
            pr.want_send(true);
        }
    }

    /// A follower takes one chunk of the leader's snapshot.
    pub(super) fn handle_snapshot_chunk(
        &mut self,
        leader: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        total_bytes: u64,
        data: Payload,
    ) {
        let index = meta.index;
        if index <= self.log.commit() || self.log.term(index) == Some(meta.term) {
            // Nothing to install: the entries are here already (committed, or matching the
            // snapshot's last entry, which commits them).
            self.incoming_snapshot = None;
            self.commit_to(index);
            let match_index = self.log.commit().max(index.min(self.log.last_index()));
            self.send(
                leader,
                MessageBody::AppendResponse(AppendOutcome::Accepted { match_index }),
            );
            return;
        }
        if total_bytes > self.cfg.snapshot_bytes_max {
            // Larger than this node accepts: refuse it by never acknowledging a byte.
            self.incoming_snapshot = None;
            return;
        }
        let same = self
            .incoming_snapshot
            .as_ref()
            .is_some_and(|s| s.meta == meta && s.total_bytes == total_bytes);
        if !same {
            if offset != 0 {
                self.send(
                    leader,
                    MessageBody::SnapshotResponse {
                        index,
                        next_offset: 0,
                    },
                );
                return;
            }
            self.incoming_snapshot = Some(IncomingSnapshot {
                meta,
                total_bytes,
                data: Vec::new(),
            });
        }
        let incoming = self.incoming_snapshot.as_mut().expect("set above");
        let received = incoming.data.len() as u64;
        let fits = received + data.len() as u64 <= incoming.total_bytes;
        if offset != received || !fits {
            self.send(
                leader,
                MessageBody::SnapshotResponse {
                    index,
                    next_offset: received,
                },
            );
            return;
        }
        incoming.data.extend_from_slice(&data);
        if (incoming.data.len() as u64) < incoming.total_bytes {
            let next_offset = incoming.data.len() as u64;
            self.send(leader, MessageBody::SnapshotResponse { index, next_offset });
            return;
        }
        let IncomingSnapshot { meta, data, .. } = self.incoming_snapshot.take().expect("set above");
        self.install_snapshot(Snapshot {
            meta,
            data: Payload::copy_from_slice(&data),
        });
        self.send(
            leader,
            MessageBody::AppendResponse(AppendOutcome::Accepted { match_index: index }),
        );
    }

    /// Replaces this follower's log and membership with a complete snapshot from the leader.
    /// The caller gets it to persist, then (once durable) to restore the state machine from; the
    /// acknowledgement to the leader waits for the persist like every follower message.
    fn install_snapshot(&mut self, snapshot: Snapshot) {
        self.log.install_snapshot(snapshot.clone());
        self.follow_membership();
        self.snapshot = Some(snapshot);
    }
}
