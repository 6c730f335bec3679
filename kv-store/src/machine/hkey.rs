//! Keys (and hash fields) ordered by a hash of their bytes first, then by the bytes.
//!
//! That order is what lets SCAN's cursor be a plain number, as Redis clients expect, and still
//! be stateless and stable: the cursor is the hash to resume at, every key present through a
//! whole iteration is returned at least once, and any node (the same build or a later one: the
//! hash is CRC-32, fixed forever) continues a cursor another node gave. A crafted set of keys
//! with one hash costs nothing more than byte comparisons in a B-tree, never a degenerate
//! table.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The hash that orders `bytes`.
pub fn hash_of(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// An owned key with its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HKey {
    hash: u32,
    bytes: Vec<u8>,
}

impl HKey {
    /// The key for `bytes`.
    pub fn new(bytes: Vec<u8>) -> HKey {
        HKey {
            hash: hash_of(&bytes),
            bytes,
        }
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key's hash, which orders it.
    pub fn hash(&self) -> u32 {
        self.hash
    }
}

/// A key to look up, borrowed: lookups hash once and allocate nothing.
pub trait KeyRef {
    /// The hash.
    fn hash(&self) -> u32;
    /// The bytes.
    fn bytes(&self) -> &[u8];
}

impl KeyRef for HKey {
    fn hash(&self) -> u32 {
        self.hash
    }
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A borrowed key and its hash.
pub struct Lookup<'a> {
    hash: u32,
    bytes: &'a [u8],
}

impl<'a> Lookup<'a> {
    /// The lookup for `bytes`.
    pub fn new(bytes: &'a [u8]) -> Lookup<'a> {
        Lookup {
            hash: hash_of(bytes),
            bytes,
        }
    }
}

impl KeyRef for Lookup<'_> {
    fn hash(&self) -> u32 {
        self.hash
    }
    fn bytes(&self) -> &[u8] {
        self.bytes
    }
}

impl<'a> Borrow<dyn KeyRef + 'a> for HKey {
    fn borrow(&self) -> &(dyn KeyRef + 'a) {
        self
    }
}

fn order(a: &dyn KeyRef, b: &dyn KeyRef) -> Ordering {
    a.hash()
        .cmp(&b.hash())
        .then_with(|| a.bytes().cmp(b.bytes()))
}

impl PartialEq for dyn KeyRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        order(self, other) == Ordering::Equal
    }
}
impl Eq for dyn KeyRef + '_ {}
impl PartialOrd for dyn KeyRef + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyRef + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        order(self, other)
    }
}

impl PartialOrd for HKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HKey {
    fn cmp(&self, other: &Self) -> Ordering {
        order(self, other)
    }
}

/// Only the bytes are stored: the hash is computed again when read, so a stored key can never
/// carry a hash that disagrees with its bytes.
impl Serialize for HKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.bytes.serialize(s)
    }
}

impl<'de> Deserialize<'de> for HKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HKey, D::Error> {
        Vec::<u8>::deserialize(d).map(HKey::new)
    }
}

/// The first possible key with hash `h`: the empty byte string sorts first among equal hashes.
struct HashFloor(u32);

impl KeyRef for HashFloor {
    fn hash(&self) -> u32 {
        self.0
    }
    fn bytes(&self) -> &[u8] {
        &[]
    }
}

/// The entries of `map` from hash `from` on, in order.
pub fn from_hash<V: Clone>(
    map: &imbl::OrdMap<HKey, V>,
    from: u32,
) -> impl Iterator<Item = (&HKey, &V)> + '_ {
    let floor = HashFloor(from);
    map.range::<_, dyn KeyRef>((Bound::Included(&floor as &dyn KeyRef), Bound::Unbounded))
}
