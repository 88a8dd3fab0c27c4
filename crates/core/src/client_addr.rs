//! The client's address, for rate limits and logs. It is the connection's peer, unless the
//! peer is a trusted reverse proxy (`FLOWTRACK_TRUSTED_PROXIES`): then it is read from
//! `X-Forwarded-For`, whose entries each proxy appends to (the client first, the last proxy's
//! own peer last). Walking from the right, the first entry that is not a trusted proxy is
//! the client — entries left of it were written by the client itself and prove nothing; the
//! left-most entry when every one is trusted; the peer when the header is missing or an
//! entry is not an address.

use std::net::IpAddr;

use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Parses `10.0.0.1, 192.168.0.0/16, ::1` (blank entries skipped).
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("`{entry}` is not an IP address or CIDR like 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The client's address of a request from `peer` carrying these `X-Forwarded-For`
    /// header values (in the order they came).
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain = Vec::new();
        for value in forwarded_for {
            for entry in value.split(',') {
                match parse_entry(entry) {
                    Some(ip) => chain.push(ip),
                    None => return peer,
                }
            }
        }
        chain
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer)
    }
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as proxies write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) as the
/// IPv4 addresses they are, so `10.0.0.0/8` matches them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("ip")
    }

    fn client(trusted: &str, peer: &str, headers: &[&str]) -> IpAddr {
        TrustedProxies::parse(trusted)
            .expect("trusted")
            .client(ip(peer), headers.iter().copied())
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(
            client("", "203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        assert_eq!(
            client("10.0.0.0/8", "203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        // The client sent a spoofed entry; the proxy appended the real peer.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["1.1.1.1, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Two proxies in a row, the header split over two lines.
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.2",
                &["1.1.1.1, 198.51.100.7", "10.0.0.1"]
            ),
            ip("198.51.100.7")
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["[2001:db8::7]:4431"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["198.51.100.7:5000"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn all_trusted_gives_the_left_most_and_garbage_gives_the_peer() {
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.2", &["10.0.0.5, 10.0.0.1"]),
            ip("10.0.0.5")
        );
        assert_eq!(client("10.0.0.1", "10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(
            client("10.0.0.1", "10.0.0.1", &["198.51.100.7, unknown"]),
            ip("10.0.0.1")
        );
        assert_eq!(client("10.0.0.1", "10.0.0.1", &[""]), ip("10.0.0.1"));
    }

    #[test]
    fn mapped_ipv6_peers_match_ipv4_entries() {
        assert_eq!(
            client("127.0.0.1", "::ffff:127.0.0.1", &["198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_entries_name_themselves() {
        assert!(TrustedProxies::parse("10.0.0.1, nope").is_err_and(|e| e.contains("`nope`")));
        assert_eq!(
            TrustedProxies::parse(" 10.1.2.3/8 ,, ::1 ").expect("parse"),
            TrustedProxies::new(vec![
                "10.0.0.0/8".parse().expect("net"),
                "::1/128".parse().expect("net")
            ])
        );
    }
}
