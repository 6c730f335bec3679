//! RESP, the Redis serialization protocol (RESP2 and RESP3): parsing requests (arrays of bulk
//! strings, or inline commands typed by a person) and replies, and encoding replies. The parser is incremental (it says when it
//! needs more bytes) and bounded: oversized or malformed input is an error, never a panic or an
//! unbounded allocation.

mod encode;
mod framer;

pub use encode::{encode, encode_for};
pub use framer::Framer;
use thiserror::Error;

/// A RESP value. The RESP3 kinds are encoded as their RESP2 equivalents on a connection that
/// has not negotiated RESP3 (see [`encode_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A simple string (`+OK`): one line of text.
    Simple(String),
    /// An error (`-ERR ...`): one line of text, its first word naming the kind of error.
    Error(String),
    /// A signed 64-bit integer (`:1`).
    Integer(i64),
    /// `None` is the null bulk string (RESP3: null).
    Bulk(Option<Vec<u8>>),
    /// `None` is the null array (RESP3: null).
    Array(Option<Vec<Value>>),
    /// RESP3 null (`_`).
    Null,
    /// RESP3 map (`%`): key and value pairs, in order.
    Map(Vec<(Value, Value)>),
    /// RESP3 set (`~`).
    Set(Vec<Value>),
    /// RESP3 double (`,`), as text (`1.5`, `inf`, `-inf`, `nan`).
    Double(String),
    /// RESP3 boolean (`#t`, `#f`).
    Boolean(bool),
    /// RESP3 verbatim string (`=`): a three-letter format (`txt`, `mkd`) and the text.
    Verbatim(String, Vec<u8>),
    /// RESP3 big number (`(`), as decimal text.
    BigNumber(String),
    /// RESP3 push (`>`): out-of-band data.
    Push(Vec<Value>),
}

impl Value {
    /// A bulk string holding `s`.
    pub fn text(s: &str) -> Value {
        Value::Bulk(Some(s.as_bytes().to_vec()))
    }
}

/// The protocol version a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, every connection's protocol until HELLO 3.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// Bounds on what one request may be.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The longest bulk string, in bytes.
    pub bulk_bytes_max: usize,
    /// The most elements in one array.
    pub array_len_max: usize,
    /// The longest inline command, simple string or error line, in bytes.
    pub inline_bytes_max: usize,
    /// How many levels below the outermost value arrays may nest.
    pub depth_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            bulk_bytes_max: 512 << 20,
            array_len_max: 1 << 20,
            inline_bytes_max: 64 << 10,
            depth_max: 8,
        }
    }
}

/// Input that is not RESP, or breaks a limit. The connection should get this message as an
/// error reply and be closed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(msg.into()))
}

/// A parsed request: its arguments and the bytes it took, or `None` when more bytes are needed.
pub type ParsedRequest = Option<(Vec<Vec<u8>>, usize)>;

/// Parses one request from the front of `buf`: `Ok(Some((args, used)))` with the command's
/// arguments and the bytes consumed, `Ok(None)` when more bytes are needed.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<ParsedRequest, ProtocolError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'*' {
        return parse_inline(buf, limits);
    }
    match parse_value(buf, 0, limits, 0)? {
        None => Ok(None),
        Some((Value::Array(Some(items)), used)) => {
            let mut args = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Bulk(Some(b)) => args.push(b),
                    _ => return err("expected an array of bulk strings"),
                }
            }
            Ok(Some((args, used)))
        }
        Some((Value::Array(None), used)) => Ok(Some((Vec::new(), used))),
        Some(_) => err("expected an array"),
    }
}

/// A command typed as one line: words separated by spaces.
fn parse_inline(buf: &[u8], limits: &Limits) -> Result<ParsedRequest, ProtocolError> {
    let Some(end) = find_crlf_or_lf(buf) else {
        if buf.len() > limits.inline_bytes_max {
            return err("too big inline request");
        }
        return Ok(None);
    };
    let line = &buf[..end.0];
    if line.len() > limits.inline_bytes_max {
        return err("too big inline request");
    }
    let args = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok(Some((args, end.1)))
}

/// The end of the first line: (length without the line ending, bytes including it).
fn find_crlf_or_lf(buf: &[u8]) -> Option<(usize, usize)> {
    let nl = buf.iter().position(|b| *b == b'\n')?;
    let len = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((len, nl + 1))
}

/// The line at `at` (up to CRLF), and the offset after it.
fn line(buf: &[u8], at: usize, max: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buf[at..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some((&rest[..i], at + i + 2))),
        None if rest.len() > max => err("line too long"),
        None => Ok(None),
    }
}

fn number(bytes: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or_else(|| err("invalid number"), Ok)
}

/// Longest header line accepted (a type byte and a number).
const HEADER_LINE_MAX: usize = 64;

fn parse_value(
    buf: &[u8],
    at: usize,
    limits: &Limits,
    depth: usize,
) -> Result<Option<(Value, usize)>, ProtocolError> {
    if depth > limits.depth_max {
        return err("nested too deeply");
    }
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let max = if matches!(kind, b'+' | b'-') {
        limits.inline_bytes_max
    } else {
        HEADER_LINE_MAX
    };
    let Some((head, next)) = line(buf, at + 1, max)? else {
        return Ok(None);
    };
    match kind {
        b'+' => Ok(Some((
            Value::Simple(String::from_utf8_lossy(head).into_owned()),
            next,
        ))),
        b'-' => Ok(Some((
            Value::Error(String::from_utf8_lossy(head).into_owned()),
            next,
        ))),
        b':' => Ok(Some((Value::Integer(number(head)?), next))),
        b'_' if head.is_empty() => Ok(Some((Value::Null, next))),
        b',' => Ok(Some((Value::Double(text(head)), next))),
        b'#' => match head {
            b"t" => Ok(Some((Value::Boolean(true), next))),
            b"f" => Ok(Some((Value::Boolean(false), next))),
            _ => err("invalid boolean"),
        },
        b'(' => Ok(Some((Value::BigNumber(text(head)), next))),
        b'$' | b'=' => {
            let len = number(head)?;
            if len == -1 && kind == b'$' {
                return Ok(Some((Value::Bulk(None), next)));
            }
            if len < 0 || len as usize > limits.bulk_bytes_max {
                return err("invalid bulk length");
            }
            let len = len as usize;
            let Some(end) = next.checked_add(len).filter(|e| e + 2 <= buf.len()) else {
                return Ok(None);
            };
            if &buf[end..end + 2] != b"\r\n" {
                return err("expected CRLF after bulk string");
            }
            let body = buf[next..end].to_vec();
            if kind == b'$' {
                return Ok(Some((Value::Bulk(Some(body)), end + 2)));
            }
            if body.len() < 4 || body[3] != b':' {
                return err("invalid verbatim string");
            }
            let format = String::from_utf8_lossy(&body[..3]).into_owned();
            Ok(Some((Value::Verbatim(format, body[4..].to_vec()), end + 2)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let len = number(head)?;
            if len == -1 && kind == b'*' {
                return Ok(Some((Value::Array(None), next)));
            }
            if len < 0 || len as usize > limits.array_len_max {
                return err("invalid multibulk length");
            }
            let count = if matches!(kind, b'%' | b'|') {
                2 * len
            } else {
                len
            } as usize;
            // Capacity from what the buffer can hold, not from the declared length.
            let mut items = Vec::with_capacity(count.min(buf.len() - next));
            let mut pos = next;
            for _ in 0..count {
                match parse_value(buf, pos, limits, depth + 1)? {
                    None => return Ok(None),
                    Some((v, p)) => {
                        items.push(v);
                        pos = p;
                    }
                }
            }
            let value = match kind {
                b'*' => Value::Array(Some(items)),
                b'~' => Value::Set(items),
                b'>' => Value::Push(items),
                b'%' => Value::Map(pairs(items)),
                // An attribute describes the value after it, which is what is returned.
                // Counted as a level, so attributes cannot nest without bound.
                _ => return parse_value(buf, pos, limits, depth + 1),
            };
            Ok(Some((value, pos)))
        }
        _ => err(format!("unexpected byte '{}'", kind.escape_ascii())),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// Parses one reply value (for clients).
pub fn parse_reply(buf: &[u8], limits: &Limits) -> Result<Option<(Value, usize)>, ProtocolError> {
    parse_value(buf, 0, limits, 0)
}
