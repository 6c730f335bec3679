//! Every open client connection, as CLIENT LIST, CLIENT INFO and CLIENT KILL see them from any
//! event loop. A connection's loop owns it; what other loops may read or ask of it is here, in
//! fields each loop writes without locks (a name excepted, behind a lock of its own).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::commands::{COMMANDS, SUBCOMMANDS};
use super::mailbox::Mailbox;

/// What CLIENT SETNAME and CLIENT SETINFO set.
#[derive(Default, Clone)]
pub(super) struct Names {
    pub(super) name: Vec<u8>,
    pub(super) lib_name: Vec<u8>,
    pub(super) lib_ver: Vec<u8>,
}

/// One connection, as the other loops see it.
pub(super) struct Client {
    pub(super) id: u64,
    addr: Option<SocketAddr>,
    laddr: Option<SocketAddr>,
    fd: i64,
    opened: Instant,
    /// When the last command arrived, in milliseconds after `opened`.
    last_ms: AtomicU64,
    /// The last command's index in the table, plus one (0: none yet).
    last_command: AtomicU16,
    /// Its subcommand's index in `SUBCOMMANDS`, plus one (0: none).
    last_sub: AtomicU8,
    /// Commands queued since MULTI, or -1 outside a transaction.
    multi: AtomicI64,
    /// RESP version.
    resp: AtomicU8,
    read_only: AtomicBool,
    names: Mutex<Names>,
    /// CLIENT KILL asked for this connection to close.
    killed: AtomicBool,
    /// The owning loop's mailbox, to wake it when the connection is killed.
    mailbox: Arc<Mailbox>,
}

impl Client {
    pub(super) fn new(
        id: u64,
        addr: Option<SocketAddr>,
        laddr: Option<SocketAddr>,
        fd: i64,
        mailbox: Arc<Mailbox>,
    ) -> Client {
        Client {
            id,
            addr,
            laddr,
            fd,
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            last_command: AtomicU16::new(0),
            last_sub: AtomicU8::new(0),
            multi: AtomicI64::new(-1),
            resp: AtomicU8::new(2),
            read_only: AtomicBool::new(false),
            names: Mutex::new(Names::default()),
            killed: AtomicBool::new(false),
            mailbox,
        }
    }

    /// Notes a command (its table index) arriving at `now`.
    pub(super) fn note_command(&self, command: u16, sub: Option<u8>, now: Instant) {
        let ms = now.saturating_duration_since(self.opened).as_millis() as u64;
        self.last_ms.store(ms, Relaxed);
        self.last_command.store(command + 1, Relaxed);
        self.last_sub.store(sub.map_or(0, |s| s + 1), Relaxed);
    }

    pub(super) fn set_multi(&self, queued: Option<usize>) {
        self.multi.store(queued.map_or(-1, |n| n as i64), Relaxed);
    }

    pub(super) fn set_resp(&self, version: u8) {
        self.resp.store(version, Relaxed);
    }

    pub(super) fn set_read_only(&self, on: bool) {
        self.read_only.store(on, Relaxed);
    }

    pub(super) fn names(&self) -> Names {
        self.names.lock().clone()
    }

    pub(super) fn set_names(&self, f: impl FnOnce(&mut Names)) {
        f(&mut self.names.lock());
    }

    pub(super) fn killed(&self) -> bool {
        self.killed.load(Relaxed)
    }

    /// The connection's line in CLIENT LIST and CLIENT INFO, as Redis 7 writes it, with the
    /// fields this server keeps (it has no buffer or memory figures per connection).
    pub(super) fn line(&self, now: Instant) -> String {
        let n = self.names();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let age = now.saturating_duration_since(self.opened).as_secs();
        let last = self.last_ms.load(Relaxed) / 1000;
        let multi = self.multi.load(Relaxed);
        let mut flags = String::new();
        if multi >= 0 {
            flags.push('x');
        }
        if self.read_only.load(Relaxed) {
            flags.push('r');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let cmd = match (self.last_command.load(Relaxed), self.last_sub.load(Relaxed)) {
            (0, _) => "NULL",
            (i, 0) => COMMANDS[usize::from(i - 1)].name,
            (_, s) => SUBCOMMANDS[usize::from(s - 1)],
        };
        let show = |a: Option<SocketAddr>| a.map_or(String::new(), |a| a.to_string());
        let mut line = String::new();
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={age} idle={} flags={flags} db=0 sub=0 \
             psub=0 ssub=0 multi={multi} cmd={cmd} user=default redir=-1 resp={} lib-name={} \
             lib-ver={}",
            self.id,
            show(self.addr),
            show(self.laddr),
            self.fd,
            text(&n.name),
            age.saturating_sub(last),
            self.resp.load(Relaxed),
            text(&n.lib_name),
            text(&n.lib_ver),
        );
        line
    }
}

/// Which connections CLIENT LIST or CLIENT KILL means.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Any of these ids (empty: any id).
    pub(crate) ids: Vec<u64>,
    pub(crate) addr: Option<String>,
    pub(crate) laddr: Option<String>,
    /// A client type other than `normal` was asked for: this server has none of those.
    pub(crate) other_type: bool,
    /// Leave out the asking connection.
    pub(crate) skip_me: bool,
}

impl Filter {
    fn matches(&self, c: &Client, me: u64) -> bool {
        let addr_is = |want: &Option<String>, a: Option<SocketAddr>| {
            want.as_ref()
                .is_none_or(|w| a.is_some_and(|a| a.to_string() == *w))
        };
        let skipped = self.skip_me && c.id == me;
        !self.other_type
            && !skipped
            && (self.ids.is_empty() || self.ids.contains(&c.id))
            && addr_is(&self.addr, c.addr)
            && addr_is(&self.laddr, c.laddr)
    }
}

/// Every open connection, by id.
#[derive(Default)]
pub(super) struct Clients {
    all: Mutex<BTreeMap<u64, Arc<Client>>>,
}

impl Clients {
    pub(super) fn add(&self, c: Arc<Client>) {
        self.all.lock().insert(c.id, c);
    }

    pub(super) fn remove(&self, id: u64) {
        self.all.lock().remove(&id);
    }

    fn matching(&self, filter: &Filter, me: u64) -> Vec<Arc<Client>> {
        let all = self.all.lock();
        all.values()
            .filter(|c| filter.matches(c, me))
            .cloned()
            .collect()
    }

    /// CLIENT LIST: one line per connection, in id order; with ids, one per id given, in
    /// their order (repeated if repeated), as Redis does.
    pub(super) fn list(&self, filter: &Filter, me: u64, now: Instant) -> String {
        let found = match filter.ids.is_empty() {
            true => self.matching(filter, me),
            false => {
                let all = self.all.lock();
                let named = filter.ids.iter().filter_map(|id| all.get(id));
                named.filter(|c| filter.matches(c, me)).cloned().collect()
            }
        };
        let mut out = String::new();
        for c in found {
            out.push_str(&c.line(now));
            out.push('\n');
        }
        out
    }

    /// CLIENT KILL: marks the connections and wakes their loops; how many. The asking
    /// connection, if among them, closes once its reply is written.
    pub(super) fn kill(&self, filter: &Filter, me: u64) -> usize {
        let found = self.matching(filter, me);
        for c in &found {
            c.killed.store(true, Relaxed);
            c.mailbox.post_kill();
        }
        found.len()
    }
}
