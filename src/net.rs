//! Client addresses: who a request comes from when it passes through trusted proxies, and
//! which addresses count as one client (an IPv4 address, or an IPv6 /64).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Whose connections and rate-limit points are counted together: an IPv4 address, or an IPv6
/// /64, which one host usually has whole (else rotating addresses would dodge every bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    V6Net(u64),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => Self::V6Net((u128::from(v6) >> 64) as u64),
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(v4) => write!(f, "{v4}"),
            Self::V6Net(prefix) => write!(f, "{}/64", Ipv6Addr::from(u128::from(*prefix) << 64)),
        }
    }
}

/// The header trusted proxies name the client in: only that one is read, since a client can
/// write the other one itself and the proxy passes it on untouched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// An address as the client has it: a dual-stack listener sees IPv4 clients as
/// `::ffff:a.b.c.d`, which is the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose forwarding header is believed (`--trusted-proxies`); none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    pub nets: Vec<IpNet>,
    pub header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client a request comes from. From a trusted peer it is the rightmost hop of the
    /// configured forwarding header that is not itself a trusted proxy — the hops left of it
    /// are whatever the client chose to write, so they are never read. From any other peer
    /// the header is ignored: anyone can send it. A hop that can't be read where a trusted
    /// proxy should have written the client leaves the last trusted address as the client.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in hops_from_the_right(headers, self.header) {
            match hop {
                Some(hop) => {
                    client = hop;
                    if !self.trusts(hop) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The hops of the forwarding header, nearest first (the proxy's own appended hop first);
/// `None` for a hop that isn't an address (`for=_hidden`, garbage).
fn hops_from_the_right(
    headers: &HeaderMap,
    header: ForwardedHeader,
) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    values.into_iter().rev().flat_map(move |value| {
        value.rsplit(',').map(move |element| match header {
            ForwardedHeader::XForwardedFor => parse_node(element.trim()),
            ForwardedHeader::Forwarded => element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_node(value.trim().trim_matches('"'))),
        })
    })
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`
/// or `[2001:db8::1]:4711`, or a bare IPv6 address.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, _) = rest.split_once(']')?;
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (v4, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies {
            nets: nets.iter().map(|n| n.parse().expect("net")).collect(),
            header: ForwardedHeader::XForwardedFor,
        }
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a = ClientKey::of(ip("2001:db8:1:2::1"));
        assert_eq!(a, ClientKey::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(a, ClientKey::of(ip("2001:db8:1:3::1")));
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")).to_string(),
            "192.0.2.1"
        );
        assert_ne!(
            ClientKey::of(ip("192.0.2.1")),
            ClientKey::of(ip("192.0.2.2"))
        );
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let xff = headers(&[("x-forwarded-for", "198.51.100.7")]);
        // No proxies trusted (the default): the peer is the client, whatever it claims.
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.2"), &xff),
            ip("10.0.0.2")
        );
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &xff), ip("198.51.100.7"));
        assert_eq!(proxies.client(ip("203.0.113.9"), &xff), ip("203.0.113.9"));
        // IPv4 peers seen through a dual-stack socket are trusted as IPv4.
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.2"), &xff),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let proxies = trusted(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        // A client spoofing a hop of its own: the spoofed one is left of the real address.
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &spoofed), ip("198.51.100.7"));
        // The chain split over several headers reads as one.
        let split = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.7:5555"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &split), ip("198.51.100.7"));
        // Every hop trusted: the leftmost is as far as the chain goes.
        let internal = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &internal), ip("10.1.1.1"));
        // Garbage left of the client's hop is the client's own writing, never read...
        let garbage_left = headers(&[("x-forwarded-for", "nonsense, 198.51.100.7")]);
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &garbage_left),
            ip("198.51.100.7")
        );
        // ...while garbage where the proxy wrote the client leaves the proxy as the client.
        let garbage = headers(&[("x-forwarded-for", "198.51.100.7, nonsense")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
        let empty = headers(&[("x-forwarded-for", "")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &empty), ip("10.0.0.2"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let xff = trusted(&["10.0.0.0/8"]);
        let forwarded = TrustedProxies {
            header: ForwardedHeader::Forwarded,
            ..xff.clone()
        };
        // The proxy appends to X-Forwarded-For; the client wrote a Forwarded of its own.
        let both = headers(&[
            ("forwarded", "for=203.0.113.99"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(xff.client(ip("10.0.0.2"), &both), ip("198.51.100.7"));
        assert_eq!(forwarded.client(ip("10.0.0.2"), &both), ip("203.0.113.99"));
        let chain = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            forwarded.client(ip("10.0.0.2"), &chain),
            ip("2001:db8:cafe::17")
        );
        let obfuscated = headers(&[("forwarded", "for=192.0.2.60, for=_hidden")]);
        assert_eq!(
            forwarded.client(ip("10.0.0.2"), &obfuscated),
            ip("10.0.0.2")
        );
        let v4_port = headers(&[("forwarded", "For=\"192.0.2.43:47011\"")]);
        assert_eq!(forwarded.client(ip("10.0.0.2"), &v4_port), ip("192.0.2.43"));
    }
}
