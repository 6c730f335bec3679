//! The keys that have a deadline, in time order, with the sum of their deadlines (so INFO's
//! average time to live costs nothing to compute).

use std::collections::BTreeSet;

use super::hkey::HKey;

#[derive(Debug, Default)]
pub(super) struct Deadlines {
    set: BTreeSet<(u64, HKey)>,
    /// The sum of every deadline in `set`.
    sum: u128,
}

impl Deadlines {
    pub(super) fn insert(&mut self, deadline: u64, key: HKey) {
        if self.set.insert((deadline, key)) {
            self.sum += u128::from(deadline);
        }
    }

    pub(super) fn remove(&mut self, deadline: u64, key: &HKey) {
        if self.set.remove(&(deadline, key.clone())) {
            self.sum -= u128::from(deadline);
        }
    }

    pub(super) fn first(&self) -> Option<&(u64, HKey)> {
        self.set.first()
    }

    pub(super) fn pop_first(&mut self) -> Option<(u64, HKey)> {
        let first = self.set.pop_first()?;
        self.sum -= u128::from(first.0);
        Some(first)
    }

    pub(super) fn clear(&mut self) {
        self.set.clear();
        self.sum = 0;
    }

    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    /// In time order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(u64, HKey)> {
        self.set.iter()
    }

    /// The average deadline, if any key has one.
    pub(super) fn average(&self) -> Option<u64> {
        let n = self.set.len() as u128;
        (n > 0).then(|| (self.sum / n) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_follows_inserts_and_removals() {
        let mut d = Deadlines::default();
        assert_eq!(d.average(), None);
        d.insert(100, HKey::new(b"a".to_vec()));
        d.insert(300, HKey::new(b"b".to_vec()));
        // A second insert of the same pair counts once.
        d.insert(300, HKey::new(b"b".to_vec()));
        assert_eq!(d.average(), Some(200));
        d.remove(100, &HKey::new(b"a".to_vec()));
        // Removing what is not there changes nothing.
        d.remove(100, &HKey::new(b"a".to_vec()));
        assert_eq!(d.average(), Some(300));
        assert_eq!(d.pop_first().map(|(t, _)| t), Some(300));
        assert_eq!((d.len(), d.average()), (0, None));
        d.insert(u64::MAX, HKey::new(b"c".to_vec()));
        d.insert(u64::MAX, HKey::new(b"d".to_vec()));
        assert_eq!(d.average(), Some(u64::MAX));
        d.clear();
        assert_eq!(d.average(), None);
    }
}
