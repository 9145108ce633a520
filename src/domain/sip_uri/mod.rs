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
mod tests;
