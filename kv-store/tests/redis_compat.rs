//! Our replies against Redis's own: every script under `tests/redis_compat/` (format in
//! FORMAT.md there) holds commands and the reply Redis 7.0 gives to each, checked against a
//! real redis-server by `scripts/redis-compat.py` in CI. Here each script runs against a fresh
//! 3-node cluster, through its leader, and every reply must match. Where this server answers
//! differently on purpose, an `ours:` line under Redis's reply gives our reply, and a comment
//! says why.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use kv_store::resp::Value;
use support::{cluster, Client};

/// The scripts, every one.
const SCRIPTS: &[&str] = &[
    "strings.txt",
    "keyspace.txt",
    "expiry.txt",
    "hashes.txt",
    "protocol.txt",
    "errors.txt",
    "transactions.txt",
    "protocol_transactions.txt",
    "server.txt",
];

enum Step {
    Sleep(u64),
    Command {
        line: usize,
        conn: u8,
        mode: Mode,
        text: String,
        args: Vec<Vec<u8>>,
        expected: Option<String>,
    },
}

#[derive(PartialEq)]
enum Mode {
    Plain,
    Sorted,
    Ignore,
}

fn split_args(text: &str) -> Vec<Vec<u8>> {
    let b = text.as_bytes();
    let (mut args, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            b'"' => {
                let mut arg = Vec::new();
                i += 1;
                while b[i] != b'"' {
                    if b[i] == b'\\' {
                        let (byte, used) = match b[i + 1] {
                            b'x' => (
                                u8::from_str_radix(&text[i + 2..i + 4], 16).expect("hex escape"),
                                4,
                            ),
                            b'r' => (b'\r', 2),
                            b'n' => (b'\n', 2),
                            b't' => (b'\t', 2),
                            c @ (b'\\' | b'"') => (c, 2),
                            c => panic!("unknown escape \\{}", c as char),
                        };
                        arg.push(byte);
                        i += used;
                    } else {
                        arg.push(b[i]);
                        i += 1;
                    }
                }
                args.push(arg);
                i += 1;
            }
            _ => {
                let end = text[i..].find(' ').map_or(b.len(), |e| i + e);
                args.push(b[i..end].to_vec());
                i = end;
            }
        }
    }
    args
}

fn is_reply_line(line: &str) -> bool {
    line.starts_with([
        '+', '-', ':', '"', '$', '*', '[', '_', '{', '~', ',', '=', '(', '!',
    ]) || line == "#t"
        || line == "#f"
        || line.starts_with(">[")
}

/// The steps of a script; an `ours:` line replaces the expected reply above it.
fn parse(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut steps, mut i) = (Vec::new(), 0);
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("sleep ") {
            steps.push(Step::Sleep(ms.parse().expect("sleep ms")));
            continue;
        }
        let (head, rest) = line.split_once('>').expect("a command line");
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let mut head = head.trim();
        let mut conn = 1;
        if let Some(h) = head.strip_prefix('@') {
            conn = h.as_bytes()[0] - b'0';
            head = h[1..].trim();
        }
        let mode = match head {
            "" => Mode::Plain,
            "sorted" => Mode::Sorted,
            "ignore" => Mode::Ignore,
            other => panic!("line {i}: unknown mode {other:?}"),
        };
        let mut expected = None;
        if mode != Mode::Ignore {
            assert!(is_reply_line(lines[i]), "line {i}: no expected reply");
            expected = Some(lines[i].to_string());
            i += 1;
            if let Some(ours) = lines.get(i).and_then(|l| l.strip_prefix("ours: ")) {
                expected = Some(ours.to_string());
                i += 1;
            }
        }
        steps.push(Step::Command {
            line: i,
            conn,
            mode,
            text: rest.to_string(),
            args: split_args(rest),
            expected,
        });
    }
    steps
}

fn escape(data: &[u8]) -> String {
    data.iter()
        .map(|&b| match b {
            b'\\' | b'"' => format!("\\{}", b as char),
            0x20..=0x7e => (b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

fn render(v: &Value, sort: bool) -> String {
    let list = |items: Vec<String>| {
        let mut items = items;
        if sort {
            items.sort();
        }
        items.join(", ")
    };
    match v {
        Value::Simple(s) => format!("+{s}"),
        Value::Error(s) => format!("-{s}"),
        Value::Integer(n) => format!(":{n}"),
        Value::Double(d) => format!(",{d}"),
        Value::BigNumber(n) => format!("({n}"),
        Value::Boolean(b) => if *b { "#t" } else { "#f" }.into(),
        Value::Null => "_".into(),
        Value::Bulk(None) => "$-1".into(),
        Value::Bulk(Some(b)) => format!("\"{}\"", escape(b)),
        Value::Verbatim(format, text) => format!("={format}:{}", escape(text)),
        Value::Map(pairs) => format!(
            "{{{}}}",
            list(
                pairs
                    .iter()
                    .map(|(k, v)| format!("{} => {}", render(k, false), render(v, false)))
                    .collect()
            )
        ),
        Value::Array(None) => "*-1".into(),
        Value::Array(Some(items)) => format!(
            "[{}]",
            list(items.iter().map(|i| render(i, false)).collect())
        ),
        Value::Set(items) => format!(
            "~[{}]",
            list(items.iter().map(|i| render(i, false)).collect())
        ),
        Value::Push(items) => format!(
            ">[{}]",
            list(items.iter().map(|i| render(i, false)).collect())
        ),
    }
}

fn matches(expected: &str, reply: &Value, got: &str) -> bool {
    if let (Some(n), Value::Integer(v)) = (expected.strip_prefix(":~"), reply) {
        let n: i64 = n.parse().expect(":~N");
        return (n - 1000..=n).contains(v);
    }
    expected == got
}

/// Runs one script; its mismatches, one line each.
fn run_script(name: &str) -> Vec<String> {
    let path = format!("{}/tests/redis_compat/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let c = cluster(|_| {});
    let addr = c.addr(c.leader());
    let mut conns: HashMap<u8, Client> = HashMap::new();
    let mut bad = Vec::new();
    for step in parse(&text) {
        let Step::Command {
            line,
            conn,
            mode,
            text,
            args,
            expected,
        } = step
        else {
            if let Step::Sleep(ms) = step {
                std::thread::sleep(Duration::from_millis(ms));
            }
            continue;
        };
        let client = conns.entry(conn).or_insert_with(|| Client::connect(addr));
        client.send_bytes(&args);
        let Some(reply) = client.reply() else {
            bad.push(format!("{name}:{line}: sent {text}, got no reply"));
            break;
        };
        let got = render(&reply, mode == Mode::Sorted);
        match expected {
            Some(e) if !matches(&e, &reply, &got) => bad.push(format!(
                "{name}:{line}: sent {text}, expected {e}, got {got}"
            )),
            _ => {}
        }
    }
    bad
}

#[test]
fn replies_match_redis_7() {
    let mut bad = Vec::new();
    for name in SCRIPTS {
        bad.extend(run_script(name));
    }
    assert!(
        bad.is_empty(),
        "{} replies differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
