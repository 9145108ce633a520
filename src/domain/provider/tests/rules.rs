//! Unit tests of the rules a config's fields are parsed by: what each refuses, and with
//! which code.

use super::*;

#[test]
fn each_provider_requires_the_seeds_fields() {
    let cases = [
        (input(EndpointType::Vapi, &[]), vec!["assistant_id"]),
        (input(EndpointType::Retell, &[]), vec!["agent_id"]),
        (
            input(EndpointType::Elevenlabs, &[]),
            vec!["elevenlabs_agent_id"],
        ),
        (
            input(EndpointType::Livekit, &[]),
            vec!["livekit_sip_trunk_id", "livekit_sip_uri"],
        ),
        (
            input(EndpointType::Vogent, &[]),
            vec![
                "vogent_sip_prefix",
                "vogent_sip_username",
                "vogent_sip_password",
            ],
        ),
        (input(EndpointType::CustomSip, &[]), vec!["sip_uri"]),
    ];
    for (input, required) in cases {
        let errors = validate(input.clone()).expect_err("fields are missing");
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, required, "{input:?}");
        assert!(
            errors
                .iter()
                .all(|(_, code)| *code == UserErrorCode::Required),
            "{errors:?}"
        );
    }
}

#[test]
fn ids_that_become_sip_users_or_hosts_keep_to_their_charsets() {
    for bad in ["a@b", "a;b", "a b", "a:b", "a/b", "a>b", ""] {
        let errors = validate(input(EndpointType::Vapi, &[("assistant_id", bad)])).expect_err(bad);
        assert_eq!(errors[0].0, "assistant_id", "{bad:?}");
    }
    for bad in ["-x", "x-", "a.b", "a_b", "a b"] {
        let errors = validate(input(
            EndpointType::Vapi,
            &[("assistant_id", "asst"), ("credential_id", bad)],
        ))
        .expect_err(bad);
        assert_eq!(
            errors,
            vec![("credential_id".to_owned(), UserErrorCode::Invalid)],
            "{bad:?}"
        );
    }
    let ok = validate(input(
        EndpointType::Retell,
        &[
            ("agent_id", "agent_1.a-b~c"),
            ("retell_phone_number", "+14155550123"),
        ],
    ))
    .expect("valid");
    assert_eq!(
        ok.generated_url(&SipDomains::default()).as_deref(),
        Some("sip:agent_1.a-b~c@sip.retellai.com;transport=tcp")
    );
    let errors = validate(input(
        EndpointType::Livekit,
        &[
            ("livekit_sip_trunk_id", "ST_1"),
            ("livekit_sip_uri", "sip:a@host?Route=x"),
        ],
    ))
    .expect_err("headers");
    assert_eq!(
        errors,
        vec![("livekit_sip_uri".to_owned(), UserErrorCode::InvalidSipUri)]
    );
}

#[test]
fn text_fields_refuse_blank_long_and_control_text() {
    let cases = [
        ("   ", UserErrorCode::Blank),
        ("a\u{7}b", UserErrorCode::Invalid),
        (&*"x".repeat(256), UserErrorCode::TooLong),
    ];
    for (bad, code) in cases {
        let errors = validate(input(
            EndpointType::Livekit,
            &[
                ("livekit_agent_name", bad),
                ("livekit_sip_trunk_id", bad),
                ("livekit_sip_uri", "sip:x.sip.livekit.cloud"),
            ],
        ))
        .expect_err(bad);
        assert_eq!(
            errors,
            vec![
                ("livekit_agent_name".to_owned(), code),
                ("livekit_sip_trunk_id".to_owned(), code)
            ]
        );
    }
    let long_id = "a".repeat(129);
    assert_eq!(
        validate(input(EndpointType::Retell, &[("agent_id", &long_id)])),
        Err(vec![("agent_id".to_owned(), UserErrorCode::TooLong)])
    );
}

#[test]
fn a_dns_label_reports_blank_and_long_as_every_field_does() {
    for (bad, code) in [
        ("", UserErrorCode::Blank),
        ("  ", UserErrorCode::Blank),
        (&*"a".repeat(64), UserErrorCode::TooLong),
    ] {
        assert_eq!(
            validate(input(
                EndpointType::Vapi,
                &[("assistant_id", "asst"), ("credential_id", bad)]
            )),
            Err(vec![("credential_id".to_owned(), code)]),
            "{bad:?}"
        );
    }
    assert!(
        validate(input(
            EndpointType::Vapi,
            &[("assistant_id", "asst"), ("credential_id", &"a".repeat(63))]
        ))
        .is_ok()
    );
}
