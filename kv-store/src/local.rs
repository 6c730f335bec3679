//! Reading a node of this process linearizably, as the server does.

use std::time::Duration;

use raft_runtime::{Error, Node};

use crate::machine::{wall_clock_ms, Command, KvStore, Query, Read, Reply, Write};

/// A linearizable read of `query` through `node`, answered as the server answers it: when the
/// answer relies on a deadline the log's clock has not reached, a tick through the log moves
/// the clock to now first, and the query is asked again at that time. `Node::read` with a
/// `Read` instead hands back [`Reply::ReadThroughLog`] for the caller to deal with.
pub fn read_linearizable(
    node: &Node<KvStore>,
    query: Query,
    timeout: Duration,
) -> Result<Reply, Error> {
    let now = wall_clock_ms();
    match node.read(Read::at(now, query), timeout)? {
        Reply::ReadThroughLog(query) => {
            let tick = Write {
                session: None,
                time_ms: now,
                command: Command::Tick,
            };
            node.propose(tick.encode(), timeout)?;
            node.read(Read::at(now, *query), timeout)
        }
        reply => Ok(reply),
    }
}
