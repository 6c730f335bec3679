//! The cluster as Redis Cluster clients see it: one shard that owns every slot, with the Raft
//! leader as its master and the other voters as its replicas, each at the client address the
//! membership carries. A cluster-aware client (redis-py `RedisCluster`, ioredis `Cluster`)
//! pointed at any node thus sends its commands to the leader, and after a failover asks any
//! node again and finds the new one. Slots never move: there is no resharding.
//!
//! A node that knows no leader (an election is under way) holds the reply for a while
//! (`conn.rs`), then names itself master: an error here would make clients give up, while a
//! command sent to this node is forwarded to the leader once there is one, or refused with an
//! error the client retries.

use std::net::SocketAddr;

use raft_core::{NodeId, Role};
use raft_runtime::Status;

use crate::resp::Value;
use crate::MemberAddress;

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16384;

/// The slot Redis Cluster puts `key` in: CRC16 (XMODEM) of the key, or of its hash tag (the
/// bytes between the first `{` and the next `}`, if not empty), modulo 16384.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A node's name in Redis Cluster replies: 40 hexadecimal digits, from its Raft id.
pub(super) fn node_name(id: NodeId) -> String {
    format!("{id:040x}")
}

/// One voter, as the shard shows it.
pub(super) struct Member {
    pub(super) id: NodeId,
    pub(super) client: Option<SocketAddr>,
    /// The port peers reach it on (the "bus port" of CLUSTER NODES), if its address has one.
    peer_port: Option<u16>,
    /// How far its log is known to match the leader's (its own applied index, for this node).
    pub(super) offset: u64,
}

/// The shard, from one node's status.
pub(super) struct Shard {
    pub(super) me: NodeId,
    pub(super) term: u64,
    /// The leader this node knows, if any.
    pub(super) leader: Option<NodeId>,
    /// Where commands should go: the leader, if its client address is known; else this node.
    pub(super) master: NodeId,
    /// The voters, the master first, then by id.
    pub(super) members: Vec<Member>,
}

impl Shard {
    /// `own_client`: where this node serves clients (used when the membership does not say).
    pub(super) fn new(s: &Status, own_client: SocketAddr) -> Shard {
        let m = &s.membership;
        let mut ids: Vec<NodeId> = m.voters.iter().chain(&m.outgoing).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.contains(&s.id) {
            // A learner, or a node not yet added, still answers for itself.
            ids.push(s.id);
        }
        let mut members: Vec<Member> = ids
            .into_iter()
            .map(|id| {
                let address = m.addresses.get(&id).map(|a| MemberAddress::parse(a));
                // An unspecified address (0.0.0.0) names no host a client could reach: this
                // node answers with the address it serves on, another member is left out.
                let advertised = address
                    .as_ref()
                    .and_then(|a| a.client)
                    .filter(|c| !c.ip().is_unspecified());
                let client = match id == s.id {
                    true => advertised.or(Some(own_client)),
                    false => advertised,
                };
                let peer_port = address
                    .as_ref()
                    .and_then(|a| a.peer.rsplit(':').next()?.parse().ok());
                let offset = match id == s.id {
                    true => s.applied_index,
                    false => s
                        .peers
                        .iter()
                        .find(|(p, _)| *p == id)
                        .map_or(0, |(_, p)| p.match_index),
                };
                Member {
                    id,
                    client,
                    peer_port,
                    offset,
                }
            })
            .collect();
        let leader = if s.role == Role::Leader {
            Some(s.id)
        } else {
            s.leader
        };
        let reachable = |id: NodeId| members.iter().any(|x| x.id == id && x.client.is_some());
        let master = leader.filter(|&l| reachable(l)).unwrap_or(s.id);
        members.sort_by_key(|x| (x.id != master, x.id));
        Shard {
            me: s.id,
            term: s.term,
            leader,
            master,
            members,
        }
    }

    /// The members clients can reach, the master first.
    fn reachable(&self) -> impl Iterator<Item = (&Member, SocketAddr)> {
        self.members.iter().filter_map(|m| m.client.map(|c| (m, c)))
    }

    /// CLUSTER SLOTS.
    pub(super) fn slots(&self) -> Value {
        let mut range = vec![Value::Integer(0), Value::Integer(i64::from(SLOTS - 1))];
        for (m, addr) in self.reachable() {
            range.push(Value::Array(Some(vec![
                Value::text(&addr.ip().to_string()),
                Value::Integer(addr.port().into()),
                Value::text(&node_name(m.id)),
                Value::Map(Vec::new()),
            ])));
        }
        Value::Array(Some(vec![Value::Array(Some(range))]))
    }

    /// CLUSTER SHARDS.
    pub(super) fn shards(&self) -> Value {
        let nodes = self
            .reachable()
            .map(|(m, addr)| {
                let ip = addr.ip().to_string();
                Value::Map(vec![
                    (Value::text("id"), Value::text(&node_name(m.id))),
                    (Value::text("port"), Value::Integer(addr.port().into())),
                    (Value::text("ip"), Value::text(&ip)),
                    (Value::text("endpoint"), Value::text(&ip)),
                    (Value::text("role"), Value::text(self.role_of(m.id))),
                    (
                        Value::text("replication-offset"),
                        Value::Integer(m.offset.min(i64::MAX as u64) as i64),
                    ),
                    (Value::text("health"), Value::text("online")),
                ])
            })
            .collect();
        Value::Array(Some(vec![Value::Map(vec![
            (
                Value::text("slots"),
                Value::Array(Some(vec![
                    Value::Integer(0),
                    Value::Integer(i64::from(SLOTS - 1)),
                ])),
            ),
            (Value::text("nodes"), Value::Array(Some(nodes))),
        ])]))
    }

    fn role_of(&self, id: NodeId) -> &'static str {
        if id == self.master {
            "master"
        } else {
            "replica"
        }
    }

    /// CLUSTER NODES: one line per member clients can reach.
    pub(super) fn nodes(&self) -> Value {
        let mut text = String::new();
        for (m, addr) in self.reachable() {
            let mut flags = String::new();
            if m.id == self.me {
                flags.push_str("myself,");
            }
            flags.push_str(if m.id == self.master {
                "master"
            } else {
                "slave"
            });
            let (of, slots) = match m.id == self.master {
                true => ("-".to_string(), format!(" 0-{}", SLOTS - 1)),
                false => (node_name(self.master), String::new()),
            };
            text.push_str(&format!(
                "{} {}@{} {flags} {of} 0 0 {} connected{slots}\n",
                node_name(m.id),
                addr,
                m.peer_port.unwrap_or(0),
                self.term,
            ));
        }
        Value::Verbatim("txt".into(), text.into_bytes())
    }

    /// CLUSTER INFO: the state is `ok` while a leader is known.
    pub(super) fn info(&self) -> Value {
        let state = if self.leader.is_some() { "ok" } else { "fail" };
        let text = format!(
            "cluster_state:{state}\r\ncluster_slots_assigned:{SLOTS}\r\ncluster_slots_ok:{SLOTS}\r\n\
             cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\n\
             cluster_size:1\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
            self.members.len(),
            self.term,
            self.term,
        );
        Value::Verbatim("txt".into(), text.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_are_redis_clusters() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"somekey"), 11058);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // An empty tag is no tag; only the first `{` counts.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b""), 0);
    }
}
