//! `kv_server` as separate processes: writes through the client, `kill -9` of the leader, every
//! acknowledged write read back through a surviving node, and the killed node restarted on its
//! data directory.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::kv_server;
use examples::{free_loopback_addrs, free_node_addrs};
use kv_store::resp::Value;
use kv_store::Client;

struct Cluster {
    raft: Vec<SocketAddr>,
    clients: Vec<SocketAddr>,
    dir: tempfile::TempDir,
    procs: Vec<Option<Child>>,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let (raft, clients) = free_node_addrs(n).unwrap();
        let mut c = Cluster {
            raft,
            clients,
            dir: tempfile::tempdir().unwrap(),
            procs: Vec::new(),
        };
        for i in 0..n {
            let p = c.spawn(i);
            c.procs.push(Some(p));
        }
        c
    }

    fn spawn(&self, i: usize) -> Child {
        self.spawn_with(i, &self.peers(), &[])
    }

    fn spawn_with(&self, i: usize, peers: &[String], extra: &[&str]) -> Child {
        self.command(i, peers, extra)
            .stderr(Stdio::null())
            .spawn()
            .expect("kv_server starts (built with the examples)")
    }

    /// The command line of node `i`, its output to be set by the caller.
    fn command(&self, i: usize, peers: &[String], extra: &[&str]) -> Command {
        let mut cmd = Command::new(kv_server());
        cmd.args(["--id", &(i + 1).to_string()])
            .args(["--peers", &peers.join(",")])
            .args(["--client-addr", &self.clients[i].to_string()])
            .args(["--data-dir", self.data_dir(i).to_str().unwrap()])
            .args(["--tick-ms", "5"])
            .args(extra)
            .stdout(Stdio::null());
        cmd
    }

    fn peers(&self) -> Vec<String> {
        self.raft
            .iter()
            .enumerate()
            .map(|(j, a)| format!("{}={a}", j + 1))
            .collect()
    }

    fn data_dir(&self, i: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("n{}", i + 1))
    }

    /// The index of the node that says it leads.
    fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            for (i, addr) in self.clients.iter().enumerate() {
                if self.procs[i].is_none() {
                    continue;
                }
                let mut c = Client::new(vec![*addr], Duration::from_millis(300));
                if let Ok(Value::Bulk(Some(info))) = c.read(&[b"INFO".to_vec(), b"raft".to_vec()]) {
                    if String::from_utf8_lossy(&info).contains("role:leader") {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

#[test]
fn every_acknowledged_write_survives_kill_9_of_the_leader() {
    let mut c = Cluster::start(3);
    let mut client = Client::new(c.clients.clone(), Duration::from_secs(15));
    let mut acked = Vec::new();
    for i in 0..50 {
        client
            .set(format!("k{i}").as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
        acked.push(i);
    }
    let leader = c.leader();
    let mut victim = c.procs[leader].take().unwrap();
    victim.kill().unwrap(); // SIGKILL: no chance to flush anything
    victim.wait().unwrap();
    let survivors: Vec<SocketAddr> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| c.clients[i])
        .collect();
    let mut through_survivor = Client::new(survivors, Duration::from_secs(15));
    for i in &acked {
        assert_eq!(
            through_survivor.get(format!("k{i}").as_bytes()).unwrap(),
            Some(format!("v{i}").into_bytes()),
            "acknowledged write k{i} lost"
        );
    }
    through_survivor.set(b"after", b"kill").unwrap();
    // The killed node comes back from its data directory and catches up.
    c.procs[leader] = Some(c.spawn(leader));
    let mut direct = Client::new(vec![c.clients[leader]], Duration::from_secs(15));
    assert_eq!(
        direct.read(&[b"READONLY".to_vec()]).unwrap(),
        Value::Simple("OK".into())
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while direct.get(b"after").ok().flatten() != Some(b"kill".to_vec()) {
        assert!(
            Instant::now() < deadline,
            "the restarted node did not catch up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(direct.get(b"k49").unwrap(), Some(b"v49".to_vec()));
}

#[test]
fn bad_flags_exit_with_code_2_and_say_why() {
    let out = Command::new(kv_server())
        .args(["--id", "1", "--peers", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--peers"));
    let out = Command::new(kv_server())
        .args([
            "--id",
            "4",
            "--peers",
            "1=127.0.0.1:1",
            "--client-addr",
            "127.0.0.1:2",
            "--data-dir",
            "/tmp/unused",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in --peers"));
}

/// A node joins by one command to any node: the address travels in the membership entry, so
/// every member learns it from the log, and a member restarted with flags that never named the
/// new node still reaches it.
#[test]
fn a_node_joins_a_running_cluster_over_tcp_and_is_promoted() {
    let mut c = Cluster::start(3);
    let first_peers = c.peers();
    let mut client = Client::new(c.clients.clone(), Duration::from_secs(15));
    client.set(b"before", b"join").unwrap();
    // Node 4 starts outside the cluster, knowing the others' addresses.
    let extra = free_loopback_addrs(2).unwrap();
    c.raft.push(extra[0]);
    c.clients.push(extra[1]);
    let p = c.spawn_with(3, &c.peers(), &["--join"]);
    c.procs.push(Some(p));
    // One command, to a follower, which forwards it to the leader; nobody is told with
    // RAFT.PEER.
    let ok = Value::Simple("OK".into());
    let follower = (c.leader() + 1) % 3;
    let mut admin = Client::new(vec![c.clients[follower]], Duration::from_secs(15));
    let add = vec![
        b"RAFT.ADDLEARNER".to_vec(),
        b"4".to_vec(),
        extra[0].to_string().into_bytes(),
    ];
    assert_eq!(admin.read(&add).unwrap(), ok);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match admin.read(&[b"RAFT.PROMOTE".to_vec(), b"4".to_vec()]) {
            Ok(v) if v == ok => break,
            other => {
                assert!(Instant::now() < deadline, "promotion failed: {other:?}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let text = info(c.clients[follower]);
    assert!(text.contains("voters:1,2,3,4"), "{text}");
    assert!(text.contains(&format!("address_4:{}", extra[0])), "{text}");
    // Node 4 serves the data, linearizably.
    let mut four = Client::new(vec![c.clients[3]], Duration::from_secs(15));
    assert_eq!(four.get(b"before").unwrap(), Some(b"join".to_vec()));

    // Node 1 restarts with its original flags, which do not name node 4, and leads.
    let mut one = c.procs[0].take().unwrap();
    one.kill().unwrap();
    one.wait().unwrap();
    c.procs[0] = Some(c.spawn_with(0, &first_peers, &[]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.leader() != 0 {
        assert!(Instant::now() < deadline, "node 1 never took the lead");
        let leader = c.leader();
        let mut to_leader = Client::new(vec![c.clients[leader]], Duration::from_secs(2));
        let _ = to_leader.read(&[b"RAFT.TRANSFER".to_vec(), b"1".to_vec()]);
        std::thread::sleep(Duration::from_millis(100));
    }
    // It replicates to node 4, whose address it recovered from its log.
    client.set(b"after", b"restart").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = info(c.clients[0]);
        let field = |name: &str| -> Option<u64> {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        };
        let (last, four_matched) = (field("last_index:"), field("peer_4:match="));
        if last.is_some() && last == four_matched {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 never reached node 4:\n{info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn info(addr: SocketAddr) -> String {
    let mut c = Client::new(vec![addr], Duration::from_secs(5));
    let Value::Bulk(Some(info)) = c.read(&[b"INFO".to_vec(), b"raft".to_vec()]).unwrap() else {
        panic!("INFO")
    };
    String::from_utf8_lossy(&info).into_owned()
}

/// Waits for `child` to exit on its own; its exit status and what it wrote to stderr.
fn exit_of(mut child: Child, within: Duration) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process was still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A second process on a data directory a running node holds would acknowledge writes that a
/// restart then loses: it must refuse to start, naming the directory.
#[test]
fn a_second_kv_server_on_the_same_data_directory_is_refused() {
    let c = Cluster::start(1);
    let mut client = Client::new(c.clients.clone(), Duration::from_secs(15));
    client.set(b"k", b"v").unwrap();
    let (raft, clients) = free_node_addrs(1).unwrap();
    let second = Command::new(kv_server())
        .args(["--id", "1", "--peers", &format!("1={}", raft[0])])
        .args(["--client-addr", &clients[0].to_string()])
        .args(["--data-dir", c.data_dir(0).to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = exit_of(second, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(c.data_dir(0).to_str().unwrap()), "{err}");
    assert!(err.contains("another process"), "{err}");
    assert_eq!(
        client.get(b"k").unwrap(),
        Some(b"v".to_vec()),
        "the first goes on"
    );
}

/// A node whose storage fails is fail-stop: it exits with an error instead of staying up and
/// answering PING while refusing everything else.
#[test]
fn a_kv_server_whose_storage_fails_exits_with_an_error() {
    let mut c = Cluster::start(3);
    let mut client = Client::new(c.clients.clone(), Duration::from_secs(15));
    client.set(b"before", b"1").unwrap();
    // Node 3 is restarted with its output captured; then its data directory disappears, so its
    // next write to the log fails.
    let mut old = c.procs[2].take().unwrap();
    old.kill().unwrap();
    old.wait().unwrap();
    let p = c
        .command(2, &c.peers(), &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut three = Client::new(vec![c.clients[2]], Duration::from_secs(15));
    assert_eq!(three.get(b"before").unwrap(), Some(b"1".to_vec()));
    std::fs::remove_dir_all(c.data_dir(2)).unwrap();
    client.set(b"after", b"2").unwrap();
    let (status, err) = exit_of(p, Duration::from_secs(30));
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("storage failed"), "{err}");
    // The two others go on.
    assert_eq!(client.get(b"after").unwrap(), Some(b"2".to_vec()));
}
