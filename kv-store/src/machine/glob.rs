//! Redis's glob patterns (KEYS, SCAN MATCH, HSCAN MATCH): `*`, `?`, `[abc]`, `[^abc]`,
//! `[a-z]` and `\` to take the next byte as it is, matched over bytes with Redis's own rules,
//! quirks included (an unterminated `[` runs to the end of the pattern; range bounds compare
//! as signed bytes, as C's `char` does there).

/// How deep `*` may recurse before the match is given up (as Redis does), so no pattern can
/// exhaust the stack.
const NESTING_MAX: usize = 1000;

/// Whether `text` matches `pattern`. A pattern of a single `*` matches everything, the empty
/// key included (Redis special-cases it the same way).
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer = false;
    match_at(pattern, text, &mut skip_longer, 0)
}

fn match_at(mut p: &[u8], mut s: &[u8], skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > NESTING_MAX {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_at(&p[1..], s, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // No later start can match either: the whole search is over.
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                let (matched, rest) = class(&p[1..], s[0]);
                if !matched {
                    return false;
                }
                // `rest` starts at the class's closing `]` (or its last byte when unclosed).
                p = rest;
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if p[0] != s[0] {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if c != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Matches `c` against the class whose body starts at `p` (after `[`): whether it matched, and
/// the pattern from the class's last byte on.
fn class(mut p: &[u8], c: u8) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        if p.first() == Some(&b'\\') && p.len() >= 2 {
            p = &p[1..];
            matched |= p[0] == c;
        } else if p.first() == Some(&b']') {
            return (matched != negate, p);
        } else if p.is_empty() {
            // Unclosed: the class ends with the pattern. One byte is given back for the
            // caller to step over, as Redis steps back one.
            return (matched != negate, b"]");
        } else if p.len() >= 3 && p[1] == b'-' {
            let (a, b) = (p[0] as i8, p[2] as i8);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            matched |= (lo..=hi).contains(&(c as i8));
            p = &p[2..];
        } else {
            matched |= p[0] == c;
        }
        p = &p[1..];
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_as_on_redis() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h*llo", "hllo", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("**", "", false),
            ("a*", "a", true),
            ("[abc", "a", true),
            ("[abc", "d", false),
            ("[\\]]", "]", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(matches(p.as_bytes(), s.as_bytes()), *want, "{p:?} vs {s:?}");
        }
        // Deeply nested stars give up instead of exhausting the stack.
        let p = "*a".repeat(5000);
        assert!(!matches(p.as_bytes(), &[b'b'; 100]));
    }
}
