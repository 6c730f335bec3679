//! The apply thread: runs the state machine over committed entries, answers the clients waiting
//! on them, serves reads once their index is applied, and takes snapshots.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use raft_core::{EntryKind, Index, Term};

use super::jobs::{ApplyDone, ApplyJob, PendingQuery, Response, Waiter};
use super::progress::ApplyProgress;
use super::snapshotter::Snapshots;
use crate::error::Error;
use crate::state_machine::StateMachine;
use crate::storage::SnapshotStore;
/// A client waiting for the entry at an index, if it has this term.
type TermWaiter<S> = (Term, Waiter<Response<S>>);

pub(crate) struct Applier<S: StateMachine> {
    sm: S,
    applied: Index,
    /// When a snapshot is due, and the hand-off of its image to the snapshot thread.
    snapshots: Snapshots<S::Snapshot>,
    /// Where a snapshot from the leader is read back from.
    store: Arc<dyn SnapshotStore>,
    /// Clients waiting on the entry at an index (more than one when a position was reused).
    waiters: HashMap<Index, Vec<TermWaiter<S>>>,
    reads: BTreeMap<Index, Vec<PendingQuery<S>>>,
    /// Results of the last entries applied, for waiters that arrive after their entry (see
    /// `Recent`).
    recent: Recent<Response<S>>,
    /// Stale reads queued for this thread and not answered yet (the driver bounds it).
    stale_reads: Arc<AtomicUsize>,
    /// Where the driver reads `applied`.
    progress: Arc<ApplyProgress>,
}

impl<S: StateMachine> Applier<S> {
    pub(crate) fn new(
        sm: S,
        applied: Index,
        (snapshots, store): (Snapshots<S::Snapshot>, Arc<dyn SnapshotStore>),
        recent_max: usize,
        stale_reads: Arc<AtomicUsize>,
        progress: Arc<ApplyProgress>,
    ) -> Applier<S> {
        Applier {
            sm,
            applied,
            snapshots,
            store,
            waiters: HashMap::new(),
            reads: BTreeMap::new(),
            recent: Recent::new(recent_max),
            stale_reads,
            progress,
        }
    }

    pub(crate) fn run(mut self, jobs: Receiver<ApplyJob<S>>, done: Sender<ApplyDone>) {
        self.serve(jobs, done);
        // Stopping (shutdown or failure): entries still awaited are in the log and may commit
        // on other nodes, so their clients hear that the outcome is unknown, never silence.
        self.fail_all(Error::Shutdown);
    }

    fn serve(&mut self, jobs: Receiver<ApplyJob<S>>, done: Sender<ApplyDone>) {
        while let Ok(job) = jobs.recv() {
            let before = self.applied;
            let mut next = Some(job);
            while let Some(job) = next.take() {
                if let Err(e) = self.handle(job) {
                    let _ = done.send(ApplyDone::Failed(e));
                    return;
                }
                next = jobs.try_recv().ok();
            }
            // The driver reads the progress when it wakes; a message wakes it only when it is
            // waiting for this thread.
            if self.applied > before
                && self.progress.driver_waiting()
                && done.send(ApplyDone::Applied(self.applied)).is_err()
            {
                return;
            }
            self.serve_reads();
            // Only the image is taken here; the snapshot thread writes it out.
            if self.snapshots.due(self.applied)
                && !self.snapshots.start(self.applied, self.sm.snapshot())
            {
                return;
            }
        }
    }

    fn handle(&mut self, job: ApplyJob<S>) -> Result<(), String> {
        match job {
            ApplyJob::Restore(snapshot) => {
                let mut data = self
                    .store
                    .open(snapshot.meta.index)
                    .map_err(|e| e.to_string())?;
                self.sm.restore(&mut data)?;
                self.applied = snapshot.meta.index;
                self.progress.advance(self.applied);
                self.snapshots.restored(self.applied, Some(snapshot.bytes));
                self.recent.clear();
                // Results up to here are unknown to this node.
                self.fail_waiters(|i| i <= snapshot.meta.index, Error::OutcomeUnknown);
            }
            ApplyJob::Entries(entries) => self.apply(entries)?,
            ApplyJob::Waiters { term, waiters } => {
                for (index, waiter) in waiters {
                    if index > self.applied {
                        self.waiters.entry(index).or_default().push((term, waiter));
                    } else {
                        self.recent.answer_late(index, term, waiter);
                    }
                }
            }
            ApplyJob::ReadAt { index, queries } => {
                self.reads.entry(index).or_default().extend(queries);
            }
            ApplyJob::Query(queries) => {
                let n = queries.len();
                for (query, reply) in queries {
                    reply.send(Ok(self.sm.query(&query)));
                }
                self.stale_reads.fetch_sub(n, Ordering::AcqRel);
            }
            ApplyJob::FailWaitersAbove { index } => {
                self.fail_waiters(|i| i > index, Error::OutcomeUnknown);
            }
            ApplyJob::FailAll(e) => self.fail_all(e),
        }
        Ok(())
    }

    /// The node stops: writes awaited may still commit elsewhere (`OutcomeUnknown`); reads get
    /// `e`.
    fn fail_all(&mut self, e: Error) {
        self.fail_waiters(|_| true, Error::OutcomeUnknown);
        for (_, reads) in std::mem::take(&mut self.reads) {
            for (_, reply) in reads {
                reply.send(Err(e.clone()));
            }
        }
    }

    /// Applies `entries` (the next ones after `applied`, in order) and answers their waiters.
    fn apply(&mut self, entries: Vec<raft_core::Entry>) -> Result<(), String> {
        let commands: Vec<(Index, &[u8])> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Command)
            .map(|e| (e.index, &e.data[..]))
            .collect();
        self.snapshots
            .applied_bytes(commands.iter().map(|(_, c)| c.len() as u64).sum());
        let expected = commands.len();
        let responses = self.sm.apply_batch(&commands);
        if responses.len() != expected {
            return Err(format!(
                "apply_batch returned {} responses for {expected} commands",
                responses.len()
            ));
        }
        let mut responses = responses.into_iter();
        if let Some(last) = entries.last() {
            // Applied already (the state machine has run them all): published before any
            // client hears its answer, so a status read after an answer includes its entry.
            self.progress.advance(last.index);
        }
        for e in &entries {
            debug_assert_eq!(e.index, self.applied + 1, "entries are applied in order");
            let mut response = match e.kind {
                EntryKind::Command => responses.next(),
                _ => None,
            };
            for (term, waiter) in self.waiters.remove(&e.index).unwrap_or_default() {
                if term == e.term {
                    answer(waiter, &mut response);
                } else {
                    waiter.fail(Error::NotCommitted);
                }
            }
            self.recent.push(e.index, e.term, response);
            self.applied = e.index;
        }
        Ok(())
    }

    /// Answers, with `e`, every waiter whose index `which` selects.
    fn fail_waiters(&mut self, which: impl Fn(Index) -> bool, e: Error) {
        let chosen: Vec<Index> = self.waiters.keys().copied().filter(|i| which(*i)).collect();
        for i in chosen {
            for (_, waiter) in self.waiters.remove(&i).unwrap_or_default() {
                waiter.fail(e.clone());
            }
        }
    }

    fn serve_reads(&mut self) {
        while let Some(entry) = self.reads.first_entry() {
            if *entry.key() > self.applied {
                break;
            }
            for (query, reply) in entry.remove() {
                reply.send(Ok(self.sm.query(&query)));
            }
        }
    }
}

/// Answers `waiter`, whose entry (of its term) was just applied. A command's waiter takes the
/// response; there is only one waiter per entry on a node, since an entry is one proposal.
fn answer<R: 'static>(waiter: Waiter<R>, response: &mut Option<R>) {
    match waiter {
        Waiter::Membership(reply) => reply.send(Ok(())),
        Waiter::Command(reply) => reply.send(response.take().ok_or(Error::OutcomeUnknown)),
    }
}

/// The terms and unclaimed responses of the last entries applied, by index.
///
/// The core's contract (raft-core's crate documentation, "The contract") lets a proposal's
/// position arrive after its entry was applied: a proposal forwarded to the leader learns its
/// index from the leader's answer, which a reordering network can deliver after the entry
/// itself. Such a late waiter is answered from here; one older than what is kept hears that
/// its outcome is unknown, which is true of it on this node.
struct Recent<R> {
    /// Index of the first entry kept.
    first: Index,
    entries: VecDeque<(Term, Option<R>)>,
    max: usize,
}

impl<R: 'static> Recent<R> {
    fn new(max: usize) -> Recent<R> {
        Recent {
            first: 0,
            entries: VecDeque::new(),
            max,
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
    }

    fn push(&mut self, index: Index, term: Term, response: Option<R>) {
        if self.entries.is_empty() || index != self.first + self.entries.len() as Index {
            self.entries.clear();
            self.first = index;
        }
        self.entries.push_back((term, response));
        if self.entries.len() > self.max {
            self.entries.pop_front();
            self.first += 1;
        }
    }

    fn answer_late(&mut self, index: Index, term: Term, waiter: Waiter<R>) {
        let kept = index
            .checked_sub(self.first)
            .and_then(|offset| self.entries.get_mut(offset as usize));
        match kept {
            Some((t, response)) if *t == term => answer(waiter, response),
            Some(_) => waiter.fail(Error::NotCommitted),
            None => waiter.fail(Error::OutcomeUnknown),
        }
    }
}
