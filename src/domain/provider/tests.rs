//! Unit tests of `provider`.

use super::*;

#[test]
fn generated_urls_follow_each_provider_scheme() {
    let d = SipDomains::default();
    let vapi = ProviderConfig::Vapi(VapiConfig {
        assistant_id: "asst".into(),
        credential_id: None,
        vapi_phone_number_id: None,
    });
    assert_eq!(
        vapi.generated_url(&d).as_deref(),
        Some("sip:asst@sip.vapi.ai")
    );
    let byo = ProviderConfig::Vapi(VapiConfig {
        assistant_id: "asst".into(),
        credential_id: Some("cred-1".into()),
        vapi_phone_number_id: None,
    });
    assert_eq!(
        byo.generated_url(&d).as_deref(),
        Some("sip:asst@cred-1.sip.vapi.ai")
    );
    let retell = ProviderConfig::Retell(RetellConfig {
        agent_id: "ag".into(),
        retell_phone_number: None,
    });
    assert_eq!(
        retell.generated_url(&d).as_deref(),
        Some("sip:ag@sip.retellai.com;transport=tcp")
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let s = Secret::Plain("hunter2".into());
    assert!(!format!("{s:?}").contains("hunter2"));
    assert!(
        serde_json::to_value(&s).is_err(),
        "plaintext is never serialized"
    );
}

fn validate(input: ProviderConfigInput) -> Result<ProviderConfig, Vec<(String, UserErrorCode)>> {
    let mut errors = Vec::new();
    match input.validate(None, &mut errors) {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(errors
            .into_iter()
            .map(|e| match e.field {
                Field::ProviderConfigField(_, name) => (name.to_owned(), e.code),
                other => (format!("{other:?}"), e.code),
            })
            .collect()),
    }
}

#[test]
fn each_provider_requires_the_seeds_fields() {
    let cases = [
        (
            ProviderConfigInput::Vapi {
                assistant_id: None,
                credential_id: None,
                vapi_phone_number_id: None,
            },
            vec!["assistant_id"],
        ),
        (
            ProviderConfigInput::Retell {
                agent_id: None,
                retell_phone_number: None,
            },
            vec!["agent_id"],
        ),
        (
            ProviderConfigInput::ElevenLabs {
                elevenlabs_agent_id: None,
            },
            vec!["elevenlabs_agent_id"],
        ),
        (
            ProviderConfigInput::LiveKit {
                livekit_agent_name: None,
                livekit_sip_trunk_id: None,
                livekit_sip_uri: None,
            },
            vec!["livekit_sip_trunk_id", "livekit_sip_uri"],
        ),
        (
            ProviderConfigInput::Vogent {
                vogent_agent_id: None,
                vogent_sip_prefix: None,
                vogent_sip_username: None,
                vogent_sip_password: None,
            },
            vec![
                "vogent_sip_prefix",
                "vogent_sip_username",
                "vogent_sip_password",
            ],
        ),
        (
            ProviderConfigInput::CustomSip {
                sip_uri: None,
                username: None,
                password: None,
            },
            vec!["sip_uri"],
        ),
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
        let errors = validate(ProviderConfigInput::Vapi {
            assistant_id: Some(bad.to_owned()),
            credential_id: None,
            vapi_phone_number_id: None,
        })
        .expect_err(bad);
        assert_eq!(errors[0].0, "assistant_id", "{bad:?}");
    }
    for bad in ["-x", "x-", "a.b", "a_b", &"a".repeat(64)] {
        let errors = validate(ProviderConfigInput::Vapi {
            assistant_id: Some("asst".to_owned()),
            credential_id: Some(bad.to_owned()),
            vapi_phone_number_id: None,
        })
        .expect_err(bad);
        assert_eq!(
            errors,
            vec![("credential_id".to_owned(), UserErrorCode::Invalid)],
            "{bad:?}"
        );
    }
    let ok = validate(ProviderConfigInput::Retell {
        agent_id: Some("agent_1.a-b~c".to_owned()),
        retell_phone_number: Some("+14155550123".to_owned()),
    })
    .expect("valid");
    assert_eq!(
        ok.generated_url(&SipDomains::default()).as_deref(),
        Some("sip:agent_1.a-b~c@sip.retellai.com;transport=tcp")
    );
    let errors = validate(ProviderConfigInput::LiveKit {
        livekit_agent_name: None,
        livekit_sip_trunk_id: Some("ST_1".to_owned()),
        livekit_sip_uri: Some("sip:a@host?Route=x".to_owned()),
    })
    .expect_err("headers");
    assert_eq!(
        errors,
        vec![("livekit_sip_uri".to_owned(), UserErrorCode::InvalidSipUri)]
    );
}

#[test]
fn every_generated_url_is_a_valid_sip_uri() {
    let d = SipDomains::default();
    let configs = [
        validate(ProviderConfigInput::ElevenLabs {
            elevenlabs_agent_id: Some("el_1".into()),
        }),
        validate(ProviderConfigInput::Vogent {
            vogent_agent_id: None,
            vogent_sip_prefix: Some("p1".into()),
            vogent_sip_username: Some("u".into()),
            vogent_sip_password: Some(Secret::Plain("pw".into())),
        }),
        validate(ProviderConfigInput::LiveKit {
            livekit_agent_name: None,
            livekit_sip_trunk_id: Some("ST".into()),
            livekit_sip_uri: Some("sip:x.sip.livekit.cloud".into()),
        }),
    ];
    let urls: Vec<String> = configs
        .into_iter()
        .map(|c| c.expect("valid").generated_url(&d).expect("generated"))
        .collect();
    assert_eq!(
        urls,
        [
            "sip:el_1@sip.rtc.elevenlabs.io:5060;transport=tcp",
            "sip:p1@sip.vogent.ai",
            "sip:x.sip.livekit.cloud",
        ]
    );
    for url in &urls {
        assert_eq!(super::super::sip_uri::check(url), Ok(()), "{url}");
    }
}
