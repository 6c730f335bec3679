//! INFO: the sections Redis has that this server can fill with real figures, and `raft`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use raft_core::{ProgressState, Role};
use raft_runtime::Status;

use super::cluster::Shard;
use super::event_loop::Context;
use super::session::REDIS_VERSION;
use crate::resp::Value;

/// A set of INFO sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sections(u16);

/// Every section, in the order INFO prints them (Redis's, then this server's own).
const NAMES: &[(&str, u16)] = &[
    ("server", 1),
    ("clients", 1 << 1),
    ("memory", 1 << 2),
    ("persistence", 1 << 3),
    ("stats", 1 << 4),
    ("replication", 1 << 5),
    ("commandstats", 1 << 6),
    ("cluster", 1 << 7),
    ("keyspace", 1 << 8),
    ("raft", 1 << 9),
];

const COMMANDSTATS: u16 = 1 << 6;

impl Sections {
    pub(crate) const RAFT: Sections = Sections(1 << 9);
    const ALL: Sections = Sections((1 << 10) - 1);
    /// What INFO with no argument (or `default`) prints: all but commandstats, as on Redis.
    const DEFAULT: Sections = Sections(Self::ALL.0 & !COMMANDSTATS);

    /// The sections `names` (in lower case) ask for; names this server does not have add
    /// nothing (an INFO of only those is empty, as on Redis).
    pub(crate) fn parse(names: &[String]) -> Sections {
        if names.is_empty() {
            return Self::DEFAULT;
        }
        let mut bits = 0;
        for n in names {
            bits |= match n.as_str() {
                "all" | "everything" => Self::ALL.0,
                "default" => Self::DEFAULT.0,
                n => NAMES.iter().find(|(s, _)| *s == n).map_or(0, |(_, b)| *b),
            };
        }
        Sections(bits)
    }

    pub(crate) fn has(self, name: &str) -> bool {
        NAMES.iter().any(|(s, b)| *s == name && self.0 & b != 0)
    }
}

/// INFO's keyspace figures, from the state machine.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeyspaceFigures {
    pub(super) keys: u64,
    pub(super) expires: u64,
    pub(super) avg_ttl_ms: u64,
}

/// The text of INFO for `sections`.
pub(super) fn render(sections: Sections, cx: &Context, keyspace: KeyspaceFigures) -> Value {
    let status = cx.node.status().ok();
    let mut out = String::new();
    for (name, _) in NAMES {
        if !sections.has(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let title = format!("{}{}", name[..1].to_ascii_uppercase(), &name[1..]);
        let _ = write!(out, "# {title}\r\n");
        let mut lines = Vec::new();
        match *name {
            "server" => server(&mut lines, cx),
            "clients" => clients(&mut lines, cx),
            "memory" => memory(&mut lines),
            "persistence" => persistence(&mut lines, status.as_ref(), cx),
            "stats" => stats(&mut lines, cx),
            "replication" => replication(&mut lines, status.as_ref(), cx),
            "commandstats" => commandstats(&mut lines, cx),
            "cluster" => lines.push(("cluster_enabled".into(), "1".into())),
            "keyspace" => keyspace_line(&mut lines, keyspace),
            _ => raft(&mut lines, status.as_ref()),
        }
        for (k, v) in lines {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    Value::Verbatim("txt".into(), out.into_bytes())
}

type Lines = Vec<(String, String)>;

fn push(lines: &mut Lines, k: &str, v: impl ToString) {
    lines.push((k.to_string(), v.to_string()));
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

fn server(l: &mut Lines, cx: &Context) {
    let uptime = cx.shared.stats.started.elapsed().as_secs();
    push(l, "redis_version", REDIS_VERSION);
    push(l, "kv_store_version", env!("CARGO_PKG_VERSION"));
    push(l, "redis_mode", "cluster");
    push(l, "os", std::env::consts::OS);
    push(l, "arch_bits", usize::BITS);
    push(l, "multiplexing_api", "epoll");
    push(l, "process_id", std::process::id());
    push(l, "run_id", &cx.shared.run_id);
    push(l, "tcp_port", cx.shared.addr.port());
    push(l, "server_time_usec", unix_micros());
    push(l, "uptime_in_seconds", uptime);
    push(l, "uptime_in_days", uptime / 86_400);
    push(l, "hz", 10);
    push(l, "io_threads_active", cx.config.io_threads);
    if let Ok(exe) = std::env::current_exe() {
        push(l, "executable", exe.display());
    }
    push(l, "config_file", "");
}

fn clients(l: &mut Lines, cx: &Context) {
    use std::sync::atomic::Ordering::Acquire;
    push(l, "connected_clients", cx.shared.clients.load(Acquire));
    push(l, "cluster_connections", 0);
    push(l, "maxclients", cx.config.clients_max);
    // No command blocks, and no client tracks keys.
    push(l, "blocked_clients", 0);
    push(l, "tracking_clients", 0);
}

/// Redis's way of writing a byte count for people (`1.50M`).
fn human(bytes: u64) -> String {
    let units = [
        (1u64 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (size, unit) in units {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

/// A figure from `/proc/self/status` (in kB there), in bytes.
fn proc_status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The process's resident memory stands for `used_memory`: allocations are not counted
/// apart, so this is what the process holds, the allocator's spare pages included.
fn memory(l: &mut Lines) {
    let rss = proc_status("VmRSS:").unwrap_or(0);
    let peak = proc_status("VmHWM:").unwrap_or(rss);
    push(l, "used_memory", rss);
    push(l, "used_memory_human", human(rss));
    push(l, "used_memory_rss", rss);
    push(l, "used_memory_rss_human", human(rss));
    push(l, "used_memory_peak", peak);
    push(l, "used_memory_peak_human", human(peak));
    push(l, "maxmemory", 0);
    push(l, "maxmemory_human", "0B");
    push(l, "maxmemory_policy", "noeviction");
    push(l, "mem_allocator", "libc");
}

fn persistence(l: &mut Lines, s: Option<&Status>, cx: &Context) {
    let failed = cx.node.failure().is_some();
    push(l, "loading", 0);
    push(l, "async_loading", 0);
    if let Some(s) = s {
        let snap = s.snapshot.as_ref().map_or(0, |m| m.index);
        let saved = s.snapshot_at.duration_since(UNIX_EPOCH).unwrap_or_default();
        push(
            l,
            "rdb_changes_since_last_save",
            s.applied_index.saturating_sub(snap),
        );
        push(l, "rdb_bgsave_in_progress", 0);
        push(l, "rdb_last_save_time", saved.as_secs());
        push(
            l,
            "rdb_last_bgsave_status",
            if failed { "err" } else { "ok" },
        );
        push(l, "rdb_last_snapshot_index", snap);
        push(l, "rdb_last_snapshot_bytes", s.snapshot_bytes);
    }
    push(l, "aof_enabled", u8::from(cx.config.durable));
    push(l, "aof_rewrite_in_progress", 0);
    push(
        l,
        "aof_last_write_status",
        if failed { "err" } else { "ok" },
    );
}

fn stats(l: &mut Lines, cx: &Context) {
    let t = cx.shared.stats.totals();
    let r = cx.shared.stats.rates();
    push(l, "total_connections_received", t.connections);
    push(l, "total_commands_processed", t.commands);
    push(l, "instantaneous_ops_per_sec", r.ops.round() as u64);
    push(l, "total_net_input_bytes", t.net_in);
    push(l, "total_net_output_bytes", t.net_out);
    push(
        l,
        "instantaneous_input_kbps",
        format!("{:.2}", r.input_bytes / 1024.0),
    );
    push(
        l,
        "instantaneous_output_kbps",
        format!("{:.2}", r.output_bytes / 1024.0),
    );
    push(l, "rejected_connections", t.rejected_connections);
    push(l, "total_error_replies", t.error_replies);
}

/// Offsets are log indexes: how far each node has the log.
fn replication(l: &mut Lines, s: Option<&Status>, cx: &Context) {
    let Some(s) = s else {
        return;
    };
    let shard = Shard::new(s, cx.shared.addr);
    if s.role == Role::Leader {
        push(l, "role", "master");
        let replicas: Vec<_> = shard
            .members
            .iter()
            .filter(|m| m.id != s.id)
            .filter_map(|m| Some((m, m.client?)))
            .collect();
        push(l, "connected_slaves", replicas.len());
        for (i, (m, addr)) in replicas.iter().enumerate() {
            let progress = s.peers.iter().find(|(p, _)| *p == m.id).map(|(_, p)| p);
            let offset = m.offset;
            // What the leader knows of the replica: streaming the log, sending it a snapshot,
            // or still finding where their logs match (its link's health is not tracked).
            let state = match progress.map(|p| p.state) {
                Some(ProgressState::Replicate) => "online",
                Some(ProgressState::Snapshot) => "send_bulk",
                _ => "wait_bgsave",
            };
            push(
                l,
                &format!("slave{i}"),
                format!(
                    "ip={},port={},state={state},offset={offset}",
                    addr.ip(),
                    addr.port()
                ),
            );
        }
        push(l, "master_repl_offset", s.commit_index);
        return;
    }
    push(l, "role", "slave");
    let leader = s
        .leader
        .and_then(|id| shard.members.iter().find(|m| m.id == id))
        .and_then(|m| m.client);
    match leader {
        Some(a) => {
            push(l, "master_host", a.ip());
            push(l, "master_port", a.port());
            push(l, "master_link_status", "up");
        }
        None => push(l, "master_link_status", "down"),
    }
    push(l, "master_sync_in_progress", 0);
    push(l, "slave_repl_offset", s.applied_index);
    push(l, "slave_read_only", 1);
    push(l, "connected_slaves", 0);
    push(l, "master_repl_offset", s.commit_index);
}

fn commandstats(l: &mut Lines, cx: &Context) {
    for c in cx.shared.stats.commands() {
        let per_call = match c.calls {
            0 => 0.0,
            n => c.usec as f64 / n as f64,
        };
        push(
            l,
            &format!("cmdstat_{}", c.name),
            format!(
                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                c.calls, c.usec, c.rejected, c.failed
            ),
        );
    }
}

fn keyspace_line(l: &mut Lines, k: KeyspaceFigures) {
    if k.keys > 0 {
        push(
            l,
            "db0",
            format!(
                "keys={},expires={},avg_ttl={}",
                k.keys, k.expires, k.avg_ttl_ms
            ),
        );
    }
}

fn raft(l: &mut Lines, s: Option<&Status>) {
    let Some(s) = s else {
        return;
    };
    let role = match s.role {
        Role::Leader => "leader",
        Role::Candidate | Role::PreCandidate => "candidate",
        Role::Follower => "follower",
    };
    let ids = |v: &std::collections::BTreeSet<u64>| {
        v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    };
    push(l, "node_id", s.id);
    push(l, "role", role);
    push(l, "term", s.term);
    push(
        l,
        "leader",
        s.leader.map_or("none".into(), |l| l.to_string()),
    );
    push(l, "commit_index", s.commit_index);
    push(l, "applied_index", s.applied_index);
    push(l, "first_index", s.first_index);
    push(l, "last_index", s.last_index);
    push(l, "log_entries", s.log_entries);
    push(
        l,
        "snapshot_index",
        s.snapshot.as_ref().map_or(0, |m| m.index),
    );
    push(l, "snapshot_bytes", s.snapshot_bytes);
    push(l, "voters", ids(&s.membership.voters));
    push(l, "learners", ids(&s.membership.learners));
    push(l, "joint", s.membership.is_joint());
    push(l, "removed", u8::from(s.removed));
    for (id, addr) in &s.membership.addresses {
        push(l, &format!("address_{id}"), addr);
    }
    for (id, p) in &s.peers {
        push(
            l,
            &format!("peer_{id}"),
            format!("match={},next={}", p.match_index, p.next_index),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_chosen_as_redis_chooses_them() {
        let p = |names: &[&str]| {
            Sections::parse(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(p(&[]), Sections::DEFAULT);
        assert!(!p(&[]).has("commandstats"));
        assert!(p(&["everything"]).has("commandstats"));
        assert!(p(&["all"]).has("raft"));
        assert_eq!(p(&["nosuchsection"]), Sections(0));
        let two = p(&["server", "keyspace"]);
        assert!(two.has("server") && two.has("keyspace") && !two.has("clients"));
        assert_eq!(p(&["raft"]), Sections::RAFT);
    }

    #[test]
    fn byte_counts_are_written_as_redis_writes_them() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 20), "3.00M");
    }
}
