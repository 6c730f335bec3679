//! The RESP server in front of a 3-node cluster (in-process network, one server per node),
//! driven by a minimal RESP client: every command, pipelining, followers, READONLY, exactly-once
//! retries, errors, hostile bytes and the client limit.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kv_store::resp::{encode, Value};
use kv_store::KvStore;
use raft_core::Role;
use support::*;

#[test]
fn every_command_works_through_any_node() {
    let c = cluster(|_| {});
    let follower = (c.leader() + 1) % 3;
    let mut f = Client::connect(c.addr(follower));
    let cases: Vec<(&[&str], Value)> = vec![
        (&["PING"], Value::Simple("PONG".into())),
        (&["ECHO", "hi"], bulk("hi")),
        (&["SET", "a", "1"], ok()),
        (&["GET", "a"], bulk("1")),
        (&["SET", "a", "2", "NX"], Value::Bulk(None)),
        (&["SET", "a", "3", "XX"], ok()),
        (&["INCR", "n"], Value::Integer(1)),
        (&["INCRBY", "n", "41"], Value::Integer(42)),
        (&["DECR", "n"], Value::Integer(41)),
        (&["MSET", "k1", "v1", "k2", "v2"], ok()),
        (
            &["MGET", "k1", "nope", "k2"],
            Value::Array(Some(vec![bulk("v1"), Value::Bulk(None), bulk("v2")])),
        ),
        (&["EXISTS", "k1", "k2", "nope"], Value::Integer(2)),
        (&["CAS", "a", "3", "4"], Value::Integer(1)),
        (&["CAS", "a", "3", "5"], Value::Integer(0)),
        (&["DEL", "k1", "nope"], Value::Integer(1)),
        (
            &["SCANPREFIX", "k"],
            Value::Array(Some(vec![bulk("k2"), bulk("v2")])),
        ),
        (&["GET", "a"], bulk("4")),
    ];
    for (args, expected) in cases {
        assert_eq!(f.call(args), expected, "{args:?}");
    }
    // The leader sees the follower's writes.
    let mut l = Client::connect(c.addr(c.leader()));
    assert_eq!(l.call(&["GET", "n"]), bulk("41"));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(c.leader()));
    assert_eq!(cl.call(&["SET", "warm", "up"]), ok());
    let mut out = Vec::new();
    for i in 0..200 {
        encode(&Value::Array(Some(vec![bulk("INCR"), bulk("p")])), &mut out);
        if i % 50 == 49 {
            encode(&Value::Array(Some(vec![bulk("GET"), bulk("p")])), &mut out);
        }
    }
    cl.s.write_all(&out).unwrap();
    let mut expected = 0;
    for i in 0..200 {
        expected += 1;
        assert_eq!(cl.reply(), Some(Value::Integer(expected)));
        if i % 50 == 49 {
            assert_eq!(cl.reply(), Some(bulk(&expected.to_string())));
        }
    }
}

#[test]
fn errors_are_resp_errors_a_person_can_act_on() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(0));
    assert_eq!(
        cl.call(&["FLY", "away"]),
        Value::Error("ERR unknown command 'FLY', with args beginning with: 'away' ".into())
    );
    assert_eq!(
        cl.call(&["SET", "only-key"]),
        Value::Error("ERR wrong number of arguments for 'set' command".into())
    );
    assert_eq!(
        cl.call(&["INCRBY", "x", "lots"]),
        Value::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(cl.call(&["SET", "s", "text"]), ok());
    assert_eq!(
        cl.call(&["INCR", "s"]),
        Value::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(
        cl.call(&["SET", "a", "b", "MAYBE"]),
        Value::Error("ERR syntax error".into())
    );
    // HELLO switches the protocol and describes the server.
    let Value::Map(hello) = cl.call(&["HELLO", "3"]) else {
        panic!("HELLO 3 is answered with a map");
    };
    assert!(
        hello.contains(&(bulk("proto"), Value::Integer(3))),
        "{hello:?}"
    );
    assert_eq!(cl.call(&["GET", "missing"]), Value::Null, "RESP3's null");
    assert!(matches!(cl.call(&["HELLO", "2"]), Value::Array(Some(_))));
    assert_eq!(cl.call(&["GET", "missing"]), Value::Bulk(None));
    // Nested sessions would make parsing recurse once per level (a stack overflow with
    // thousands): refused, however deep.
    let mut nested: Vec<&str> = Vec::new();
    for _ in 0..20_000 {
        nested.extend(["XSESSION", "1", "1"]);
    }
    nested.extend(["SET", "n", "v"]);
    assert_eq!(
        cl.call(&nested),
        Value::Error("ERR XSESSION cannot wrap XSESSION".into())
    );
    // Garbage: an error, then the connection is closed; the server keeps serving others.
    cl.s.write_all(b"*1\r\n$-99\r\n").unwrap();
    assert!(matches!(cl.reply(), Some(Value::Error(e)) if e.contains("Protocol error")));
    assert_eq!(cl.reply(), None, "closed after a protocol error");
    let mut again = Client::connect(c.addr(0));
    assert_eq!(again.call(&["PING"]), Value::Simple("PONG".into()));
}

fn is_error(v: &Value) -> bool {
    matches!(v, Value::Error(_))
}

/// A command the server does not implement gets an error and changes nothing; one it accepts
/// does what Redis documents. Before: SELECT 1, CLIENT LIST, COMMAND, CONFIG GET all answered
/// +OK, INFO ignored its section, and writes queued after MULTI were applied one by one.
#[test]
fn nothing_is_answered_ok_that_was_not_done() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(c.leader()));
    let err = |s: &str| Value::Error(s.into());
    assert_eq!(
        cl.call(&["SELECT", "1"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        cl.call(&["SELECT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(cl.call(&["SELECT", "0"]), ok());
    // COMMAND describes exactly the commands the server dispatches on.
    let Value::Array(Some(get)) = cl.call(&["COMMAND", "INFO", "get"]) else {
        panic!("COMMAND INFO answers an array");
    };
    assert!(matches!(&get[0], Value::Array(Some(info)) if info[1] == Value::Integer(2)));
    let Value::Integer(count) = cl.call(&["COMMAND", "COUNT"]) else {
        panic!("COMMAND COUNT answers a number");
    };
    let Value::Array(Some(all)) = cl.call(&["COMMAND"]) else {
        panic!("COMMAND answers an array");
    };
    assert_eq!(all.len() as i64, count);
    for probe in [
        &["CLIENT", "PAUSE", "10"][..],
        &["COMMAND", "NOPE"],
        &["CONFIG", "SET", "maxmemory", "1"],
    ] {
        let v = cl.call(probe);
        assert!(is_error(&v), "{probe:?} answered {v:?}");
    }
    assert_eq!(
        cl.call(&["CONFIG", "GET", "nosuchparameter"]),
        Value::Array(Some(vec![])),
        "no parameter matches"
    );
    assert!(matches!(cl.call(&["CLIENT", "ID"]), Value::Integer(n) if n > 0));
    assert_eq!(cl.call(&["CLIENT", "GETNAME"]), Value::Bulk(None));
    assert_eq!(cl.call(&["CLIENT", "SETNAME", "worker-1"]), ok());
    assert_eq!(cl.call(&["CLIENT", "GETNAME"]), bulk("worker-1"));
    assert!(is_error(&cl.call(&["CLIENT", "SETNAME", "two words"])));
    assert_eq!(
        cl.call(&["INFO", "nosuchsection"]),
        Value::Bulk(Some(vec![]))
    );
    let Value::Bulk(Some(raft)) = cl.call(&["INFO", "raft"]) else {
        panic!("INFO raft")
    };
    assert!(String::from_utf8_lossy(&raft).contains("role:leader"));

    // Inside MULTI, what this server cannot run in a transaction is refused, and the
    // transaction with it: nothing queued runs, EXEC says so.
    assert_eq!(cl.call(&["MULTI"]), ok());
    assert_eq!(cl.call(&["SET", "tx", "1"]), Value::Simple("QUEUED".into()));
    assert!(is_error(&cl.call(&["CLIENT", "ID"])));
    assert_eq!(
        cl.call(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(cl.call(&["EXISTS", "tx"]), Value::Integer(0));
    assert_eq!(cl.call(&["EXEC"]), err("ERR EXEC without MULTI"));
    // Pipelined, and ended by DISCARD: nothing queued runs.
    cl.send(&["MULTI"]);
    cl.send(&["SET", "tx", "2"]);
    cl.send(&["DISCARD"]);
    cl.send(&["SET", "after", "1"]);
    assert_eq!(cl.reply(), Some(ok()));
    assert_eq!(cl.reply(), Some(Value::Simple("QUEUED".into())));
    assert_eq!(cl.reply(), Some(ok()));
    assert_eq!(cl.reply(), Some(ok()));
    assert_eq!(
        cl.call(&["MGET", "tx", "after"]),
        Value::Array(Some(vec![Value::Bulk(None), bulk("1")]))
    );
    assert_eq!(cl.call(&["DISCARD"]), err("ERR DISCARD without MULTI"));
}

#[test]
fn a_write_that_times_out_is_reported_as_unknown_and_a_hopeless_request_is_not_retried() {
    let c = cluster(|s| s.request_timeout = Duration::from_millis(300));
    let l = c.leader();
    let mut cl = Client::connect(c.addr(l));
    // Asking a non-member to lead can never work: ERR, not TRYAGAIN.
    assert!(
        matches!(cl.call(&["RAFT.TRANSFER", "99"]), Value::Error(e) if e.starts_with("ERR ")),
        "a permanent refusal invites no retry"
    );
    // The leader is cut off with its clock stopped (so it does not step down): the write is
    // accepted, cannot commit, and times out. It may still commit later, so TRYAGAIN (which
    // Redis cluster clients retry on their own) would risk applying it twice.
    c.nodes[l].pause(true).unwrap();
    c.net.isolate(l as u64 + 1, &[1, 2, 3]);
    cl.send(&["INCR", "maybe"]);
    assert!(
        matches!(cl.reply(), Some(Value::Error(e)) if e.starts_with("ERR outcome unknown")),
        "a timed-out write is reported as of unknown outcome"
    );
    c.net.heal();
    c.nodes[l].pause(false).unwrap();
}

/// A write the leader took and then gave up on because it was shut down did commit on the
/// others: TRYAGAIN would invite a retry that applies it twice.
#[test]
fn a_write_cut_off_by_a_shutdown_is_reported_as_unknown() {
    let c = cluster(|_| {});
    let l = c.leader();
    let leader_id = l as u64 + 1;
    let followers: Vec<usize> = (0..3).filter(|i| *i != l).collect();
    let mut cl = Client::connect(c.addr(l));
    assert_eq!(cl.call(&["SET", "warm", "1"]), ok());
    // The leader's clock stops (it keeps leading) and its followers' acknowledgements are lost:
    // the INCR reaches their logs but the leader never counts it.
    c.nodes[l].pause(true).unwrap();
    for f in &followers {
        c.net.set_drop(*f as u64 + 1, leader_id, 1000);
    }
    let next = c.nodes[l].status().unwrap().last_index + 1;
    cl.send(&["INCR", "counter"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !followers
        .iter()
        .all(|f| c.nodes[*f].status().is_ok_and(|s| s.last_index >= next))
    {
        assert!(
            Instant::now() < deadline,
            "the INCR never reached the followers"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    c.nodes[l].close();
    let answer = cl.reply();
    assert!(
        matches!(&answer, Some(Value::Error(e)) if e.starts_with("ERR outcome unknown")),
        "{answer:?}"
    );
    c.net.heal();
    let mut other = Client::connect(c.addr(followers[0]));
    assert_eq!(other.call(&["GET", "counter"]), bulk("1"), "it did commit");
}

#[test]
fn a_retried_session_write_applies_once() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(c.leader()));
    // A session nobody registered: refused, and nothing runs.
    assert!(matches!(
        cl.call(&["XSESSION", "77", "1", "INCRBY", "once", "5"]),
        Value::Error(e) if e.starts_with("ERR session expired")
    ));
    let Value::Integer(id) = cl.call(&["XREGISTER"]) else {
        panic!("XREGISTER answers the session id")
    };
    let id = id.to_string();
    let incr = ["XSESSION", &id, "1", "INCRBY", "once", "5"];
    assert_eq!(cl.call(&incr), Value::Integer(5));
    assert_eq!(
        cl.call(&incr),
        Value::Integer(5),
        "the retry is answered, not applied"
    );
    assert_eq!(
        cl.call(&["XSESSION", &id, "2", "INCRBY", "once", "5"]),
        Value::Integer(10)
    );
    assert_eq!(cl.call(&["GET", "once"]), bulk("10"));
    assert!(matches!(
        cl.call(&["XSESSION", &id, "3", "GET", "once"]),
        Value::Error(_)
    ));
}

#[test]
fn readonly_connections_read_locally_and_info_reports_the_node() {
    let c = cluster(|_| {});
    let leader = c.leader();
    let mut l = Client::connect(c.addr(leader));
    assert_eq!(l.call(&["SET", "r", "1"]), ok());
    let follower = (leader + 1) % 3;
    let mut f = Client::connect(c.addr(follower));
    assert_eq!(f.call(&["READONLY"]), ok());
    // A local read may be stale, but settles on the committed value.
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.call(&["GET", "r"]) != bulk("1") {
        assert!(Instant::now() < deadline);
    }
    assert_eq!(f.call(&["READWRITE"]), ok());
    assert_eq!(f.call(&["GET", "r"]), bulk("1"));
    let Value::Bulk(Some(info)) = l.call(&["INFO"]) else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(
        info.contains("role:leader") && info.contains("voters:1,2,3"),
        "{info}"
    );
}

#[test]
fn clients_beyond_the_limit_are_refused() {
    let c = cluster(|s| s.clients_max = 2);
    let mut a = Client::connect(c.addr(0));
    let mut b = Client::connect(c.addr(0));
    assert_eq!(a.call(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(b.call(&["PING"]), Value::Simple("PONG".into()));
    let mut third = Client::connect(c.addr(0));
    assert_eq!(
        third.reply(),
        Some(Value::Error("ERR max number of clients reached".into()))
    );
}

#[test]
fn the_client_library_follows_the_leader_through_a_failover() {
    let c = cluster(|s| s.request_timeout = Duration::from_millis(500));
    let addrs: Vec<SocketAddr> = (0..3).map(|i| c.addr(i)).collect();
    let mut client = kv_store::Client::new(addrs, Duration::from_secs(10));
    client.set(b"k", b"v1").unwrap();
    assert_eq!(client.get(b"k").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(client.incr_by(b"n", 2).unwrap(), 2);
    assert!(client.cas(b"k", b"v1", b"v2").unwrap());
    assert!(!client.cas(b"k", b"v1", b"v3").unwrap());
    // The leader is cut off: the client finds the new one, and nothing acknowledged is lost.
    let old = c.leader();
    c.net.isolate(old as u64 + 1, &[1, 2, 3]);
    for i in 0..5 {
        assert_eq!(client.incr_by(b"n", 1).unwrap(), 3 + i);
    }
    assert_eq!(client.get(b"k").unwrap(), Some(b"v2".to_vec()));
    assert!(c
        .nodes
        .iter()
        .enumerate()
        .any(|(i, n)| i != old && n.status().is_ok_and(|s| s.role == Role::Leader)));
    // Server errors that retrying cannot fix come back as such.
    client.set(b"text", b"abc").unwrap();
    assert!(matches!(
        client.incr_by(b"text", 1),
        Err(kv_store::ClientError::Refused(_))
    ));
}

/// The client library's session expired between two of its writes: the write is refused (not
/// run) and reported as its own error; the next write opens a new session and goes through.
#[test]
fn the_client_library_reports_an_expired_session() {
    let c = cluster_of(|| KvStore::with_session_ttl(20), |_| {});
    let addrs: Vec<SocketAddr> = (0..3).map(|i| c.addr(i)).collect();
    let mut client = kv_store::Client::new(addrs.clone(), Duration::from_secs(10));
    assert_eq!(client.incr_by(b"n", 1).unwrap(), 1);
    // Another client's writes push the first one's session past its lifetime.
    let mut other = Client::connect(addrs[0]);
    for i in 0..30 {
        assert_eq!(other.call(&["SET", "filler", &i.to_string()]), ok());
    }
    assert!(matches!(
        client.incr_by(b"n", 1),
        Err(kv_store::ClientError::SessionExpired(_))
    ));
    assert_eq!(client.get(b"n").unwrap(), Some(b"1".to_vec()), "not run");
    assert_eq!(client.incr_by(b"n", 1).unwrap(), 2);
}

fn info_of(cl: &mut Client) -> String {
    let Value::Bulk(Some(text)) = cl.call(&["INFO"]) else {
        panic!("INFO")
    };
    String::from_utf8(text).unwrap()
}

/// One admin typo used to be able to take the cluster down: `RAFT.PROMOTE 9` made a voter of a
/// node nobody added, and a learner nobody could reach could be promoted. Admin commands sent
/// to a follower are forwarded to the leader, like writes.
#[test]
fn admin_typos_are_refused_and_a_follower_forwards_admin_commands() {
    let c = cluster(|_| {});
    let follower = (c.leader() + 1) % 3;
    let mut cl = Client::connect(c.addr(follower));
    let v = cl.call(&["RAFT.PROMOTE", "9"]);
    assert!(
        matches!(&v, Value::Error(e) if e.starts_with("ERR node 9 is not a learner")),
        "{v:?}"
    );
    assert_eq!(
        cl.call(&["RAFT.ADDLEARNER", "4"]),
        Value::Error("ERR wrong number of arguments for 'raft.addlearner' command".into()),
        "a learner needs its address"
    );
    assert_eq!(cl.call(&["RAFT.ADDLEARNER", "4", "127.0.0.1:9"]), ok());
    let mut at_leader = Client::connect(c.addr(c.leader()));
    assert!(info_of(&mut at_leader).contains("learners:4\r\n"));
    // Node 4 does not exist: promoting it would raise the quorum with a voter nobody reaches.
    cl.send(&["RAFT.PROMOTE", "4"]);
    let v = cl.reply().unwrap();
    assert!(
        matches!(&v, Value::Error(e) if e.contains("has not answered the leader")),
        "{v:?}"
    );
    let info = info_of(&mut at_leader);
    assert!(info.contains("voters:1,2,3\r\n"), "{info}");
    assert!(info.contains("removed:0\r\n"), "{info}");
}

/// Before, HELLO (and RESET) switched the connection's protocol at once, so a reply still in
/// flight from before it was sent in the new protocol: a RESP2 client pipelining HGETALL then
/// HELLO 3 got a RESP3 map it could not read. Each reply now goes out in the protocol its
/// request was sent in.
#[test]
fn a_reply_keeps_the_protocol_of_its_request_across_hello_and_reset() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(c.leader()));
    assert_eq!(cl.call(&["HSET", "h", "f", "v"]), Value::Integer(1));
    let mut out = Vec::new();
    for args in [
        &["HGETALL", "h"][..],
        &["HELLO", "3"],
        &["HGETALL", "h"],
        &["RESET"],
        &["GET", "nope"],
    ] {
        let items = args.iter().map(|a| bulk(a)).collect();
        encode(&Value::Array(Some(items)), &mut out);
    }
    cl.s.write_all(&out).unwrap();
    let flat = Value::Array(Some(vec![bulk("f"), bulk("v")]));
    assert_eq!(cl.reply(), Some(flat), "RESP2, as the request was sent");
    assert!(
        matches!(cl.reply(), Some(Value::Map(_))),
        "HELLO 3 answers in RESP3"
    );
    assert_eq!(cl.reply(), Some(Value::Map(vec![(bulk("f"), bulk("v"))])));
    assert_eq!(cl.reply(), Some(Value::Simple("RESET".into())));
    assert_eq!(
        cl.reply(),
        Some(Value::Bulk(None)),
        "RESP2 again after RESET"
    );
}
