//! Parsing the hash commands.

use super::args::{arity, syntax, Args, Refusal};
use super::keys::{cursor, scan_options};
use super::Op;
use crate::machine::numbers::parse_float;
use crate::machine::{Command, HashRead, HashWrite, Parts, Query};

fn write(c: HashWrite) -> Result<Op, Refusal> {
    super::write(Command::Hash(c))
}

fn read(q: HashRead) -> Result<Op, Refusal> {
    Ok(Op::Read(Query::Hash(q)))
}

/// HSET and HMSET: a key, then field and value pairs.
pub(super) fn hset(a: &mut Args) -> Result<Op, Refusal> {
    if a.len().is_multiple_of(2) {
        return Err(arity(a.name));
    }
    let key = a.take(0);
    write(HashWrite::Set {
        key,
        pairs: a.pairs(1),
        ok: a.name == "hmset",
    })
}

pub(super) fn hsetnx(a: &mut Args) -> Result<Op, Refusal> {
    write(HashWrite::SetNx {
        key: a.take(0),
        field: a.take(1),
        value: a.take(2),
    })
}

pub(super) fn hdel(a: &mut Args) -> Result<Op, Refusal> {
    let key = a.take(0);
    write(HashWrite::Del {
        key,
        fields: a.rest(1),
    })
}

pub(super) fn hincrby(a: &mut Args) -> Result<Op, Refusal> {
    let by = a.int(2)?;
    write(HashWrite::IncrBy {
        key: a.take(0),
        field: a.take(1),
        by,
    })
}

pub(super) fn hincrbyfloat(a: &mut Args) -> Result<Op, Refusal> {
    match parse_float(a.get(2)) {
        Ok(_) => {}
        Err(true) => return Err("ERR value is NaN or Infinity".into()),
        Err(false) => return Err("ERR value is not a valid float".into()),
    }
    write(HashWrite::IncrByFloat {
        key: a.take(0),
        field: a.take(1),
        by: a.take(2),
    })
}

pub(super) fn hget(a: &mut Args) -> Result<Op, Refusal> {
    read(HashRead::Get {
        key: a.take(0),
        field: a.take(1),
    })
}

pub(super) fn hmget(a: &mut Args) -> Result<Op, Refusal> {
    let key = a.take(0);
    read(HashRead::MGet {
        key,
        fields: a.rest(1),
    })
}

pub(super) fn hexists(a: &mut Args) -> Result<Op, Refusal> {
    read(HashRead::Exists {
        key: a.take(0),
        field: a.take(1),
    })
}

pub(super) fn hlen(a: &mut Args) -> Result<Op, Refusal> {
    read(HashRead::Len { key: a.take(0) })
}

pub(super) fn hstrlen(a: &mut Args) -> Result<Op, Refusal> {
    read(HashRead::StrLen {
        key: a.take(0),
        field: a.take(1),
    })
}

/// HKEYS, HVALS, HGETALL.
pub(super) fn hall(a: &mut Args) -> Result<Op, Refusal> {
    let parts = match a.name {
        "hkeys" => Parts::Fields,
        "hvals" => Parts::Values,
        _ => Parts::Both,
    };
    read(HashRead::All {
        key: a.take(0),
        parts,
    })
}

pub(super) fn hscan(a: &mut Args) -> Result<Op, Refusal> {
    let cursor = cursor(a.get(1))?;
    let o = scan_options(a, 2, false)?;
    read(HashRead::Scan {
        key: a.take(0),
        cursor,
        pattern: o.pattern,
        count: o.count,
    })
}

/// HRANDFIELD key [count [WITHVALUES]], with Redis's bounds on the count.
pub(super) fn hrandfield(a: &mut Args) -> Result<Op, Refusal> {
    let mut count = None;
    let mut with_values = false;
    if a.len() >= 2 {
        let n = a.int(1)?;
        if n == i64::MIN {
            return Err(format!(
                "ERR value is out of range, value must between {} and {}",
                -i64::MAX,
                i64::MAX
            ));
        }
        if a.len() > 3 || (a.len() == 3 && !a.is(2, "withvalues")) {
            return Err(syntax());
        }
        if a.len() == 3 {
            with_values = true;
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
                return Err("ERR value is out of range".into());
            }
        }
        count = Some(n);
    }
    read(HashRead::RandField {
        key: a.take(0),
        count,
        with_values,
    })
}
