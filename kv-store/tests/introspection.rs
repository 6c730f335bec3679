//! The commands that describe the server: CLIENT, INFO, CONFIG, ROLE, LASTSAVE, TIME, and the
//! Redis Cluster commands that let cluster-aware clients find the leader.

mod support;

use std::time::{Duration, Instant};

use kv_store::resp::Value;
use support::*;

/// A reply's text (bulk or verbatim string).
fn text(v: &Value) -> String {
    match v {
        Value::Bulk(Some(b)) | Value::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not text: {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(Some(a)) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn err(s: &str) -> Value {
    Value::Error(s.into())
}

/// The line for `id` in a CLIENT LIST reply.
fn line_of(list: &str, id: i64) -> String {
    let want = format!("id={id} ");
    list.lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no line for client {id} in {list}"))
        .to_string()
}

#[test]
fn client_list_info_and_kill_see_every_connection() {
    let c = cluster(|_| {});
    let addr = c.addr(c.leader());
    let (mut a, mut b) = (Client::connect(addr), Client::connect(addr));
    assert_eq!(a.call(&["CLIENT", "SETNAME", "alpha"]), ok());
    assert_eq!(b.call(&["CLIENT", "SETNAME", "beta"]), ok());
    assert_eq!(b.call(&["CLIENT", "SETINFO", "lib-name", "redis-py"]), ok());
    assert_eq!(b.call(&["CLIENT", "SETINFO", "LIB-VER", "8.1.0"]), ok());
    let (ida, idb) = (
        int(&a.call(&["CLIENT", "ID"])),
        int(&b.call(&["CLIENT", "ID"])),
    );
    assert_ne!(ida, idb);

    let list = text(&a.call(&["CLIENT", "LIST"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    let lb = line_of(&list, idb);
    for field in [
        "name=beta ",
        "lib-name=redis-py lib-ver=8.1.0",
        "flags=N ",
        "multi=-1 ",
        "cmd=client|id ",
        "resp=2 ",
        "db=0 ",
    ] {
        assert!(lb.contains(field), "{field} not in {lb}");
    }
    assert!(lb.contains(&format!("laddr={addr} ")), "{lb}");
    // A transaction being queued shows in the line.
    assert_eq!(b.call(&["MULTI"]), ok());
    assert_eq!(b.call(&["SET", "k", "v"]), Value::Simple("QUEUED".into()));
    let lb = text(&a.call(&["CLIENT", "LIST", "ID", &idb.to_string()]));
    assert_eq!(lb.lines().count(), 1);
    assert!(lb.contains("flags=x ") && lb.contains("multi=1 "), "{lb}");
    assert_eq!(b.call(&["DISCARD"]), ok());
    let la = text(&a.call(&["CLIENT", "INFO"]));
    assert!(
        la.starts_with(&format!("id={ida} ")) && la.contains("name=alpha "),
        "{la}"
    );
    assert_eq!(text(&a.call(&["CLIENT", "LIST", "TYPE", "pubsub"])), "");
    assert_eq!(
        text(&a.call(&["CLIENT", "LIST", "TYPE", "normal"]))
            .lines()
            .count(),
        2
    );

    // Refusals, in Redis's words.
    for (args, e) in [
        (
            &["CLIENT", "KILL", "TYPE", "foo"][..],
            "ERR Unknown client type 'foo'",
        ),
        (&["CLIENT", "KILL", "USER", "bob"], "ERR No such user 'bob'"),
        (
            &["CLIENT", "KILL", "ID", "0"],
            "ERR client-id should be greater than 0",
        ),
        (&["CLIENT", "KILL", "SKIPME", "maybe"], "ERR syntax error"),
        (&["CLIENT", "KILL", "1.2.3.4:5"], "ERR No such client"),
        (&["CLIENT", "LIST", "ID", "x"], "ERR Invalid client ID"),
        (&["CLIENT", "LIST", "x"], "ERR syntax error"),
        (
            &["CLIENT", "SETINFO", "foo", "x"],
            "ERR Unrecognized option 'foo'",
        ),
        (
            &["CLIENT", "SETINFO", "lib-name", "a b"],
            "ERR lib-name cannot contain spaces, newlines or special characters.",
        ),
        (
            &["CLIENT", "INFO", "x"],
            "ERR wrong number of arguments for 'client|info' command",
        ),
        (
            &["CLIENT", "NOPE"],
            "ERR unknown subcommand 'NOPE'. Try CLIENT HELP.",
        ),
    ] {
        assert_eq!(a.call(args), err(e), "{args:?}");
    }

    // Killing another connection closes it; the killer carries on.
    let idb_text = idb.to_string();
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &idb_text]),
        Value::Integer(1)
    );
    b.send(&["PING"]);
    assert_eq!(b.reply(), None, "the killed connection is closed");
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &idb_text]),
        Value::Integer(0)
    );
    // A connection skips itself unless told not to; then it gets its reply, and is closed.
    let ida_text = ida.to_string();
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &ida_text]),
        Value::Integer(0)
    );
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &ida_text, "SKIPME", "no"]),
        Value::Integer(1)
    );
    a.send(&["PING"]);
    assert_eq!(a.reply(), None);
    // The old form, by address.
    let mut d = Client::connect(addr);
    let mut e = Client::connect(addr);
    let id_d = int(&d.call(&["CLIENT", "ID"]));
    let list = text(&e.call(&["CLIENT", "LIST"]));
    let line = line_of(&list, id_d);
    let addr_d = line
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap();
    assert_eq!(e.call(&["CLIENT", "KILL", addr_d]), ok());
    d.send(&["PING"]);
    assert_eq!(d.reply(), None);
}

/// `INFO`'s field `name` in `info`.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

#[test]
fn info_reports_real_figures() {
    let c = cluster_advertising();
    let leader = c.leader();
    let mut cl = Client::connect(c.addr(leader));
    assert_eq!(cl.call(&["SET", "a", "1"]), ok());
    assert_eq!(cl.call(&["SET", "b", "2", "EX", "100"]), ok());
    assert_eq!(cl.call(&["HSET", "h", "f", "v"]), Value::Integer(1));
    assert!(matches!(cl.call(&["INCR", "h"]), Value::Error(_)));
    assert!(matches!(cl.call(&["SET", "a"]), Value::Error(_)));
    assert_eq!(cl.call(&["GET", "a"]), bulk("1"));

    let info = text(&cl.call(&["INFO"]));
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
    ] {
        assert!(info.contains(section), "{section} missing");
    }
    assert!(!info.contains("# Commandstats"), "not a default section");
    assert_eq!(field(&info, "redis_version"), Some("7.0.15"));
    assert_eq!(field(&info, "connected_clients"), Some("1"));
    assert_eq!(field(&info, "cluster_enabled"), Some("1"));
    let port = c.addr(leader).port().to_string();
    assert_eq!(field(&info, "tcp_port"), Some(port.as_str()));
    assert!(field(&info, "used_memory").unwrap().parse::<u64>().unwrap() > 0);
    // Keys with a deadline, and their average time to live (below the 100 s given).
    let db0 = field(&info, "db0").expect("a keyspace line");
    assert!(db0.starts_with("keys=3,expires=1,avg_ttl="), "{db0}");
    let ttl: u64 = db0.rsplit('=').next().unwrap().parse().unwrap();
    assert!(ttl > 0 && ttl <= 100_000, "{db0}");
    assert_eq!(field(&info, "role"), Some("master"));
    assert_eq!(field(&info, "connected_slaves"), Some("2"));
    let processed: u64 = field(&info, "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(processed >= 5, "{processed}");

    let stats = text(&cl.call(&["INFO", "commandstats"]));
    let set = field(&stats, "cmdstat_set").expect("SET counted");
    assert!(
        set.starts_with("calls=2,") && set.ends_with(",rejected_calls=1,failed_calls=0"),
        "{set}"
    );
    let incr = field(&stats, "cmdstat_incr").expect("INCR counted");
    assert!(incr.ends_with("rejected_calls=0,failed_calls=1"), "{incr}");
    assert_eq!(cl.call(&["CONFIG", "RESETSTAT"]), ok());
    let stats = text(&cl.call(&["INFO", "commandstats"]));
    assert!(field(&stats, "cmdstat_set").is_none(), "{stats}");

    // A follower names the leader it replicates.
    let follower = (leader + 1) % 3;
    let mut f = Client::connect(c.addr(follower));
    let repl = text(&f.call(&["INFO", "replication"]));
    assert_eq!(field(&repl, "role"), Some("slave"));
    assert_eq!(field(&repl, "master_port"), Some(port.as_str()));
    assert_eq!(field(&repl, "master_link_status"), Some("up"));
    assert!(!repl.contains("# Server"));
}

#[test]
fn role_lastsave_time_and_config_answer_as_redis_does() {
    let c = cluster_advertising();
    let leader = c.leader();
    let mut cl = Client::connect(c.addr(leader));
    let role = cl.call(&["ROLE"]);
    let r = array(&role);
    assert_eq!(r[0], bulk("master"));
    assert_eq!(array(&r[2]).len(), 2, "two replicas: {role:?}");
    let follower = (leader + 1) % 3;
    let mut f = Client::connect(c.addr(follower));
    let role = f.call(&["ROLE"]);
    let r = array(&role);
    assert_eq!(
        r[..4],
        [
            bulk("slave"),
            bulk("127.0.0.1"),
            Value::Integer(c.addr(leader).port().into()),
            bulk("connected"),
        ]
    );
    assert!(int(&cl.call(&["LASTSAVE"])) > 1_600_000_000);
    let time = cl.call(&["TIME"]);
    let t = array(&time);
    assert!(text(&t[0]).parse::<u64>().unwrap() > 1_600_000_000);
    assert!(text(&t[1]).parse::<u64>().unwrap() < 1_000_000);

    let port = c.addr(leader).port().to_string();
    assert_eq!(
        cl.call(&["CONFIG", "GET", "maxclients", "PORT"]),
        Value::Array(Some(vec![
            // A name without glob characters is answered as given, as Redis does.
            bulk("PORT"),
            bulk(&port),
            bulk("maxclients"),
            bulk("10000"),
        ]))
    );
    let all = cl.call(&["CONFIG", "GET", "*"]);
    assert!(array(&all).len() > 20);
    for (args, e) in [
        (
            &["CONFIG", "SET", "databases", "3"][..],
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config",
        ),
        (
            &["CONFIG", "SET", "foo", "bar"],
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'",
        ),
        (
            &["CONFIG", "SET", "maxclients"],
            "ERR wrong number of arguments for 'config|set' command",
        ),
        (&["CONFIG", "REWRITE"], "ERR The server is running without a config file"),
        (&["CONFIG", "FOO"], "ERR unknown subcommand 'FOO'. Try CONFIG HELP."),
    ] {
        assert_eq!(cl.call(args), err(e), "{args:?}");
    }
}

/// The master of CLUSTER SLOTS's one range, as `port`.
fn slots_master_port(cl: &mut Client) -> i64 {
    let slots = cl.call(&["CLUSTER", "SLOTS"]);
    let ranges = array(&slots);
    assert_eq!(ranges.len(), 1);
    let range = array(&ranges[0]);
    assert_eq!(range[..2], [Value::Integer(0), Value::Integer(16383)]);
    int(&array(&range[2])[1])
}

#[test]
fn cluster_commands_describe_one_shard_led_by_the_leader() {
    let c = cluster_advertising();
    let leader = c.leader();
    let follower = (leader + 1) % 3;
    let mut f = Client::connect(c.addr(follower));
    let slots = f.call(&["CLUSTER", "SLOTS"]);
    let range = array(&array(&slots)[0]).to_vec();
    assert_eq!(
        range.len(),
        5,
        "the range, the master and two replicas: {slots:?}"
    );
    let ports: Vec<i64> = range[2..].iter().map(|n| int(&array(n)[1])).collect();
    assert_eq!(
        ports[0],
        i64::from(c.addr(leader).port()),
        "the leader is master"
    );
    let mut all: Vec<i64> = (0..3).map(|i| i64::from(c.addr(i).port())).collect();
    let mut seen = ports.clone();
    all.sort_unstable();
    seen.sort_unstable();
    assert_eq!(seen, all, "every node, at its client address");

    let myid = text(&f.call(&["CLUSTER", "MYID"]));
    assert_eq!(myid, format!("{:040x}", follower + 1));
    let info = text(&f.call(&["CLUSTER", "INFO"]));
    assert!(info.contains("cluster_state:ok\r\n") && info.contains("cluster_known_nodes:3\r\n"));
    let nodes = text(&f.call(&["CLUSTER", "NODES"]));
    assert_eq!(nodes.lines().count(), 3);
    let me = nodes.lines().find(|l| l.contains("myself")).unwrap();
    assert!(me.starts_with(&myid) && me.contains("myself,slave"), "{me}");
    let master = nodes.lines().find(|l| l.contains(" master ")).unwrap();
    assert!(master.ends_with(" connected 0-16383"), "{master}");
    let shards = f.call(&["CLUSTER", "SHARDS"]);
    assert_eq!(array(&shards).len(), 1);
    assert_eq!(
        f.call(&["CLUSTER", "KEYSLOT", "foo"]),
        Value::Integer(12182)
    );
    assert_eq!(
        f.call(&["CLUSTER", "NOPE"]),
        err("ERR unknown subcommand 'NOPE'. Try CLUSTER HELP.")
    );

    // The leader goes: the survivors name the new one.
    c.nodes[leader].close();
    let survivor = (0..3).find(|&i| i != leader).unwrap();
    let mut s = Client::connect(c.addr(survivor));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let port = slots_master_port(&mut s);
        let new = c.nodes.iter().position(|n| {
            n.status()
                .is_ok_and(|st| st.role == raft_core::Role::Leader)
        });
        if new.is_some_and(|n| n != leader && i64::from(c.addr(n).port()) == port) {
            break;
        }
        assert!(Instant::now() < deadline, "no new leader named");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_connection_closes_at_once_even_with_requests_waiting() {
    let c = cluster(|_| {});
    let leader = c.leader();
    let addr = c.addr(leader);
    let (mut x, mut y) = (Client::connect(addr), Client::connect(addr));
    let idx = int(&x.call(&["CLIENT", "ID"]));
    // The leader alone cannot commit: X's write waits, and X is closing after QUIT.
    c.net.isolate(leader as u64 + 1, &[1, 2, 3]);
    x.send(&["SET", "k", "v"]);
    x.send(&["QUIT"]);
    // Let the server take both before the kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&y.call(&["CLIENT", "LIST", "ID", &idx.to_string()])).contains("cmd=quit ") {
        assert!(Instant::now() < deadline, "QUIT never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        y.call(&["CLIENT", "KILL", "ID", &idx.to_string()]),
        Value::Integer(1)
    );
    // Closed at once: neither the write's answer nor QUIT's is ever written.
    assert_eq!(x.reply(), None);
}

#[test]
fn commandstats_count_as_redis_does() {
    let c = cluster(|_| {});
    let addr = c.addr(c.leader());
    let mut cl = Client::connect(addr);
    assert_eq!(cl.call(&["SET", "a", "1"]), ok());
    // Refused by SET's own checks: a call that failed. A wrong number of arguments: rejected.
    assert!(matches!(
        cl.call(&["SET", "a", "1", "NX", "XX"]),
        Value::Error(_)
    ));
    assert!(matches!(cl.call(&["SET", "a"]), Value::Error(_)));
    assert!(matches!(cl.call(&["CLIENT", "ID"]), Value::Integer(_)));
    // A protocol error right after a GET counts under no command.
    let mut raw = Client::connect(addr);
    std::io::Write::write_all(&mut raw.s, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$x\r\n").unwrap();
    assert_eq!(raw.reply(), Some(bulk("1")));
    assert!(matches!(raw.reply(), Some(Value::Error(_))));
    assert_eq!(raw.reply(), None);
    let stats = text(&cl.call(&["INFO", "commandstats"]));
    let set = field(&stats, "cmdstat_set").unwrap();
    assert!(set.starts_with("calls=2,"), "{set}");
    assert!(set.ends_with(",rejected_calls=1,failed_calls=1"), "{set}");
    let get = field(&stats, "cmdstat_get").unwrap();
    assert!(
        get.starts_with("calls=1,") && get.ends_with("failed_calls=0"),
        "{get}"
    );
    assert!(field(&stats, "cmdstat_client|id")
        .unwrap()
        .starts_with("calls=1,"));
}

#[test]
fn client_list_by_id_follows_the_ids_given() {
    let c = cluster(|_| {});
    let addr = c.addr(c.leader());
    let (mut a, mut b) = (Client::connect(addr), Client::connect(addr));
    let (ida, idb) = (
        int(&a.call(&["CLIENT", "ID"])),
        int(&b.call(&["CLIENT", "ID"])),
    );
    let (ia, ib) = (ida.to_string(), idb.to_string());
    let list = text(&a.call(&["CLIENT", "LIST", "ID", &ib, &ia, &ib, "999999"]));
    let ids: Vec<&str> = list.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        ids,
        [format!("id={ib}"), format!("id={ia}"), format!("id={ib}")]
    );
}
