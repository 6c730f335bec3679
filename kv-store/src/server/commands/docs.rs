//! What COMMAND DOCS says of each command: for Redis's commands, Redis's own documentation
//! (summary, version, complexity, group, arguments; what redis-cli builds its hints from), as
//! Redis 7.0.15 gives it. `docs.resp` holds it as Redis sent it, a RESP3 map made by
//! `scripts/command-docs.py` (that data is Redis's, BSD-3-Clause). This store's own commands
//! are described here.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::resp::{parse_reply, Limits, Value};

static REDIS_DOCS: &[u8] = include_bytes!("docs.resp");

/// An argument as COMMAND DOCS lists it: name and type.
type Argument = (&'static str, &'static str);

/// This store's commands: name, group, summary, and the arguments.
const OURS: &[(&str, &str, &str, &[Argument])] = &[
    (
        "cas",
        "string",
        "Sets the key to a new value if it holds the expected one; 1 if it did.",
        &[("key", "key"), ("expected", "string"), ("new", "string")],
    ),
    (
        "scanprefix",
        "string",
        "String keys that start with a prefix, in byte order, with their values.",
        &[("prefix", "string"), ("count", "integer")],
    ),
    (
        "xregister",
        "server",
        "Opens an exactly-once session; the answer is its id.",
        &[],
    ),
    (
        "xsession",
        "server",
        "Runs a write at most once, by session id and sequence number.",
        &[
            ("client-id", "integer"),
            ("seq", "integer"),
            ("command", "string"),
        ],
    ),
    ("raft.status", "server", "This node's Raft status.", &[]),
    (
        "raft.digest",
        "server",
        "A checksum of this node's state, to compare replicas.",
        &[],
    ),
    (
        "raft.addlearner",
        "server",
        "Adds a learner at its peer address (and client address).",
        &[
            ("id", "integer"),
            ("peer-address", "string"),
            ("client-address", "string"),
        ],
    ),
    (
        "raft.peer",
        "server",
        "Overrides a node's peer address on this node only.",
        &[("id", "integer"), ("peer-address", "string")],
    ),
    (
        "raft.promote",
        "server",
        "Promotes a learner to voter.",
        &[("id", "integer")],
    ),
    (
        "raft.remove",
        "server",
        "Removes a member.",
        &[("id", "integer")],
    ),
    (
        "raft.transfer",
        "server",
        "Hands leadership to another voter.",
        &[("id", "integer")],
    ),
];

fn redis_docs() -> &'static HashMap<Vec<u8>, Value> {
    static DOCS: OnceLock<HashMap<Vec<u8>, Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let limits = Limits {
            depth_max: 16,
            ..Limits::default()
        };
        let Ok(Some((Value::Map(pairs), _))) = parse_reply(REDIS_DOCS, &limits) else {
            panic!("docs.resp is one RESP3 map (see scripts/command-docs.py)");
        };
        pairs
            .into_iter()
            .filter_map(|(k, v)| match k {
                Value::Bulk(Some(name)) => Some((name, v)),
                _ => None,
            })
            .collect()
    })
}

/// What COMMAND DOCS says of command `name` (in lower case).
pub(super) fn docs(name: &str) -> Value {
    if let Some(v) = redis_docs().get(name.as_bytes()) {
        return v.clone();
    }
    let (group, summary, args) = OURS
        .iter()
        .find(|(n, ..)| *n == name)
        .map_or(("server", "", &[][..]), |(_, g, s, a)| (*g, *s, *a));
    let args = args
        .iter()
        .map(|(n, t)| {
            Value::Map(vec![
                (Value::text("name"), Value::text(n)),
                (Value::text("type"), Value::text(t)),
            ])
        })
        .collect();
    Value::Map(vec![
        (Value::text("summary"), Value::text(summary)),
        (Value::text("since"), Value::text("1.0.0")),
        (Value::text("group"), Value::text(group)),
        (Value::text("arguments"), Value::Array(Some(args))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::commands::COMMANDS;

    #[test]
    fn every_command_has_docs_and_redis_commands_have_redis_docs() {
        let redis = redis_docs();
        for spec in COMMANDS {
            let ours = OURS.iter().any(|(n, ..)| *n == spec.name);
            assert!(
                ours != redis.contains_key(spec.name.as_bytes()),
                "{}: documented by Redis or by us, not both or neither",
                spec.name
            );
        }
        // Nothing is documented that the table does not have.
        for name in redis.keys() {
            let name = std::str::from_utf8(name).unwrap();
            assert!(COMMANDS.iter().any(|s| s.name == name), "{name}");
        }
        // The subcommands documented are the ones implemented (SETINFO came after 7.0).
        for full in crate::server::commands::SUBCOMMANDS {
            let (command, _) = full.split_once('|').unwrap();
            let Value::Map(d) = docs(command) else {
                panic!("a map")
            };
            let subs = d.iter().find(|(k, _)| *k == Value::text("subcommands"));
            let documented = matches!(subs, Some((_, Value::Map(s))) if s.iter().any(|(k, _)| *k == Value::text(full)));
            assert!(documented || *full == "client|setinfo", "{full}");
        }
        let Value::Map(set) = docs("set") else {
            panic!("a map")
        };
        assert!(set.iter().any(|(k, _)| *k == Value::text("arguments")));
    }
}
