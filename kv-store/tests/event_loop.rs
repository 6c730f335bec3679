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

#[test]
fn a_client_that_does_not_read_its_replies_is_disconnected() {
    let c = cluster(|s| s.output_bytes_max = 1 << 20);
    let leader = c.leader();
    let mut reader = Client::connect(c.addr(leader));
    let big = "x".repeat(64 << 10);
    assert_eq!(reader.call(&["SET", "big", &big]), ok());
    let mut slow = TcpStream::connect(c.addr(leader)).unwrap();
    slow.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut pipeline = Vec::new();
    for _ in 0..100 {
        request(&["GET", "big"], &mut pipeline);
    }
    eventually("the server has both clients", || {
        c.servers[leader].clients() == 2
    });
    // 100 replies of 64 KiB each, again and again, and none read: far past the 1 MiB allowed.
    for _ in 0..200 {
        if slow.write_all(&pipeline).is_err() {
            break;
        }
    }
    eventually("the slow client is disconnected", || {
        c.servers[leader].clients() == 1
    });
    // The others are served as before.
    assert_eq!(reader.call(&["GET", "big"]), bulk(&big));
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
