//! Finding where one request ends, without parsing it again on every read. The framer keeps
//! its place between calls, so a request that trickles in a byte at a time costs linear work
//! in its size, and it checks the limits as the headers arrive, before the bytes they announce
//! are buffered.

use super::{line, number, Limits, ProtocolError, HEADER_LINE_MAX};

/// Where the framer is within the request at the front of the buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Framer {
    /// Bytes of the request already walked over.
    pos: usize,
    /// Bulk strings still to come, once the array header has been read.
    left: Option<u64>,
}

impl Framer {
    /// A framer at the start of a request.
    pub fn new() -> Framer {
        Framer::default()
    }

    /// The length of the request at the front of `buf` once all of it has arrived, `None`
    /// while more bytes are needed. `buf` must start at the request the framer is walking:
    /// after `Some(n)`, the caller removes (or skips) those `n` bytes and the framer starts
    /// over on the next request.
    pub fn complete(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<usize>, ProtocolError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != b'*' {
            return self.inline(buf, limits);
        }
        if self.left.is_none() {
            let Some((n, next)) = header(buf, 0)? else {
                return Ok(None);
            };
            if n == -1 {
                return Ok(Some(self.done(next)));
            }
            if n < 0 || n as u64 > limits.array_len_max as u64 {
                return Err(ProtocolError("invalid multibulk length".into()));
            }
            self.pos = next;
            self.left = Some(n as u64);
        }
        while let Some(left) = self.left.filter(|l| *l > 0) {
            match buf.get(self.pos) {
                None => return Ok(None),
                Some(b'$') => {}
                Some(_) => return Err(ProtocolError("expected an array of bulk strings".into())),
            }
            let Some((len, next)) = header(buf, self.pos)? else {
                return Ok(None);
            };
            if len < 0 || len as u64 > limits.bulk_bytes_max as u64 {
                return Err(ProtocolError("invalid bulk length".into()));
            }
            let end = next + len as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            self.pos = end;
            self.left = Some(left - 1);
        }
        Ok(Some(self.done(self.pos)))
    }

    /// An inline command ends at its first newline; the search resumes where it stopped.
    fn inline(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        match buf[self.pos..].iter().position(|b| *b == b'\n') {
            Some(i) => Ok(Some(self.done(self.pos + i + 1))),
            None if buf.len() > limits.inline_bytes_max => {
                Err(ProtocolError("too big inline request".into()))
            }
            None => {
                self.pos = buf.len();
                Ok(None)
            }
        }
    }

    fn done(&mut self, len: usize) -> usize {
        *self = Framer::default();
        len
    }
}

/// A number line (`*n` or `$n`) at `at`: the number and the offset after the line. Only the
/// longest a header may be is searched for its end.
fn header(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let end = buf.len().min(at + 1 + HEADER_LINE_MAX + 2);
    match line(&buf[..end], at + 1, HEADER_LINE_MAX)? {
        Some((head, next)) => Ok(Some((number(head)?, next))),
        None => Ok(None),
    }
}
