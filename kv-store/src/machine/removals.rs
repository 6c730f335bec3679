//! Which keys were removed, and when (by log index): what lets WATCH tell that a key absent
//! when it was watched was created and removed again before EXEC. Bounded: beyond
//! [`REMOVALS_MAX`] the oldest are forgotten, and a watch older than what is forgotten is
//! taken as changed (a spurious EXEC failure, never a missed change). Replicated state, like
//! the keys: the same on every replica, and in snapshots.

use std::collections::BTreeSet;

use imbl::OrdMap;

use super::hkey::{HKey, KeyRef, Lookup};

/// The most removals remembered.
pub const REMOVALS_MAX: usize = 100_000;

#[derive(Debug, Default)]
pub struct Removals {
    by_key: OrdMap<HKey, u64>,
    /// Removals at or after this index are all remembered; before it, some are forgotten.
    complete_from: u64,
    /// `by_key` by log position, to forget the oldest first (rebuilt from it after a restore).
    by_index: BTreeSet<(u64, HKey)>,
}

/// The removals at one entry, immutable: what a snapshot holds of them.
#[derive(Clone, Debug, Default)]
pub struct RemovalsImage {
    /// Each key remembered, and the index of the entry that removed it.
    pub by_key: OrdMap<HKey, u64>,
    /// Removals at or after this index are all remembered.
    pub complete_from: u64,
}

impl Removals {
    /// `key` was removed by entry `index`.
    pub fn note(&mut self, key: HKey, index: u64) {
        if let Some(old) = self.by_key.insert(key.clone(), index) {
            self.by_index.remove(&(old, key.clone()));
        }
        self.by_index.insert((index, key));
        while self.by_key.len() > REMOVALS_MAX {
            let (i, k) = self.by_index.pop_first().expect("as many as by_key");
            self.by_key.remove(&k);
            self.complete_from = self.complete_from.max(i + 1);
        }
    }

    /// Every key was removed by entry `index` (FLUSHALL): earlier removals no longer matter.
    pub fn note_all(&mut self, index: u64) {
        self.by_key.clear();
        self.by_index.clear();
        self.complete_from = index + 1;
    }

    /// Whether `key` may have been removed by an entry after `since`.
    pub fn since(&self, key: &[u8], since: u64) -> bool {
        since + 1 < self.complete_from
            || self
                .by_key
                .get(&Lookup::new(key) as &dyn KeyRef)
                .is_some_and(|i| *i > since)
    }

    /// An image for a snapshot: pointer copies.
    pub fn image(&self) -> RemovalsImage {
        RemovalsImage {
            by_key: self.by_key.clone(),
            complete_from: self.complete_from,
        }
    }

    /// The removals an image held.
    pub fn from_image(image: RemovalsImage) -> Removals {
        Removals {
            by_index: image.by_key.iter().map(|(k, i)| (*i, k.clone())).collect(),
            by_key: image.by_key,
            complete_from: image.complete_from,
        }
    }
}
