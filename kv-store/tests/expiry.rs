//! Expiry through a running cluster: keys are reclaimed by the leader through the log on an
//! idle cluster, the same on every replica; deadlines survive a change of leader.

mod support;

use std::time::{Duration, Instant};

use kv_store::resp::Value;
use kv_store::{Query, Read, Reply};
use support::{bulk, cluster, ok, Client};

fn digests(c: &support::Cluster) -> Vec<Reply> {
    c.nodes
        .iter()
        .map(|n| {
            n.read_stale(Read::local_now(Query::Digest), Duration::from_secs(5))
                .unwrap()
        })
        .collect()
}

#[test]
fn expired_keys_are_reclaimed_through_the_log_on_an_idle_cluster() {
    let c = cluster(|_| {});
    let mut cl = Client::connect(c.addr(c.leader()));
    for i in 0..50 {
        assert_eq!(cl.call(&["SET", &format!("k{i}"), "v", "PX", "20"]), ok());
    }
    assert_eq!(cl.call(&["SET", "stays", "v"]), ok());
    // Nothing more is written: only the leader's expirer can reclaim them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next: Vec<Reply> = c
            .nodes
            .iter()
            .map(|n| {
                let q = Read::local_now(Query::NextDeadline);
                n.read_stale(q, Duration::from_secs(5)).unwrap()
            })
            .collect();
        if next.iter().all(|r| *r == Reply::Nil) {
            break;
        }
        assert!(Instant::now() < deadline, "not reclaimed: {next:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every replica reclaimed the same keys: their states agree.
    let d = digests(&c);
    assert!(d.windows(2).all(|w| w[0] == w[1]), "{d:?}");
    assert_eq!(cl.call(&["DBSIZE"]), Value::Integer(1));
    assert_eq!(cl.call(&["GET", "stays"]), bulk("v"));
}

#[test]
fn a_deadline_survives_a_change_of_leader() {
    let c = cluster(|_| {});
    let old = c.leader();
    let mut cl = Client::connect(c.addr(old));
    assert_eq!(cl.call(&["SET", "k", "v", "EX", "100"]), ok());
    let next = (old + 1) % 3;
    let id = next as u64 + 1;
    assert_eq!(cl.call(&["RAFT.TRANSFER", &id.to_string()]), ok());
    let deadline = Instant::now() + Duration::from_secs(10);
    let leads = |i: usize| {
        c.nodes[i]
            .status()
            .is_ok_and(|s| s.role == raft_core::Role::Leader)
    };
    while !leads(next) {
        assert!(Instant::now() < deadline, "leadership did not move");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut nl = Client::connect(c.addr(next));
    assert_eq!(nl.call(&["TTL", "k"]), Value::Integer(100));
    assert_eq!(nl.call(&["GET", "k"]), bulk("v"));
}

/// A key read just after its deadline, before any write or the expirer has moved the
/// replicated clock past it: the read ticks the clock through the log and answers absent, on
/// every node, for every kind of read.
#[test]
fn a_key_read_just_past_its_deadline_is_absent_everywhere() {
    let c = cluster(|_| {});
    let leader = c.leader();
    let mut cl = Client::connect(c.addr(leader));
    for round in 0..20 {
        let key = format!("k{round}");
        assert_eq!(cl.call(&["SET", &key, "v", "PX", "30"]), ok());
        std::thread::sleep(Duration::from_millis(35));
        assert_eq!(cl.call(&["GET", &key]), Value::Bulk(None), "round {round}");
        assert_eq!(cl.call(&["EXISTS", &key]), Value::Integer(0));
        for i in 0..3 {
            let mut other = Client::connect(c.addr(i));
            assert_eq!(other.call(&["GET", &key]), Value::Bulk(None), "node {i}");
        }
    }
}
