//! Free loopback addresses for tests, examples and local clusters.

use std::net::{SocketAddr, TcpListener};

use rand::Rng;

/// Lowest port tried.
const PORT_MIN: u16 = 10_000;

/// `n` distinct loopback addresses free at the time of the call, with ports below the kernel's
/// ephemeral range. A port handed out by binding port 0 comes from that range, and so do the
/// source ports of outgoing connections: a node that starts after its peers have connected to
/// each other could find its port taken by one of their connections.
pub fn free_loopback_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let ephemeral_min = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if ephemeral_min <= PORT_MIN + 1_000 {
        // No room below the range: fall back on what the kernel hands out.
        let ls: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        return ls.iter().map(|l| l.local_addr()).collect();
    }
    let mut rng = rand::thread_rng();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n * 100 {
        if held.len() == n {
            break;
        }
        let port = rng.gen_range(PORT_MIN..ephemeral_min);
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    if held.len() < n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("found {} free loopback ports of {n}", held.len()),
        ));
    }
    held.iter().map(|l| l.local_addr()).collect()
}
