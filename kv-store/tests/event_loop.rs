//! The event-loop server under the loads it exists for: many connections pipelining mixed
//! reads and writes at once, a client that never reads its replies, and clients that vanish
//! mid-pipeline. (Ten thousand connections at once run against a `kv_server` process, in
//! `examples/tests/processes.rs`, where the test and the server have a descriptor limit each.)

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kv_store::resp::{encode, Value};
use kv_store::testing::seeded;
use kv_store::KvStore;
use rand::Rng;
use support::*;

fn request(args: &[&str], out: &mut Vec<u8>) {
    let args = args.iter().map(|a| bulk(a)).collect();
    encode(&Value::Array(Some(args)), out);
}

/// Waits until `done` holds, for at most ten seconds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A cluster that keeps its leader through the stalls of a loaded test machine (elections after
/// 0.5 to 1 s of silence): a pipeline's expected replies have no room for a leader change.
fn steady_cluster() -> Cluster {
    cluster_ticking(Duration::from_millis(50), KvStore::new, |_| {})
}

/// One connection's random pipeline over its own keys, with the replies a sequential run
/// gives.
fn mixed_pipeline(seed: u64, keys: &str, len: usize) -> (Vec<u8>, Vec<Value>) {
    let mut rng = seeded(seed);
    let mut model: HashMap<String, i64> = HashMap::new();
    let (mut out, mut expected) = (Vec::new(), Vec::new());
    for i in 0..len {
        let key = format!("{keys}-{}", rng.gen_range(0..3));
        let value = model.get(&key).copied();
        match rng.gen_range(0..7) {
            0 | 1 => {
                request(&["SET", &key, &i.to_string()], &mut out);
                model.insert(key, i as i64);
                expected.push(ok());
            }
            2 | 3 => {
                request(&["GET", &key], &mut out);
                expected.push(Value::Bulk(value.map(|v| v.to_string().into_bytes())));
            }
            4 => {
                request(&["INCR", &key], &mut out);
                let v = value.unwrap_or(0) + 1;
                model.insert(key, v);
                expected.push(Value::Integer(v));
            }
            5 => {
                request(&["DEL", &key], &mut out);
                expected.push(Value::Integer(i64::from(model.remove(&key).is_some())));
            }
            _ => {
                request(&["PING"], &mut out);
                expected.push(Value::Simple("PONG".into()));
            }
        }
    }
    (out, expected)
}

#[test]
fn mixed_pipelines_on_many_connections_are_answered_in_order() {
    let c = steady_cluster();
    let addrs: Vec<_> = (0..3).map(|i| c.addr(i)).collect();
    let threads: Vec<_> = (0..12u64)
        .map(|conn| {
            let addr = addrs[conn as usize % 3];
            std::thread::spawn(move || {
                let (bytes, expected) = mixed_pipeline(conn, &format!("c{conn}"), 400);
                let mut cl = Client::connect(addr);
                cl.call(&["SET", "warm", "up"]);
                // The pipeline goes out in uneven pieces, requests split across them.
                let mut rng = seeded(1000 + conn);
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = rng.gen_range(1..=rest.len().min(700));
                    cl.s.write_all(&rest[..n]).unwrap();
                    rest = &rest[n..];
                }
                for (i, want) in expected.into_iter().enumerate() {
                    assert_eq!(cl.reply(), Some(want), "connection {conn}, reply {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Stores `value` under `key` on the leader, then has a client ask for it `per_write` times in
/// each of many writes without ever reading a reply; returns once the server has disconnected
/// that client, after checking that another client is still served.
fn read_nothing_until_disconnected(c: &Cluster, key: &str, value: &str, per_write: usize) {
    let leader = c.leader();
    let mut reader = Client::connect(c.addr(leader));
    assert_eq!(reader.call(&["SET", key, value]), ok());
    let mut slow = TcpStream::connect(c.addr(leader)).unwrap();
    slow.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    eventually("the server has both clients", || {
        c.servers[leader].clients() == 2
    });
    let mut pipeline = Vec::new();
    for _ in 0..per_write {
        request(&["GET", key], &mut pipeline);
    }
    for _ in 0..200 {
        if slow.write_all(&pipeline).is_err() {
            break;
        }
    }
    eventually("the client that reads nothing is disconnected", || {
        c.servers[leader].clients() == 1
    });
    // The others are served as before.
    assert_eq!(reader.call(&["GET", key]), bulk(value));
}

#[test]
fn a_client_that_does_not_read_its_replies_is_disconnected() {
    // 100 replies of 64 KiB in each write: far past the 1 MiB allowed.
    let c = cluster(|s| s.output_bytes_max = 1 << 20);
    read_nothing_until_disconnected(&c, "big", &"x".repeat(64 << 10), 100);
}

#[test]
fn a_client_that_stops_reading_is_disconnected_once_its_replies_stall() {
    // 1 MiB of replies in each write, far below the 64 MiB limit: the server stops reading the
    // client's requests, and its unread replies stay piled up until the stall limit.
    let c = cluster(|s| s.output_stall_max = Duration::from_millis(300));
    read_nothing_until_disconnected(&c, "v", &"x".repeat(1 << 10), 1000);
}

#[test]
fn clients_gone_mid_pipeline_leave_nothing_behind() {
    let c = cluster(|_| {});
    let mut sent = 0;
    for round in 0..30 {
        let mut s = TcpStream::connect(c.addr(round % 3)).unwrap();
        let mut pipeline = Vec::new();
        for i in 0..300 {
            request(&["INCR", "n"], &mut pipeline);
            if i % 7 == 0 {
                request(&["GET", "n"], &mut pipeline);
            }
        }
        sent += 300;
        // Half the pipeline, then gone: some requests started, some never read.
        s.write_all(&pipeline[..pipeline.len() / 2]).unwrap();
        drop(s);
    }
    eventually("every connection is gone", || {
        c.servers.iter().all(|s| s.clients() == 0)
    });
    let mut cl = Client::connect(c.addr(c.leader()));
    let Value::Integer(n) = cl.call(&["INCR", "n"]) else {
        panic!("INCR answers an integer");
    };
    assert!(n >= 1 && n <= sent + 1, "{n} increments from {sent} sent");
    // Every node serves new clients, and reads at least that INCR (writes forwarded by the
    // closed connections may still be landing after it, never more than were sent).
    for i in 0..3 {
        let mut cl = Client::connect(c.addr(i));
        let Value::Bulk(Some(v)) = cl.call(&["GET", "n"]) else {
            panic!("n exists");
        };
        let v: i64 = String::from_utf8(v).unwrap().parse().unwrap();
        assert!(v >= n && v <= sent + 1, "node {i} read {v}, after {n}");
    }
}

#[test]
fn a_pipeline_deeper_than_a_connection_takes_at_once_is_answered_whole() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(c.leader()));
    assert_eq!(cl.call(&["SET", "k", "v"]), ok());
    // More requests than one connection starts at a time, arriving in one short read: the rest
    // wait in the connection's buffer, with nothing more to come from the socket, and must be
    // started as room is made.
    for (n, args) in [(4_500, &["PING"][..]), (20_000, &["GET", "k"][..])] {
        let mut pipeline = Vec::new();
        for _ in 0..n {
            request(args, &mut pipeline);
        }
        let mut writer = cl.s.try_clone().unwrap();
        let sender = std::thread::spawn(move || writer.write_all(&pipeline).unwrap());
        let want = if n == 4_500 {
            Value::Simple("PONG".into())
        } else {
            bulk("v")
        };
        for i in 0..n {
            assert_eq!(cl.reply().as_ref(), Some(&want), "reply {i} of {n}");
        }
        sender.join().unwrap();
    }
}

#[test]
fn a_request_held_behind_one_that_timed_out_is_still_answered() {
    let c = cluster(|s| s.request_timeout = Duration::from_millis(300));
    let leader = c.leader();
    let mut cl = Client::connect(c.addr(leader));
    assert_eq!(cl.call(&["SET", "a", "0"]), ok());
    // The leader, cut off with its clock stopped, never answers (nor steps down): the SET
    // times out, and the GET behind it (held, since it must see the SET) is then started and
    // times out in turn.
    let ids: Vec<u64> = (1..=3).collect();
    c.net.isolate(c.nodes[leader].id(), &ids);
    c.nodes[leader].pause(true).unwrap();
    let mut pipeline = Vec::new();
    request(&["SET", "a", "1"], &mut pipeline);
    request(&["GET", "a"], &mut pipeline);
    cl.s.write_all(&pipeline).unwrap();
    let Some(Value::Error(e)) = cl.reply() else {
        panic!("the SET is answered with an error");
    };
    assert!(e.starts_with("ERR outcome unknown"), "{e}");
    let Some(Value::Error(e)) = cl.reply() else {
        panic!("the GET is answered with an error");
    };
    assert!(e.starts_with("TRYAGAIN"), "{e}");
}
