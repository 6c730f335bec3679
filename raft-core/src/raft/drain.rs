//! `ready`: turning everything the inputs produced into one batch of actions.

use super::ready::{Event, InflightPersist, Persist, Ready};
use super::{Raft, RoleState};

/// Most messages held back waiting for persistence.
const GATED_MESSAGES_MAX: usize = 1 << 16;

impl Raft {
    /// Whether `ready` would return anything.
    pub fn has_ready(&self) -> bool {
        let hs = self.persistable_hard_state();
        let persist_room = self.persist.inflight.len() < self.cfg.inflight_persists_max;
        let persist_wanted = self.log.has_unpersisted() || hs != self.persist.emitted_hard_state;
        if !self.outbox.is_empty()
            || !self.events.is_empty()
            || !self.snapshot_reads.is_empty()
            || (persist_wanted && persist_room)
            || self
                .log
                .has_committed_to_apply(self.cfg.unapplied_entries_max)
            || (self.role(), self.term, self.leader) != self.reported
        {
            return true;
        }
        match &self.role {
            RoleState::Leader(ls) => {
                ls.commit_broadcast_wanted
                    || ls.reads.has_work()
                    || ls
                        .reads
                        .first_waiting_seq()
                        .is_some_and(|seq| seq <= self.tracker.confirmed_read_seq())
                    || self.tracker.iter().any(|(id, pr)| {
                        id != self.id && (pr.send_wanted() || pr.nudge_wanted()) && !pr.is_paused()
                    })
            }
            _ => {
                !self.forwarded.proposal_buffer.is_empty() || !self.forwarded.read_buffer.is_empty()
            }
        }
    }

    /// Drains every action waiting. Batching falls out of calling this once after feeding all
    /// inputs that arrived: proposals made since the last call travel in one append per follower
    /// and are persisted in one request.
    pub fn ready(&mut self) -> Ready {
        if self.is_leader() {
            self.flush_reads();
            self.flush_appends();
        } else {
            self.flush_forwarded();
        }
        let mut ready = Ready::default();

        let hs = self.persistable_hard_state();
        let emitted = self.persist.emitted_hard_state;
        let critical_hs = hs.term != emitted.term || hs.vote != emitted.vote;
        let critical_pending = critical_hs || self.log.has_unpersisted();
        // A message that claims durable state must wait for the persist that makes it durable;
        // when that persist cannot be handed out yet (too many in flight), it waits for the next.
        let gate = if critical_pending {
            Some(self.persist.next_id)
        } else {
            self.persist.gate()
        };
        if (critical_pending || hs != emitted)
            && self.persist.inflight.len() < self.cfg.inflight_persists_max
        {
            let (snapshot_chunks, snapshot, entries) = self.log.take_unpersisted();
            let id = self.persist.next_id;
            self.persist.next_id += 1;
            if critical_pending {
                self.persist.last_critical = id;
            }
            let hard_state = (hs != emitted).then_some(hs);
            self.persist.inflight.push_back(InflightPersist {
                id,
                last_index: self.log.last_index(),
                last_term: self.log.last_term(),
                hard_state,
            });
            self.persist.emitted_hard_state = hs;
            ready.persist = Some(Persist {
                id,
                hard_state,
                snapshot_chunks,
                snapshot,
                entries,
            });
        }

        let handed_out = ready.persist.as_ref().map(|p| p.id);
        for out in self.outbox.drain(..) {
            match (out.needs_durability, gate) {
                // Waits for the persist in this same `Ready`: the caller sends it after that.
                (true, Some(g)) if Some(g) == handed_out => {
                    ready.persisted_messages.push(out.message)
                }
                (true, Some(g)) => {
                    if self.persist.gated.len() >= GATED_MESSAGES_MAX {
                        // Storage is far behind: drop the oldest held message (Raft tolerates a
                        // lost message; its sender retries) rather than grow without bound.
                        self.persist.gated.pop_front();
                    }
                    self.persist.gated.push_back((g, out.message))
                }
                _ => ready.messages.push(out.message),
            }
        }

        ready.snapshot_reads = std::mem::take(&mut self.snapshot_reads);
        ready.snapshot = self.log.take_snapshot_to_restore();
        ready.committed = self.log.take_committed(
            self.cfg.apply_batch_bytes_max,
            self.cfg.unapplied_entries_max,
        );

        let now = (self.role(), self.term, self.leader);
        if now != self.reported {
            self.reported = now;
            self.events.push(Event::RoleChanged {
                role: now.0,
                term: now.1,
                leader: now.2,
            });
        }
        ready.events = std::mem::take(&mut self.events);
        ready
    }
}
