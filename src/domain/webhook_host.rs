//! Which webhook hosts are private: `localhost` names and literal loopback, private, link-local
//! and other non-public addresses, refused unless the operator allows private webhooks.
//!
//! Only the host as written is judged; a public name that resolves to a private address (DNS
//! rebinding) has to be caught where the connection is made.
//!
//! Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are let
//! through: they are never routed, so refusing them protects nothing, and examples and tests use
//! them as stand-ins for public addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::Host;

const LOCALHOST: &str = "localhost";
const RESERVED_NAME: &str = "a name reserved for private networks";
const LOOPBACK: &str = "a loopback address";
const PRIVATE: &str = "a private address";
const LINK_LOCAL: &str = "a link-local address";
const UNSPECIFIED: &str = "an unspecified address";
const MULTICAST_OR_RESERVED: &str = "a multicast or reserved address";
const SHARED: &str = "a shared (carrier-grade NAT) address";
const TEREDO: &str = "a Teredo tunnel address";

/// Suffixes set aside for names that only mean something inside a private network.
const PRIVATE_ZONES: &[&str] = &[
    // mDNS, answered by whoever is on the local link (RFC 6762).
    "local",
    // Reserved by ICANN in 2024 for private use, as cloud providers already do.
    "internal",
    // Not IANA-reserved, but the conventional private suffix of many /etc/hosts files.
    "localdomain",
    // Residential home networks (RFC 8375).
    "home.arpa",
];

/// Why a host is not public, as a phrase completing "… is not allowed: its host is <reason>", or
/// None when it is a public name or address.
pub fn private_host_reason(host: &Host<&str>) -> Option<&'static str> {
    match host {
        Host::Domain(name) => domain_reason(name),
        Host::Ipv4(addr) => ipv4_reason(*addr),
        Host::Ipv6(addr) => ipv6_reason(*addr),
    }
}

fn domain_reason(name: &str) -> Option<&'static str> {
    // A `Domain` from a non-special scheme (an opaque host) or built by hand has skipped the
    // WHATWG host parser, so `0x7f.1`, percent-escapes or full-width dots could still hide in it.
    match Host::parse(name) {
        Ok(Host::Domain(parsed)) => name_reason(&parsed),
        Ok(Host::Ipv4(addr)) => ipv4_reason(addr),
        Ok(Host::Ipv6(addr)) => ipv6_reason(addr),
        Err(_) => name_reason(name),
    }
}

fn name_reason(name: &str) -> Option<&'static str> {
    // A trailing dot only marks the name as fully qualified; resolvers treat it the same.
    let name = name.trim_end_matches('.').as_bytes();
    if is_or_under(name, LOCALHOST) {
        // RFC 6761: resolvers must answer loopback for `localhost` and every name under it.
        Some(LOCALHOST)
    } else if PRIVATE_ZONES.iter().any(|zone| is_or_under(name, zone)) {
        Some(RESERVED_NAME)
    } else {
        None
    }
}

/// Whether `name` is `zone` or a name under it, ignoring ASCII case.
fn is_or_under(name: &[u8], zone: &str) -> bool {
    let zone = zone.as_bytes();
    match name.len().checked_sub(zone.len()) {
        Some(0) => name.eq_ignore_ascii_case(zone),
        Some(start) => {
            let (head, tail) = name.split_at(start);
            head.ends_with(b".") && tail.eq_ignore_ascii_case(zone)
        }
        None => false,
    }
}

fn ipv4_reason(addr: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = addr.octets();
    if a == 0 {
        // 0.0.0.0/8 "this network": Linux and macOS deliver a connect to it to the local host.
        Some(UNSPECIFIED)
    } else if addr.is_loopback() {
        Some(LOOPBACK)
    } else if addr.is_private() {
        Some(PRIVATE)
    } else if addr.is_link_local() {
        // Includes 169.254.169.254, where cloud instances fetch their metadata and credentials.
        Some(LINK_LOCAL)
    } else if a == 100 && b & 0xc0 == 64 {
        // 100.64.0.0/10 is an ISP's or cloud's internal side of carrier-grade NAT (RFC 6598).
        Some(SHARED)
    } else if addr.is_multicast() || addr.is_broadcast() || a >= 240 {
        // 224.0.0.0/4 is multicast and 240.0.0.0/4 reserved; neither names a single host.
        Some(MULTICAST_OR_RESERVED)
    } else if (a, b, c) == (192, 0, 0) || (a == 198 && b & 0xfe == 18) {
        // 192.0.0.0/24 is kept for IETF protocols and 198.18.0.0/15 for benchmarking labs.
        Some(MULTICAST_OR_RESERVED)
    } else {
        None
    }
}

fn ipv6_reason(addr: Ipv6Addr) -> Option<&'static str> {
    let octets = addr.octets();
    let segments = addr.segments();
    if let Some(v4) = addr.to_ipv4_mapped() {
        // ::ffff:a.b.c.d goes out as plain IPv4 on a dual-stack socket.
        ipv4_reason(v4)
    } else if addr.is_unspecified() {
        Some(UNSPECIFIED)
    } else if addr.is_loopback() {
        Some(LOOPBACK)
    } else if segments[..6] == [0; 6] {
        // Deprecated IPv4-compatible ::a.b.c.d; some stacks still route it to the IPv4 inside.
        ipv4_reason(embedded_ipv4(&octets, 12))
    } else if addr.is_multicast() {
        Some(MULTICAST_OR_RESERVED)
    } else if addr.is_unicast_link_local() {
        Some(LINK_LOCAL)
    } else if addr.is_unique_local() || segments[0] & 0xffc0 == 0xfec0 {
        // fec0::/10 is the deprecated site-local range, private in the same way as fc00::/7.
        Some(PRIVATE)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 (RFC 6052): the gateway's translator connects to the IPv4 in the last 32 bits.
        ipv4_reason(embedded_ipv4(&octets, 12))
    } else if segments[..3] == [0x64, 0xff9b, 1] {
        // 64:ff9b:1::/48 is NAT64 for a site's own translators only (RFC 8215).
        Some(PRIVATE)
    } else if segments[0] == 0x2002 {
        // 6to4 (RFC 3056): a relay forwards to the IPv4 held in bits 16..48.
        ipv4_reason(embedded_ipv4(&octets, 2))
    } else if segments[..2] == [0x2001, 0] {
        // Teredo's relays are long gone, so no real webhook lives here, and its client address
        // is obfuscated and sits behind a NAT: refusing the prefix beats decoding it.
        Some(TEREDO)
    } else if segments[..3] == [0x2001, 2, 0] {
        // 2001:2::/48 is the IPv6 benchmarking range, like 198.18.0.0/15.
        Some(MULTICAST_OR_RESERVED)
    } else if segments[..4] == [0x100, 0, 0, 0] {
        // 100::/64 is the discard-only prefix (RFC 6666): nothing there answers.
        Some(MULTICAST_OR_RESERVED)
    } else if segments[0] & 0xe000 != 0x2000 {
        // Outside 2000::/3 nothing is global unicast: the rest is reserved or special-purpose.
        Some(MULTICAST_OR_RESERVED)
    } else {
        None
    }
}

/// The IPv4 address held in the four bytes of `octets` starting at `start`.
fn embedded_ipv4(octets: &[u8; 16], start: usize) -> Ipv4Addr {
    let mut v4 = [0; 4];
    v4.copy_from_slice(&octets[start..start + 4]);
    Ipv4Addr::from(v4)
}

#[cfg(test)]
mod tests {
    use super::*;

    use url::Url;

    fn reason_for(url: &str) -> Option<&'static str> {
        let parsed = Url::parse(url).expect("test URLs parse");
        let host = parsed.host().expect("test URLs have a host");
        private_host_reason(&host)
    }

    /// Checks every URL and reports all that were judged wrongly at once.
    fn assert_reasons(cases: &[(&str, Option<&str>)]) {
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|&(url, want)| {
                let got = reason_for(url);
                (got != want).then(|| format!("{url}: want {want:?}, got {got:?}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn url_parser_turns_numeric_hosts_into_ipv4() {
        for url in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
        ] {
            let parsed = Url::parse(url).expect("numeric hosts parse");
            assert_eq!(
                parsed.host(),
                Some(Host::Ipv4(Ipv4Addr::LOCALHOST)),
                "{url}"
            );
        }
    }

    #[test]
    fn refuses_localhost_names() {
        assert_reasons(&[
            ("http://localhost/", Some(LOCALHOST)),
            ("http://LOCALHOST./x", Some(LOCALHOST)),
            ("http://api.localhost/", Some(LOCALHOST)),
            ("http://a.b.localhost./", Some(LOCALHOST)),
        ]);
    }

    #[test]
    fn refuses_names_reserved_for_private_networks() {
        assert_reasons(&[
            ("http://printer.local/", Some(RESERVED_NAME)),
            ("http://metadata.google.internal/", Some(RESERVED_NAME)),
            ("http://box.localdomain./", Some(RESERVED_NAME)),
            ("http://nas.home.arpa/", Some(RESERVED_NAME)),
        ]);
    }

    #[test]
    fn refuses_loopback_ipv4_in_every_spelling() {
        assert_reasons(&[
            ("http://127.0.0.1/", Some(LOOPBACK)),
            ("http://127.1/", Some(LOOPBACK)),
            ("http://2130706433/", Some(LOOPBACK)),
            ("http://0x7f000001/", Some(LOOPBACK)),
            ("http://0177.0.0.1/", Some(LOOPBACK)),
            ("http://127.255.255.254/", Some(LOOPBACK)),
        ]);
    }

    #[test]
    fn refuses_non_public_ipv4() {
        assert_reasons(&[
            ("http://0.0.0.0/", Some(UNSPECIFIED)),
            ("http://0.1.2.3/", Some(UNSPECIFIED)),
            ("http://10.1.2.3/", Some(PRIVATE)),
            ("http://172.16.0.1/", Some(PRIVATE)),
            ("http://172.31.255.255/", Some(PRIVATE)),
            ("http://192.168.1.1/", Some(PRIVATE)),
            ("http://169.254.169.254/latest/meta-data", Some(LINK_LOCAL)),
            ("http://100.64.0.1/", Some(SHARED)),
            ("http://100.127.255.255/", Some(SHARED)),
            ("http://192.0.0.8/", Some(MULTICAST_OR_RESERVED)),
            ("http://198.18.0.1/", Some(MULTICAST_OR_RESERVED)),
            ("http://198.19.255.255/", Some(MULTICAST_OR_RESERVED)),
            ("http://224.0.0.1/", Some(MULTICAST_OR_RESERVED)),
            ("http://239.255.255.250/", Some(MULTICAST_OR_RESERVED)),
            ("http://240.0.0.1/", Some(MULTICAST_OR_RESERVED)),
            ("http://255.255.255.255/", Some(MULTICAST_OR_RESERVED)),
        ]);
    }

    #[test]
    fn refuses_non_public_ipv6() {
        assert_reasons(&[
            ("http://[::1]/", Some(LOOPBACK)),
            ("http://[::]/", Some(UNSPECIFIED)),
            ("http://[fe80::1]/", Some(LINK_LOCAL)),
            ("http://[febf::1]/", Some(LINK_LOCAL)),
            ("http://[fd00::1]/", Some(PRIVATE)),
            ("http://[fc00::1]/", Some(PRIVATE)),
            ("http://[fec0::1]/", Some(PRIVATE)),
            ("http://[ff02::1]/", Some(MULTICAST_OR_RESERVED)),
            ("http://[2001::1]/", Some(TEREDO)),
            ("http://[2001:2::1]/", Some(MULTICAST_OR_RESERVED)),
            ("http://[100::1]/", Some(MULTICAST_OR_RESERVED)),
            ("http://[5f00::1]/", Some(MULTICAST_OR_RESERVED)),
            ("http://[4000::1]/", Some(MULTICAST_OR_RESERVED)),
            ("http://[64:ff9b:1::a00:1]/", Some(PRIVATE)),
        ]);
    }

    #[test]
    fn refuses_ipv6_that_embeds_a_private_ipv4() {
        assert_reasons(&[
            ("http://[::ffff:127.0.0.1]/", Some(LOOPBACK)),
            ("http://[::ffff:10.0.0.1]/", Some(PRIVATE)),
            ("http://[::ffff:169.254.169.254]/", Some(LINK_LOCAL)),
            ("http://[::127.0.0.1]/", Some(LOOPBACK)),
            ("http://[::192.168.0.1]/", Some(PRIVATE)),
            ("http://[64:ff9b::10.0.0.1]/", Some(PRIVATE)),
            ("http://[64:ff9b::7f00:1]/", Some(LOOPBACK)),
            ("http://[2002:c0a8:0101::1]/", Some(PRIVATE)),
            ("http://[2002:7f00:1::]/", Some(LOOPBACK)),
            ("http://[2002:a9fe:a9fe::1]/", Some(LINK_LOCAL)),
        ]);
    }

    #[test]
    fn allows_public_hosts() {
        assert_reasons(&[
            ("https://example.com/hook", None),
            ("http://8.8.8.8/", None),
            ("http://172.32.0.1/", None),
            ("http://172.15.255.255/", None),
            ("http://100.128.0.1/", None),
            ("http://100.63.255.255/", None),
            ("http://198.20.0.1/", None),
            ("http://223.255.255.255/", None),
            ("http://[2606:4700::1111]/", None),
            ("http://[::ffff:8.8.8.8]/", None),
            ("http://[64:ff9b::8.8.8.8]/", None),
            ("http://[2002:808:808::1]/", None),
            ("http://[2001:4860:4860::8888]/", None),
            ("https://localhost.example.com/", None),
            ("https://notlocalhost/", None),
            ("https://mylocal/", None),
            ("https://local.example/", None),
            ("https://internal.example.com/", None),
        ]);
    }

    #[test]
    fn allows_documentation_ranges() {
        assert_reasons(&[
            ("http://192.0.2.1/", None),
            ("http://198.51.100.7/", None),
            ("http://203.0.113.9/", None),
            ("http://[2001:db8::1]/", None),
        ]);
    }

    #[test]
    fn judges_hosts_that_skipped_the_url_parser() {
        // Non-special schemes keep an opaque host, and callers may build a `Host` themselves.
        assert_eq!(reason_for("foo://127.0.0.1/"), Some(LOOPBACK));
        assert_eq!(reason_for("foo://LocalHost./"), Some(LOCALHOST));
        assert_eq!(reason_for("foo://%6cocalhost/"), Some(LOCALHOST));
        assert_eq!(reason_for("foo://[::1]/"), Some(LOOPBACK));
        assert_eq!(private_host_reason(&Host::Domain("0x7f.1")), Some(LOOPBACK));
        assert_eq!(
            private_host_reason(&Host::Domain("2130706433")),
            Some(LOOPBACK)
        );
        assert_eq!(
            private_host_reason(&Host::Domain("A.B.LOCALHOST..")),
            Some(LOCALHOST)
        );
        assert_eq!(
            private_host_reason(&Host::Domain("Printer.LOCAL")),
            Some(RESERVED_NAME)
        );
        assert_eq!(
            private_host_reason(&Host::Domain("localhost。")),
            Some(LOCALHOST)
        );
        assert_eq!(private_host_reason(&Host::Domain("exa mple.com")), None);
        assert_eq!(private_host_reason(&Host::Domain("example.com")), None);
    }
}
