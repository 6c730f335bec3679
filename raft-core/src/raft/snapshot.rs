//! Snapshots: compacting the log behind one, streaming it in chunks to a follower that needs
//! compacted entries (read by the caller, which keeps the data), and receiving one from the
//! leader (handed to the caller chunk by chunk to write).

use super::Raft;
use crate::error::CompactError;
use crate::message::{AppendOutcome, MessageBody};
use crate::types::{Index, NodeId, Payload, Snapshot, SnapshotChunk, SnapshotMeta, SnapshotRead};

/// A snapshot arriving chunk by chunk: how much of it has been handed out to be written.
#[derive(Debug)]
pub(super) struct IncomingSnapshot {
    meta: SnapshotMeta,
    total_bytes: u64,
    received: u64,
}

/// The most chunk reads waiting for the caller: a read the caller never answers is asked again
/// after the next heartbeat round, so this bounds the queue, not the protocol.
const SNAPSHOT_READS_MAX: usize = 1024;

impl Raft {
    /// The caller captured the state machine after applying every entry up to `index`, and keeps
    /// its `bytes` of data durably. The core sends it to followers that fall behind (asking the
    /// caller for its chunks), and forgets the log entries before it, except the last
    /// `compaction_tail_entries`.
    pub fn compact(&mut self, index: Index, bytes: u64) -> Result<(), CompactError> {
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
        self.snapshot = Some(Snapshot { meta, bytes });
        self.log
            .compact_to(index.saturating_sub(self.cfg.compaction_tail_entries));
        Ok(())
    }

    /// The caller read a chunk the core asked for ([`Ready::snapshot_reads`](crate::Ready)):
    /// it goes to the peer if that peer still waits for exactly it (the snapshot was not
    /// replaced, leadership not lost, the peer not moved on).
    pub fn snapshot_chunk(&mut self, read: &SnapshotRead, data: Payload) {
        let Some(snapshot) = self.snapshot.as_ref().filter(|_| self.is_leader()) else {
            return;
        };
        if snapshot.meta.index != read.index || data.len() as u64 != read.len {
            return;
        }
        let wanted = self.tracker.progress(read.peer).is_some_and(|pr| {
            pr.state() == crate::ProgressState::Snapshot
                && pr.snapshot_index() == read.index
                && pr.snapshot_offset() == read.offset
        });
        if !wanted {
            return;
        }
        let body = MessageBody::InstallSnapshot {
            meta: Box::new(snapshot.meta.clone()),
            offset: read.offset,
            total_bytes: snapshot.bytes,
            data,
        };
        self.send(read.peer, body);
    }

    /// Asks the caller for the next chunk of the snapshot for `peer`, starting over when a newer
    /// snapshot replaced the one it was getting. Returns false when there is no snapshot to
    /// send.
    pub(super) fn send_snapshot_chunk(&mut self, peer: NodeId) -> bool {
        let Some(snapshot) = &self.snapshot else {
            return false;
        };
        let (index, total_bytes) = (snapshot.meta.index, snapshot.bytes);
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
        let len = self.cfg.snapshot_chunk_bytes.min(total_bytes - offset);
        pr.chunk_sent();
        if self.snapshot_reads.len() < SNAPSHOT_READS_MAX {
            self.snapshot_reads.push(SnapshotRead {
                peer,
                index,
                offset,
                len,
            });
        }
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

    /// A follower takes one chunk of the leader's snapshot: hands it out to be written, and
    /// acknowledges it once it is.
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
        if self.log.has_snapshot_to_persist() {
            // A snapshot just completed is not handed out to be written yet; a chunk of another
            // must not be written before it. The leader sends it again.
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
                meta: meta.clone(),
                total_bytes,
                received: 0,
            });
        }
        let incoming = self.incoming_snapshot.as_mut().expect("set above");
        let received = incoming.received;
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
        incoming.received += data.len() as u64;
        let next_offset = incoming.received;
        let complete = next_offset == incoming.total_bytes;
        self.log.write_snapshot_chunk(SnapshotChunk {
            meta,
            offset,
            total_bytes,
            data,
        });
        if !complete {
            // Sent once the chunk is written: a follower's messages wait for its persists.
            self.send(leader, MessageBody::SnapshotResponse { index, next_offset });
            return;
        }
        let IncomingSnapshot {
            meta, total_bytes, ..
        } = self.incoming_snapshot.take().expect("set above");
        self.install_snapshot(Snapshot {
            meta,
            bytes: total_bytes,
        });
        self.send(
            leader,
            MessageBody::AppendResponse(AppendOutcome::Accepted { match_index: index }),
        );
    }

    /// Replaces this follower's log and membership with a complete snapshot from the leader.
    /// The caller gets it to persist (its chunks written before it), then (once durable) to
    /// restore the state machine from; the acknowledgement to the leader waits for the persist
    /// like every follower message.
    fn install_snapshot(&mut self, snapshot: Snapshot) {
        self.log.install_snapshot(snapshot.clone());
        self.follow_membership();
        self.snapshot = Some(snapshot);
    }
}
