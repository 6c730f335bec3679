//! Answers about the server itself, from the node's status and the server's state: ROLE,
//! LASTSAVE, CONFIG GET and RESETSTAT, and the CLUSTER subcommands.

use raft_core::Role;
use raft_runtime::Status;

use super::cluster::{node_name, Shard};
use super::commands::{ClusterOp, Introspect};
use super::event_loop::Context;
use super::replies::from_error;
use crate::machine::glob;
use crate::resp::Value;

/// The parameters CONFIG GET shows, in the order it shows them. None can change at run time.
const PARAMETERS: &[&str] = &[
    "bind",
    "port",
    "maxclients",
    "timeout",
    "databases",
    "appendonly",
    "appendfsync",
    "save",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "io-threads",
    "cluster-enabled",
    "maxmemory",
    "maxmemory-policy",
    "hz",
];

/// Whether CONFIG GET knows `name` (in lower case).
pub(crate) fn is_parameter(name: &str) -> bool {
    PARAMETERS.contains(&name)
}

/// Parameter `name`'s value, as this server runs.
fn parameter(name: &str, cx: &Context) -> String {
    let c = &cx.config;
    let addr = cx.shared.addr;
    match name {
        "bind" => addr.ip().to_string(),
        "port" => addr.port().to_string(),
        "maxclients" => c.clients_max.to_string(),
        // Idle clients are never disconnected.
        "timeout" => "0".into(),
        "databases" => "1".into(),
        // With durable storage, every write is in the log, synced to disk on a majority
        // before it is acknowledged.
        "appendonly" => if c.durable { "yes" } else { "no" }.into(),
        "appendfsync" => if c.durable { "always" } else { "no" }.into(),
        "save" => String::new(),
        "proto-max-bulk-len" => c.limits.bulk_bytes_max.to_string(),
        "client-query-buffer-limit" => c.request_bytes_max.to_string(),
        "io-threads" => c.io_threads.to_string(),
        "cluster-enabled" => "yes".into(),
        // No memory limit, and so no eviction.
        "maxmemory" => "0".into(),
        "maxmemory-policy" => "noeviction".into(),
        // Expired keys are looked for ten times a second.
        "hz" => "10".into(),
        _ => unreachable!("only names from PARAMETERS are asked for"),
    }
}

pub(super) fn answer(op: Introspect, cx: &Context) -> Value {
    match op {
        Introspect::ConfigGet(patterns) => {
            // A name without glob characters is answered under the name as given (its case
            // kept), as Redis does; a pattern under the parameters' own names.
            let mut pairs = Vec::new();
            for name in PARAMETERS {
                let given = patterns.iter().find(|p| {
                    !p.iter().any(|b| b"*?[\\".contains(b))
                        && p.eq_ignore_ascii_case(name.as_bytes())
                });
                let matched = given.is_some()
                    || patterns
                        .iter()
                        .any(|p| glob::matches(&p.to_ascii_lowercase(), name.as_bytes()));
                if matched {
                    let shown = given.map_or(name.as_bytes().to_vec(), |g| g.clone());
                    pairs.push((Value::Bulk(Some(shown)), Value::text(&parameter(name, cx))));
                }
            }
            Value::Map(pairs)
        }
        Introspect::ResetStat => {
            cx.shared.stats.reset();
            Value::Simple("OK".into())
        }
        Introspect::Role => with_status(cx, |s| role(s, cx)),
        Introspect::LastSave => with_status(cx, |s| {
            let at = s
                .snapshot_at
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Value::Integer(at.as_secs() as i64)
        }),
        Introspect::Cluster(op) => with_status(cx, |s| {
            let shard = Shard::new(s, cx.shared.addr);
            match op {
                ClusterOp::Slots => shard.slots(),
                ClusterOp::Shards => shard.shards(),
                ClusterOp::Nodes => shard.nodes(),
                ClusterOp::Info => shard.info(),
                ClusterOp::MyId => Value::text(&node_name(cx.node.id())),
            }
        }),
    }
}

fn with_status(cx: &Context, f: impl FnOnce(&Status) -> Value) -> Value {
    match cx.node.status() {
        Ok(s) => f(&s),
        Err(e) => from_error(e),
    }
}

/// ROLE: the leader answers as a master, with its replicas and how far each has the log;
/// any other node as a replica of the leader it knows (offsets are log indexes).
fn role(s: &Status, cx: &Context) -> Value {
    let shard = Shard::new(s, cx.shared.addr);
    let int = |n: u64| Value::Integer(n.min(i64::MAX as u64) as i64);
    if s.role == Role::Leader {
        let replicas = shard
            .members
            .iter()
            .filter(|m| m.id != s.id)
            .filter_map(|m| {
                let c = m.client?;
                Some(Value::Array(Some(vec![
                    Value::text(&c.ip().to_string()),
                    Value::text(&c.port().to_string()),
                    Value::text(&m.offset.to_string()),
                ])))
            })
            .collect();
        return Value::Array(Some(vec![
            Value::text("master"),
            int(s.commit_index),
            Value::Array(Some(replicas)),
        ]));
    }
    let leader = s
        .leader
        .and_then(|l| shard.members.iter().find(|m| m.id == l))
        .and_then(|m| m.client);
    let (host, port, state) = match leader {
        Some(a) => (a.ip().to_string(), i64::from(a.port()), "connected"),
        None => (String::new(), -1, "connect"),
    };
    Value::Array(Some(vec![
        Value::text("slave"),
        Value::text(&host),
        Value::Integer(port),
        Value::text(state),
        int(s.applied_index),
    ]))
}
