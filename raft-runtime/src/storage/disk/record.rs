//! The framing of everything written to disk: `[length u32 LE][crc32 u32 LE][payload]`.

/// Bytes before a record's payload.
pub(crate) const HEADER_BYTES: usize = 8;

/// Slack past the last non-zero byte of a buffer in which `records_after` still looks.
const TRAILING_ZEROS_MAX: usize = 32;

pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What is found at an offset of a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A valid record and the offset after it.
    Record(&'a [u8], usize),
    /// The end of the records: the end of the file, or only zeros up to it (the unwritten,
    /// preallocated rest of a segment).
    End,
    /// Bytes that are not a valid record: cut short, damaged, or never written (a hole). Whether
    /// that is a crash's harmless leftover or real corruption is for the reader to decide from
    /// what follows (see `DiskStorage::load`).
    Damaged(&'static str),
}

pub(crate) fn decode(buf: &[u8], offset: usize) -> Decoded<'_> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.iter().all(|b| *b == 0) {
        return Decoded::End;
    }
    match record_at(rest) {
        Ok(end) => Decoded::Record(&rest[HEADER_BYTES..end], offset + end),
        Err(why) => Decoded::Damaged(why),
    }
}

/// The end of the valid record at the start of `bytes`, or why there is none.
fn record_at(bytes: &[u8]) -> Result<usize, &'static str> {
    if bytes.len() < HEADER_BYTES {
        return Err("a record header cut short");
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if len == 0 {
        return Err("an empty record (zeros where a record should be)");
    }
    let end = HEADER_BYTES
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or("a record running past the end of the file")?;
    if crc32fast::hash(&bytes[HEADER_BYTES..end]) != crc {
        return Err("a checksum mismatch");
    }
    Ok(end)
}

/// Valid records found in `buf` after a damaged spot at `damaged`: each with its offset and
/// payload. The search tries every offset, since the damage hides where the next record starts;
/// it runs only once damage is found.
pub(crate) fn records_after(buf: &[u8], damaged: usize) -> Vec<(usize, &[u8])> {
    // A preallocated segment ends in zeros. The search stops a little past the last non-zero
    // byte, so a garbage length field cannot make it checksum megabytes of nothing. What it
    // looks for is a record claiming synced bytes; such a record ends with that non-zero count
    // (postcard's varint: its last byte is non-zero), so none is missed.
    let end = buf
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |last| (last + 1 + TRAILING_ZEROS_MAX).min(buf.len()));
    let buf = &buf[..end];
    let mut found = Vec::new();
    let mut at = damaged + 1;
    while at + HEADER_BYTES <= buf.len() {
        match record_at(&buf[at..]) {
            Ok(end) => {
                found.push((at, &buf[at + HEADER_BYTES..at + end]));
                at += end;
            }
            Err(_) => at += 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(p, &mut out);
        }
        out
    }

    #[test]
    fn records_round_trip_and_damage_is_found() {
        let buf = framed(&[b"one", b"two"]);
        let Decoded::Record(p, next) = decode(&buf, 0) else {
            panic!("first record")
        };
        assert_eq!(p, b"one");
        assert_eq!(decode(&buf, next), Decoded::Record(b"two", buf.len()));
        assert_eq!(decode(&buf, buf.len()), Decoded::End);
        // Cut anywhere inside the last record: damaged, with nothing valid after it.
        for cut in next + 1..buf.len() {
            assert!(
                matches!(decode(&buf[..cut], next), Decoded::Damaged(_)),
                "cut at {cut}"
            );
            assert!(records_after(&buf[..cut], next).is_empty());
        }
        // A flipped byte in the first record: damaged, and the second is found after it.
        let mut bad = buf.clone();
        bad[9] ^= 0xff;
        assert_eq!(decode(&bad, 0), Decoded::Damaged("a checksum mismatch"));
        assert_eq!(records_after(&bad, 0), vec![(next, &b"two"[..])]);
        // A hole (zeros) where the first record should be, the second intact after it.
        let mut hole = buf.clone();
        hole[..next].fill(0);
        assert!(matches!(decode(&hole, 0), Decoded::Damaged(_)));
        assert_eq!(records_after(&hole, 0), vec![(next, &b"two"[..])]);
        // A damaged length field running past the end.
        let mut long = buf.clone();
        long[0] = 0xff;
        long[1] = 0xff;
        assert_eq!(
            decode(&long, 0),
            Decoded::Damaged("a record running past the end of the file")
        );
    }
}
