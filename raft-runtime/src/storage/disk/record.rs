//! The framing of everything written to disk: `[length u32 LE][crc32 u32 LE][payload]`.

/// Bytes before a record's payload.
pub(crate) const HEADER_BYTES: usize = 8;

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
    /// The end of the file.
    End,
    /// An incomplete or damaged last record: a write cut short by a crash.
    Torn,
    /// A damaged record with valid-looking data after it: real corruption.
    Corrupt(&'static str),
}

pub(crate) fn decode(buf: &[u8], offset: usize) -> Decoded<'_> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.is_empty() {
        return Decoded::End;
    }
    if rest.len() < HEADER_BYTES {
        return Decoded::Torn;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    let Some(end) = HEADER_BYTES.checked_add(len).filter(|e| *e <= rest.len()) else {
        // Running past the end is a torn write, unless a valid record follows (a damaged
        // length field in the middle of the log).
        return if valid_record_after(&rest[1..]) {
            Decoded::Corrupt("record length runs past valid records")
        } else {
            Decoded::Torn
        };
    };
    let payload = &rest[HEADER_BYTES..end];
    if len > 0 && crc32fast::hash(payload) == crc {
        return Decoded::Record(payload, offset + end);
    }
    // A bad record is a torn write only if nothing meaningful follows it.
    if rest[end..].iter().all(|b| *b == 0) && !valid_record_after(&rest[1..]) {
        Decoded::Torn
    } else if len == 0 {
        Decoded::Corrupt("empty record")
    } else {
        Decoded::Corrupt("checksum mismatch")
    }
}

/// Whether a valid record starts anywhere in `bytes` (only searched once damage is found).
fn valid_record_after(bytes: &[u8]) -> bool {
    (0..bytes.len().saturating_sub(HEADER_BYTES)).any(|i| {
        let rest = &bytes[i..];
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        len > 0
            && HEADER_BYTES.checked_add(len).is_some_and(|end| {
                end <= rest.len() && crc32fast::hash(&rest[HEADER_BYTES..end]) == crc
            })
    })
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
    fn records_round_trip_and_damage_is_classified() {
        let buf = framed(&[b"one", b"two"]);
        let Decoded::Record(p, next) = decode(&buf, 0) else {
            panic!("first record")
        };
        assert_eq!(p, b"one");
        assert_eq!(decode(&buf, next), Decoded::Record(b"two", buf.len()));
        assert_eq!(decode(&buf, buf.len()), Decoded::End);
        // Cut anywhere inside the last record: torn.
        for cut in next + 1..buf.len() {
            assert_eq!(decode(&buf[..cut], next), Decoded::Torn, "cut at {cut}");
        }
        // A flipped byte in the first record, with the second intact after it: corrupt.
        let mut bad = buf.clone();
        bad[9] ^= 0xff;
        assert_eq!(decode(&bad, 0), Decoded::Corrupt("checksum mismatch"));
        // A flipped byte in the last record: torn (the crash hit mid-write).
        let mut last = buf.clone();
        let n = last.len();
        last[n - 1] ^= 0xff;
        assert_eq!(decode(&last, next), Decoded::Torn);
        // Zeros where a record should be (a file extended but never written): torn.
        let zeros = vec![0u8; 32];
        assert_eq!(decode(&zeros, 0), Decoded::Torn);
        // A damaged length field with valid records after it: corruption, not a torn tail.
        let mut long = buf.clone();
        long[0] = 0xff;
        long[1] = 0xff;
        assert_eq!(
            decode(&long, 0),
            Decoded::Corrupt("record length runs past valid records")
        );
    }
}
