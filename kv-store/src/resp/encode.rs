//! Encoding replies: RESP3 kinds as they are, or as their RESP2 equivalents.

use super::{Protocol, Value};

/// Appends the RESP2 encoding of `v` to `out` (what every connection speaks until HELLO 3).
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    encode_for(v, Protocol::Resp2, out);
}

/// Appends the encoding of `v` for a connection speaking `proto`. On RESP2, RESP3's kinds
/// become what Redis sends there: null a null bulk string, a map a flat array of keys and
/// values, a set or a push an array, a double, big number or verbatim string a bulk string, a
/// boolean an integer. On RESP3, the null bulk string and the null array become null.
pub fn encode_for(v: &Value, proto: Protocol, out: &mut Vec<u8>) {
    let resp3 = proto == Protocol::Resp3;
    match v {
        Value::Simple(s) => line(out, b'+', s.as_bytes()),
        Value::Error(s) => line(out, b'-', s.as_bytes()),
        Value::Integer(n) => header(out, b':', *n as i128),
        Value::Bulk(None) | Value::Array(None) | Value::Null if resp3 => {
            out.extend_from_slice(b"_\r\n")
        }
        Value::Bulk(None) | Value::Null => out.extend_from_slice(b"$-1\r\n"),
        Value::Array(None) => out.extend_from_slice(b"*-1\r\n"),
        Value::Bulk(Some(b)) => bulk(out, b'$', b),
        Value::Array(Some(items)) => many(out, b'*', items, proto),
        Value::Set(items) => many(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Value::Push(items) => many(out, if resp3 { b'>' } else { b'*' }, items, proto),
        Value::Map(pairs) => {
            if resp3 {
                header(out, b'%', pairs.len() as i128);
            } else {
                header(out, b'*', 2 * pairs.len() as i128);
            }
            for (k, v) in pairs {
                encode_for(k, proto, out);
                encode_for(v, proto, out);
            }
        }
        Value::Double(d) if resp3 => line(out, b',', d.as_bytes()),
        Value::BigNumber(n) if resp3 => line(out, b'(', n.as_bytes()),
        Value::Double(t) | Value::BigNumber(t) => bulk(out, b'$', t.as_bytes()),
        Value::Boolean(b) if resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Value::Boolean(b) => header(out, b':', i128::from(*b)),
        Value::Verbatim(format, text) if resp3 => {
            let mut body = Vec::with_capacity(4 + text.len());
            body.extend_from_slice(format.as_bytes());
            body.push(b':');
            body.extend_from_slice(text);
            bulk(out, b'=', &body);
        }
        Value::Verbatim(_, text) => bulk(out, b'$', text),
    }
}

/// One line; CR and LF are dropped so the text cannot end the line early.
fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend(text.iter().filter(|b| **b != b'\r' && **b != b'\n'));
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, kind: u8, n: i128) {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, kind: u8, b: &[u8]) {
    header(out, kind, b.len() as i128);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn many(out: &mut Vec<u8>, kind: u8, items: &[Value], proto: Protocol) {
    header(out, kind, items.len() as i128);
    for item in items {
        encode_for(item, proto, out);
    }
}
