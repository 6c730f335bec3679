//! The driver thread: owns the `Raft` core, feeds it everything that arrived, and carries out
//! its `Ready`. It never touches the disk or the state machine, so ticks and heartbeats never
//! wait behind that work (the seed's hard-won lesson).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{select, Receiver, Sender};
use raft_core::{
    Event, Message, Payload, ProposalId, Raft, ReadId, RejectReason, Request as CoreRequest, Role,
};

use super::clock::Clock;
use super::jobs::{
    ApplyDone, ApplyJob, PendingQuery, Reply, Request, Response, Status, StorageDone, StorageJob,
    Waiter,
};
use crate::error::Error;
use crate::state_machine::StateMachine;
use crate::transport::Transport;

/// Most items taken from one channel before the driver acts: batching without starving ticks.
const DRAIN_MAX: usize = 4096;

/// What woke the driver.
enum Input<S: StateMachine> {
    Message(Message),
    Request(Request<S>),
    Storage(StorageDone),
    Applied(ApplyDone),
    /// A tick fell due (or nothing else arrived).
    Tick,
}

pub(crate) struct Driver<T, S: StateMachine> {
    pub(crate) raft: Raft,
    pub(crate) transport: T,
    pub(crate) inbox: Receiver<Message>,
    pub(crate) requests: Receiver<Request<S>>,
    pub(crate) storage_tx: Sender<StorageJob>,
    pub(crate) storage_rx: Receiver<StorageDone>,
    pub(crate) apply_tx: Sender<ApplyJob<S>>,
    /// Chunks of the snapshot to read for followers (bounded; see `SNAPSHOT_READS_QUEUED`).
    pub(crate) snapshot_reads: Sender<raft_core::SnapshotRead>,
    pub(crate) apply_rx: Receiver<ApplyDone>,
    pub(crate) clock: Clock,
    pub(crate) proposals: HashMap<ProposalId, Waiter<Response<S>>>,
    /// Linearizable reads waiting for their ReadIndex round, a batch per round asked for.
    pub(crate) reads: HashMap<ReadId, Vec<PendingQuery<S>>>,
    pub(crate) transfer: Option<Reply<()>>,
    pub(crate) failed: Option<Error>,
    pub(crate) shutting_down: bool,
    /// Persist requests sent to storage and not yet acknowledged, oldest first.
    pub(crate) pending_ids: std::collections::VecDeque<raft_core::PersistId>,
    pub(crate) inflight_persists: usize,
    /// The role last reported by the core, to notice leadership ending.
    pub(crate) last_role: Role,
    /// Whether the node was last seen removed from the cluster, to log the change once.
    pub(crate) removed: bool,
    /// When this node last took or installed a snapshot (its start, before the first).
    pub(crate) snapshot_at: std::time::SystemTime,
    /// The members' addresses last given to the transport.
    pub(crate) addresses: std::collections::BTreeMap<raft_core::NodeId, String>,
    /// The clock is stopped (fault injection: a paused process).
    pub(crate) paused: bool,
    /// Where the application learns that the node failed.
    pub(crate) failure: std::sync::Arc<super::failure::Failure>,
    /// Stale reads handed to the apply thread and not answered yet, and their bound.
    pub(crate) stale_reads: std::sync::Arc<AtomicUsize>,
    pub(crate) stale_reads_max: usize,
    /// How far the apply thread may lag the commit index before new requests are refused.
    pub(crate) apply_lag_entries_max: u64,
    /// How far the apply thread has got.
    pub(crate) progress: std::sync::Arc<super::progress::ApplyProgress>,
}

impl<T: Transport, S: StateMachine> Driver<T, S> {
    pub(crate) fn run(mut self) {
        loop {
            if self.shutting_down || self.failed.is_some() {
                if self.wind_down() {
                    break;
                }
                continue;
            }
            let input = self.next_input();
            // The time that passed while waiting (or while the thread was stopped, starved or
            // blocked in a send) reaches the core before anything that arrived meanwhile: a
            // lease or a timeout is judged at the real time, not at the time the driver last
            // looked.
            self.catch_up();
            self.follow_applied();
            match input {
                Input::Message(m) => self.step(m),
                Input::Request(r) => self.request(r),
                Input::Storage(d) => self.storage_done(d),
                Input::Applied(d) => self.apply_done(d),
                Input::Tick => {}
            }
            self.drain_inputs();
            if self.failed.is_none() && !self.shutting_down {
                self.act();
                // What this turn committed may have made the lag worth a message per batch.
                self.follow_applied();
            }
        }
        self.fail_everything();
    }

    /// Waits for the next input, or until the next tick falls due.
    fn next_input(&mut self) -> Input<S> {
        let wait = self.clock.until_next(Instant::now());
        select! {
            recv(self.inbox) -> m => match m {
                Ok(m) => Input::Message(m),
                // The transport is gone; nothing more will arrive from peers.
                Err(_) => {
                    self.inbox = crossbeam_channel::never();
                    Input::Tick
                }
            },
            recv(self.requests) -> r => match r {
                Ok(r) => Input::Request(r),
                // Every handle is gone: nobody can ask for anything any more.
                Err(_) => Input::Request(Request::Shutdown),
            },
            recv(self.storage_rx) -> d => match d {
                Ok(d) => Input::Storage(d),
                Err(_) => Input::Storage(StorageDone::Failed(crate::storage::StorageError::Closed)),
            },
            recv(self.apply_rx) -> d => match d {
                Ok(d) => Input::Applied(d),
                Err(_) => Input::Applied(ApplyDone::Stopped),
            },
            default(wait) => Input::Tick,
        }
    }

    /// Tells the core how far the apply thread has got, and asks that thread for a message per
    /// batch while the lag is large enough to hold anything back (new requests, or committed
    /// entries the core keeps until earlier ones are applied); otherwise it reads the progress
    /// whenever it wakes, without a wake of its own per batch.
    fn follow_applied(&mut self) {
        let applied = self.read_applied();
        let limit = self
            .apply_lag_entries_max
            .min(self.raft.config().unapplied_entries_max);
        let lag = self.raft.commit_index().saturating_sub(applied);
        let waiting = lag > limit / 2;
        self.progress.set_driver_waiting(waiting);
        if waiting {
            // A batch applied between the read above and the flag missed the flag: read again.
            self.read_applied();
        }
    }

    /// Tells the core the apply thread's progress; returns it.
    fn read_applied(&mut self) -> raft_core::Index {
        let applied = self.progress.applied();
        if applied > self.raft.applied_index() {
            self.raft.handle_applied(applied);
        }
        applied
    }

    /// Gives the core every tick that fell due since the last one (none while paused).
    fn catch_up(&mut self) {
        let now = Instant::now();
        if self.paused {
            self.clock.skip(now);
            return;
        }
        for _ in 0..self.clock.due(now) {
            self.raft.tick();
        }
    }

    /// Shutting down or failed: finish the writes in flight (or give up on them if storage is
    /// gone), answer every client, and keep refusing requests until asked to stop. Returns true
    /// when the driver may exit. Messages and ticks are no longer taken, so steady traffic
    /// cannot keep a shutdown from completing.
    fn wind_down(&mut self) -> bool {
        self.fail_everything();
        if self.shutting_down && (self.inflight_persists == 0 || self.failed.is_some()) {
            return true;
        }
        select! {
            recv(self.storage_rx) -> d => match d {
                Ok(d) => self.storage_done(d),
                Err(_) => {
                    self.inflight_persists = 0;
                    self.storage_rx = crossbeam_channel::never();
                    if self.failed.is_none() {
                        self.fail(Error::Storage(crate::storage::StorageError::Closed));
                    }
                }
            },
            recv(self.requests) -> r => match r {
                Ok(Request::Shutdown) | Err(_) => self.shutting_down = true,
                Ok(r) => refuse(r, self.failed.clone().unwrap_or(Error::Shutdown)),
            },
            default(std::time::Duration::from_millis(100)) => {}
        }
        false
    }

    /// The node cannot go on: every client waiting anywhere gets `e`.
    fn fail(&mut self, e: Error) {
        tracing::error!(error = %e, "the node stops serving");
        self.failure.record(&e);
        self.failed = Some(e.clone());
        self.inflight_persists = 0;
        let _ = self.apply_tx.send(ApplyJob::FailAll(e));
        self.fail_everything();
    }

    fn drain_inputs(&mut self) {
        for _ in 0..DRAIN_MAX {
            let Ok(m) = self.inbox.try_recv() else { break };
            self.step(m);
        }
        // Proposals that arrived together go to the core as one batch (one call, one event);
        // any other request ends the batch, so requests keep their order.
        let mut batch: Vec<(Vec<u8>, Reply<Response<S>>)> = Vec::new();
        for _ in 0..DRAIN_MAX {
            let Ok(r) = self.requests.try_recv() else {
                break;
            };
            match r {
                Request::Propose(commands) if self.may_take(true) => {
                    if batch.is_empty() {
                        batch = commands;
                    } else {
                        batch.extend(commands);
                    }
                }
                r => {
                    self.propose_batch(std::mem::take(&mut batch));
                    self.request(r);
                }
            }
        }
        self.propose_batch(batch);
        while let Ok(d) = self.storage_rx.try_recv() {
            self.storage_done(d);
        }
        while let Ok(d) = self.apply_rx.try_recv() {
            self.apply_done(d);
        }
    }

    fn step(&mut self, m: Message) {
        if let Err(e) = self.raft.step(m) {
            tracing::warn!(error = %e, "dropped a message");
        }
    }

    /// Whether a request may be handed to the core now: the node has not failed and is not
    /// shutting down, and (for one that `waits_for_apply`) the apply thread is not too far
    /// behind. Every proposal and read ends up waiting on the apply thread; while that thread
    /// lags the commit index by more than the bound, new ones are refused (never taken, so
    /// `Busy` is safe to retry) rather than queue up without limit.
    fn may_take(&self, waits_for_apply: bool) -> bool {
        self.refusal(waits_for_apply).is_none()
    }

    fn refusal(&self, waits_for_apply: bool) -> Option<Error> {
        if let Some(e) = &self.failed {
            return Some(e.clone());
        }
        if self.shutting_down {
            return Some(Error::Shutdown);
        }
        let lag = self
            .raft
            .commit_index()
            .saturating_sub(self.raft.applied_index());
        (waits_for_apply && lag > self.apply_lag_entries_max).then_some(Error::Busy)
    }

    /// Hands proposals to the core as one batch; each client hears the batch's fate.
    fn propose_batch(&mut self, batch: Vec<(Vec<u8>, Reply<Response<S>>)>) {
        if batch.is_empty() {
            return;
        }
        let payloads = batch
            .iter()
            .map(|(command, _)| Payload::copy_from_slice(command))
            .collect();
        match self.raft.propose_batch(payloads) {
            Ok(first) => {
                for (i, (_, reply)) in batch.into_iter().enumerate() {
                    self.proposals
                        .insert(first + i as u64, Waiter::Command(reply));
                }
            }
            // A batch refused for its size as a whole: as many of its proposals as fit are
            // still taken, one by one, so that a burst of large writes is never refused whole
            // (and retried whole, and refused again) while each alone would fit.
            Err(
                RejectReason::UncommittedBytesFull { .. }
                | RejectReason::TooManyPendingProposals { .. },
            ) if batch.len() > 1 => {
                for one in batch {
                    self.propose_batch(vec![one]);
                }
            }
            Err(reason) => refuse_all(batch, reason.into()),
        }
    }

    fn request(&mut self, r: Request<S>) {
        if let Request::Shutdown = r {
            self.shutting_down = true;
            return;
        }
        let waits_for_apply = matches!(
            r,
            Request::Propose(_) | Request::Membership { .. } | Request::Read(_)
        );
        if let Some(e) = self.refusal(waits_for_apply) {
            refuse(r, e);
            return;
        }
        match r {
            Request::Propose(commands) => self.propose_batch(commands),
            Request::Membership { change, reply } => match self.raft.propose_membership(change) {
                Ok(id) => {
                    self.proposals.insert(id, Waiter::Membership(reply));
                }
                Err(reason) => reply.send(Err(reason.into())),
            },
            // The whole batch shares one ReadIndex round.
            Request::Read(queries) => match self.raft.read_index() {
                Ok(id) => {
                    self.reads.insert(id, queries);
                }
                Err(reason) => refuse_all(queries, reason.into()),
            },
            Request::ReadStale(queries) => {
                // The apply thread decrements the count once it has answered.
                let n = queries.len();
                if self.stale_reads.fetch_add(n, Ordering::AcqRel) + n > self.stale_reads_max {
                    self.stale_reads.fetch_sub(n, Ordering::AcqRel);
                    refuse_all(queries, Error::Busy);
                } else {
                    let _ = self.apply_tx.send(ApplyJob::Query(queries));
                }
            }
            Request::Transfer { target, reply } => match self.raft.transfer_leadership(target) {
                Ok(()) => {
                    if let Some(old) = self.transfer.replace(reply) {
                        old.send(Err(Error::Rejected(
                            raft_core::RejectReason::TransferInProgress { target },
                        )));
                    }
                }
                Err(reason) => reply.send(Err(reason.into())),
            },
            Request::Status { reply } => {
                // Everything applied before the caller asked is in the status.
                self.follow_applied();
                let _ = reply.send(self.status());
            }
            Request::Pause(on) => self.paused = on,
            Request::Shutdown => self.shutting_down = true,
        }
    }

    fn storage_done(&mut self, d: StorageDone) {
        match d {
            StorageDone::Persisted(id, messages) => {
                self.inflight_persists = self
                    .inflight_persists
                    .saturating_sub(self.raft_inflight_acked(id));
                // Messages that waited on the persist, when the storage thread could not send
                // them itself.
                if !messages.is_empty() {
                    self.transport.send(messages);
                }
                self.raft.handle_persisted(id);
            }
            StorageDone::Failed(e) => self.fail(Error::Storage(e)),
        }
    }

    /// How many persist requests an acknowledgement of `id` completes.
    fn raft_inflight_acked(&mut self, id: raft_core::PersistId) -> usize {
        let n = self.pending_ids.iter().take_while(|p| **p <= id).count();
        self.pending_ids.drain(..n);
        n
    }

    fn apply_done(&mut self, d: ApplyDone) {
        match d {
            ApplyDone::Applied(index) => self.raft.handle_applied(index),
            ApplyDone::SnapshotTaken { index, bytes } => {
                // The apply thread published its progress (through `index`) before handing
                // the image over; the core must know it, or it refuses to compact past what it
                // thinks is applied.
                self.follow_applied();
                let job = if self.raft.compact(index, bytes).is_ok() {
                    let meta = self.raft.snapshot_meta().expect("just compacted").clone();
                    self.snapshot_at = std::time::SystemTime::now();
                    StorageJob::SaveSnapshot(raft_core::Snapshot { meta, bytes })
                } else {
                    StorageJob::DiscardSnapshot(index)
                };
                let _ = self.storage_tx.send(job);
            }
            ApplyDone::SnapshotChunk(read, data) => self.raft.snapshot_chunk(&read, data),
            ApplyDone::Failed(e) => self.fail(Error::StateMachine(e)),
            ApplyDone::StorageFailed(e) => self.fail(Error::Storage(e)),
            ApplyDone::Stopped => self.fail(Error::ApplyThreadStopped),
        }
    }

    /// Tells the transport the members' addresses when the membership in force changed them.
    pub(crate) fn follow_addresses(&mut self) {
        let addresses = &self.raft.membership().addresses;
        if *addresses != self.addresses {
            self.addresses = addresses.clone();
            self.transport.set_addresses(&self.addresses);
        }
    }

    /// Carries out everything the core has to do.
    fn act(&mut self) {
        self.follow_addresses();
        let removed = self.raft.is_removed();
        if removed != std::mem::replace(&mut self.removed, removed) {
            if removed {
                tracing::warn!(
                    id = self.raft.id(),
                    "this node has been removed from the cluster; it no longer campaigns"
                );
            } else {
                tracing::info!(id = self.raft.id(), "this node is a member again");
            }
        }
        while self.raft.has_ready() {
            let rd = self.raft.ready();
            if !rd.messages.is_empty() {
                self.transport.send(rd.messages);
            }
            if let Some(p) = rd.persist {
                self.pending_ids.push_back(p.id);
                self.inflight_persists += 1;
                // The messages that claim this persist durable travel with it: the storage thread
                // sends them the moment it is.
                let _ = self
                    .storage_tx
                    .send(StorageJob::Persist(p, rd.persisted_messages));
            }
            // The contract's order: events (so a proposal's waiter reaches the apply thread
            // before its entry), then the snapshot, then the committed entries.
            for ev in rd.events {
                self.event(ev);
            }
            for read in rd.snapshot_reads {
                // Full: the reader is behind; the core asks again after the next heartbeats.
                let _ = self.snapshot_reads.try_send(read);
            }
            if let Some(s) = rd.snapshot {
                self.snapshot_at = std::time::SystemTime::now();
                let _ = self.apply_tx.send(ApplyJob::Restore(*s));
            }
            if !rd.committed.is_empty() {
                let _ = self.apply_tx.send(ApplyJob::Entries(rd.committed));
            }
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::ProposalAppended { id, index, term } => self.hand_waiters(id, 1, index, term),
            Event::ProposalsAppended {
                first,
                count,
                index,
                term,
            } => self.hand_waiters(first, count as u64, index, term),
            Event::ReadReady { id, index } => {
                if let Some(queries) = self.reads.remove(&id) {
                    let _ = self.apply_tx.send(ApplyJob::ReadAt { index, queries });
                }
            }
            Event::Rejected { request, reason } => match request {
                CoreRequest::Proposal(id) => {
                    if let Some(waiter) = self.proposals.remove(&id) {
                        waiter.fail(reason.into());
                    }
                }
                CoreRequest::Read(id) => {
                    if let Some(queries) = self.reads.remove(&id) {
                        refuse_all(queries, reason.into());
                    }
                }
                CoreRequest::Transfer(_) => {
                    if let Some(reply) = self.transfer.take() {
                        reply.send(Err(reason.into()));
                    }
                }
            },
            Event::ProposalOutcomeUnknown { id } => {
                if let Some(waiter) = self.proposals.remove(&id) {
                    waiter.fail(Error::OutcomeUnknown);
                }
            }
            Event::TransferHandedOff { .. } => {
                if let Some(reply) = self.transfer.take() {
                    reply.send(Ok(()));
                }
            }
            Event::RoleChanged { role, .. } => {
                let was_leader = std::mem::replace(&mut self.last_role, role) == Role::Leader;
                if was_leader && role != Role::Leader {
                    // Entries this node appended as leader beyond the commit index may or may
                    // not survive: their clients are told so now rather than left guessing.
                    let index = self.raft.commit_index();
                    let _ = self.apply_tx.send(ApplyJob::FailWaitersAbove { index });
                }
            }
        }
    }

    /// Hands the waiters of proposals `first..first + count`, appended at `index..` in `term`,
    /// to the apply thread, in one job.
    fn hand_waiters(
        &mut self,
        first: ProposalId,
        count: u64,
        index: raft_core::Index,
        term: raft_core::Term,
    ) {
        let waiters: Vec<_> = (0..count)
            .filter_map(|i| Some((index + i, self.proposals.remove(&(first + i))?)))
            .collect();
        if !waiters.is_empty() {
            let _ = self.apply_tx.send(ApplyJob::Waiters { term, waiters });
        }
    }

    fn status(&self) -> Status {
        let r = &self.raft;
        let peers = r
            .membership()
            .members()
            .into_iter()
            .filter_map(|id| r.progress(id).map(|p| (id, p)))
            .collect();
        Status {
            id: r.id(),
            role: r.role(),
            term: r.term(),
            leader: r.leader(),
            commit_index: r.commit_index(),
            applied_index: r.applied_index(),
            first_index: r.first_index(),
            last_index: r.last_index(),
            log_entries: r.log_len(),
            snapshot: r.snapshot_meta().cloned(),
            snapshot_bytes: r.snapshot_bytes(),
            snapshot_at: self.snapshot_at,
            membership: r.membership().clone(),
            removed: r.is_removed(),
            peers,
        }
    }

    /// Answers every waiting client: proposals the core took may still commit (forwarded to a
    /// leader, or appended and sent to followers), so they are told `OutcomeUnknown`; reads,
    /// transfers and requests still queued get the node's failure (or `Shutdown`).
    fn fail_everything(&mut self) {
        let e = self.failed.clone().unwrap_or(Error::Shutdown);
        for (_, waiter) in self.proposals.drain() {
            waiter.fail(Error::OutcomeUnknown);
        }
        for (_, queries) in self.reads.drain() {
            refuse_all(queries, e.clone());
        }
        if let Some(reply) = self.transfer.take() {
            reply.send(Err(e.clone()));
        }
        while let Ok(r) = self.requests.try_recv() {
            // A shutdown drained here must still end the driver, or `Node::close` waits forever.
            match r {
                Request::Shutdown => self.shutting_down = true,
                r => refuse(r, e.clone()),
            }
        }
    }
}

/// Answers every client waiting on `r` with `e`.
pub(crate) fn refuse<S: StateMachine>(r: Request<S>, e: Error) {
    match r {
        Request::Propose(commands) => refuse_all(commands, e),
        Request::Read(queries) | Request::ReadStale(queries) => refuse_all(queries, e),
        Request::Membership { reply, .. } | Request::Transfer { reply, .. } => reply.send(Err(e)),
        // Nobody waits on these: a refused status request just sees the node gone.
        Request::Status { .. } | Request::Pause(_) | Request::Shutdown => {}
    }
}

/// Answers every request of a batch with `e`.
fn refuse_all<Q, T: 'static>(batch: Vec<(Q, Reply<T>)>, e: Error) {
    for (_, reply) in batch {
        reply.send(Err(e.clone()));
    }
}
