//! Ten thousand clients connected to one `kv_server` process at once, each answered, within the
//! default descriptor limits. (Separate processes: the test's sockets and the server's each
//! count against their own process's limit.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::kv_server;
use examples::free_node_addrs;

const CLIENTS: usize = 10_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn read_reply(s: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
}

#[test]
fn ten_thousand_clients_are_connected_and_served_at_once() {
    let (raft, clients) = free_node_addrs(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server(
        Command::new(kv_server())
            .args(["--id", "1", "--peers", &format!("1={}", raft[0])])
            .args(["--client-addr", &clients[0].to_string()])
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .args(["--max-clients", &(CLIENTS + 10).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kv_server starts"),
    );
    // A first write: the node has elected itself and serves.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut first = loop {
        if let Ok(mut s) = TcpStream::connect(clients[0]) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"SET first 1\r\n").unwrap();
            let mut reply = [0u8; 5];
            if s.read_exact(&mut reply).is_ok() && &reply == b"+OK\r\n" {
                break s;
            }
        }
        assert!(Instant::now() < deadline, "the server never served");
        std::thread::sleep(Duration::from_millis(50));
    };
    let before = rss_kib(server.0.id());
    let mut conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let s = TcpStream::connect(clients[0]).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s
        })
        .collect();
    // Every connection is served while all are open: a write on each, then a read on each.
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(format!("SET k{i} v\r\n").as_bytes()).unwrap();
    }
    for s in conns.iter_mut() {
        read_reply(s, b"+OK\r\n");
    }
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(format!("GET k{i}\r\n").as_bytes()).unwrap();
    }
    for s in conns.iter_mut() {
        read_reply(s, b"$1\r\nv\r\n");
    }
    let per_client = (rss_kib(server.0.id()).saturating_sub(before) * 1024) / CLIENTS as u64;
    println!("resident memory per open connection: {per_client} bytes");
    // Connections cost buffers, not threads (a thread each would cost a stack each).
    assert!(
        per_client < 64 << 10,
        "{per_client} bytes of resident memory per connection"
    );
    // The first client is still served with all of them open.
    first.write_all(b"GET k9999\r\n").unwrap();
    read_reply(&mut first, b"$1\r\nv\r\n");
}
