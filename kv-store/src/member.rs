//! A member's addresses as the cluster's membership carries them: where its peers reach it, and
//! where clients do. The membership holds one string per member (see
//! `transport_tcp::peer_address`): the peer address first, then `client=host:port` when the
//! member serves clients there. So the client addresses travel in the log and in snapshots with
//! the peer addresses, and every node can tell a cluster-aware client where the leader is.

use std::fmt;
use std::net::SocketAddr;

/// One member's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberAddress {
    /// Where peers reach it (`host:port`).
    pub peer: String,
    /// Where it serves clients, if known.
    pub client: Option<SocketAddr>,
}

const CLIENT: &str = "client=";

impl MemberAddress {
    /// A member reached at `peer`, serving clients at `client`.
    pub fn new(peer: SocketAddr, client: Option<SocketAddr>) -> MemberAddress {
        MemberAddress {
            peer: peer.to_string(),
            client,
        }
    }

    /// Reads the membership's string. Attributes this version does not know are skipped, and so
    /// is a client address that does not parse (the member is then shown without one).
    pub fn parse(text: &str) -> MemberAddress {
        let mut parts = text.split(' ');
        let peer = parts.next().unwrap_or_default().to_string();
        let client = parts
            .filter_map(|p| p.strip_prefix(CLIENT))
            .find_map(|a| a.parse().ok());
        MemberAddress { peer, client }
    }
}

/// The membership's string.
impl fmt::Display for MemberAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.peer)?;
        if let Some(c) = self.client {
            write!(f, " {CLIENT}{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_reads_back() {
        let a = MemberAddress::new(
            "10.0.0.4:7104".parse().unwrap(),
            Some("10.0.0.4:6304".parse().unwrap()),
        );
        assert_eq!(a.to_string(), "10.0.0.4:7104 client=10.0.0.4:6304");
        assert_eq!(MemberAddress::parse(&a.to_string()), a);
        let bare = MemberAddress::new("10.0.0.4:7104".parse().unwrap(), None);
        assert_eq!(bare.to_string(), "10.0.0.4:7104");
        assert_eq!(MemberAddress::parse("10.0.0.4:7104"), bare);
    }

    #[test]
    fn unknown_attributes_and_bad_client_addresses_are_skipped() {
        let a = MemberAddress::parse("h:1 zone=b client=nonsense client=10.0.0.4:6304");
        assert_eq!(a.peer, "h:1");
        assert_eq!(a.client, Some("10.0.0.4:6304".parse().unwrap()));
        assert_eq!(MemberAddress::parse("h:1 client=x").client, None);
    }
}
