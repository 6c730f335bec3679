//! How the rest of the process reaches an event loop: answers from the node's threads (tagged
//! with the request they settle), answers from helper threads, and connections handed over by
//! the accepting loop. Whoever posts wakes the loop, once per batch of posts.

use mio::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use raft_runtime::{Completions, Error};

use crate::machine::Reply;
use crate::resp::Value;

/// An answer waiting for its loop.
pub(super) enum Done {
    /// The node settled a request.
    Kv(Result<Reply, Error>),
    /// A helper thread finished an administrative request.
    Value(Value),
}

#[derive(Default)]
struct Posted {
    answers: Vec<(u64, Done)>,
    connections: Vec<TcpStream>,
}

/// A loop's mailbox. What it holds is bounded by what the loop started: one answer per request
/// in flight (each connection bounds those), and connections by the server's client limit.
pub(super) struct Mailbox {
    posted: Mutex<Posted>,
    /// A wake is on its way and the loop has not emptied the mailbox since.
    woken: AtomicBool,
    /// CLIENT KILL marked some of the loop's connections.
    kills: AtomicBool,
    waker: mio::Waker,
}

impl Mailbox {
    pub(super) fn new(waker: mio::Waker) -> Mailbox {
        Mailbox {
            posted: Mutex::new(Posted::default()),
            woken: AtomicBool::new(false),
            kills: AtomicBool::new(false),
            waker,
        }
    }

    pub(super) fn post(&self, tag: u64, done: Done) {
        self.lock().answers.push((tag, done));
        self.wake();
    }

    pub(super) fn hand_over(&self, stream: TcpStream) {
        self.lock().connections.push(stream);
        self.wake();
    }

    /// Tells the loop that some of its connections were killed (each is marked).
    pub(super) fn post_kill(&self) {
        self.kills.store(true, Ordering::Release);
        self.wake();
    }

    /// Whether connections were killed since the last call.
    pub(super) fn take_kills(&self) -> bool {
        self.kills.swap(false, Ordering::AcqRel)
    }

    /// Wakes the loop unless a wake is already pending. A loop that has stopped cannot be
    /// woken; what is posted to it is dropped with the mailbox.
    pub(super) fn wake(&self) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    /// Everything posted since the last call. The wake flag is cleared first, so a post that
    /// misses this take wakes the loop again.
    pub(super) fn take(&self, answers: &mut Vec<(u64, Done)>, connections: &mut Vec<TcpStream>) {
        self.woken.store(false, Ordering::Release);
        let mut posted = self.lock();
        std::mem::swap(answers, &mut posted.answers);
        connections.append(&mut posted.connections);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Posted> {
        // A poisoned lock only means a poster panicked mid-push; the vectors are still whole.
        self.posted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Completions<Reply> for Mailbox {
    fn complete(&self, tag: u64, result: Result<Reply, Error>) {
        self.post(tag, Done::Kv(result));
    }
}
