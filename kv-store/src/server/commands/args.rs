//! A request's arguments, and the errors Redis gives for bad ones.

use crate::machine::numbers::parse_i64;

/// Why a request was refused before it ran: the whole error line, as Redis words it.
pub(crate) type Refusal = String;

pub(crate) fn syntax() -> Refusal {
    "ERR syntax error".into()
}

pub(crate) fn not_int() -> Refusal {
    "ERR value is not an integer or out of range".into()
}

pub(crate) fn arity(name: &str) -> Refusal {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// The arguments after the command name, and the time the request arrived.
pub(crate) struct Args {
    /// The command's name in lower case.
    pub(crate) name: &'static str,
    items: Vec<Vec<u8>>,
    /// The receiving node's wall clock, in milliseconds since the Unix epoch.
    pub(crate) now_ms: u64,
}

impl Args {
    pub(crate) fn new(name: &'static str, items: Vec<Vec<u8>>, now_ms: u64) -> Args {
        Args {
            name,
            items,
            now_ms,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn get(&self, i: usize) -> &[u8] {
        &self.items[i]
    }

    /// Takes argument `i` out (it is left empty).
    pub(crate) fn take(&mut self, i: usize) -> Vec<u8> {
        std::mem::take(&mut self.items[i])
    }

    /// Every argument from `i` on.
    pub(crate) fn rest(&mut self, i: usize) -> Vec<Vec<u8>> {
        self.items.split_off(i.min(self.items.len()))
    }

    /// Arguments from `i` on, in pairs.
    pub(crate) fn pairs(&mut self, i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut it = self.rest(i).into_iter();
        let mut out = Vec::new();
        while let (Some(a), Some(b)) = (it.next(), it.next()) {
            out.push((a, b));
        }
        out
    }

    /// Argument `i` as an integer, as Redis reads one.
    pub(crate) fn int(&self, i: usize) -> Result<i64, Refusal> {
        parse_i64(&self.items[i]).ok_or_else(not_int)
    }

    /// Whether argument `i` is `word`, in any case.
    pub(crate) fn is(&self, i: usize, word: &str) -> bool {
        self.items[i].eq_ignore_ascii_case(word.as_bytes())
    }

    /// Argument `i` in lower case, for matching options.
    pub(crate) fn lower(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.items[i]).to_ascii_lowercase()
    }

    /// Argument `i` as text, for error messages.
    pub(crate) fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.items[i]).into_owned()
    }
}
