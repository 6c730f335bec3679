//! The keys, their values and deadlines, and the replicated clock that expires them.
//!
//! Time enters only through the log: every write carries its proposer's wall clock, and the
//! clock here is the largest such time applied so far, so it never goes backwards and every
//! replica has the same clock at the same entry. A key whose deadline the clock has reached is
//! gone for every command, whether or not it has been reclaimed yet.
//!
//! Reads see the keyspace through a [`View`] at the reader's time, which may be ahead of the
//! clock. A key whose deadline lies between the two is absent to the reader, and the view
//! notes that it relied on a time the log has not reached: such a linearizable read is asked
//! again only after a tick through the log has moved the clock to its time (see
//! [`Reply::ReadThroughLog`](super::Reply)), so that no later read, on any leader whatever its
//! clock, can see the key alive again.

use std::cell::Cell;
use std::num::NonZeroU64;

use imbl::OrdMap;

use serde::{Deserialize, Serialize};

use super::deadlines::Deadlines;
use super::error::KvError;
use super::hkey::{from_hash, HKey, KeyRef, Lookup};
use super::removals::{Removals, RemovalsImage};

/// A hash: fields in hash order (so HSCAN's cursor works as SCAN's does). Persistent, like
/// the keyspace that holds it: a snapshot's image of a key shares its fields.
pub type Hash = OrdMap<HKey, Vec<u8>>;

/// What a key holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Data {
    /// A string (any bytes).
    Str(Vec<u8>),
    /// A hash of fields to values; never empty (the key goes with its last field).
    Hash(Hash),
}

impl Data {
    /// Redis's name for the type (TYPE).
    pub fn type_name(&self) -> &'static str {
        match self {
            Data::Str(_) => "string",
            Data::Hash(_) => "hash",
        }
    }
}

/// A key's value, deadline and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    data: Data,
    /// When the key expires, in milliseconds since the Unix epoch on the replicated clock.
    expires_at: Option<NonZeroU64>,
    /// The log index of the write that last changed the key (what WATCH compares).
    version: u64,
}

impl Entry {
    /// What the key holds.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The deadline, if the key has one.
    pub fn deadline(&self) -> Option<u64> {
        self.expires_at.map(NonZeroU64::get)
    }

    /// The string held, or `WrongType`.
    pub fn string(&self) -> Result<&[u8], KvError> {
        match &self.data {
            Data::Str(s) => Ok(s),
            _ => Err(KvError::WrongType),
        }
    }

    /// The hash held, or `WrongType`.
    pub fn hash(&self) -> Result<&Hash, KvError> {
        match &self.data {
            Data::Hash(h) => Ok(h),
            _ => Err(KvError::WrongType),
        }
    }

    fn live_at(&self, time: u64) -> bool {
        self.deadline().is_none_or(|d| d > time)
    }
}

/// The keyspace: keys in hash order, the deadlines in time order, and the clock.
///
/// The keys are a persistent B-tree (`imbl`'s), so an image of them for a snapshot is a pointer
/// copy; a later write copies only the nodes on its path, once per snapshot.
#[derive(Debug, Default)]
pub struct Keyspace {
    map: OrdMap<HKey, Entry>,
    deadlines: Deadlines,
    /// Milliseconds since the Unix epoch: the largest time any applied write carried.
    clock: u64,
    /// The index of the entry being applied: the version of what it changes.
    index: u64,
    removals: Removals,
}

impl Keyspace {
    /// The replicated clock, in milliseconds since the Unix epoch.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Keys held, including expired ones not reclaimed yet (as Redis's DBSIZE counts them).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether `key`, watched after entry `since` (and `present` then), may have changed since:
    /// written, given or cleared a deadline, removed, expired or created. (WATCH, at EXEC.)
    pub fn changed_since(&mut self, key: &[u8], since: u64, present: bool) -> bool {
        match self.live(key) {
            Some(e) => !present || e.version > since,
            None => present || self.removals.since(key, since),
        }
    }

    /// Starts applying entry `index`, written at `time` (the clock moves forward only).
    pub fn begin(&mut self, index: u64, time: u64) {
        self.index = index;
        self.clock = self.clock.max(time);
    }

    /// The key's entry, if it is live on the clock. A key found expired is reclaimed.
    pub fn live(&mut self, key: &[u8]) -> Option<&Entry> {
        let k = Lookup::new(key);
        let live = self.map.get(&k as &dyn KeyRef)?.live_at(self.clock);
        if !live {
            self.remove(key);
            return None;
        }
        self.map.get(&k as &dyn KeyRef)
    }

    /// The live key's data, to change: its version becomes the entry being applied.
    pub fn data_mut(&mut self, key: &[u8]) -> Option<&mut Data> {
        self.live(key)?;
        let e = self.map.get_mut(&Lookup::new(key) as &dyn KeyRef)?;
        e.version = self.index;
        Some(&mut e.data)
    }

    /// Sets `key` to `data` with `deadline` (none: no expiry), replacing whatever it held.
    pub fn put(&mut self, key: Vec<u8>, data: Data, deadline: Option<u64>) {
        let key = HKey::new(key);
        if let Some(old) = self.map.get(&key).and_then(Entry::deadline) {
            self.deadlines.remove(old, &key);
        }
        let expires_at = deadline.and_then(NonZeroU64::new);
        if let Some(d) = expires_at {
            self.deadlines.insert(d.get(), key.clone());
        }
        let entry = Entry {
            data,
            expires_at,
            version: self.index,
        };
        self.map.insert(key, entry);
    }

    /// Removes `key`; what it held, if anything (live or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (k, e) = self.map.remove_with_key(&Lookup::new(key) as &dyn KeyRef)?;
        self.removals.note(k.clone(), self.index);
        if let Some(d) = e.deadline() {
            self.deadlines.remove(d, &k);
        }
        Some(e)
    }

    /// Removes `key` if it is live; whether it was.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.live(key).is_some() && self.remove(key).is_some()
    }

    /// Sets or clears the live key's deadline; whether the key is live. A deadline the clock
    /// has reached removes the key at once.
    pub fn set_deadline(&mut self, key: &[u8], deadline: Option<u64>) -> bool {
        if self.live(key).is_none() {
            return false;
        }
        if deadline.is_some_and(|d| d <= self.clock) {
            self.remove(key);
            return true;
        }
        let (k, e) = self
            .map
            .remove_with_key(&Lookup::new(key) as &dyn KeyRef)
            .expect("live above");
        let mut e = e;
        if let Some(old) = e.deadline() {
            self.deadlines.remove(old, &k);
        }
        e.expires_at = deadline.and_then(NonZeroU64::new);
        e.version = self.index;
        if let Some(d) = e.deadline() {
            self.deadlines.insert(d, k.clone());
        }
        self.map.insert(k, e);
        true
    }

    /// Keys with a deadline, and the average time their deadlines are ahead of `now` (zero if
    /// none is), for INFO's keyspace section.
    pub fn expiry_stats(&self, now: u64) -> (usize, u64) {
        let ahead = self
            .deadlines
            .average()
            .map_or(0, |d| d.saturating_sub(now));
        (self.deadlines.len(), ahead)
    }

    /// The earliest deadline of any key, reclaimed or not.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Reclaims up to `limit` keys whose deadline the clock has reached; how many.
    pub fn reclaim_due(&mut self, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.deadlines.first() {
                Some((d, _)) if *d <= self.clock => {}
                _ => break,
            }
            let (_, k) = self.deadlines.pop_first().expect("checked above");
            self.map.remove(&k);
            self.removals.note(k, self.index);
            n += 1;
        }
        n
    }

    /// Removes every key.
    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        self.deadlines.clear();
        self.removals.note_all(self.index);
        n
    }

    /// A view for reading at `now` (never behind the clock). `strict`: note when the answer
    /// relies on a deadline the clock has not reached.
    pub fn view(&self, now: u64, strict: bool) -> View<'_> {
        View {
            ks: self,
            now: now.max(self.clock),
            strict,
            behind: Cell::new(false),
        }
    }

    /// Every entry in order (for digests).
    pub fn entries(&self) -> impl Iterator<Item = (&HKey, &Entry)> {
        self.map.iter()
    }

    /// An image of the keyspace for a snapshot: pointer copies, whatever its size.
    pub fn image(&self) -> KeyspaceImage {
        KeyspaceImage {
            clock: self.clock,
            index: self.index,
            keys: self.map.clone(),
            removals: self.removals.image(),
        }
    }

    /// The keyspace an image held (its deadline index rebuilt).
    pub fn from_image(image: KeyspaceImage) -> Keyspace {
        let mut deadlines = Deadlines::default();
        for (k, e) in &image.keys {
            if let Some(d) = e.deadline() {
                deadlines.insert(d, k.clone());
            }
        }
        Keyspace {
            map: image.keys,
            deadlines,
            clock: image.clock,
            index: image.index,
            removals: Removals::from_image(image.removals),
        }
    }
}

/// The keyspace's replicated state at one entry, immutable: what a snapshot holds of it.
#[derive(Clone, Debug, Default)]
pub struct KeyspaceImage {
    /// The replicated clock.
    pub clock: u64,
    /// The last entry applied.
    pub index: u64,
    /// The keys.
    pub keys: OrdMap<HKey, Entry>,
    /// The removals WATCH remembers.
    pub removals: RemovalsImage,
}

/// The keyspace as a read sees it at one time.
pub struct View<'a> {
    ks: &'a Keyspace,
    now: u64,
    strict: bool,
    behind: Cell<bool>,
}

impl<'a> View<'a> {
    /// The time the view reads at.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The index of the last entry applied: what the view reflects.
    pub fn index(&self) -> u64 {
        self.ks.index
    }

    /// Whether a strict view relied on a deadline the replicated clock has not reached.
    pub fn relied_on_unlogged_time(&self) -> bool {
        self.behind.get()
    }

    fn live(&self, e: &Entry) -> bool {
        if e.live_at(self.now) {
            return true;
        }
        if self.strict && e.live_at(self.ks.clock) {
            self.behind.set(true);
        }
        false
    }

    /// The key's entry, if live at the view's time.
    pub fn get(&self, key: &[u8]) -> Option<&'a Entry> {
        let e = self.ks.map.get(&Lookup::new(key) as &dyn KeyRef)?;
        self.live(e).then_some(e)
    }

    /// Live entries from hash `from` on, in order.
    pub fn live_from(&self, from: u32) -> impl Iterator<Item = (&'a HKey, &'a Entry)> + '_ {
        let range = from_hash(&self.ks.map, from);
        range.filter(|(_, e)| self.live(e))
    }

    /// Keys live at the view's time (DBSIZE): expired keys count for nothing, reclaimed or
    /// not.
    pub fn live_count(&self) -> usize {
        let expired = self
            .ks
            .deadlines
            .iter()
            .take_while(|(d, _)| *d <= self.now)
            .inspect(|(d, _)| {
                if self.strict && *d > self.ks.clock {
                    self.behind.set(true);
                }
            })
            .count();
        self.ks.len().saturating_sub(expired)
    }
}
