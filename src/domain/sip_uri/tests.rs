//! Unit tests of `sip_uri`.

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
