//! SIP URIs (RFC 3261 §19.1, §25.1): `sip:`/`sips:` URIs checked against the grammar of the parts the gateway accepts.
//!
//! The gateway hands these URIs to SIP providers verbatim, so anything the grammar does not
//! allow — a stray `<`, `>` or `"` in particular — could break out of the `Request-URI` or a
//! `To:` header on the far side. Rather than repair such text, [`check`] refuses it.
//!
//! Splitting off the userinfo: a literal `@` is legal nowhere in a SIP URI except as the end of
//! the userinfo (user, password, host, port, parameters and headers all exclude it; it must be
//! sent as `%40`). A valid URI therefore holds at most one `@`, and the first one is the only
//! possible split. Splitting at the first `@` (rather than searching for one whose right-hand
//! side parses) is thus exact, and a stray later `@` — say, an unescaped one in a header value —
//! gets reported against the part that holds it. The user part may still contain `;`, `?` and
//! `/`, since the split looks only for `@`.
//!
//! Deliberately narrower than RFC 3261:
//! - a password (`user:password@`) is refused, so that secrets don't end up in a URL column;
//! - the user part must match `user`; text of `telephone-subscriber` (RFC 2806) is accepted
//!   only where it also fits `user` (as `+15551234567;...` does);
//! - host names also keep to DNS limits (labels of at most 63 characters, 253 in all).

use std::net::Ipv6Addr;

pub const MAX_URI_LEN: usize = 2048;

const PASSWORD: &str = "it holds a password (user:password@); send the password in the \
                        provider config's password field, which is stored sealed";
const BAD_HOST: &str = "the host is missing or not a valid domain name or address";
const BAD_PARAM: &str = "a URI parameter has a character RFC 3261 does not allow";
const BAD_HEADER: &str = "a URI header has a character RFC 3261 does not allow";
const HEADER_NOT_PAIR: &str = "a URI header must be name=value";
const HEADERS_NOT_ALLOWED: &str =
    "it has a headers part (?name=value), which a URI that calls are routed to may not carry";

/// Checks a `sip:`/`sips:` URI: `sip:[user@]host[:port][;uri-parameters][?headers]`. The Err is a reason phrase in English
/// that completes the sentence "… is not a valid SIP URI: <reason>", lower-case start, no trailing period.
pub fn check(value: &str) -> Result<(), &'static str> {
    // `nth` stops after MAX_URI_LEN + 1 characters, so a huge value costs no more than a legal
    // one; the byte length is only a shortcut, as multi-byte characters make it overcount.
    if value.len() > MAX_URI_LEN && value.chars().nth(MAX_URI_LEN).is_some() {
        return Err("it is longer than 2048 characters");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains white space or control characters");
    }
    // Past this point every character is one byte, so byte offsets are character boundaries.
    if !value.is_ascii() {
        return Err("it contains non-ASCII characters, which RFC 3261 requires percent-escaped");
    }
    if has_escaped_control(value) {
        return Err(
            "it holds a percent-escape of a control character, a line separator or bytes that aren't UTF-8",
        );
    }
    let rest = strip_scheme(value).ok_or("it must start with sip: or sips:")?;
    let hostport = match rest.split_once('@') {
        Some((userinfo, hostport)) => {
            check_userinfo(userinfo)?;
            hostport
        }
        None => rest,
    };
    let rest = check_hostport(hostport)?;
    let (params, headers) = split_at_any(rest, &['?']);
    // `params` is empty or starts with ';', so the first piece is always the empty one before it.
    params.split(';').skip(1).try_for_each(check_param)?;
    if let Some(headers) = headers.strip_prefix('?') {
        headers.split('&').try_for_each(check_header)?;
        // Grammatical, but calls are sent to this URI: RFC 3261 §19.1.5 keeps headers out of
        // a Request-URI, and a tenant's headers must not reach the provider's signalling.
        return Err(HEADERS_NOT_ALLOWED);
    }
    Ok(())
}

/// Whether the URI's escapes decode to something no part of a URI put on the wire should carry
/// once unescaped: bytes that aren't UTF-8, control characters (C0, DEL, C1 — CR/LF would
/// split SIP headers) or line separators.
fn has_escaped_control(value: &str) -> bool {
    if !value.contains('%') {
        return false;
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
    match std::str::from_utf8(&decoded) {
        Ok(text) => text
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')),
        Err(_) => true,
    }
}

/// The URI after `sip:` or `sips:`, which RFC 3261 §19.1.4 compares case-insensitively.
fn strip_scheme(value: &str) -> Option<&str> {
    ["sip:", "sips:"].into_iter().find_map(|scheme| {
        let (head, tail) = value.split_at_checked(scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then_some(tail)
    })
}

/// Splits before the first of `delimiters`, or at the end when there is none.
fn split_at_any<'a>(s: &'a str, delimiters: &[char]) -> (&'a str, &'a str) {
    s.split_at(s.find(delimiters).unwrap_or(s.len()))
}

fn check_userinfo(userinfo: &str) -> Result<(), &'static str> {
    // Checked before the user itself so that the reason never sends the client off fixing
    // characters of a password it should not be sending at all.
    if userinfo.contains(':') {
        return Err(PASSWORD);
    }
    if userinfo.is_empty() {
        return Err("the user part before '@' is empty");
    }
    if !is_escaped_run(userinfo, is_user_char) {
        return Err("the user part has a character RFC 3261 does not allow");
    }
    Ok(())
}

/// Checks `host[:port]` at the front of `s` and returns what follows it: nothing, or the
/// parameters and headers starting at their ';' or '?'.
fn check_hostport(s: &str) -> Result<&str, &'static str> {
    let after_host = match s.strip_prefix('[') {
        Some(bracketed) => {
            let (address, tail) = bracketed
                .split_once(']')
                .ok_or("an IPv6 host lacks its ']'")?;
            address
                .parse::<Ipv6Addr>()
                .map_err(|_| "the IPv6 host is not a valid address")?;
            tail
        }
        None => {
            // Taking everything up to the next delimiter, not just the characters a host may
            // hold, makes `ho_st.com` a bad host rather than a host followed by junk.
            let (host, tail) = split_at_any(s, &[':', ';', '?']);
            if !is_ipv4(host) && !is_hostname(host) {
                return Err(BAD_HOST);
            }
            tail
        }
    };
    let rest = match after_host.strip_prefix(':') {
        Some(port_and_rest) => {
            let (port, rest) = split_at_any(port_and_rest, &[';', '?']);
            check_port(port)?;
            rest
        }
        None => after_host,
    };
    if rest.is_empty() || rest.starts_with([';', '?']) {
        Ok(rest)
    } else {
        Err("unexpected characters after the host")
    }
}

fn check_port(port: &str) -> Result<(), &'static str> {
    // The digit check comes first because u16's parser would also take a leading '+'.
    let valid = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|port| port != 0);
    if valid {
        Ok(())
    } else {
        Err("the port is not a number from 1 to 65535")
    }
}

/// RFC 3261's `IPv4address`: four dot-separated runs of 1 to 3 digits, each at most 255.
/// (std's `Ipv4Addr` parser is stricter: it refuses the leading zeros the grammar allows.)
fn is_ipv4(host: &str) -> bool {
    host.split('.').count() == 4
        && host.split('.').all(|octet| {
            (1..=3).contains(&octet.len())
                && octet.bytes().all(|b| b.is_ascii_digit())
                && octet.parse::<u8>().is_ok()
        })
}

/// RFC 3261's `hostname`, within DNS's length limits. The top label must start with a letter,
/// so a bad dotted quad such as `1.2.3.256` is not taken for a name.
fn is_hostname(host: &str) -> bool {
    // The grammar allows the trailing dot of a fully qualified name; DNS doesn't count it.
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let mut labels = name.rsplit('.');
    let top_ok = labels
        .next()
        .is_some_and(|top| is_label(top) && top.starts_with(|c: char| c.is_ascii_alphabetic()));
    top_ok && labels.all(is_label)
}

/// A `domainlabel`: letters, digits and inner hyphens, at most 63 characters.
fn is_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let ends_ok = matches!(
        (bytes.first(), bytes.last()),
        (Some(first), Some(last)) if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
    );
    ends_ok
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `uri-parameter = pname [ "=" pvalue ]`, both made of `paramchar`.
fn check_param(param: &str) -> Result<(), &'static str> {
    if param.is_empty() {
        return Err("a URI parameter is empty");
    }
    let (name, value) = match param.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (param, None),
    };
    if name.is_empty() || value == Some("") {
        return Err("a URI parameter has an empty name or value");
    }
    // `paramchar` excludes '=', so a second one in the value is caught here.
    let value_ok = value.is_none_or(|value| is_escaped_run(value, is_param_char));
    if is_escaped_run(name, is_param_char) && value_ok {
        Ok(())
    } else {
        Err(BAD_PARAM)
    }
}

/// `header = hname "=" hvalue`; the value may be empty, the name may not.
fn check_header(header: &str) -> Result<(), &'static str> {
    let (name, value) = header.split_once('=').ok_or(HEADER_NOT_PAIR)?;
    if name.is_empty() {
        return Err(HEADER_NOT_PAIR);
    }
    if is_escaped_run(name, is_header_char) && is_escaped_run(value, is_header_char) {
        Ok(())
    } else {
        Err(BAD_HEADER)
    }
}

/// Whether `s` consists only of bytes `allowed` accepts and `%` escapes with two hex digits.
/// None of the classes below contains '%', so a lone or short escape is refused.
fn is_escaped_run(s: &str, allowed: fn(u8) -> bool) -> bool {
    let mut rest = s.as_bytes();
    loop {
        rest = match rest {
            [] => return true,
            [b'%', high, low, tail @ ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                tail
            }
            [b, tail @ ..] if allowed(*b) => tail,
            _ => return false,
        };
    }
}

/// `unreserved = alphanum / mark`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// `unreserved / user-unreserved`.
fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || b"&=+$,;?/".contains(&b)
}

/// `paramchar` without `escaped`: `param-unreserved / unreserved`.
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || b"[]/:&+$".contains(&b)
}

/// `hnv-unreserved / unreserved`.
fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || b"[]/?:+$".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_escaped_controls_are_refused() {
        for uri in [
            "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:a@example.com?Route=%3Csip:evil%3E",
            "sip:a@example.com?Call-ID=x",
            "sip:a@host?h=a?b&i=[x]:y",
            "sip:a@host?h=",
            "sip:a@[::1]?h=v",
        ] {
            assert_eq!(check(uri), Err(HEADERS_NOT_ALLOWED), "{uri}");
        }
        for uri in [
            "sip:a%00@example.com",
            "sip:a@example.com;a=%00",
            "sip:a@example.com;a=%0d%0aVia:x",
            "sip:a%7F@example.com",
            "sip:a%1f@example.com",
            "sip:a%C2%85@example.com",
            "sip:a%c2%80@example.com",
            "sip:a%E2%80%A8@example.com",
            "sip:a%80@example.com",
            "sip:a@example.com;p=%ff",
        ] {
            assert!(
                check(uri).is_err_and(|e| e.contains("percent-escape")),
                "{uri}"
            );
        }
        assert_eq!(check("sip:a%20b%7e@example.com"), Ok(()));
        assert_eq!(check("sip:j%C3%B6rg@example.com"), Ok(()));
    }

    const ACCEPTED: &[&str] = &[
        "sip:abc@sip.vapi.ai",
        "sips:bob@example.com:5061;transport=tls",
        "sip:xxxx.sip.livekit.cloud",
        "SIP:alice@[2001:db8::1]:5060",
        "sip:+15551234567@trunk.example.com;user=phone",
        "sip:asst@cred-1.sip.vapi.ai",
        "sip:ag@sip.retellai.com;transport=tcp",
        "sip:a@sip.rtc.elevenlabs.io:5060;transport=tcp",
        "sip:alice%20smith@example.com",
        "sip:bob@192.0.2.4",
        "sip:carol@chicago.com;lr",
        "sip:x@example.com;maddr=[2001:db8::9]",
        // RFC 3261 §19.1.3: ';' and an escaped '@' in the user part.
        "sip:user;par=u%40example.net@example.com",
        "sip:example.com.",
        // Beyond the brief's list: edges of each rule.
        "sIpS:bob@example.com",
        "sip:a;b@example.com",
        "sip:a?b@example.com",
        "sip:a/b@example.com",
        "sip:a@host:1",
        "sip:a@host:65535",
        "sip:a@host:05060",
        "sip:a@010.0.0.1",
        "sip:a@1.2.3.a",
        "sip:a@[::ffff:192.0.2.1]",
        "sip:a@[::1];transport=udp",
        "sip:a@host;p='x'",
        "sip:a@host;p=%3C;q",
        "sip:%41@host",
    ];

    const REFUSED: &[&str] = &[
        "http://example.com",
        "sip:",
        "sip:@host",
        "sip:a@",
        "sip:a@host:0",
        "sip:a@host:99999",
        "sip:a b@host",
        "sip:a@-host.com",
        "sip:a@[zz::1]",
        "sip:alice:secret@pbx.example.com",
        "sip:a<b@host",
        "sip:a>b@host",
        "sip:\"a\"@host",
        "sip:a@host;x=<y>",
        "sip:a@host;x=\"y\"",
        "sip:a@host;transport=tcp>",
        "sip:a@host?h=<x>",
        "sip:a@host?h",
        "sip:a%zz@host",
        "sip:a%2@host",
        "sip:a@ho_st.com",
        "sip:a@host;=v",
        "sip:a@host;p=",
        "sip:a@host:5060x",
        "sip:a@1.2.3.256",
        "sip:á@host",
        "sip:a@host\r\nVia: x",
        "sip:a@host;p={x}",
        "sip:a@host|x",
        "sip:a@host;p=a\\b",
        "sip:a@[::1",
        "sip:a@host..com",
        // Beyond the brief's list.
        "sip",
        "sip:a@b@host",
        "sip:a@host?to=b@example.com",
        "sip:a@host;p=x@y",
        "sip:a@host;",
        "sip:a@host;;p",
        "sip:a@host;p=a=b",
        "sip:a@host?",
        "sip:a@host?h=v&",
        "sip:a@host?=v",
        "sip:a@host?h=v;x",
        "sip:a@host:",
        "sip:a@host:+5060",
        "sip:a@[::1]x",
        "sip:a@[]",
        "sip:a@[fe80::1%25eth0]",
        "sip:a@1.2.3",
        "sip:a@1.2.3.4.",
        "sip:a@host-.com",
        "sip:a@.host.com",
        "sip:a@.",
        "sip:a@host.com..",
        "sip:a%@host",
        "sip:a@host;p=%4",
        "sip:a\u{a0}b@host",
        "sip:a@host\u{7f}",
    ];

    #[test]
    fn accepts_valid_uris() {
        for uri in ACCEPTED {
            assert_eq!(check(uri), Ok(()), "{uri:?}");
        }
    }

    #[test]
    fn refuses_invalid_uris() {
        for uri in REFUSED {
            assert!(check(uri).is_err(), "{uri:?} was accepted");
        }
    }

    #[test]
    fn reasons_complete_the_sentence() {
        for uri in REFUSED {
            let Err(reason) = check(uri) else { continue };
            let first = reason.chars().next();
            assert!(first.is_some_and(char::is_lowercase), "{reason:?}");
            assert!(!reason.ends_with('.'), "{reason:?}");
        }
    }

    #[test]
    fn length_limit_counts_characters() {
        let suffix = "@example.com";
        let fits = format!("sip:{}{suffix}", "a".repeat(MAX_URI_LEN - 4 - suffix.len()));
        assert_eq!(fits.len(), MAX_URI_LEN);
        assert_eq!(check(&fits), Ok(()));

        let too_long = format!("{fits}a");
        assert_eq!(check(&too_long), Err("it is longer than 2048 characters"));
        assert!(check(&too_long).is_err_and(|e| e.contains(&MAX_URI_LEN.to_string())));

        // Over the limit in bytes but not in characters: refused for what it holds instead.
        let wide = format!("sip:{}@example.com", "á".repeat(1100));
        assert!(wide.len() > MAX_URI_LEN);
        assert!(check(&wide).is_err_and(|e| e.contains("non-ASCII")));
    }

    #[test]
    fn password_reason_is_exact() {
        assert_eq!(
            check("sip:alice:secret@pbx.example.com"),
            Err(
                "it holds a password (user:password@); send the password in the provider \
                 config's password field, which is stored sealed"
            )
        );
        assert!(PASSWORD.contains("config's password field, which"));
    }

    #[test]
    fn reasons() {
        let cases = [
            ("http://example.com", "it must start with sip: or sips:"),
            (
                "sip:a b@host",
                "it contains white space or control characters",
            ),
            (
                "sip:a@host\r\nVia: x",
                "it contains white space or control characters",
            ),
            (
                "sip:á@host",
                "it contains non-ASCII characters, which RFC 3261 requires percent-escaped",
            ),
            ("sip:@host", "the user part before '@' is empty"),
            ("sip:alice:secret@pbx.example.com", PASSWORD),
            ("sip::secret@host", PASSWORD),
            ("sip:a<b:secret@host", PASSWORD),
            (
                "sip:a<b@host",
                "the user part has a character RFC 3261 does not allow",
            ),
            (
                "sip:a%zz@host",
                "the user part has a character RFC 3261 does not allow",
            ),
            ("sip:", BAD_HOST),
            ("sip:a@", BAD_HOST),
            ("sip:a@-host.com", BAD_HOST),
            ("sip:a@ho_st.com", BAD_HOST),
            ("sip:a@host|x", BAD_HOST),
            ("sip:a@1.2.3.256", BAD_HOST),
            ("sip:a@host..com", BAD_HOST),
            ("sip:a@[::1", "an IPv6 host lacks its ']'"),
            ("sip:a@[zz::1]", "the IPv6 host is not a valid address"),
            ("sip:a@host:0", "the port is not a number from 1 to 65535"),
            (
                "sip:a@host:99999",
                "the port is not a number from 1 to 65535",
            ),
            (
                "sip:a@host:5060x",
                "the port is not a number from 1 to 65535",
            ),
            ("sip:a@[::1]x", "unexpected characters after the host"),
            ("sip:a@host;x=<y>", BAD_PARAM),
            ("sip:a@host;transport=tcp>", BAD_PARAM),
            ("sip:a@host;p=x@y", BAD_PARAM),
            ("sip:a@host;", "a URI parameter is empty"),
            (
                "sip:a@host;=v",
                "a URI parameter has an empty name or value",
            ),
            (
                "sip:a@host;p=",
                "a URI parameter has an empty name or value",
            ),
            ("sip:a@host?h=<x>", BAD_HEADER),
            ("sip:a@host?to=b@example.com", BAD_HEADER),
            ("sip:a@host?h", HEADER_NOT_PAIR),
            ("sip:a@host?=v", HEADER_NOT_PAIR),
        ];
        for (uri, reason) in cases {
            assert_eq!(check(uri), Err(reason), "{uri:?}");
        }
    }

    #[test]
    fn host_length_limits() {
        let label = "a".repeat(63);
        assert_eq!(check(&format!("sip:{label}.com")), Ok(()));
        assert_eq!(check(&format!("sip:{label}a.com")), Err(BAD_HOST));

        // 4 labels of 61 plus 3 dots = 247; "abcde" brings it to 253, "abcdef" to 254.
        let long = vec!["b".repeat(61); 4].join(".");
        assert_eq!(check(&format!("sip:{long}.abcde")), Ok(()));
        assert_eq!(check(&format!("sip:{long}.abcde.")), Ok(()));
        assert_eq!(check(&format!("sip:{long}.abcdef")), Err(BAD_HOST));
    }

    /// Every ASCII character but the three with rules of their own, between two letters of the
    /// user part.
    #[test]
    fn user_part_characters() {
        for c in (0u8..=0x7F).map(char::from).filter(|c| !"%@:".contains(*c)) {
            let uri = format!("sip:a{c}b@example.com");
            let expected = c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c);
            assert_eq!(check(&uri).is_ok(), expected, "{uri:?}: {:?}", check(&uri));
        }
    }
}
