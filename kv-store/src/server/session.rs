//! What a connection remembers between requests (READONLY, its id, name and protocol, the
//! transaction being queued and the keys WATCHed),
//! and the requests answered from that state or the node's status rather than the store.

use std::sync::Arc;
use std::time::Instant;

use raft_core::Role;
use raft_runtime::Node;

use super::clients::{Client, Clients};
use super::commands::{Admin, ClientOp, Hello};
use super::replies::from_error;
use super::transaction::Multi;
use super::ServerConfig;
use crate::machine::{KvStore, Watched};
use crate::resp::{Protocol, Value};
use crate::MemberAddress;

/// The Redis version whose commands, replies and errors this server follows (HELLO says it).
pub(crate) const REDIS_VERSION: &str = "7.0.15";

pub(super) struct Session {
    /// Reads are answered from this node's state (READONLY).
    pub(super) read_only: bool,
    /// What other connections see of this one (its id and name among them).
    pub(super) client: Arc<Client>,
    /// RESP2 until HELLO 3.
    pub(super) protocol: Protocol,
    /// The transaction being queued, after MULTI.
    pub(super) multi: Option<Multi>,
    /// The keys WATCHed, until EXEC, DISCARD or UNWATCH.
    pub(super) watched: Vec<Watched>,
}

impl Session {
    pub(super) fn new(client: Arc<Client>) -> Session {
        Session {
            read_only: false,
            client,
            protocol: Protocol::Resp2,
            multi: None,
            watched: Vec::new(),
        }
    }

    pub(super) fn set_read_only(&mut self, on: bool) {
        self.read_only = on;
        self.client.set_read_only(on);
    }

    fn set_protocol(&mut self, p: Protocol) {
        self.protocol = p;
        self.client
            .set_resp(if p == Protocol::Resp3 { 3 } else { 2 });
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
            Admin::AddLearner(id, addr, client) => {
                node.add_learner_at(id, MemberAddress::new(addr, client).to_string(), t)
            }
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
            self.set_protocol(p);
        }
        if let Some(name) = h.name {
            self.client.set_names(|n| n.name = name);
        }
        let leader = node.status().is_ok_and(|s| s.role == Role::Leader);
        let text = Value::text;
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
            (text("id"), Value::Integer(self.client.id as i64)),
            (text("mode"), text("cluster")),
            (
                text("role"),
                text(if leader { "master" } else { "replica" }),
            ),
            (text("modules"), Value::Array(Some(Vec::new()))),
        ])
    }

    /// RESET: the connection as it was when it opened (its id stays; its name goes).
    pub(super) fn reset(&mut self) -> Value {
        self.client.set_names(|n| n.name.clear());
        self.client.set_multi(None);
        *self = Session::new(self.client.clone());
        self.set_protocol(Protocol::Resp2);
        self.set_read_only(false);
        Value::Simple("RESET".into())
    }

    /// CLIENT subcommands.
    pub(super) fn client(&mut self, c: ClientOp, clients: &Clients, now: Instant) -> Value {
        let me = self.client.id;
        let ok = || Value::Simple("OK".into());
        match c {
            ClientOp::Id => Value::Integer(me as i64),
            ClientOp::GetName => {
                let name = self.client.names().name;
                Value::Bulk((!name.is_empty()).then_some(name))
            }
            ClientOp::SetName(name) => {
                // An empty name removes it, as on Redis.
                self.client.set_names(|n| n.name = name);
                ok()
            }
            ClientOp::SetInfo { lib_name, value } => {
                self.client.set_names(|n| match lib_name {
                    true => n.lib_name = value,
                    false => n.lib_ver = value,
                });
                ok()
            }
            ClientOp::Info => {
                let line = format!("{}\n", self.client.line(now));
                Value::Verbatim("txt".into(), line.into_bytes())
            }
            ClientOp::List(filter) => {
                let text = clients.list(&filter, me, now);
                Value::Verbatim("txt".into(), text.into_bytes())
            }
            ClientOp::Kill { filter, old } => match (clients.kill(&filter, me), old) {
                (0, true) => Value::Error("ERR No such client".into()),
                (_, true) => ok(),
                (n, false) => Value::Integer(n as i64),
            },
        }
    }
}
