//! The command table: every command this server implements, with what Redis's COMMAND says
//! of it (arity counting the name, negative for "at least"; flags; key positions; ACL
//! categories) and the function that parses it.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::args::arity;
use super::args::{Args, Refusal};
use super::{connection as conn, hashes as h, keys as k, server as srv, strings as s, Op};
use crate::resp::Value;

/// One command.
pub(crate) struct Spec {
    /// The name, in lower case.
    pub(crate) name: &'static str,
    /// The number of arguments, the name included; negative: at least that many.
    pub(crate) arity: i32,
    /// Redis's command flags (`write`, `readonly`, `fast`, ...).
    pub(crate) flags: &'static [&'static str],
    /// The first key's position, the last's (negative: from the end) and the step.
    pub(crate) keys: (i32, i32, i32),
    /// ACL categories.
    pub(crate) categories: &'static [&'static str],
    /// Turns the arguments (after the name) into an operation.
    pub(crate) parse: fn(&mut Args) -> Result<Op, Refusal>,
}

type Parse = fn(&mut Args) -> Result<Op, Refusal>;

const fn c(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
    categories: &'static [&'static str],
    parse: Parse,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        categories,
        parse,
    }
}

const NO_KEYS: (i32, i32, i32) = (0, 0, 0);
const KEY: (i32, i32, i32) = (1, 1, 1);
const W: &[&str] = &["write"];
const WF: &[&str] = &["write", "fast"];
const WD: &[&str] = &["write", "denyoom"];
const WDF: &[&str] = &["write", "denyoom", "fast"];
const R: &[&str] = &["readonly"];
const RF: &[&str] = &["readonly", "fast"];
const CONN: &[&str] = &["loading", "stale", "fast"];
const ADMIN: &[&str] = &["admin", "noscript", "loading", "stale"];
/// Connection commands that need no authentication and run whatever the server is doing.
const NO_AUTH: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
/// MULTI, DISCARD, WATCH, UNWATCH.
const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const STR_W: &[&str] = &["@write", "@string", "@slow"];
const STR_WF: &[&str] = &["@write", "@string", "@fast"];
const STR_RF: &[&str] = &["@read", "@string", "@fast"];
const STR_R: &[&str] = &["@read", "@string", "@slow"];
const KS_W: &[&str] = &["@keyspace", "@write", "@slow"];
const KS_WF: &[&str] = &["@keyspace", "@write", "@fast"];
const KS_RF: &[&str] = &["@keyspace", "@read", "@fast"];
const KS_R: &[&str] = &["@keyspace", "@read", "@slow"];
const KS_DANGER: &[&str] = &["@keyspace", "@write", "@slow", "@dangerous"];
const H_WF: &[&str] = &["@write", "@hash", "@fast"];
const H_RF: &[&str] = &["@read", "@hash", "@fast"];
const H_R: &[&str] = &["@read", "@hash", "@slow"];
const C_F: &[&str] = &["@fast", "@connection"];
const SLOW: &[&str] = &["@slow"];
const T_F: &[&str] = &["@fast", "@transaction"];
const T_S: &[&str] = &["@slow", "@transaction"];
const A: &[&str] = &["@admin", "@slow", "@dangerous"];

/// Every command, in no particular order.
pub(crate) static COMMANDS: &[Spec] = &[
    // Strings.
    c("get", 2, RF, KEY, STR_RF, s::get),
    c("set", -3, WD, KEY, STR_W, s::set),
    c("setnx", 3, WDF, KEY, STR_WF, s::setnx),
    c("setex", 4, WD, KEY, STR_W, s::setex),
    c("psetex", 4, WD, KEY, STR_W, s::setex),
    c("getset", 3, WDF, KEY, STR_WF, s::getset),
    c("getdel", 2, WF, KEY, STR_WF, s::getdel),
    c("getex", -2, WF, KEY, STR_WF, s::getex),
    c("mset", -3, WD, (1, -1, 2), STR_W, s::mset),
    c("msetnx", -3, WD, (1, -1, 2), STR_W, s::mset),
    c("mget", -2, RF, (1, -1, 1), STR_RF, s::mget),
    c("append", 3, WDF, KEY, STR_WF, s::append),
    c("strlen", 2, RF, KEY, STR_RF, s::strlen),
    c("getrange", 4, R, KEY, STR_R, s::getrange),
    c("substr", 4, R, KEY, STR_R, s::getrange),
    c("setrange", 4, WD, KEY, STR_W, s::setrange),
    c("incr", 2, WDF, KEY, STR_WF, s::incr),
    c("decr", 2, WDF, KEY, STR_WF, s::incr),
    c("incrby", 3, WDF, KEY, STR_WF, s::incr),
    c("decrby", 3, WDF, KEY, STR_WF, s::incr),
    c("incrbyfloat", 3, WDF, KEY, STR_WF, s::incrbyfloat),
    // Keyspace and expiry.
    c("del", -2, W, (1, -1, 1), KS_W, k::del),
    c("unlink", -2, WF, (1, -1, 1), KS_WF, k::del),
    c("exists", -2, RF, (1, -1, 1), KS_RF, k::exists),
    c("touch", -2, RF, (1, -1, 1), KS_RF, k::exists),
    c("type", 2, RF, KEY, KS_RF, k::type_of),
    c(
        "keys",
        2,
        R,
        NO_KEYS,
        &["@keyspace", "@read", "@slow", "@dangerous"],
        k::keys,
    ),
    c("scan", -2, R, NO_KEYS, KS_R, k::scan),
    c("randomkey", 1, R, NO_KEYS, KS_R, k::randomkey),
    c("rename", 3, W, (1, 2, 1), KS_W, k::rename),
    c("renamenx", 3, WF, (1, 2, 1), KS_WF, k::rename),
    c("copy", -3, WD, (1, 2, 1), KS_W, k::copy),
    c("dbsize", 1, RF, NO_KEYS, KS_RF, k::dbsize),
    c("flushdb", -1, W, NO_KEYS, KS_DANGER, k::flush),
    c("flushall", -1, W, NO_KEYS, KS_DANGER, k::flush),
    c("expire", -3, WF, KEY, KS_WF, k::expire),
    c("pexpire", -3, WF, KEY, KS_WF, k::expire),
    c("expireat", -3, WF, KEY, KS_WF, k::expire),
    c("pexpireat", -3, WF, KEY, KS_WF, k::expire),
    c("ttl", 2, RF, KEY, KS_RF, k::ttl),
    c("pttl", 2, RF, KEY, KS_RF, k::ttl),
    c("expiretime", 2, RF, KEY, KS_RF, k::ttl),
    c("pexpiretime", 2, RF, KEY, KS_RF, k::ttl),
    c("persist", 2, WF, KEY, KS_WF, k::persist),
    // Hashes.
    c("hset", -4, WDF, KEY, H_WF, h::hset),
    c("hmset", -4, WDF, KEY, H_WF, h::hset),
    c("hsetnx", 4, WDF, KEY, H_WF, h::hsetnx),
    c("hdel", -3, WF, KEY, H_WF, h::hdel),
    c("hincrby", 4, WDF, KEY, H_WF, h::hincrby),
    c("hincrbyfloat", 4, WDF, KEY, H_WF, h::hincrbyfloat),
    c("hget", 3, RF, KEY, H_RF, h::hget),
    c("hmget", -3, RF, KEY, H_RF, h::hmget),
    c("hexists", 3, RF, KEY, H_RF, h::hexists),
    c("hlen", 2, RF, KEY, H_RF, h::hlen),
    c("hstrlen", 3, RF, KEY, H_RF, h::hstrlen),
    c("hkeys", 2, R, KEY, H_R, h::hall),
    c("hvals", 2, R, KEY, H_R, h::hall),
    c("hgetall", 2, R, KEY, H_R, h::hall),
    c("hscan", -3, R, KEY, H_R, h::hscan),
    c("hrandfield", -2, R, KEY, H_R, h::hrandfield),
    // The connection.
    c("ping", -1, &["fast"], NO_KEYS, C_F, conn::ping),
    c("echo", 2, CONN, NO_KEYS, C_F, conn::echo),
    c("select", 2, CONN, NO_KEYS, C_F, conn::select),
    c("hello", -1, NO_AUTH, NO_KEYS, C_F, conn::hello),
    c("auth", -2, NO_AUTH, NO_KEYS, C_F, conn::auth),
    c("quit", -1, NO_AUTH, NO_KEYS, C_F, conn::quit),
    c("reset", 1, NO_AUTH, NO_KEYS, C_F, conn::reset),
    c("readonly", 1, CONN, NO_KEYS, C_F, conn::readonly),
    c("readwrite", 1, CONN, NO_KEYS, C_F, conn::readonly),
    // The server and its connections.
    c("client", -2, &[], NO_KEYS, SLOW, srv::client),
    c(
        "info",
        -1,
        &["loading", "stale"],
        NO_KEYS,
        &["@slow", "@dangerous"],
        srv::info,
    ),
    c("config", -2, &[], NO_KEYS, SLOW, srv::config),
    c("cluster", -2, &[], NO_KEYS, SLOW, srv::cluster),
    c(
        "time",
        1,
        &["loading", "stale", "fast"],
        NO_KEYS,
        &["@fast"],
        srv::time,
    ),
    c(
        "role",
        1,
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        &["@admin", "@fast", "@dangerous"],
        srv::role,
    ),
    c(
        "lastsave",
        1,
        &["loading", "stale", "fast"],
        NO_KEYS,
        &["@admin", "@fast", "@dangerous"],
        srv::role,
    ),
    c(
        "command",
        -1,
        &["loading", "stale"],
        NO_KEYS,
        &["@slow", "@connection"],
        command,
    ),
    // Transactions.
    c("watch", -2, TX, (1, -1, 1), T_F, conn::watch),
    c("unwatch", 1, TX, NO_KEYS, T_F, conn::unwatch),
    c("multi", 1, TX, NO_KEYS, T_F, conn::multi),
    c(
        "exec",
        1,
        &["noscript", "loading", "stale", "skip_slowlog"],
        NO_KEYS,
        T_S,
        conn::exec,
    ),
    c("discard", 1, TX, NO_KEYS, T_F, conn::discard),
    // This store's extensions.
    c("cas", 4, WDF, KEY, STR_WF, conn::cas),
    c("scanprefix", -2, R, NO_KEYS, KS_R, conn::scanprefix),
    c(
        "xregister",
        1,
        W,
        NO_KEYS,
        &["@write", "@fast"],
        conn::xregister,
    ),
    c(
        "xsession",
        -4,
        W,
        NO_KEYS,
        &["@write", "@slow"],
        conn::xsession,
    ),
    c(
        "raft.status",
        -1,
        &["loading", "stale"],
        NO_KEYS,
        SLOW,
        srv::info,
    ),
    c(
        "raft.digest",
        1,
        &["readonly", "loading", "stale"],
        NO_KEYS,
        SLOW,
        conn::digest,
    ),
    c("raft.addlearner", -3, ADMIN, NO_KEYS, A, conn::add_learner),
    c("raft.peer", 3, ADMIN, NO_KEYS, A, conn::peer),
    c("raft.promote", 2, ADMIN, NO_KEYS, A, conn::membership),
    c("raft.remove", 2, ADMIN, NO_KEYS, A, conn::membership),
    c("raft.transfer", 2, ADMIN, NO_KEYS, A, conn::membership),
];

/// The subcommands of container commands, as CLIENT LIST's `cmd=` names them.
pub(crate) static SUBCOMMANDS: &[&str] = &[
    "client|id",
    "client|getname",
    "client|setname",
    "client|setinfo",
    "client|info",
    "client|list",
    "client|kill",
    "client|help",
    "config|get",
    "config|set",
    "config|resetstat",
    "config|rewrite",
    "config|help",
    "cluster|slots",
    "cluster|shards",
    "cluster|nodes",
    "cluster|info",
    "cluster|myid",
    "cluster|keyslot",
    "cluster|help",
    "command|count",
    "command|list",
    "command|info",
    "command|docs",
    "command|help",
];

/// The index in [`SUBCOMMANDS`] of `command`'s subcommand `sub`, if it has that one.
pub(crate) fn subcommand(command: &str, sub: &[u8]) -> Option<u8> {
    SUBCOMMANDS
        .iter()
        .position(|full| {
            full.split_once('|')
                .is_some_and(|(c, s)| c == command && s.as_bytes().eq_ignore_ascii_case(sub))
        })
        .map(|i| i as u8)
}

/// The command named `name`, in any case.
pub(crate) fn find(name: &[u8]) -> Option<&'static Spec> {
    index(name).map(|i| &COMMANDS[usize::from(i)])
}

/// The index in [`COMMANDS`] of the command named `name`, in any case.
pub(crate) fn index(name: &[u8]) -> Option<u16> {
    static BY_NAME: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name, i as u16))
            .collect()
    });
    const NAME_MAX: usize = 32;
    if name.len() > NAME_MAX {
        return None;
    }
    let mut lower = [0u8; NAME_MAX];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    by_name.get(std::str::from_utf8(lower).ok()?).copied()
}

/// COMMAND [COUNT | LIST | INFO name... | DOCS name...], from this table.
fn command(a: &mut Args) -> Result<Op, Refusal> {
    let all = || COMMANDS.iter();
    let named =
        |a: &Args| -> Vec<Option<&'static Spec>> { (1..a.len()).map(|i| find(a.get(i))).collect() };
    let reply = if a.len() == 0 {
        Value::Array(Some(all().map(describe).collect()))
    } else {
        match a.lower(0).as_str() {
            "count" if a.len() == 1 => Value::Integer(COMMANDS.len() as i64),
            "list" if a.len() == 1 => {
                Value::Array(Some(all().map(|s| Value::text(s.name)).collect()))
            }
            "list" if a.len() == 4 && a.is(1, "filterby") => {
                let (by, value) = (a.lower(2), a.get(3).to_ascii_lowercase());
                let keep = |s: &Spec| match by.as_str() {
                    "aclcat" => s.categories.iter().any(|c| c.as_bytes()[1..] == value[..]),
                    "pattern" => crate::machine::glob::matches(&value, s.name.as_bytes()),
                    // No modules.
                    _ => false,
                };
                if !["aclcat", "pattern", "module"].contains(&by.as_str()) {
                    return Err(super::args::syntax());
                }
                Value::Array(Some(
                    all()
                        .filter(|s| keep(s))
                        .map(|s| Value::text(s.name))
                        .collect(),
                ))
            }
            "list" => return Err(super::args::syntax()),
            "help" if a.len() == 1 => Value::Array(Some(
                [
                    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "(no subcommand)",
                    "    Return details about all commands.",
                    "COUNT",
                    "    Return the total number of commands in this server.",
                    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
                    "    Return a list of all commands in this server.",
                    "INFO [<command-name> ...]",
                    "    Return details about multiple commands.",
                    "DOCS [<command-name> ...]",
                    "    Return documentation details about multiple commands.",
                    "HELP",
                    "    Print this help.",
                ]
                .iter()
                .map(|l| Value::Simple(l.to_string()))
                .collect(),
            )),
            "info" => Value::Array(Some(
                named(a)
                    .into_iter()
                    .map(|s| s.map_or(Value::Null, describe))
                    .collect(),
            )),
            "docs" => {
                let specs: Vec<&Spec> = if a.len() == 1 {
                    all().collect()
                } else {
                    named(a).into_iter().flatten().collect()
                };
                Value::Map(
                    specs
                        .into_iter()
                        .map(|s| (Value::text(s.name), docs(s)))
                        .collect(),
                )
            }
            sub @ ("count" | "help") => return Err(arity(&format!("command|{sub}"))),
            _ => {
                return Err(format!(
                    "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                    a.text(0).chars().take(64).collect::<String>()
                ))
            }
        }
    };
    Ok(Op::Now(reply))
}

fn words(list: &[&str]) -> Value {
    Value::Set(list.iter().map(|w| Value::Simple(w.to_string())).collect())
}

/// One command as COMMAND INFO describes it.
fn describe(s: &Spec) -> Value {
    Value::Array(Some(vec![
        Value::text(s.name),
        Value::Integer(s.arity.into()),
        words(s.flags),
        Value::Integer(s.keys.0.into()),
        Value::Integer(s.keys.1.into()),
        Value::Integer(s.keys.2.into()),
        words(s.categories),
        Value::Array(Some(Vec::new())),
        Value::Array(Some(Vec::new())),
        Value::Array(Some(Vec::new())),
    ]))
}

/// One command as COMMAND DOCS describes it.
fn docs(s: &Spec) -> Value {
    super::docs::docs(s.name)
}
