//! The string commands: what goes through the log, what is read, and how each runs.

use serde::{Deserialize, Serialize};

use super::error::KvError;
use super::keyspace::{Data, Keyspace, View};
use super::numbers::{float_sum, parse_i64};
use super::reply::Reply;
use super::{Key, Value, STRING_BYTES_MAX};

/// When a SET takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// Whether or not the key exists (a plain SET).
    Always,
    /// Only if the key does not exist (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// What a write does to a key's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// No deadline (a plain SET, or PERSIST).
    Never,
    /// The deadline stays as it was (KEEPTTL).
    Keep,
    /// This many milliseconds after the write's time on the replicated clock (EX, PX).
    In(u64),
    /// At this Unix time in milliseconds (EXAT, PXAT); one already passed deletes the key.
    At(u64),
}

impl Expiry {
    /// The deadline this gives at `clock`, where the key's current one is `current`.
    pub(super) fn deadline(self, clock: u64, current: Option<u64>) -> Option<u64> {
        match self {
            Expiry::Never => None,
            Expiry::Keep => current,
            // Bounds were checked against the proposer's clock; the sum saturates so every
            // replica computes the same deadline whatever.
            Expiry::In(ms) => Some(clock.saturating_add(ms)),
            Expiry::At(at) => Some(at),
        }
    }
}

/// A string write, through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StringWrite {
    /// SET, SETEX, PSETEX, GETSET: sets `value` if `condition` holds, with `expiry`. Replies
    /// `Ok` (or `Nil` when the condition kept it from happening), or with `get` the old value.
    Set {
        /// The key.
        key: Key,
        /// Its new value.
        value: Value,
        /// When to set it.
        condition: SetCondition,
        /// Its deadline.
        expiry: Expiry,
        /// Reply with the old value (GET option, GETSET).
        get: bool,
    },
    /// SETNX: 1 if set, 0 if the key existed.
    SetNx {
        /// The key.
        key: Key,
        /// Its new value.
        value: Value,
    },
    /// GETDEL.
    GetDel {
        /// The key.
        key: Key,
    },
    /// GETEX: the value, and the deadline changed if `expiry` is given.
    GetEx {
        /// The key.
        key: Key,
        /// The new deadline, if any.
        expiry: Option<Expiry>,
    },
    /// MSET: every pair, in order.
    MSet {
        /// Keys and values.
        pairs: Vec<(Key, Value)>,
    },
    /// MSETNX: every pair if no key exists (1), else none (0).
    MSetNx {
        /// Keys and values.
        pairs: Vec<(Key, Value)>,
    },
    /// APPEND: the new length.
    Append {
        /// The key.
        key: Key,
        /// What to append.
        value: Value,
    },
    /// SETRANGE: overwrites from `offset`, padding with zero bytes; the new length.
    SetRange {
        /// The key.
        key: Key,
        /// Where to write.
        offset: u64,
        /// What to write.
        value: Value,
    },
    /// INCR, DECR, INCRBY, DECRBY: the new value.
    IncrBy {
        /// The key.
        key: Key,
        /// The amount to add.
        by: i64,
    },
    /// INCRBYFLOAT: the new value, as text.
    IncrByFloat {
        /// The key.
        key: Key,
        /// The amount to add, as the client wrote it (checked to be a float).
        by: Vec<u8>,
    },
}

/// A string read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StringRead {
    /// GET.
    Get {
        /// The key.
        key: Key,
    },
    /// MGET: nil for each key absent or not a string.
    MGet {
        /// The keys.
        keys: Vec<Key>,
    },
    /// STRLEN.
    StrLen {
        /// The key.
        key: Key,
    },
    /// GETRANGE: inclusive, negative offsets count from the end.
    GetRange {
        /// The key.
        key: Key,
        /// The first offset.
        start: i64,
        /// The last offset.
        end: i64,
    },
}

/// The live key's string, or `None`; `WrongType` for another type.
fn string_of<'a>(ks: &'a mut Keyspace, key: &[u8]) -> Result<Option<&'a [u8]>, KvError> {
    match ks.live(key) {
        None => Ok(None),
        Some(e) => e.string().map(Some),
    }
}

fn put_string(ks: &mut Keyspace, key: Key, value: Value, keep_deadline: bool) {
    let deadline = if keep_deadline {
        ks.live(&key).and_then(|e| e.deadline())
    } else {
        None
    };
    ks.put(key, Data::Str(value), deadline);
}

impl StringWrite {
    pub(super) fn run(self, ks: &mut Keyspace) -> Result<Reply, KvError> {
        match self {
            StringWrite::Set {
                key,
                value,
                condition,
                expiry,
                get,
            } => {
                let current = ks.live(&key);
                let old = match (get, current) {
                    (true, Some(e)) => Some(e.string()?.to_vec()),
                    _ => None,
                };
                let current = current_deadline(ks, &key);
                let present = current.is_some();
                let allowed = match condition {
                    SetCondition::Always => true,
                    SetCondition::IfAbsent => !present,
                    SetCondition::IfPresent => present,
                };
                if allowed {
                    let deadline = expiry.deadline(ks.clock(), current.flatten());
                    ks.put(key.clone(), Data::Str(value), deadline);
                    if deadline.is_some_and(|d| d <= ks.clock()) {
                        ks.remove(&key);
                    }
                }
                Ok(match (get, allowed) {
                    (true, _) => old.map_or(Reply::Nil, Reply::Bulk),
                    (false, true) => Reply::Ok,
                    (false, false) => Reply::Nil,
                })
            }
            StringWrite::SetNx { key, value } => {
                if ks.live(&key).is_some() {
                    return Ok(Reply::Int(0));
                }
                ks.put(key, Data::Str(value), None);
                Ok(Reply::Int(1))
            }
            StringWrite::GetDel { key } => {
                let Some(v) = string_of(ks, &key)?.map(<[u8]>::to_vec) else {
                    return Ok(Reply::Nil);
                };
                ks.remove(&key);
                Ok(Reply::Bulk(v))
            }
            StringWrite::GetEx { key, expiry } => {
                let Some(v) = string_of(ks, &key)?.map(<[u8]>::to_vec) else {
                    return Ok(Reply::Nil);
                };
                if let Some(expiry) = expiry {
                    let current = ks.live(&key).and_then(|e| e.deadline());
                    ks.set_deadline(&key, expiry.deadline(ks.clock(), current));
                }
                Ok(Reply::Bulk(v))
            }
            StringWrite::MSet { pairs } => {
                for (k, v) in pairs {
                    ks.put(k, Data::Str(v), None);
                }
                Ok(Reply::Ok)
            }
            StringWrite::MSetNx { pairs } => {
                if pairs.iter().any(|(k, _)| ks.live(k).is_some()) {
                    return Ok(Reply::Int(0));
                }
                for (k, v) in pairs {
                    ks.put(k, Data::Str(v), None);
                }
                Ok(Reply::Int(1))
            }
            StringWrite::Append { key, value } => {
                let Some(old) = string_of(ks, &key)? else {
                    check_len(value.len() as u64)?;
                    let n = value.len();
                    ks.put(key, Data::Str(value), None);
                    return Ok(Reply::Int(n as i64));
                };
                check_len(old.len() as u64 + value.len() as u64)?;
                let Some(Data::Str(s)) = ks.data_mut(&key) else {
                    unreachable!("a live string above")
                };
                s.extend_from_slice(&value);
                Ok(Reply::Int(s.len() as i64))
            }
            StringWrite::SetRange { key, offset, value } => {
                let len = string_of(ks, &key)?.map(<[u8]>::len);
                if value.is_empty() {
                    return Ok(Reply::Int(len.unwrap_or(0) as i64));
                }
                let end = offset.saturating_add(value.len() as u64);
                check_len(end)?;
                let (offset, end) = (offset as usize, end as usize);
                if len.is_none() {
                    ks.put(key.clone(), Data::Str(Vec::new()), None);
                }
                let Some(Data::Str(s)) = ks.data_mut(&key) else {
                    unreachable!("a live string above")
                };
                if s.len() < end {
                    s.resize(end, 0);
                }
                s[offset..end].copy_from_slice(&value);
                Ok(Reply::Int(s.len() as i64))
            }
            StringWrite::IncrBy { key, by } => {
                let current = match string_of(ks, &key)? {
                    None => 0,
                    Some(v) => parse_i64(v).ok_or(KvError::NotAnInteger)?,
                };
                let n = current.checked_add(by).ok_or(KvError::Overflow)?;
                put_string(ks, key, n.to_string().into_bytes(), true);
                Ok(Reply::Int(n))
            }
            StringWrite::IncrByFloat { key, by } => {
                let sum = float_sum(string_of(ks, &key)?, &by, KvError::NotAFloat)?;
                put_string(ks, key, sum.clone(), true);
                Ok(Reply::Bulk(sum))
            }
        }
    }
}

/// `None` when the key is absent; otherwise its deadline, if any.
fn current_deadline(ks: &mut Keyspace, key: &[u8]) -> Option<Option<u64>> {
    ks.live(key).map(|e| e.deadline())
}

fn check_len(len: u64) -> Result<(), KvError> {
    if len > STRING_BYTES_MAX {
        return Err(KvError::StringTooLong);
    }
    Ok(())
}

impl StringRead {
    pub(super) fn run(&self, v: &View) -> Result<Reply, KvError> {
        let string = |key: &[u8]| -> Result<Option<&[u8]>, KvError> {
            v.get(key).map(|e| e.string()).transpose()
        };
        Ok(match self {
            StringRead::Get { key } => Reply::bulk_or_nil(string(key)?),
            StringRead::MGet { keys } => {
                let found: Vec<Option<&[u8]>> = keys
                    .iter()
                    .map(|k| v.get(k).and_then(|e| e.string().ok()))
                    .collect();
                let bytes: usize = found.iter().flatten().map(|v| v.len()).sum();
                super::check_reply_size(bytes)?;
                Reply::Array(found.into_iter().map(Reply::bulk_or_nil).collect())
            }
            StringRead::StrLen { key } => Reply::Int(string(key)?.map_or(0, <[u8]>::len) as i64),
            StringRead::GetRange { key, start, end } => {
                let s = string(key)?.unwrap_or_default();
                Reply::Bulk(range(s.len(), *start, *end).map_or(Vec::new(), |r| s[r].to_vec()))
            }
        })
    }
}

/// The byte range GETRANGE gives for `start..=end` of a string of `len` bytes, as Redis
/// computes it: negative offsets count from the end, and the range is clipped.
fn range(len: usize, start: i64, end: i64) -> Option<std::ops::Range<usize>> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    if start > end || len == 0 {
        return None;
    }
    Some(start as usize..end as usize + 1)
}
