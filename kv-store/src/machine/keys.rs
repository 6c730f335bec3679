//! The keyspace commands: deleting, renaming, copying, expiring, and looking keys up.

use serde::{Deserialize, Serialize};

use super::error::KvError;
use super::glob;
use super::hkey::HKey;
use super::keyspace::{Keyspace, View};
use super::reply::Reply;
use super::Key;

/// When EXPIRE and its kin set the deadline: every condition given must hold (Redis allows
/// XX with GT or LT; the server refuses the other combinations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireCondition {
    /// Only if the key has no deadline (NX).
    pub no_deadline: bool,
    /// Only if the key has one (XX).
    pub has_deadline: bool,
    /// Only if the new deadline is later (GT; no deadline counts as infinitely late).
    pub later: bool,
    /// Only if the new deadline is earlier (LT; no deadline counts as infinitely late).
    pub earlier: bool,
}

impl ExpireCondition {
    /// Whether a key whose deadline is `current` may get the deadline `at`.
    fn allows(self, current: Option<u64>, at: i64) -> bool {
        let c = current.map(|c| c.min(i64::MAX as u64) as i64);
        !(self.no_deadline && c.is_some()
            || self.has_deadline && c.is_none()
            || self.later && c.is_none_or(|c| at <= c)
            || self.earlier && c.is_some_and(|c| at >= c))
    }
}

/// A keyspace write, through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyWrite {
    /// DEL, UNLINK: how many existed.
    Del {
        /// The keys.
        keys: Vec<Key>,
    },
    /// EXPIRE, PEXPIRE (`relative`), EXPIREAT, PEXPIREAT: 1 if the deadline was set (a
    /// deadline already passed deletes the key), 0 if the key is absent or the condition
    /// failed.
    Expire {
        /// The key.
        key: Key,
        /// Milliseconds: after the write's time when `relative`, else since the Unix epoch.
        ms: i64,
        /// Whether `ms` counts from the write's time.
        relative: bool,
        /// When to set it.
        condition: ExpireCondition,
    },
    /// PERSIST: 1 if a deadline was removed.
    Persist {
        /// The key.
        key: Key,
    },
    /// RENAME (`Ok`) and RENAMENX (`nx`: 1 if renamed, 0 if `to` exists). The deadline moves
    /// with the value.
    Rename {
        /// The key renamed.
        from: Key,
        /// Its new name.
        to: Key,
        /// Only if `to` does not exist.
        nx: bool,
    },
    /// COPY: 1 if copied, 0 if `to` exists and not `replace`.
    Copy {
        /// The source.
        from: Key,
        /// The destination.
        to: Key,
        /// Overwrite `to`.
        replace: bool,
    },
    /// FLUSHDB, FLUSHALL.
    FlushAll,
}

/// A keyspace read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRead {
    /// EXISTS (a key named twice counts twice), TOUCH.
    Exists {
        /// The keys.
        keys: Vec<Key>,
    },
    /// TYPE.
    Type {
        /// The key.
        key: Key,
    },
    /// TTL, PTTL (`millis`), EXPIRETIME, PEXPIRETIME (`absolute`).
    Ttl {
        /// The key.
        key: Key,
        /// In milliseconds rather than seconds.
        millis: bool,
        /// The deadline itself rather than the time left.
        absolute: bool,
    },
    /// KEYS.
    Keys {
        /// A glob pattern.
        pattern: Vec<u8>,
    },
    /// SCAN.
    Scan {
        /// Where to resume (0: the start).
        cursor: u64,
        /// Only keys matching this glob pattern.
        pattern: Option<Vec<u8>>,
        /// About how many keys to look at.
        count: usize,
        /// Only keys of this type.
        type_name: Option<String>,
    },
    /// RANDOMKEY.
    RandomKey,
    /// DBSIZE.
    DbSize,
}

impl KeyWrite {
    pub(super) fn run(self, ks: &mut Keyspace) -> Result<Reply, KvError> {
        Ok(match self {
            KeyWrite::Del { keys } => {
                Reply::Int(keys.iter().filter(|k| ks.delete(k)).count() as i64)
            }
            KeyWrite::Expire {
                key,
                ms,
                relative,
                condition,
            } => {
                let Some(current) = ks.live(&key).map(|e| e.deadline()) else {
                    return Ok(Reply::Int(0));
                };
                let clock = ks.clock() as i64;
                let at = if relative {
                    clock.saturating_add(ms)
                } else {
                    ms
                };
                let allowed = condition.allows(current, at);
                if !allowed {
                    return Ok(Reply::Int(0));
                }
                // A deadline at or before the clock (negative ones included) deletes the key.
                ks.set_deadline(&key, Some(at.max(0) as u64));
                Reply::Int(1)
            }
            KeyWrite::Persist { key } => {
                let had = ks.live(&key).and_then(|e| e.deadline()).is_some();
                if had {
                    ks.set_deadline(&key, None);
                }
                Reply::Int(i64::from(had))
            }
            KeyWrite::Rename { from, to, nx } => {
                if ks.live(&from).is_none() {
                    return Err(KvError::NoSuchKey);
                }
                if from == to {
                    return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
                }
                if nx && ks.live(&to).is_some() {
                    return Ok(Reply::Int(0));
                }
                let e = ks.remove(&from).expect("live above");
                ks.put(to, e.data().clone(), e.deadline());
                if nx {
                    Reply::Int(1)
                } else {
                    Reply::Ok
                }
            }
            KeyWrite::Copy { from, to, replace } => {
                let Some(e) = ks.live(&from).cloned() else {
                    return Ok(Reply::Int(0));
                };
                if (!replace && ks.live(&to).is_some()) || from == to {
                    return Ok(Reply::Int(0));
                }
                ks.put(to, e.data().clone(), e.deadline());
                Reply::Int(1)
            }
            KeyWrite::FlushAll => {
                ks.clear();
                Reply::Ok
            }
        })
    }
}

impl KeyRead {
    pub(super) fn run(&self, v: &View) -> Result<Reply, KvError> {
        Ok(match self {
            KeyRead::Exists { keys } => {
                Reply::Int(keys.iter().filter(|k| v.get(k).is_some()).count() as i64)
            }
            KeyRead::Type { key } => Reply::Status(
                v.get(key)
                    .map_or("none", |e| e.data().type_name())
                    .to_string(),
            ),
            KeyRead::Ttl {
                key,
                millis,
                absolute,
            } => {
                let Some(e) = v.get(key) else {
                    return Ok(Reply::Int(-2));
                };
                let Some(deadline) = e.deadline() else {
                    return Ok(Reply::Int(-1));
                };
                let ms = if *absolute {
                    deadline
                } else {
                    deadline.saturating_sub(v.now())
                };
                let ms = ms.min(i64::MAX as u64) as i64;
                // Rounded to the nearest second, as Redis does.
                Reply::Int(if *millis {
                    ms
                } else {
                    ms / 1000 + i64::from(ms % 1000 >= 500)
                })
            }
            KeyRead::Keys { pattern } => {
                let keys: Vec<&HKey> = v
                    .live_from(0)
                    .map(|(k, _)| k)
                    .filter(|k| glob::matches(pattern, k.bytes()))
                    .collect();
                let bytes = keys.iter().map(|k| k.bytes().len()).sum();
                super::check_reply_size(bytes)?;
                Reply::Array(
                    keys.into_iter()
                        .map(|k| Reply::Bulk(k.bytes().to_vec()))
                        .collect(),
                )
            }
            KeyRead::Scan {
                cursor,
                pattern,
                count,
                type_name,
            } => {
                let Ok(from) = u32::try_from(*cursor) else {
                    return Ok(scan_reply(0, Vec::new()));
                };
                let (page, next) = page(v.live_from(from), *count);
                super::check_reply_size(page.iter().map(|(k, _)| k.bytes().len()).sum())?;
                let keys = page
                    .into_iter()
                    .filter(|(k, e)| {
                        pattern.as_ref().is_none_or(|p| glob::matches(p, k.bytes()))
                            && type_name
                                .as_ref()
                                .is_none_or(|t| t.eq_ignore_ascii_case(e.data().type_name()))
                    })
                    .map(|(k, _)| Reply::Bulk(k.bytes().to_vec()))
                    .collect();
                scan_reply(next, keys)
            }
            KeyRead::RandomKey => {
                let start: u32 = rand::random();
                let found = v.live_from(start).next().or_else(|| v.live_from(0).next());
                found.map_or(Reply::Nil, |(k, _)| Reply::Bulk(k.bytes().to_vec()))
            }
            KeyRead::DbSize => Reply::Int(v.live_count() as i64),
        })
    }
}

/// One page of a cursor's walk: about `count` items, never splitting the items of one hash
/// (so the next cursor, the hash to resume at, skips nothing), and the next cursor (0: done).
pub(super) fn page<'a, T>(
    mut items: impl Iterator<Item = (&'a HKey, T)>,
    count: usize,
) -> (Vec<(&'a HKey, T)>, u32) {
    let mut page: Vec<(&HKey, T)> = Vec::new();
    for (k, item) in items.by_ref() {
        if page.len() >= count.max(1) && page.last().is_some_and(|(l, _)| l.hash() != k.hash()) {
            return (page, k.hash());
        }
        page.push((k, item));
    }
    (page, 0)
}

/// SCAN's reply: the next cursor, as a bulk string, and the page.
pub(super) fn scan_reply(next: u32, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(next.to_string().into_bytes()),
        Reply::Array(items),
    ])
}
