//! What the server tests share: a 3-node in-process cluster with a RESP server per node, and a
//! minimal RESP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_store::resp::{encode, parse_reply, Limits, Value};
use kv_store::{KvStore, Server, ServerConfig};
use raft_core::Role;
use raft_runtime::{MemNetwork, MemStorage, Node, NodeConfig};

pub struct Cluster {
    pub net: MemNetwork,
    pub nodes: Vec<Arc<Node<KvStore>>>,
    pub servers: Vec<Server>,
}

pub fn cluster(tune: fn(&mut ServerConfig)) -> Cluster {
    cluster_of(KvStore::new, tune)
}

pub fn cluster_of(store: fn() -> KvStore, tune: fn(&mut ServerConfig)) -> Cluster {
    cluster_ticking(Duration::from_millis(5), store, tune)
}

/// A cluster whose ticks are `tick` long (elections after 10 to 20 ticks of silence).
pub fn cluster_ticking(
    tick: Duration,
    store: fn() -> KvStore,
    tune: fn(&mut ServerConfig),
) -> Cluster {
    build(tick, store, tune, false)
}

/// A cluster whose membership carries every node's client address (as `kv_server
/// --client-addrs` makes one), for the Redis Cluster commands.
pub fn cluster_advertising() -> Cluster {
    build(Duration::from_millis(5), KvStore::new, |_| {}, true)
}

fn build(
    tick: Duration,
    store: fn() -> KvStore,
    tune: fn(&mut ServerConfig),
    advertise: bool,
) -> Cluster {
    let net = MemNetwork::new();
    let ids = vec![1, 2, 3];
    let mut listen: Vec<SocketAddr> = Vec::new();
    while listen.len() < ids.len() {
        let addr = match advertise {
            true => free_port(),
            false => "127.0.0.1:0".parse().unwrap(),
        };
        if !advertise || !listen.contains(&addr) {
            listen.push(addr);
        }
    }
    let nodes: Vec<Arc<Node<KvStore>>> = ids
        .iter()
        .map(|&id| {
            let mut cfg = NodeConfig::new(id, ids.clone());
            cfg.tick_interval = tick;
            if advertise {
                // The in-memory network needs no peer address; the client one is what counts.
                cfg.raft.addresses = ids
                    .iter()
                    .map(|&p| (p, format!("mem:{p} client={}", listen[p as usize - 1])))
                    .collect();
            }
            let (t, inbox) = net.join(id);
            Arc::new(Node::start(cfg, store(), MemStorage::new(), t, inbox).unwrap())
        })
        .collect();
    let servers = nodes
        .iter()
        .zip(&listen)
        .map(|(n, &addr)| {
            let mut c = ServerConfig::new(addr);
            tune(&mut c);
            Server::start(n.clone(), c).unwrap()
        })
        .collect();
    let c = Cluster {
        net,
        nodes,
        servers,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c
        .nodes
        .iter()
        .any(|n| n.status().is_ok_and(|s| s.role == Role::Leader))
    {
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(10));
    }
    c
}

impl Cluster {
    pub fn leader(&self) -> usize {
        self.nodes
            .iter()
            .position(|n| n.status().is_ok_and(|s| s.role == Role::Leader))
            .unwrap()
    }
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.servers[i].addr()
    }
}

pub struct Client {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { s, buf: Vec::new() }
    }

    pub fn send(&mut self, args: &[&str]) {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.send_bytes(&args);
    }

    pub fn send_bytes(&mut self, args: &[Vec<u8>]) {
        let mut out = Vec::new();
        encode(
            &Value::Array(Some(
                args.iter().map(|a| Value::Bulk(Some(a.clone()))).collect(),
            )),
            &mut out,
        );
        self.s.write_all(&out).unwrap();
    }

    pub fn reply(&mut self) -> Option<Value> {
        loop {
            if let Some((v, used)) = parse_reply(&self.buf, &Limits::default()).unwrap() {
                self.buf.drain(..used);
                return Some(v);
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a command and returns its reply, retrying while the cluster says TRYAGAIN.
    pub fn call(&mut self, args: &[&str]) -> Value {
        loop {
            self.send(args);
            let v = self.reply().expect("a reply");
            match &v {
                Value::Error(e) if e.starts_with("TRYAGAIN") => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return v,
            }
        }
    }
}

pub fn bulk(s: &str) -> Value {
    Value::Bulk(Some(s.as_bytes().to_vec()))
}

pub fn ok() -> Value {
    Value::Simple("OK".into())
}

/// A loopback address free now, with a port below the kernel's ephemeral range (from which
/// other tests' outgoing connections take their source ports), found by binding and letting go.
pub fn free_port() -> SocketAddr {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    loop {
        let port = rng.gen_range(10_000..32_000);
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().unwrap();
        }
    }
}
