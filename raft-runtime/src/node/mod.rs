//! [`Node`]: a Raft node running on three threads. The driver thread owns the protocol core and
//! never blocks on I/O; the storage thread makes state durable in batches (group commit); the
//! apply thread runs the state machine and answers clients.
//!
//! Every client request carries its reply channel through the core as a request id, so the
//! committed entry finds its waiting client even though commit and apply happen on other
//! threads (the seed's second lesson).

mod applier;
mod clock;
mod driver;
mod failure;
mod jobs;
mod persister;
mod progress;
mod reply;
mod snapshotter;

pub use jobs::Status;
pub use reply::Completions;

/// Where the answer to a request started with one of [`Node`]'s `_async` methods arrives, once.
pub type Answer<T> = Receiver<Result<T, Error>>;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use raft_core::{ChangeStep, MembershipChange, NodeId, Raft};

use crate::config::NodeConfig;
use crate::error::Error;
use crate::state_machine::StateMachine;
use crate::storage::Storage;
use crate::transport::{Inbox, Transport};
use applier::Applier;
use driver::Driver;
use jobs::{Request, Response};
use reply::Reply;
use snapshotter::Snapshots;

/// Chunk reads for followers queued for the snapshot reader thread; more are dropped (the core
/// asks again after the next heartbeat round).
const SNAPSHOT_READS_QUEUED: usize = 64;

/// How a node came back at start: from its snapshot and the log after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// From opening the storage to a restored state machine.
    pub duration: Duration,
    /// The snapshot restored (0: none).
    pub snapshot_index: raft_core::Index,
    /// Its size.
    pub snapshot_bytes: u64,
    /// Log entries read after it.
    pub entries: u64,
    /// Their payload bytes.
    pub entry_bytes: u64,
}

/// A running Raft node, serving state machine `S`. Dropping it shuts it down.
pub struct Node<S: StateMachine> {
    id: NodeId,
    recovery: Recovery,
    requests: Sender<Request<S>>,
    failure: std::sync::Arc<failure::Failure>,
    threads: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl<S: StateMachine> Node<S> {
    /// Starts a node: loads its durable state from `storage`, restores `state_machine` from the
    /// newest snapshot, and starts its threads. `inbox` is the receiving end of the inbound
    /// channel whose sending end `transport`'s peers deliver into.
    pub fn start<St, T>(
        config: NodeConfig,
        mut state_machine: S,
        mut storage: St,
        transport: T,
        inbox: Inbox,
    ) -> Result<Node<S>, Error>
    where
        St: Storage,
        T: Transport,
    {
        let started = std::time::Instant::now();
        let restore = storage.load()?;
        let store = storage.snapshots();
        let mut applied = 0;
        let restored_bytes = restore.snapshot.as_ref().map(|s| s.bytes);
        if let Some(s) = &restore.snapshot {
            let mut data = store.open(s.meta.index)?;
            state_machine
                .restore(&mut data)
                .map_err(Error::StateMachine)?;
            applied = s.meta.index;
        }
        let restore = raft_core::Restore { applied, ..restore };
        let recovery = Recovery {
            duration: started.elapsed(),
            snapshot_index: applied,
            snapshot_bytes: restored_bytes.unwrap_or(0),
            entries: restore.entries.len() as u64,
            entry_bytes: restore.entries.iter().map(|e| e.data.len() as u64).sum(),
        };
        tracing::info!(
            node = config.raft.id,
            ms = recovery.duration.as_millis() as u64,
            snapshot_index = recovery.snapshot_index,
            snapshot_bytes = recovery.snapshot_bytes,
            entries = recovery.entries,
            "recovered"
        );
        // A fresh seed at every start: ids of requests forwarded before a restart must not
        // match new ones when their late answers arrive.
        let mut raft_config = config.raft.clone();
        raft_config.seed ^= crate::config::fresh_seed();
        let raft = Raft::restore(raft_config, restore).map_err(Error::Start)?;
        let id = raft.id();

        let (requests_tx, requests) = bounded(config.request_queue_max);
        // These four are unbounded channels with bounded contents, so that the driver never
        // blocks on a send (see ARCHITECTURE.md, "Invariants"): the core bounds the persists,
        // entries, and the waiters and reads not yet committed, `apply_lag_entries_max` those
        // committed and not yet applied, `stale_reads_max` the stale reads, and each answer
        // channel carries at most one answer per job.
        let (storage_tx, storage_jobs) = unbounded();
        let (storage_done_tx, storage_rx) = unbounded();
        let (apply_tx, apply_jobs) = unbounded();
        let (apply_done_tx, apply_rx) = unbounded();

        let failure = std::sync::Arc::new(failure::Failure::default());
        let mut threads = Vec::new();
        // With a handle of its own on the transport, the storage thread sends what waits on a
        // persist (a follower's acknowledgement, a vote) as soon as it is durable.
        let acks = transport.try_clone();
        threads.push(spawn(&format!("raft-{id}-storage"), move || {
            persister::run(storage, storage_jobs, storage_done_tx, acks)
        })?);
        let stale_reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let progress = Arc::new(progress::ApplyProgress::new(applied));
        let (mut snapshots, snapshot_worker) = Snapshots::new(
            config.snapshot.clone(),
            applied,
            store.clone(),
            apply_done_tx.clone(),
        );
        snapshots.restored(applied, restored_bytes);
        let (snapshot_reads, reads) = bounded(SNAPSHOT_READS_QUEUED);
        let (reader_store, reader_done) = (store.clone(), apply_done_tx.clone());
        threads.push(spawn(&format!("raft-{id}-snapread"), move || {
            snapshotter::serve_reads(reads, reader_store, reader_done)
        })?);
        threads.push(spawn(&format!("raft-{id}-snapshot"), snapshot_worker)?);
        let applier = Applier::new(
            state_machine,
            applied,
            (snapshots, store),
            config.recent_results_max,
            stale_reads.clone(),
            progress.clone(),
        );
        threads.push(spawn(&format!("raft-{id}-apply"), move || {
            applier.run(apply_jobs, apply_done_tx)
        })?);
        let mut driver = Driver {
            raft,
            transport,
            inbox: inbox.rx,
            requests,
            storage_tx,
            storage_rx,
            apply_tx,
            apply_rx,
            snapshot_reads,
            // Four maximum election timeouts: every timeout, lease and expiry in the core has
            // run out by then.
            clock: clock::Clock::new(
                config.tick_interval,
                4 * config.raft.election_timeout_ticks_max,
                std::time::Instant::now(),
            ),
            proposals: HashMap::new(),
            reads: HashMap::new(),
            transfer: None,
            failed: None,
            shutting_down: false,
            pending_ids: VecDeque::new(),
            inflight_persists: 0,
            last_role: raft_core::Role::Follower,
            removed: false,
            snapshot_at: std::time::SystemTime::now(),
            addresses: Default::default(),
            paused: false,
            failure: failure.clone(),
            stale_reads,
            stale_reads_max: config.stale_reads_max,
            progress,
            apply_lag_entries_max: config.apply_lag_entries_max,
        };
        driver.follow_addresses();
        threads.push(spawn(&format!("raft-{id}-driver"), move || driver.run())?);
        Ok(Node {
            id,
            recovery,
            requests: requests_tx,
            failure,
            threads: parking_lot::Mutex::new(threads),
        })
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// What starting took: loading the durable state and restoring the state machine.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Proposes `command` and waits until it is committed and applied, returning the state
    /// machine's response. Giving up after `timeout` is `Error::OutcomeUnknown`: the command may
    /// still commit.
    pub fn propose(&self, command: Vec<u8>, timeout: Duration) -> Result<Response<S>, Error> {
        wait_write(self.propose_async(command)?, timeout)
    }

    /// Proposes `command`; the receiver gets the response once it is applied. Every accepted
    /// proposal gets an answer; a closed channel would mean the same as `Error::OutcomeUnknown`.
    pub fn propose_async(&self, command: Vec<u8>) -> Result<Answer<Response<S>>, Error> {
        self.ask(|reply| Request::Propose(vec![(command, reply)]))
    }

    /// Proposes every command of `batch`, in order, in one hand-off to the node: they reach the
    /// core together, as one batch in the log (with whatever else arrived at the same moment).
    /// Each command gets exactly one answer, sent to `to` with its tag: its response, or why
    /// it failed. A batch the node cannot take is refused there too (`Error::Busy` while its
    /// request queue is full, `Error::Shutdown` once it has stopped); a lost wait is
    /// `Error::OutcomeUnknown`, as for [`Node::propose`].
    pub fn propose_batch(
        &self,
        batch: Vec<(Vec<u8>, u64)>,
        to: &Arc<dyn Completions<Response<S>>>,
    ) {
        self.send_batch(Request::Propose(tagged(batch, to)))
    }

    /// Linearizable reads of every query in `batch`, confirmed together by one ReadIndex round;
    /// answers go to `to` as for [`Node::propose_batch`].
    pub fn read_batch(&self, batch: Vec<(S::Query, u64)>, to: &Arc<dyn Completions<Response<S>>>) {
        self.send_batch(Request::Read(tagged(batch, to)))
    }

    /// Possibly stale reads of every query in `batch`, answered from this node's state as it
    /// is; answers go to `to` as for [`Node::propose_batch`].
    pub fn read_stale_batch(
        &self,
        batch: Vec<(S::Query, u64)>,
        to: &Arc<dyn Completions<Response<S>>>,
    ) {
        self.send_batch(Request::ReadStale(tagged(batch, to)))
    }

    /// A linearizable read: confirmed with a quorum (or the lease, when configured), then
    /// answered by the state machine once it has applied everything the read must see.
    pub fn read(&self, query: S::Query, timeout: Duration) -> Result<Response<S>, Error> {
        wait(self.read_async(query)?, timeout)
    }

    /// A read of this node's state as it is, possibly stale.
    pub fn read_stale(&self, query: S::Query, timeout: Duration) -> Result<Response<S>, Error> {
        wait(self.read_stale_async(query)?, timeout)
    }

    /// A linearizable read; the receiver gets the answer.
    pub fn read_async(&self, query: S::Query) -> Result<Answer<Response<S>>, Error> {
        self.ask(|reply| Request::Read(vec![(query, reply)]))
    }

    /// A possibly stale read; the receiver gets the answer.
    pub fn read_stale_async(&self, query: S::Query) -> Result<Answer<Response<S>>, Error> {
        self.ask(|reply| Request::ReadStale(vec![(query, reply)]))
    }

    /// Changes the membership; returns once the change is applied on this node.
    pub fn change_membership(
        &self,
        change: MembershipChange,
        timeout: Duration,
    ) -> Result<(), Error> {
        wait_write(
            self.ask(|reply| Request::Membership { change, reply })?,
            timeout,
        )
    }

    /// Adds `id` as a learner.
    pub fn add_learner(&self, id: NodeId, timeout: Duration) -> Result<(), Error> {
        self.change_membership(steps(ChangeStep::AddLearner(id), false), timeout)
    }

    /// Adds `id` as a learner reachable at `address`: the membership carries the address to
    /// every node (and into snapshots), whose transports learn it from there.
    pub fn add_learner_at(
        &self,
        id: NodeId,
        address: String,
        timeout: Duration,
    ) -> Result<(), Error> {
        self.change_membership(steps(ChangeStep::AddLearnerAt(id, address), false), timeout)
    }

    /// Promotes learner `id` to voter (through a joint membership, left automatically).
    pub fn promote(&self, id: NodeId, timeout: Duration) -> Result<(), Error> {
        self.change_membership(steps(ChangeStep::Promote(id), true), timeout)
    }

    /// Removes voter or learner `id`.
    pub fn remove(&self, id: NodeId, timeout: Duration) -> Result<(), Error> {
        self.change_membership(steps(ChangeStep::Remove(id), true), timeout)
    }

    /// Hands leadership to `target`; returns once this leader has handed it off.
    pub fn transfer_leadership(&self, target: NodeId, timeout: Duration) -> Result<(), Error> {
        wait(
            self.ask(|reply| Request::Transfer { target, reply })?,
            timeout,
        )
    }

    /// Why the node stopped serving, if it failed (its storage or state machine did): from then
    /// on it refuses every request with this error. A storage failure is not recoverable in
    /// place (a failed fsync may have lost writes the page cache pretended to hold), so a
    /// process that runs one node should exit and be restarted from its durable state.
    pub fn failure(&self) -> Option<Error> {
        self.failure.get()
    }

    /// Waits up to `timeout` for the node to fail; returns the failure, or `None`.
    pub fn wait_for_failure(&self, timeout: Duration) -> Option<Error> {
        self.failure.wait(timeout)
    }

    /// The node's current state.
    pub fn status(&self) -> Result<Status, Error> {
        let (reply, rx) = bounded(1);
        self.send(Request::Status { reply })?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::Shutdown)
    }

    /// Stops (or restarts) the node's clock: no elections, heartbeats or timeouts while paused.
    /// With its network links cut too, the node behaves like a paused process. A fault-injection
    /// hook, present with the `fault-injection` feature only.
    #[cfg(feature = "fault-injection")]
    pub fn pause(&self, paused: bool) -> Result<(), Error> {
        self.send(Request::Pause(paused))
    }

    /// Stops the node: requests queued are refused, writes in flight are finished, threads end.
    pub fn shutdown(self) {
        self.close();
    }

    /// Stops the node through a shared handle; later requests get `Error::Shutdown`.
    pub fn close(&self) {
        let _ = self.requests.send(Request::Shutdown);
        // The driver finishes its writes, then drops the channels that end the other threads.
        let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for t in threads.into_iter().rev() {
            let _ = t.join();
        }
    }

    fn ask<T>(&self, make: impl FnOnce(jobs::Reply<T>) -> Request<S>) -> Result<Answer<T>, Error> {
        let (reply, rx) = bounded(1);
        self.send(make(Reply::Channel(reply)))?;
        Ok(rx)
    }

    fn send(&self, r: Request<S>) -> Result<(), Error> {
        self.requests.try_send(r).map_err(|e| refusal(&e))
    }

    /// Sends a batch whose every request carries its way back: one the node cannot take is
    /// refused through those.
    fn send_batch(&self, r: Request<S>) {
        if let Err(e) = self.requests.try_send(r) {
            let error = refusal(&e);
            driver::refuse(e.into_inner(), error);
        }
    }
}

impl<S: StateMachine> Drop for Node<S> {
    fn drop(&mut self) {
        self.close();
    }
}

/// Why a request could not be queued for the driver.
fn refusal<T>(e: &TrySendError<T>) -> Error {
    match e {
        TrySendError::Full(_) => Error::Busy,
        TrySendError::Disconnected(_) => Error::Shutdown,
    }
}

/// Each item of a batch with its way back to `to`.
fn tagged<Q, T: 'static>(batch: Vec<(Q, u64)>, to: &Arc<dyn Completions<T>>) -> Vec<(Q, Reply<T>)> {
    batch
        .into_iter()
        .map(|(q, tag)| (q, Reply::Tagged(to.clone(), tag)))
        .collect()
}

fn steps(step: ChangeStep, auto_leave: bool) -> MembershipChange {
    MembershipChange::Steps {
        steps: vec![step],
        auto_leave,
    }
}

fn wait<T>(rx: Receiver<Result<T, Error>>, timeout: Duration) -> Result<T, Error> {
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
        Err(RecvTimeoutError::Disconnected) => Err(Error::Shutdown),
    }
}

/// Waits for a write's answer. Once the request is queued the core may take it at any moment,
/// so giving up (a timeout, or a node gone without answering) leaves its outcome unknown.
fn wait_write<T>(rx: Receiver<Result<T, Error>>, timeout: Duration) -> Result<T, Error> {
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            Err(Error::OutcomeUnknown)
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| Error::Spawn {
            name: name.to_string(),
            source: Arc::new(e),
        })
}
