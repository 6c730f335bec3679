//! Parsing the keyspace and expiry commands.

use super::args::{syntax, Args, Refusal};
use super::Op;
use crate::machine::{Command, ExpireCondition, KeyRead, KeyWrite, Query};

fn write(c: KeyWrite) -> Result<Op, Refusal> {
    super::write(Command::Key(c))
}

fn read(q: KeyRead) -> Result<Op, Refusal> {
    Ok(Op::Read(Query::Key(q)))
}

/// DEL and UNLINK.
pub(super) fn del(a: &mut Args) -> Result<Op, Refusal> {
    write(KeyWrite::Del { keys: a.rest(0) })
}

/// EXISTS and TOUCH.
pub(super) fn exists(a: &mut Args) -> Result<Op, Refusal> {
    read(KeyRead::Exists { keys: a.rest(0) })
}

pub(super) fn type_of(a: &mut Args) -> Result<Op, Refusal> {
    read(KeyRead::Type { key: a.take(0) })
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME.
pub(super) fn ttl(a: &mut Args) -> Result<Op, Refusal> {
    let (millis, absolute) = match a.name {
        "ttl" => (false, false),
        "pttl" => (true, false),
        "expiretime" => (false, true),
        _ => (true, true),
    };
    read(KeyRead::Ttl {
        key: a.take(0),
        millis,
        absolute,
    })
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, with Redis's checks (`expireGenericCommand`): the
/// options first, then the number, then overflow in the unit and against this node's clock.
pub(super) fn expire(a: &mut Args) -> Result<Op, Refusal> {
    let condition = expire_condition(a)?;
    let n = a.int(1)?;
    let seconds = matches!(a.name, "expire" | "expireat");
    let relative = matches!(a.name, "expire" | "pexpire");
    let invalid = || format!("ERR invalid expire time in '{}' command", a.name);
    let ms = if seconds {
        n.checked_mul(1000).ok_or_else(invalid)?
    } else {
        n
    };
    if relative && ms > i64::MAX - a.now_ms as i64 {
        return Err(invalid());
    }
    write(KeyWrite::Expire {
        key: a.take(0),
        ms,
        relative,
        condition,
    })
}

fn expire_condition(a: &Args) -> Result<ExpireCondition, Refusal> {
    let mut c = ExpireCondition::default();
    for i in 2..a.len() {
        match a.lower(i).as_str() {
            "nx" => c.no_deadline = true,
            "xx" => c.has_deadline = true,
            "gt" => c.later = true,
            "lt" => c.earlier = true,
            _ => return Err(format!("ERR Unsupported option {}", a.text(i))),
        }
    }
    if c.no_deadline && (c.has_deadline || c.later || c.earlier) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if c.later && c.earlier {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(c)
}

pub(super) fn persist(a: &mut Args) -> Result<Op, Refusal> {
    write(KeyWrite::Persist { key: a.take(0) })
}

/// RENAME and RENAMENX.
pub(super) fn rename(a: &mut Args) -> Result<Op, Refusal> {
    write(KeyWrite::Rename {
        from: a.take(0),
        to: a.take(1),
        nx: a.name == "renamenx",
    })
}

/// COPY source destination [DB index] [REPLACE]: one database, so only DB 0.
pub(super) fn copy(a: &mut Args) -> Result<Op, Refusal> {
    let mut replace = false;
    let mut i = 2;
    while i < a.len() {
        if a.is(i, "replace") {
            replace = true;
        } else if a.is(i, "db") && i + 1 < a.len() {
            if a.int(i + 1)? != 0 {
                return Err("ERR DB index is out of range".into());
            }
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if a.get(0) == a.get(1) {
        return Err("ERR source and destination objects are the same".into());
    }
    write(KeyWrite::Copy {
        from: a.take(0),
        to: a.take(1),
        replace,
    })
}

/// FLUSHDB and FLUSHALL [ASYNC|SYNC].
pub(super) fn flush(a: &mut Args) -> Result<Op, Refusal> {
    if a.len() > 1 || (a.len() == 1 && !a.is(0, "async") && !a.is(0, "sync")) {
        return Err(syntax());
    }
    write(KeyWrite::FlushAll)
}

pub(super) fn keys(a: &mut Args) -> Result<Op, Refusal> {
    read(KeyRead::Keys { pattern: a.take(0) })
}

pub(super) fn randomkey(_: &mut Args) -> Result<Op, Refusal> {
    read(KeyRead::RandomKey)
}

pub(super) fn dbsize(_: &mut Args) -> Result<Op, Refusal> {
    read(KeyRead::DbSize)
}

/// A SCAN cursor as Redis reads one: decimal digits (none reads as 0), at most a `u64`.
pub(super) fn cursor(bytes: &[u8]) -> Result<u64, Refusal> {
    let invalid = || "ERR invalid cursor".to_string();
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    if bytes.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)
}

/// The MATCH and COUNT options of SCAN and HSCAN (and TYPE, for SCAN), from argument `from`.
pub(super) struct ScanOptions {
    pub(super) pattern: Option<Vec<u8>>,
    pub(super) count: usize,
    pub(super) type_name: Option<String>,
}

pub(super) fn scan_options(a: &Args, from: usize, with_type: bool) -> Result<ScanOptions, Refusal> {
    let mut o = ScanOptions {
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = from;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(syntax());
        }
        match a.lower(i).as_str() {
            "count" => {
                let n = a.int(i + 1)?;
                if n < 1 {
                    return Err(syntax());
                }
                o.count = n as usize;
            }
            // A single `*` matches everything: no pattern at all.
            "match" if a.get(i + 1) == b"*" => o.pattern = None,
            "match" => o.pattern = Some(a.get(i + 1).to_vec()),
            "type" if with_type => o.type_name = Some(a.text(i + 1)),
            _ => return Err(syntax()),
        }
        i += 2;
    }
    Ok(o)
}

pub(super) fn scan(a: &mut Args) -> Result<Op, Refusal> {
    let cursor = cursor(a.get(0))?;
    let o = scan_options(a, 1, true)?;
    read(KeyRead::Scan {
        cursor,
        pattern: o.pattern,
        count: o.count,
        type_name: o.type_name,
    })
}
