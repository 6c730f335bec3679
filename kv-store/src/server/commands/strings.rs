//! Parsing the string commands.

use super::args::{syntax, Args, Refusal};
use super::Op;
use crate::machine::numbers::parse_float;
use crate::machine::{Command, Expiry, Query, SetCondition, StringRead, StringWrite};

fn write(c: StringWrite) -> Result<Op, Refusal> {
    super::write(Command::String(c))
}

fn read(q: StringRead) -> Result<Op, Refusal> {
    Ok(Op::Read(Query::String(q)))
}

/// The expiry options SET and GETEX take (Redis's `parseExtendedStringArgumentsOrReply`):
/// each may be repeated, but no two kinds may be mixed.
#[derive(Default)]
struct Options {
    condition: Option<SetCondition>,
    get: bool,
    expiry: Option<Expiry>,
    /// The option and its raw number, checked once all options are read.
    timed: Option<(&'static str, usize)>,
}

fn options(a: &Args, from: usize, set: bool) -> Result<Options, Refusal> {
    let mut o = Options::default();
    let mut i = from;
    while i < a.len() {
        let opt = a.lower(i);
        let has_next = i + 1 < a.len();
        let timed = o.timed.map(|(t, _)| t);
        let clash = |allowed: &str| timed.is_some_and(|t| t != allowed) || o.expiry.is_some();
        match opt.as_str() {
            "nx" if set && o.condition != Some(SetCondition::IfPresent) => {
                o.condition = Some(SetCondition::IfAbsent)
            }
            "xx" if set && o.condition != Some(SetCondition::IfAbsent) => {
                o.condition = Some(SetCondition::IfPresent)
            }
            "get" if set => o.get = true,
            "keepttl" if set && timed.is_none() => o.expiry = Some(Expiry::Keep),
            "persist" if !set && timed.is_none() => o.expiry = Some(Expiry::Never),
            "ex" | "px" | "exat" | "pxat" if has_next && !clash(&opt) => {
                let name = match opt.as_str() {
                    "ex" => "ex",
                    "px" => "px",
                    "exat" => "exat",
                    _ => "pxat",
                };
                o.timed = Some((name, i + 1));
                i += 1;
            }
            _ => return Err(syntax()),
        }
        i += 1;
    }
    if let Some((kind, at)) = o.timed {
        o.expiry = Some(expiry(a, kind, at)?);
    }
    Ok(o)
}

/// The deadline option `kind` with its number at `at`, checked as Redis checks it
/// (`getExpireMillisecondsOrReply`) against this node's clock.
fn expiry(a: &Args, kind: &str, at: usize) -> Result<Expiry, Refusal> {
    let n = a.int(at)?;
    let seconds = matches!(kind, "ex" | "exat");
    let invalid = || format!("ERR invalid expire time in '{}' command", a.name);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if seconds { n * 1000 } else { n };
    let relative = matches!(kind, "ex" | "px");
    if relative && ms > i64::MAX - a.now_ms as i64 {
        return Err(invalid());
    }
    Ok(if relative {
        Expiry::In(ms as u64)
    } else {
        Expiry::At(ms as u64)
    })
}

pub(super) fn set(a: &mut Args) -> Result<Op, Refusal> {
    let o = options(a, 2, true)?;
    write(StringWrite::Set {
        key: a.take(0),
        value: a.take(1),
        condition: o.condition.unwrap_or(SetCondition::Always),
        expiry: o.expiry.unwrap_or(Expiry::Never),
        get: o.get,
    })
}

pub(super) fn getex(a: &mut Args) -> Result<Op, Refusal> {
    let o = options(a, 1, false)?;
    write(StringWrite::GetEx {
        key: a.take(0),
        expiry: o.expiry,
    })
}

/// SETEX and PSETEX: `key seconds|ms value`.
pub(super) fn setex(a: &mut Args) -> Result<Op, Refusal> {
    let kind = if a.name == "setex" { "ex" } else { "px" };
    let expiry = expiry(a, kind, 1)?;
    write(StringWrite::Set {
        key: a.take(0),
        value: a.take(2),
        condition: SetCondition::Always,
        expiry,
        get: false,
    })
}

pub(super) fn setnx(a: &mut Args) -> Result<Op, Refusal> {
    write(StringWrite::SetNx {
        key: a.take(0),
        value: a.take(1),
    })
}

pub(super) fn getset(a: &mut Args) -> Result<Op, Refusal> {
    write(StringWrite::Set {
        key: a.take(0),
        value: a.take(1),
        condition: SetCondition::Always,
        expiry: Expiry::Never,
        get: true,
    })
}

pub(super) fn getdel(a: &mut Args) -> Result<Op, Refusal> {
    write(StringWrite::GetDel { key: a.take(0) })
}

pub(super) fn get(a: &mut Args) -> Result<Op, Refusal> {
    read(StringRead::Get { key: a.take(0) })
}

pub(super) fn mget(a: &mut Args) -> Result<Op, Refusal> {
    read(StringRead::MGet { keys: a.rest(0) })
}

/// MSET and MSETNX: key and value pairs.
pub(super) fn mset(a: &mut Args) -> Result<Op, Refusal> {
    if !a.len().is_multiple_of(2) {
        return Err(super::args::arity(a.name));
    }
    let pairs = a.pairs(0);
    write(if a.name == "mset" {
        StringWrite::MSet { pairs }
    } else {
        StringWrite::MSetNx { pairs }
    })
}

pub(super) fn append(a: &mut Args) -> Result<Op, Refusal> {
    write(StringWrite::Append {
        key: a.take(0),
        value: a.take(1),
    })
}

pub(super) fn strlen(a: &mut Args) -> Result<Op, Refusal> {
    read(StringRead::StrLen { key: a.take(0) })
}

pub(super) fn getrange(a: &mut Args) -> Result<Op, Refusal> {
    let (start, end) = (a.int(1)?, a.int(2)?);
    read(StringRead::GetRange {
        key: a.take(0),
        start,
        end,
    })
}

pub(super) fn setrange(a: &mut Args) -> Result<Op, Refusal> {
    let offset = a.int(1)?;
    if offset < 0 {
        return Err("ERR offset is out of range".into());
    }
    write(StringWrite::SetRange {
        key: a.take(0),
        offset: offset as u64,
        value: a.take(2),
    })
}

/// INCR, DECR, INCRBY, DECRBY.
pub(super) fn incr(a: &mut Args) -> Result<Op, Refusal> {
    let by = match a.name {
        "incr" => 1,
        "decr" => -1,
        "incrby" => a.int(1)?,
        _ => {
            let n = a.int(1)?;
            if n == i64::MIN {
                return Err("ERR decrement would overflow".into());
            }
            -n
        }
    };
    write(StringWrite::IncrBy { key: a.take(0), by })
}

pub(super) fn incrbyfloat(a: &mut Args) -> Result<Op, Refusal> {
    // An infinity is read as a number here and refused by the sum, as Redis does.
    if parse_float(a.get(1)) == Err(false) {
        return Err("ERR value is not a valid float".into());
    }
    write(StringWrite::IncrByFloat {
        key: a.take(0),
        by: a.take(1),
    })
}
