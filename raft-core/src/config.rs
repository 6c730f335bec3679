//! The knobs of one node, with their limits. Every queue and window the core keeps is bounded by
//! one of these.

use crate::error::ConfigError;
use crate::types::NodeId;

/// How linearizable reads are confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// ReadIndex: the leader confirms with a quorum round (one heartbeat round trip) that it is
    /// still leader. Safe whatever the clocks do.
    Safe,
    /// Lease: the leader serves at once while a quorum acknowledged a heartbeat sent less than
    /// `election_timeout_ticks_min - lease_drift_margin_ticks` ticks ago. Followers promise not
    /// to vote for anyone else for `election_timeout_ticks_min` ticks after hearing from the
    /// leader (check_quorum's lease), so this is safe as long as no node's tick rate runs faster
    /// than the leader's by more than the margin over one election timeout. Falls back to a
    /// quorum round when the lease is not held.
    Lease,
}

/// Configuration of one node.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// The voters of a new cluster, this node included. Used only when the node starts with no
    /// membership in its restored state; empty for a node that will join an existing cluster
    /// (it waits to be added and learns the membership from the leader).
    pub voters: Vec<NodeId>,
    /// The addresses of a new cluster's voters, written with them into the first membership
    /// entry (and from then on carried by the log). Optional: a transport that needs no
    /// addresses leaves it empty.
    pub addresses: std::collections::BTreeMap<NodeId, String>,
    /// A follower that hears nothing from a leader for a random number of ticks in
    /// `[election_timeout_ticks_min, election_timeout_ticks_max)` starts an election.
    pub election_timeout_ticks_min: u64,
    /// The end of that range, exclusive: greater than `election_timeout_ticks_min`. Requests
    /// forwarded to the leader, and reads waiting on a leader, are given up after twice this many
    /// ticks without an answer.
    pub election_timeout_ticks_max: u64,
    /// The leader sends heartbeats every this many ticks.
    pub heartbeat_interval_ticks: u64,
    /// Run a pre-vote before a real election, so a partitioned node rejoining cannot disrupt a
    /// healthy leader by inflating terms.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down, and a
    /// follower that heard from a live leader within the minimum election timeout ignores vote
    /// requests.
    pub check_quorum: bool,
    /// How linearizable reads are confirmed: a quorum round for each batch of reads, or the
    /// leader's lease.
    pub read_mode: ReadMode,
    /// With [`ReadMode::Lease`], the ticks taken off the lease to allow for clocks that run at
    /// different rates: the lease lasts `election_timeout_ticks_min - lease_drift_margin_ticks`
    /// ticks from the start of the newest round a quorum confirmed. Smaller than
    /// `election_timeout_ticks_min`.
    pub lease_drift_margin_ticks: u64,
    /// Followers forward proposals to the leader instead of rejecting them with `NotLeader`.
    pub forward_proposals: bool,
    /// Most entries in one append message.
    pub append_entries_max: usize,
    /// Most entry bytes in one append message (at least one entry is always sent).
    pub append_bytes_max: u64,
    /// Most append messages in flight to one follower in the replicate state.
    pub inflight_messages_max: usize,
    /// Most entry bytes in flight to one follower.
    pub inflight_bytes_max: u64,
    /// Most bytes of entries the leader holds appended but not committed; proposals beyond it
    /// are rejected with `UncommittedBytesFull`.
    pub uncommitted_bytes_max: u64,
    /// Largest payload of one proposal.
    pub proposal_bytes_max: u64,
    /// Most reads waiting on this node (queued at the leader or forwarded by a follower).
    pub pending_reads_max: usize,
    /// Most proposals a follower has forwarded and not yet heard back about.
    pub pending_proposals_max: usize,
    /// Most persist requests handed out and not yet acknowledged; beyond it new entries wait and
    /// join a later, larger request.
    pub inflight_persists_max: usize,
    /// Most committed-entry bytes handed out for applying in one `Ready` (at least one entry).
    pub apply_batch_bytes_max: u64,
    /// Most committed entries handed out for applying and not yet acknowledged with
    /// `handle_applied`: a slow state machine holds back the hand-out instead of queueing
    /// without bound.
    pub unapplied_entries_max: u64,
    /// Entries kept in memory below a snapshot's index when compacting, so a slightly lagging
    /// follower still gets entries instead of a whole snapshot.
    pub compaction_tail_entries: u64,
    /// Size of one snapshot chunk sent to a follower.
    pub snapshot_chunk_bytes: u64,
    /// Largest snapshot a follower accepts from a leader.
    pub snapshot_bytes_max: u64,
    /// Seed for the node's randomness: election timeouts, and the start of the ids it gives
    /// proposals and reads. Two runs with the same seed and inputs produce the same outputs.
    /// Use a different seed every time a node starts (for example from the OS's entropy):
    /// answers to requests forwarded by an earlier incarnation must not match new ids.
    pub seed: u64,
    /// A learner is promoted only once its log is within this many entries of the leader's
    /// last index. Until it has caught up that far, a new voter the quorum depends on (a
    /// cluster at its minimum size) delays commits: 0 makes promotion wait for a full match.
    pub promote_lag_entries_max: u64,
    /// Refuse a change of voters (a promotion or a removal) unless the new voters that the
    /// leader heard from within the last election timeout, the leader included, form a quorum
    /// of the new membership: otherwise the change itself, or one more failure after it, can
    /// leave the cluster without a leader (etcd's strict reconfiguration check).
    pub strict_reconfiguration: bool,
}

impl Config {
    /// A configuration with the defaults used in production, for node `id` in a cluster of
    /// `voters`, with `seed` for its randomness. There is no default seed: it must differ every
    /// time a node starts (see [`Config::seed`]), and only the caller can draw one, since the
    /// core has no source of entropy. `raft-runtime` draws it for you.
    pub fn new(id: NodeId, voters: Vec<NodeId>, seed: u64) -> Config {
        Config {
            id,
            voters,
            addresses: std::collections::BTreeMap::new(),
            election_timeout_ticks_min: 10,
            election_timeout_ticks_max: 20,
            heartbeat_interval_ticks: 2,
            pre_vote: true,
            check_quorum: true,
            read_mode: ReadMode::Safe,
            lease_drift_margin_ticks: 2,
            forward_proposals: true,
            append_entries_max: 4096,
            append_bytes_max: 1 << 20,
            inflight_messages_max: 256,
            inflight_bytes_max: 64 << 20,
            uncommitted_bytes_max: 256 << 20,
            proposal_bytes_max: 16 << 20,
            pending_reads_max: 65_536,
            pending_proposals_max: 65_536,
            inflight_persists_max: 64,
            apply_batch_bytes_max: 16 << 20,
            unapplied_entries_max: 65_536,
            compaction_tail_entries: 1024,
            snapshot_chunk_bytes: 1 << 20,
            snapshot_bytes_max: 8 << 30,
            seed,
            promote_lag_entries_max: 1024,
            strict_reconfiguration: true,
        }
    }

    /// Checks every field; the core refuses to start with a bad configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::ZeroId);
        }
        let mut sorted = self.voters.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.voters.len() || sorted.contains(&0) {
            return Err(ConfigError::BadVoterList);
        }
        if self.heartbeat_interval_ticks == 0 {
            return Err(ConfigError::ZeroHeartbeat);
        }
        if self.election_timeout_ticks_min <= self.heartbeat_interval_ticks
            || self.election_timeout_ticks_max <= self.election_timeout_ticks_min
        {
            return Err(ConfigError::BadElectionTimeout {
                min: self.election_timeout_ticks_min,
                max: self.election_timeout_ticks_max,
                heartbeat: self.heartbeat_interval_ticks,
            });
        }
        if self.read_mode == ReadMode::Lease {
            if !self.check_quorum {
                return Err(ConfigError::LeaseWithoutCheckQuorum);
            }
            if self.lease_drift_margin_ticks >= self.election_timeout_ticks_min {
                return Err(ConfigError::LeaseMarginTooLarge {
                    margin: self.lease_drift_margin_ticks,
                    min: self.election_timeout_ticks_min,
                });
            }
        }
        let limits: [(&'static str, u64); 13] = [
            ("append_entries_max", self.append_entries_max as u64),
            ("append_bytes_max", self.append_bytes_max),
            ("inflight_messages_max", self.inflight_messages_max as u64),
            ("inflight_bytes_max", self.inflight_bytes_max),
            ("uncommitted_bytes_max", self.uncommitted_bytes_max),
            ("proposal_bytes_max", self.proposal_bytes_max),
            ("pending_reads_max", self.pending_reads_max as u64),
            ("pending_proposals_max", self.pending_proposals_max as u64),
            ("inflight_persists_max", self.inflight_persists_max as u64),
            ("apply_batch_bytes_max", self.apply_batch_bytes_max),
            ("unapplied_entries_max", self.unapplied_entries_max),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes),
            ("snapshot_bytes_max", self.snapshot_bytes_max),
        ];
        for (name, value) in limits {
            if value == 0 {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        Ok(())
    }
}
