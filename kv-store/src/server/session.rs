//! What a connection remembers between requests (READONLY, its id, name and protocol, the
//! transaction being queued and the keys WATCHed),
//! and the requests answered from that state or the node's status rather than the store.

use raft_core::Role;
use raft_runtime::{Error, Node};

use super::commands::{Admin, ClientOp, Hello};
use super::replies::from_error;
use super::transaction::Multi;
use super::ServerConfig;
use crate::machine::{KvStore, Watched};
use crate::resp::{Protocol, Value};

/// The Redis version whose commands, replies and errors this server follows (HELLO says it).
pub(crate) const REDIS_VERSION: &str = "7.0.15";

pub(super) struct Session {
    /// Reads are answered from this node's state (READONLY).
    pub(super) read_only: bool,
    /// CLIENT ID: unique among this server's connections.
    pub(super) client_id: u64,
    /// CLIENT SETNAME.
    name: Option<Vec<u8>>,
    /// RESP2 until HELLO 3.
    pub(super) protocol: Protocol,
    /// The transaction being queued, after MULTI.
    pub(super) multi: Option<Multi>,
    /// The keys WATCHed, until EXEC, DISCARD or UNWATCH.
    pub(super) watched: Vec<Watched>,
}

impl Session {
    pub(super) fn new(client_id: u64) -> Session {
        Session {
            read_only: false,
            client_id,
            name: None,
            protocol: Protocol::Resp2,
            multi: None,
            watched: Vec::new(),
        }
    }

    /// Runs an administrative request; membership changes block until applied (the event
    /// loop runs them on a helper thread).
    pub(super) fn admin(node: &Node<KvStore>, config: &ServerConfig, a: Admin) -> Value {
        let t = config.request_timeout;
        let r = match a {
            Admin::Peer(id, addr) => match &config.add_peer {
                Some(add) => {
                    add(id, addr);
                    Ok(())
                }
                None => {
                    return Value::Error("ERR this server's transport learns no addresses".into())
                }
            },
            // The address travels in the membership entry: every node's transport learns it
            // from the log, now and after any restart.
            Admin::AddLearner(id, addr) => node.add_learner_at(id, addr.to_string(), t),
            Admin::Promote(id) => node.promote(id, t),
            Admin::Remove(id) => node.remove(id, t),
            Admin::Transfer(id) => node.transfer_leadership(id, t),
        };
        match r {
            Ok(()) => Value::Simple("OK".into()),
            Err(e) => from_error(e),
        }
    }

    /// HELLO: switches the protocol and names the connection (either given), then describes
    /// the server. `version` is the Redis version whose behaviour this server follows.
    pub(super) fn hello(&mut self, h: Hello, node: &Node<KvStore>) -> Value {
        if let Some(p) = h.protocol {
            self.protocol = p;
        }
        if let Some(name) = h.name {
            self.name = (!name.is_empty()).then_some(name);
        }
        let leader = node.status().is_ok_and(|s| s.role == Role::Leader);
        let text = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
        Value::Map(vec![
            (text("server"), text("kv-store")),
            (text("version"), text(REDIS_VERSION)),
            (
                text("proto"),
                Value::Integer(if self.protocol == Protocol::Resp3 {
                    3
                } else {
                    2
                }),
            ),
            (text("id"), Value::Integer(self.client_id as i64)),
            (text("mode"), text("standalone")),
            (
                text("role"),
                text(if leader { "master" } else { "replica" }),
            ),
            (text("modules"), Value::Array(Some(Vec::new()))),
        ])
    }

    /// RESET: the connection as it was when it opened (its id stays).
    pub(super) fn reset(&mut self) -> Value {
        *self = Session::new(self.client_id);
        Value::Simple("RESET".into())
    }

    pub(super) fn client(&mut self, c: ClientOp) -> Value {
        match c {
            ClientOp::Id => Value::Integer(self.client_id as i64),
            ClientOp::GetName => Value::Bulk(self.name.clone()),
            ClientOp::SetName(name) => {
                // An empty name removes it, as on Redis.
                self.name = (!name.is_empty()).then_some(name);
                Value::Simple("OK".into())
            }
        }
    }

    /// INFO: the Raft section, from the node's status.
    pub(super) fn info(node: &Node<KvStore>, raft: bool) -> Value {
        if !raft {
            // A section this server does not have: empty, as Redis answers.
            return Value::Bulk(Some(Vec::new()));
        }
        let Ok(s) = node.status() else {
            return from_error(Error::Shutdown);
        };
        let role = match s.role {
            Role::Leader => "leader",
            Role::Candidate | Role::PreCandidate => "candidate",
            Role::Follower => "follower",
        };
        let ids = |v: &std::collections::BTreeSet<u64>| {
            v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        };
        let mut text = format!(
            "# Raft\r\nnode_id:{}\r\nrole:{role}\r\nterm:{}\r\nleader:{}\r\ncommit_index:{}\r\napplied_index:{}\r\n\
             first_index:{}\r\nlast_index:{}\r\nlog_entries:{}\r\nsnapshot_index:{}\r\nsnapshot_bytes:{}\r\n\
             voters:{}\r\nlearners:{}\r\njoint:{}\r\nremoved:{}\r\n",
            s.id,
            s.term,
            s.leader.map_or("none".into(), |l| l.to_string()),
            s.commit_index,
            s.applied_index,
            s.first_index,
            s.last_index,
            s.log_entries,
            s.snapshot.as_ref().map_or(0, |m| m.index),
            s.snapshot_bytes,
            ids(&s.membership.voters),
            ids(&s.membership.learners),
            s.membership.is_joint(),
            u8::from(s.removed),
        );
        for (id, addr) in &s.membership.addresses {
            text.push_str(&format!("address_{id}:{addr}\r\n"));
        }
        for (id, p) in &s.peers {
            text.push_str(&format!(
                "peer_{id}:match={},next={}\r\n",
                p.match_index, p.next_index
            ));
        }
        Value::Bulk(Some(text.into_bytes()))
    }
}
