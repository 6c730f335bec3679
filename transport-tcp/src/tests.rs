//! The TCP transport on loopback: delivery, hostile peers, and a Raft cluster over it. (Unit
//! tests, because writing hostile frames takes the frame format, which is private to the crate.)

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::frame::{self, Handshake};
use crate::{TcpConfig, TcpTransport};
use raft_core::{Entry, EntryKind, Message, MessageBody, NodeId};
use raft_runtime::{Inbox, MemStorage, Node, NodeConfig, Transport};

fn free_addrs(n: usize) -> Vec<SocketAddr> {
    crate::free_loopback_addrs(n).unwrap()
}

fn config(id: NodeId, addrs: &[SocketAddr]) -> TcpConfig {
    let peers: HashMap<NodeId, SocketAddr> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (i as NodeId + 1, *a))
        .filter(|(p, _)| *p != id)
        .collect();
    TcpConfig::new(42, id, addrs[id as usize - 1], peers)
}

fn heartbeat(from: NodeId, to: NodeId, seq: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::Heartbeat {
            commit: 0,
            read_seq: seq,
        },
    }
}

fn receive(inbox: &Inbox, n: usize) -> Vec<Message> {
    receive_within(inbox, n, Duration::from_secs(5))
}

/// Up to `n` messages, waiting at most `wait` for them.
fn receive_within(inbox: &Inbox, n: usize, wait: Duration) -> Vec<Message> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        if let Some(m) = inbox.recv_timeout(Duration::from_millis(50)) {
            got.push(m);
        }
    }
    got
}

#[test]
fn messages_reach_the_peer_in_order() {
    let addrs = free_addrs(2);
    let (mut t1, _in1, _s1) = TcpTransport::start(config(1, &addrs)).unwrap();
    let (_t2, in2, _s2) = TcpTransport::start(config(2, &addrs)).unwrap();
    t1.send((1..=100).map(|i| heartbeat(1, 2, i)).collect());
    let got = receive(&in2, 100);
    assert_eq!(got.len(), 100);
    assert_eq!(
        got,
        (1..=100).map(|i| heartbeat(1, 2, i)).collect::<Vec<_>>()
    );
}

/// Opens a raw connection to node 2 and writes `bytes`; returns whether node 2 closed it.
fn hostile(addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    matches!(std::io::Read::read(&mut s, &mut buf), Ok(0) | Err(_))
}

#[test]
fn hostile_connections_are_closed_and_the_node_keeps_serving_peers() {
    let addrs = free_addrs(2);
    let (_t2, in2, stats) = TcpTransport::start(config(2, &addrs)).unwrap();
    let target = addrs[1];
    let mut wrong_cluster = Vec::new();
    frame::encode(&Handshake::new(7, 1, 2), &mut wrong_cluster);
    let mut wrong_node = Vec::new();
    frame::encode(&Handshake::new(42, 1, 3), &mut wrong_node);
    let mut stranger = Vec::new();
    frame::encode(&Handshake::new(42, 9, 2), &mut stranger);
    let mut ok_hello = Vec::new();
    frame::encode(&Handshake::new(42, 1, 2), &mut ok_hello);
    let mut huge = ok_hello.clone();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(&[0; 4]);
    let mut bad_crc = ok_hello.clone();
    frame::encode(&heartbeat(1, 2, 1), &mut bad_crc);
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut forged = ok_hello.clone();
    frame::encode(&heartbeat(3, 2, 1), &mut forged);
    let mut truncated = ok_hello.clone();
    frame::encode(&heartbeat(1, 2, 1), &mut truncated);
    truncated.truncate(truncated.len() - 3);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "random bytes",
            (0..200u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("wrong cluster", wrong_cluster),
        ("wrong node", wrong_node),
        ("unknown peer", stranger),
        ("huge length prefix", huge),
        ("bad checksum", bad_crc),
        ("message claiming another sender", forged),
        ("truncated frame", truncated),
    ];
    for (what, bytes) in cases {
        assert!(hostile(target, &bytes), "{what}: connection left open");
    }
    assert!(stats.refused() >= 7, "refused {}", stats.refused());
    assert!(in2.try_recv().is_none(), "nothing hostile was delivered");
    // A well-behaved peer still gets through.
    let (mut t1, _in1, _s1) = TcpTransport::start(config(1, &addrs)).unwrap();
    t1.send(vec![heartbeat(1, 2, 5)]);
    assert_eq!(receive(&in2, 1), vec![heartbeat(1, 2, 5)]);
}

#[test]
fn a_message_too_large_for_a_frame_is_dropped_and_the_connection_carries_on() {
    let addrs = free_addrs(2);
    let small = |id| {
        let mut c = config(id, &addrs);
        c.frame_bytes_max = 4 << 10;
        c
    };
    let (mut t1, _in1, s1) = TcpTransport::start(small(1)).unwrap();
    let (_t2, in2, s2) = TcpTransport::start(small(2)).unwrap();
    let big = Message {
        from: 1,
        to: 2,
        term: 1,
        body: MessageBody::Append {
            prev_index: 0,
            prev_term: 0,
            entries: vec![Entry {
                term: 1,
                index: 1,
                kind: EntryKind::Command,
                data: raft_core::Payload::copy_from_slice(&[7u8; 8 << 10]),
            }],
            commit: 0,
        },
    };
    t1.send(vec![heartbeat(1, 2, 1), big, heartbeat(1, 2, 2)]);
    assert_eq!(
        receive(&in2, 2),
        vec![heartbeat(1, 2, 1), heartbeat(1, 2, 2)]
    );
    assert_eq!(s1.dropped(), 1, "the large message is counted as dropped");
    assert_eq!(
        s2.refused(),
        0,
        "the receiver never saw a frame over its limit"
    );
}

#[test]
fn a_peer_that_moved_is_found_at_its_new_address() {
    let addrs = free_addrs(3);
    // Node 2 is first known at an address where nobody listens.
    let (mut t1, _in1, _s1) = TcpTransport::start(config(1, &addrs[..2])).unwrap();
    t1.send(vec![heartbeat(1, 2, 1)]);
    // It comes up elsewhere, and node 1 is told.
    let mut c2 = config(2, &addrs[..2]);
    c2.listen = addrs[2];
    let (_t2, in2, _s2) = TcpTransport::start(c2).unwrap();
    t1.add_peer(2, addrs[2]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seq = 2;
    let mut got = Vec::new();
    while got.is_empty() && Instant::now() < deadline {
        t1.send(vec![heartbeat(1, 2, seq)]);
        seq += 1;
        got = receive_within(&in2, 1, Duration::from_millis(200));
    }
    assert!(!got.is_empty(), "nothing reached node 2 at its new address");
}

#[test]
fn a_connection_left_idle_is_replaced_before_it_loses_a_message() {
    // The receiver closes connections silent for 300 ms; the sender writes again after 1 s.
    let addrs = free_addrs(2);
    let quick = |id| {
        let mut c = config(id, &addrs);
        c.read_timeout = Duration::from_millis(300);
        c
    };
    let (mut t1, _in1, s1) = TcpTransport::start(quick(1)).unwrap();
    let (_t2, in2, _s2) = TcpTransport::start(quick(2)).unwrap();
    t1.send(vec![heartbeat(1, 2, 1)]);
    assert_eq!(receive(&in2, 1), vec![heartbeat(1, 2, 1)]);
    for seq in 2..5 {
        std::thread::sleep(Duration::from_secs(1));
        t1.send(vec![heartbeat(1, 2, seq)]);
        assert_eq!(
            receive(&in2, 1),
            vec![heartbeat(1, 2, seq)],
            "message {seq}"
        );
    }
    assert_eq!(s1.dropped(), 0);
}

#[test]
fn a_handshake_dribbled_a_byte_at_a_time_is_cut_off() {
    let addrs = free_addrs(2);
    let mut c = config(2, &addrs);
    c.connect_timeout = Duration::from_millis(300);
    let (_t2, _in2, stats) = TcpTransport::start(c).unwrap();
    let mut hello = Vec::new();
    frame::encode(&Handshake::new(42, 1, 2), &mut hello);
    let mut s = TcpStream::connect(addrs[1]).unwrap();
    // Far slower than the handshake deadline allows, though each byte comes well within the
    // read timeout: the connection is closed before the handshake is complete.
    let mut cut_off = false;
    for b in &hello {
        if s.write_all(&[*b]).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    if !cut_off {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        cut_off = matches!(std::io::Read::read(&mut s, &mut buf), Ok(0) | Err(_));
    }
    assert!(
        cut_off,
        "a {}-byte handshake took {} ms and was accepted",
        hello.len(),
        hello.len() * 150
    );
    assert!(stats.refused() >= 1);
}

#[test]
fn incoming_connections_beyond_the_limit_are_closed() {
    let addrs = free_addrs(2);
    let mut c = config(2, &addrs);
    c.inbound_connections_max = 2;
    c.connect_timeout = Duration::from_secs(30);
    let (_t2, _in2, stats) = TcpTransport::start(c).unwrap();
    // Connections are accepted in the order they arrive: the first two are held open (waiting
    // for a handshake), the third is closed at once.
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(addrs[1]).unwrap())
        .collect();
    let mut third = TcpStream::connect(addrs[1]).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = std::io::Read::read(&mut third, &mut buf);
    assert!(
        matches!(&read, Ok(0))
            || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the third connection was kept open: {read:?}"
    );
    assert!(stats.refused() >= 1);
    drop(held);
}

#[test]
fn a_raft_cluster_runs_over_tcp_and_survives_losing_its_leader() {
    let addrs = free_addrs(3);
    let ids: Vec<NodeId> = vec![1, 2, 3];
    let start = |id: NodeId, storage: MemStorage| {
        let (t, inbox, _) = TcpTransport::start(config(id, &addrs)).unwrap();
        let mut cfg = NodeConfig::new(id, ids.clone());
        cfg.tick_interval = Duration::from_millis(5);
        Node::start(cfg, kv_store::KvStore::new(), storage, t, inbox).unwrap()
    };
    let storage: Vec<MemStorage> = ids.iter().map(|_| MemStorage::new()).collect();
    let mut nodes: HashMap<NodeId, Node<kv_store::KvStore>> = ids
        .iter()
        .map(|&id| (id, start(id, storage[id as usize - 1].clone())))
        .collect();
    let write = |nodes: &HashMap<NodeId, Node<kv_store::KvStore>>, n: i64| {
        let w = kv_store::Write {
            session: None,
            time_ms: kv_store::wall_clock_ms(),
            command: kv_store::Command::incr_by("n", n),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for node in nodes.values() {
                if let Ok(reply) = node.propose(w.encode(), Duration::from_millis(500)) {
                    return reply;
                }
            }
            assert!(Instant::now() < deadline, "no write went through");
        }
    };
    assert_eq!(write(&nodes, 1), kv_store::Reply::Int(1));
    let leader = *nodes
        .iter()
        .find(|(_, n)| n.status().is_ok_and(|s| s.role == raft_core::Role::Leader))
        .map(|(id, _)| id)
        .unwrap();
    nodes.remove(&leader).unwrap().shutdown();
    assert_eq!(write(&nodes, 2), kv_store::Reply::Int(3));
    // The old leader comes back on the same port and catches up.
    nodes.insert(leader, start(leader, storage[leader as usize - 1].clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let q = kv_store::Read::local_now(kv_store::Query::get("n"));
        if let Ok(v) = nodes[&leader].read_stale(q, Duration::from_secs(1)) {
            if v == kv_store::Reply::Bulk(b"3".to_vec()) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the old leader did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_member_address_is_read_up_to_its_attributes() {
    let want: SocketAddr = "10.0.0.4:7104".parse().unwrap();
    assert_eq!(crate::peer_address("10.0.0.4:7104"), Ok(want));
    assert_eq!(
        crate::peer_address("10.0.0.4:7104 client=10.0.0.4:6304"),
        Ok(want)
    );
    assert!(crate::peer_address("client=10.0.0.4:6304").is_err());
    assert!(crate::peer_address("").is_err());
}
