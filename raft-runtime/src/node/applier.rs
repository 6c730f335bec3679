//! The apply thread: runs the state machine over committed entries, answers the clients waiting
//! on them, serves reads once their index is applied, and takes snapshots.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use raft_core::{EntryKind, Index, Payload, Term};

use super::jobs::{ApplyDone, ApplyJob, Reply};
use crate::error::Error;
use crate::state_machine::StateMachine;

/// A read's query and the client waiting for its answer.
type PendingQuery = (Vec<u8>, Reply<Vec<u8>>);
/// A client waiting for the entry at an index, if it has this term.
type Waiter = (Term, Reply<Vec<u8>>);

pub(crate) struct Applier<S> {
    sm: S,
    applied: Index,
    last_snapshot: Index,
    snapshot_every: u64,
    snapshot_every_bytes: u64,
    /// Command bytes applied since the last snapshot.
    bytes_since_snapshot: u64,
    /// Clients waiting on the entry at an index (more than one when a position was reused).
    waiters: HashMap<Index, Vec<Waiter>>,
    reads: BTreeMap<Index, Vec<PendingQuery>>,
    /// Results of recent entries, for waiters that arrive after their entry was applied.
    recent: VecDeque<(Index, Term, Vec<u8>)>,
    recent_max: usize,
    /// Stale reads queued for this thread and not answered yet (the driver bounds it).
    stale_reads: Arc<AtomicUsize>,
}

impl<S: StateMachine> Applier<S> {
    pub(crate) fn new(
        sm: S,
        applied: Index,
        (snapshot_every, snapshot_every_bytes): (u64, u64),
        recent_max: usize,
        stale_reads: Arc<AtomicUsize>,
    ) -> Applier<S> {
        Applier {
            sm,
            applied,
            last_snapshot: applied,
            snapshot_every,
            snapshot_every_bytes,
            bytes_since_snapshot: 0,
            waiters: HashMap::new(),
            reads: BTreeMap::new(),
            recent: VecDeque::new(),
            recent_max,
            stale_reads,
        }
    }

    pub(crate) fn run(mut self, jobs: Receiver<ApplyJob>, done: Sender<ApplyDone>) {
        self.serve(jobs, done);
        // Stopping (shutdown or failure): entries still awaited are in the log and may commit
        // on other nodes, so their clients hear that the outcome is unknown, never silence.
        self.fail_all(Error::Shutdown);
    }

    fn serve(&mut self, jobs: Receiver<ApplyJob>, done: Sender<ApplyDone>) {
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
            if self.applied > before && done.send(ApplyDone::Applied(self.applied)).is_err() {
                return;
            }
            self.serve_reads();
            let by_entries =
                self.snapshot_every > 0 && self.applied >= self.last_snapshot + self.snapshot_every;
            let by_bytes = self.snapshot_every_bytes > 0
                && self.bytes_since_snapshot >= self.snapshot_every_bytes;
            if by_entries || by_bytes {
                // Taken here, on the apply thread: the driver goes on heartbeating meanwhile.
                let data = Payload::from(self.sm.snapshot());
                self.last_snapshot = self.applied;
                self.bytes_since_snapshot = 0;
                let taken = ApplyDone::SnapshotTaken {
                    index: self.applied,
                    data,
                };
                if done.send(taken).is_err() {
                    return;
                }
            }
        }
    }

    fn handle(&mut self, job: ApplyJob) -> Result<(), String> {
        match job {
            ApplyJob::Restore(snapshot) => {
                self.sm.restore(&snapshot.data)?;
                self.applied = snapshot.meta.index;
                self.last_snapshot = self.applied;
                self.bytes_since_snapshot = 0;
                // Results up to here are unknown to this node.
                self.fail_waiters(|i| i <= snapshot.meta.index, Error::OutcomeUnknown);
            }
            ApplyJob::Entries(entries) => self.apply(entries),
            ApplyJob::Waiter { index, term, reply } => {
                if index > self.applied {
                    self.waiters.entry(index).or_default().push((term, reply));
                } else {
                    let result = match self.recent.iter().find(|(i, _, _)| *i == index) {
                        Some((_, t, out)) if *t == term => Ok(out.clone()),
                        Some(_) => Err(Error::NotCommitted),
                        None => Err(Error::OutcomeUnknown),
                    };
                    let _ = reply.send(result);
                }
            }
            ApplyJob::ReadAt {
                index,
                query,
                reply,
            } => {
                self.reads.entry(index).or_default().push((query, reply));
            }
            ApplyJob::Query { query, reply } => {
                let _ = reply.send(Ok(self.sm.query(&query)));
                self.stale_reads.fetch_sub(1, Ordering::AcqRel);
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
                let _ = reply.send(Err(e.clone()));
            }
        }
    }

    fn apply(&mut self, entries: Vec<raft_core::Entry>) {
        let commands: Vec<(Index, &[u8])> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Command)
            .map(|e| (e.index, &e.data[..]))
            .collect();
        self.bytes_since_snapshot += commands.iter().map(|(_, c)| c.len() as u64).sum::<u64>();
        let mut outputs = self.sm.apply_batch(&commands).into_iter();
        for e in &entries {
            let out = if e.kind == EntryKind::Command {
                outputs.next().unwrap_or_default()
            } else {
                Vec::new()
            };
            for (term, reply) in self.waiters.remove(&e.index).unwrap_or_default() {
                let result = if term == e.term {
                    Ok(out.clone())
                } else {
                    Err(Error::NotCommitted)
                };
                let _ = reply.send(result);
            }
            self.recent.push_back((e.index, e.term, out));
            if self.recent.len() > self.recent_max {
                self.recent.pop_front();
            }
            self.applied = e.index;
        }
    }

    /// Answers, with `e`, every waiter whose index `which` selects.
    fn fail_waiters(&mut self, which: impl Fn(Index) -> bool, e: Error) {
        let chosen: Vec<Index> = self.waiters.keys().copied().filter(|i| which(*i)).collect();
        for i in chosen {
            for (_, reply) in self.waiters.remove(&i).unwrap_or_default() {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }

    fn serve_reads(&mut self) {
        while let Some(entry) = self.reads.first_entry() {
            if *entry.key() > self.applied {
                break;
            }
            for (query, reply) in entry.remove() {
                let _ = reply.send(Ok(self.sm.query(&query)));
            }
        }
    }
}
