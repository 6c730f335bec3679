//! Numbers in strings, read and written exactly as Redis reads and writes them.
//!
//! Integers follow Redis's `string2ll`: an optional `-`, then digits with no leading zero, and
//! nothing else (no `+`, no spaces, no `-0`).
//!
//! INCRBYFLOAT's arithmetic is Redis's: the x87 80-bit `long double`, emulated bit for bit by
//! `rustc_apfloat` (the Rust project's port of LLVM's APFloat, made for exactly this), read the
//! way `strtold` reads, and written as Redis writes it (`%.17Lf`, trailing zeros trimmed), the
//! exact binary value being rounded to 17 decimals with `bigdecimal`. So `5.6 + 5000` gives
//! Redis's `5005.60000000000000009`, and `0.1 + 0.2` gives `0.3`, as on Redis.

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, RoundingMode};
use rustc_apfloat::ieee::X87DoubleExtended as LongDouble;
use rustc_apfloat::{Category, Float, Round, Status};

use super::error::KvError;

/// The longest number text Redis reads as a float (`MAX_LONG_DOUBLE_CHARS`).
const FLOAT_CHARS_MAX: usize = 5 * 1024;

/// A decimal integer as Redis reads one, if `bytes` is one that fits in an `i64`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    match digits.first() {
        Some(b'1'..=b'9') if digits.len() <= 19 => {}
        _ => return None,
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A float as Redis reads one (`string2ld`); `Err(true)` for an infinity written out (read,
/// then refused by every command as a result), `Err(false)` for anything that is not a
/// number, NaN, or out of the `long double` range (over- or underflowing to zero).
pub fn parse_float(bytes: &[u8]) -> Result<LongDouble, bool> {
    if bytes.is_empty() || bytes.len() >= FLOAT_CHARS_MAX || bytes[0].is_ascii_whitespace() {
        return Err(false);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| false)?;
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Err(true);
    }
    let hex = lower.starts_with("0x");
    let digits_ok = if hex {
        lower[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b'p' | b'+' | b'-'))
    } else {
        lower
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
    };
    // The mantissa, and the exponent after its marker (`e`, or `p` in hexadecimal).
    let skip = if hex { 2 } else { 0 };
    let marker = if hex { 'p' } else { 'e' };
    let (mantissa, exponent) = match lower[skip..].find(marker) {
        Some(at) => (&lower[..skip + at], Some(&lower[skip + at + 1..])),
        None => (lower.as_str(), None),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !digits_ok || !exponent_ok || !mantissa[skip..].bytes().any(|b| b.is_ascii_hexdigit()) {
        return Err(false);
    }
    // `strtold` takes hexadecimal without a binary exponent; APFloat wants one.
    let text = if hex && !lower.contains('p') {
        format!("{text}p0")
    } else {
        text.to_string()
    };
    let parsed = LongDouble::from_str_r(&text, Round::NearestTiesToEven).map_err(|_| false)?;
    // Zero read from a mantissa that is not all zeros: the number underflowed.
    let underflow =
        parsed.value.is_zero() && mantissa[skip..].bytes().any(|b| b != b'0' && b != b'.');
    if parsed.status.intersects(Status::OVERFLOW) || underflow || parsed.value.is_nan() {
        return Err(false);
    }
    Ok(parsed.value)
}

/// `a + b` in `long double`, written as INCRBYFLOAT writes it, or `None` when the sum is
/// infinite or not a number.
pub fn add_floats(a: LongDouble, b: LongDouble) -> Option<Vec<u8>> {
    let sum = (a + b).value;
    if sum.is_infinite() || sum.is_nan() {
        return None;
    }
    Some(format_float(sum).into_bytes())
}

/// The exact value of a finite `long double`.
fn exact(x: LongDouble) -> BigDecimal {
    if x.category() == Category::Zero {
        return BigDecimal::default();
    }
    let bits = x.to_bits();
    let mantissa = BigInt::from((bits & u128::from(u64::MAX)) as u64);
    let biased = ((bits >> 64) & 0x7fff) as i64;
    // The 64-bit mantissa has its integer bit explicit; subnormals have exponent 1 - bias.
    let exp = biased.max(1) - 16383 - 63;
    let magnitude = if exp >= 0 {
        BigDecimal::from(mantissa << exp as usize)
    } else {
        // m / 2^k = m * 5^k / 10^k, exactly.
        let k = exp.unsigned_abs() as u32;
        BigDecimal::new(mantissa * BigInt::from(5u8).pow(k), i64::from(k))
    };
    if x.is_negative() {
        -magnitude
    } else {
        magnitude
    }
}

/// Redis's human form (`%.17Lf`, trailing zeros and point trimmed, `-0` as `0`).
fn format_float(x: LongDouble) -> String {
    let text = exact(x)
        .with_scale_round(17, RoundingMode::HalfEven)
        .to_plain_string();
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    match trimmed {
        "-0" => "0".into(),
        t => t.into(),
    }
}

/// INCRBYFLOAT and HINCRBYFLOAT: `current` (absent: zero) plus `by`, as text. A stored
/// value that is not a number is refused with `not_float`; an infinite sum (an infinity among
/// the operands included) with `NanOrInfinity`.
pub(super) fn float_sum(
    current: Option<&[u8]>,
    by: &[u8],
    not_float: KvError,
) -> Result<Vec<u8>, KvError> {
    let read = |bytes: &[u8], not_float: KvError| match parse_float(bytes) {
        Ok(f) => Ok(f),
        Err(true) => Err(KvError::NanOrInfinity),
        Err(false) => Err(not_float),
    };
    // The stored value first, as Redis reads them.
    let current = current.map_or(Ok(LongDouble::ZERO), |v| read(v, not_float))?;
    let by = read(by, KvError::NotAFloat)?;
    add_floats(current, by).ok_or(KvError::NanOrInfinity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_redis_reads_them() {
        for (text, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1.0", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn float_sums_are_written_as_redis_writes_them() {
        let f = |s: &str| parse_float(s.as_bytes()).unwrap();
        let sum = |a: &str, b: &str| String::from_utf8(add_floats(f(a), f(b)).unwrap()).unwrap();
        assert_eq!(sum("10.50", "0.1"), "10.6");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("-0.1", "0.1"), "0");
        assert_eq!(sum("3", "-5"), "-2");
        // Redis's own long-double artefacts, reproduced.
        assert_eq!(sum("5.6", "5000"), "5005.60000000000000009");
        assert_eq!(sum("1", "1e30"), "1000000000000000000024696061952");
        assert_eq!(sum("1", "0x10"), "17");
        let err = |s: &str| parse_float(s.as_bytes()).err();
        assert_eq!(err("inf"), Some(true));
        assert_eq!(err("1e5000"), Some(false));
        assert_eq!(err("1e-5000"), Some(false));
        assert_eq!(err("abc"), Some(false));
        assert_eq!(err(""), Some(false));
        assert_eq!(err(" 1"), Some(false));
        assert_eq!(err("nan"), Some(false));
        assert_eq!(err("0x0"), None);
        // Zeros with an exponent are zero, not an underflow (they were refused before).
        assert_eq!(err("0e1"), None);
        assert_eq!(err("-0.0e-3"), None);
        // An exponent with no digits is not a number to strtold's whole-string reading (it was
        // read as the mantissa alone before).
        assert_eq!(err("1e"), Some(false));
        assert_eq!(err("1e+"), Some(false));
        assert_eq!(err("1E-"), Some(false));
    }
}
