//! The hash commands. A hash is never empty: its key goes with its last field.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::KvError;
use super::glob;
use super::hkey::{from_hash, HKey, KeyRef, Lookup};
use super::keys::{page, scan_reply};
use super::keyspace::{Data, Hash, Keyspace, View};
use super::numbers::{float_sum, parse_i64};
use super::reply::Reply;
use super::Key;

/// Hashes up to this many fields are returned whole by one HSCAN call, as Redis returns its
/// small (listpack) hashes.
const HSCAN_WHOLE_MAX: usize = 128;

/// A hash write, through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashWrite {
    /// HSET (how many fields are new) and HMSET (`Ok`).
    Set {
        /// The key.
        key: Key,
        /// Fields and values, in order.
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
        /// Reply `Ok` (HMSET).
        ok: bool,
    },
    /// HSETNX: 1 if set, 0 if the field existed.
    SetNx {
        /// The key.
        key: Key,
        /// The field.
        field: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// HDEL: how many fields existed.
    Del {
        /// The key.
        key: Key,
        /// The fields.
        fields: Vec<Vec<u8>>,
    },
    /// HINCRBY: the new value.
    IncrBy {
        /// The key.
        key: Key,
        /// The field.
        field: Vec<u8>,
        /// The amount to add.
        by: i64,
    },
    /// HINCRBYFLOAT: the new value, as text.
    IncrByFloat {
        /// The key.
        key: Key,
        /// The field.
        field: Vec<u8>,
        /// The amount, as the client wrote it (checked to be a float).
        by: Vec<u8>,
    },
}

/// A hash read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashRead {
    /// HGET.
    Get {
        /// The key.
        key: Key,
        /// The field.
        field: Vec<u8>,
    },
    /// HMGET.
    MGet {
        /// The key.
        key: Key,
        /// The fields.
        fields: Vec<Vec<u8>>,
    },
    /// HEXISTS.
    Exists {
        /// The key.
        key: Key,
        /// The field.
        field: Vec<u8>,
    },
    /// HLEN.
    Len {
        /// The key.
        key: Key,
    },
    /// HSTRLEN.
    StrLen {
        /// The key.
        key: Key,
        /// The field.
        field: Vec<u8>,
    },
    /// HKEYS, HVALS, HGETALL.
    All {
        /// The key.
        key: Key,
        /// Which parts.
        parts: Parts,
    },
    /// HSCAN.
    Scan {
        /// The key.
        key: Key,
        /// Where to resume (0: the start).
        cursor: u64,
        /// Only fields matching this glob pattern.
        pattern: Option<Vec<u8>>,
        /// About how many fields to look at.
        count: usize,
    },
    /// HRANDFIELD.
    RandField {
        /// The key.
        key: Key,
        /// None: one field (or nil); positive: that many distinct; negative: that many, with
        /// repeats.
        count: Option<i64>,
        /// With their values.
        with_values: bool,
    },
}

/// What HKEYS, HVALS and HGETALL return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Parts {
    /// HKEYS.
    Fields,
    /// HVALS.
    Values,
    /// HGETALL.
    Both,
}

fn hash_of<'a>(ks: &'a mut Keyspace, key: &[u8]) -> Result<Option<&'a Hash>, KvError> {
    match ks.live(key) {
        None => Ok(None),
        Some(e) => e.hash().map(Some),
    }
}

/// The live hash at `key`, created empty if absent, to change.
fn hash_mut<'a>(ks: &'a mut Keyspace, key: &Key) -> Result<&'a mut Hash, KvError> {
    if hash_of(ks, key)?.is_none() {
        ks.put(key.clone(), Data::Hash(Hash::new()), None);
    }
    match ks.data_mut(key) {
        Some(Data::Hash(h)) => Ok(h),
        _ => unreachable!("a live hash above"),
    }
}

/// Removes the key if its hash is empty (a hash is never left empty).
fn drop_if_empty(ks: &mut Keyspace, key: &[u8]) {
    if ks
        .live(key)
        .is_some_and(|e| e.hash().is_ok_and(|h| h.is_empty()))
    {
        ks.remove(key);
    }
}

impl HashWrite {
    pub(super) fn run(self, ks: &mut Keyspace) -> Result<Reply, KvError> {
        match self {
            HashWrite::Set { key, pairs, ok } => {
                // Nothing to set creates nothing: a hash is never empty.
                if pairs.is_empty() {
                    hash_of(ks, &key)?;
                    return Ok(if ok { Reply::Ok } else { Reply::Int(0) });
                }
                let h = hash_mut(ks, &key)?;
                let added = pairs
                    .into_iter()
                    .filter(|(f, v)| h.insert(HKey::new(f.clone()), v.clone()).is_none())
                    .count();
                Ok(if ok {
                    Reply::Ok
                } else {
                    Reply::Int(added as i64)
                })
            }
            HashWrite::SetNx { key, field, value } => {
                if hash_of(ks, &key)?
                    .is_some_and(|h| h.contains_key(&Lookup::new(&field) as &dyn KeyRef))
                {
                    return Ok(Reply::Int(0));
                }
                hash_mut(ks, &key)?.insert(HKey::new(field), value);
                Ok(Reply::Int(1))
            }
            HashWrite::Del { key, fields } => {
                let Some(h) = hash_of(ks, &key)? else {
                    return Ok(Reply::Int(0));
                };
                let present: Vec<&Vec<u8>> = fields
                    .iter()
                    .filter(|f| h.contains_key(&Lookup::new(f) as &dyn KeyRef))
                    .collect();
                if present.is_empty() {
                    return Ok(Reply::Int(0));
                }
                let h = hash_mut(ks, &key)?;
                let removed = present
                    .into_iter()
                    .filter(|f| h.remove(&Lookup::new(f) as &dyn KeyRef).is_some())
                    .count();
                drop_if_empty(ks, &key);
                Ok(Reply::Int(removed as i64))
            }
            HashWrite::IncrBy { key, field, by } => {
                let current = match hash_of(ks, &key)?.and_then(|h| field_of(h, &field)) {
                    None => 0,
                    Some(v) => parse_i64(v).ok_or(KvError::HashNotAnInteger)?,
                };
                let n = current.checked_add(by).ok_or(KvError::Overflow)?;
                hash_mut(ks, &key)?.insert(HKey::new(field), n.to_string().into_bytes());
                Ok(Reply::Int(n))
            }
            HashWrite::IncrByFloat { key, field, by } => {
                let current = hash_of(ks, &key)?.and_then(|h| field_of(h, &field));
                let sum = float_sum(current, &by, KvError::HashNotAFloat)?;
                hash_mut(ks, &key)?.insert(HKey::new(field), sum.clone());
                Ok(Reply::Bulk(sum))
            }
        }
    }
}

fn field_of<'a>(h: &'a Hash, field: &[u8]) -> Option<&'a [u8]> {
    h.get(&Lookup::new(field) as &dyn KeyRef).map(Vec::as_slice)
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(b.to_vec())
}

impl HashRead {
    pub(super) fn run(&self, v: &View) -> Result<Reply, KvError> {
        let key = match self {
            HashRead::Get { key, .. }
            | HashRead::MGet { key, .. }
            | HashRead::Exists { key, .. }
            | HashRead::Len { key }
            | HashRead::StrLen { key, .. }
            | HashRead::All { key, .. }
            | HashRead::Scan { key, .. }
            | HashRead::RandField { key, .. } => key,
        };
        let empty = Hash::new();
        let found = v.get(key).map(|e| e.hash()).transpose()?;
        let missing = found.is_none();
        let h = found.unwrap_or(&empty);
        Ok(match self {
            HashRead::Get { field, .. } => Reply::bulk_or_nil(field_of(h, field)),
            HashRead::MGet { fields, .. } => {
                let found: Vec<Option<&[u8]>> = fields.iter().map(|f| field_of(h, f)).collect();
                super::check_reply_size(found.iter().flatten().map(|v| v.len()).sum())?;
                Reply::Array(found.into_iter().map(Reply::bulk_or_nil).collect())
            }
            HashRead::Exists { field, .. } => Reply::Int(i64::from(field_of(h, field).is_some())),
            HashRead::Len { .. } => Reply::Int(h.len() as i64),
            HashRead::StrLen { field, .. } => {
                Reply::Int(field_of(h, field).map_or(0, <[u8]>::len) as i64)
            }
            HashRead::All { parts, .. } => {
                let bytes = h.iter().map(|(f, v)| f.bytes().len() + v.len()).sum();
                super::check_reply_size(bytes)?;
                match parts {
                    Parts::Fields => Reply::Array(h.keys().map(|f| bulk(f.bytes())).collect()),
                    Parts::Values => Reply::Array(h.values().map(|v| bulk(v)).collect()),
                    Parts::Both => {
                        Reply::Map(h.iter().map(|(f, v)| (bulk(f.bytes()), bulk(v))).collect())
                    }
                }
            }
            HashRead::Scan {
                cursor,
                pattern,
                count,
                ..
            } => {
                let Ok(from) = u32::try_from(*cursor) else {
                    return Ok(scan_reply(0, Vec::new()));
                };
                let count = if h.len() <= HSCAN_WHOLE_MAX {
                    usize::MAX
                } else {
                    *count
                };
                let (page, next) = page(from_hash(h, from), count);
                super::check_reply_size(page.iter().map(|(f, v)| f.bytes().len() + v.len()).sum())?;
                let items = page
                    .into_iter()
                    .filter(|(f, _)| pattern.as_ref().is_none_or(|p| glob::matches(p, f.bytes())))
                    .flat_map(|(f, v)| [bulk(f.bytes()), bulk(v)])
                    .collect();
                scan_reply(next, items)
            }
            HashRead::RandField {
                count, with_values, ..
            } => rand_fields(h, missing, *count, *with_values)?,
        })
    }
}

/// HRANDFIELD: fields drawn at random (a read: each replica may draw differently), refused
/// past the reply limits before any reply is built.
fn rand_fields(
    h: &Hash,
    missing: bool,
    count: Option<i64>,
    with_values: bool,
) -> Result<Reply, KvError> {
    let fields: Vec<(&HKey, &Vec<u8>)> = h.iter().collect();
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        if missing || fields.is_empty() {
            return Ok(Reply::Nil);
        }
        return Ok(bulk(fields[rng.gen_range(0..fields.len())].0.bytes()));
    };
    let n = count.unsigned_abs();
    if count < 0 && n > super::REPLY_ITEMS_MAX as u64 {
        return Err(KvError::TooManyItems {
            items: n,
            max: super::REPLY_ITEMS_MAX,
        });
    }
    let picked: Vec<(&HKey, &Vec<u8>)> = if fields.is_empty() {
        Vec::new()
    } else if count >= 0 {
        let n = (n as usize).min(fields.len());
        rand::seq::index::sample(&mut rng, fields.len(), n)
            .into_iter()
            .map(|i| fields[i])
            .collect()
    } else {
        (0..n)
            .map(|_| fields[rng.gen_range(0..fields.len())])
            .collect()
    };
    let value_bytes = |v: &Vec<u8>| if with_values { v.len() } else { 0 };
    super::check_reply_size(
        picked
            .iter()
            .map(|(f, v)| f.bytes().len() + value_bytes(v))
            .sum(),
    )?;
    Ok(if with_values {
        Reply::Pairs(
            picked
                .into_iter()
                .map(|(f, v)| (bulk(f.bytes()), bulk(v)))
                .collect(),
        )
    } else {
        Reply::Array(picked.into_iter().map(|(f, _)| bulk(f.bytes())).collect())
    })
}
