//! Unit tests of parsing a client's config: each value once, into its rule's type, over the
//! stored config's typed values.

use super::*;
use crate::domain::provider::input as sent;

/// A stored Vapi config whose assistant id today's `SipUser` rule refuses.
fn stored_vapi_with_a_since_refused_id() -> ProviderConfig {
    let json = serde_json::json!({
        "assistant_id": "asst@old",
        "credential_id": null,
        "vapi_phone_number_id": null,
    });
    ProviderConfig::from_stored(EndpointType::Vapi, Some(&json))
        .expect("a stored value is read back unchecked")
        .expect("a config")
}

#[test]
fn a_stored_value_a_rule_now_refuses_survives_a_patch_of_another_field() {
    let stored = stored_vapi_with_a_since_refused_id();
    let patch = ProviderConfigInput::Vapi(sent::VapiConfig {
        vapi_phone_number_id: Some(Some("+14155550123".to_owned())),
        ..Default::default()
    });
    let Ok(ProviderConfig::Vapi(patched)) = parse(patch, Some(&stored)) else {
        panic!("a patch of another field is not refused for a stored value");
    };
    assert_eq!(patched.assistant_id, "asst@old");
    assert_eq!(
        patched.vapi_phone_number_id.as_ref().map(Text::as_str),
        Some("+14155550123")
    );
    assert_eq!(
        ProviderConfig::Vapi(patched.clone())
            .generated_url(&SipDomains::default())
            .as_deref(),
        Some("sip:asst@old@sip.vapi.ai"),
        "the stored value is used as stored"
    );

    // Given again, the value is parsed, and refused.
    let given = ProviderConfigInput::Vapi(sent::VapiConfig {
        assistant_id: Some(Some("asst@old".to_owned())),
        ..Default::default()
    });
    assert_eq!(
        parse(given, Some(&stored)),
        Err(vec![("assistant_id".to_owned(), UserErrorCode::Invalid)])
    );
}

#[test]
fn a_patch_keeps_what_it_leaves_out_and_clears_what_it_nulls() {
    let stored = validate(input(
        EndpointType::CustomSip,
        &[
            ("sip_uri", "sip:a@pbx.example.com"),
            ("username", "alice"),
            ("password", "pw"),
        ],
    ))
    .expect("valid");
    let keep_all = ProviderConfigInput::CustomSip(sent::CustomSipConfig::default());
    assert_eq!(parse(keep_all, Some(&stored)), Ok(stored.clone()));

    let cleared = ProviderConfigInput::CustomSip(sent::CustomSipConfig {
        username: Some(None),
        password: Some(None),
        ..Default::default()
    });
    let Ok(ProviderConfig::CustomSip(cleared)) = parse(cleared, Some(&stored)) else {
        panic!("optional fields may be cleared");
    };
    assert_eq!((cleared.username, cleared.password), (None, None));
    assert_eq!(cleared.sip_uri, "sip:a@pbx.example.com");

    let required = ProviderConfigInput::CustomSip(sent::CustomSipConfig {
        sip_uri: Some(None),
        ..Default::default()
    });
    assert_eq!(
        parse(required, Some(&stored)),
        Err(vec![("sip_uri".to_owned(), UserErrorCode::Required)])
    );
}

#[test]
fn a_required_secret_nulled_is_required_and_left_out_is_kept() {
    let stored = validate(input(
        EndpointType::Vogent,
        &[
            ("vogent_sip_prefix", "p1"),
            ("vogent_sip_username", "u"),
            ("vogent_sip_password", "first"),
        ],
    ))
    .expect("valid");
    let nulled = ProviderConfigInput::Vogent(sent::VogentConfig {
        vogent_sip_password: Some(None),
        ..Default::default()
    });
    assert_eq!(
        parse(nulled, Some(&stored)),
        Err(vec![(
            "vogent_sip_password".to_owned(),
            UserErrorCode::Required
        )])
    );
    let renamed = ProviderConfigInput::Vogent(sent::VogentConfig {
        vogent_sip_username: Some(Some("u2".to_owned())),
        ..Default::default()
    });
    let Ok(ProviderConfig::Vogent(renamed)) = parse(renamed, Some(&stored)) else {
        panic!("a valid patch");
    };
    assert_eq!(renamed.vogent_sip_password, Secret::Plain("first".into()));
    assert_eq!(renamed.vogent_sip_username, "u2");
}

#[test]
fn values_parse_with_the_rules_codes_and_messages_and_store_as_strings() {
    assert_eq!(
        SipUser::parse("a b".into()),
        Err((
            UserErrorCode::Invalid,
            "{field} may contain only letters, digits, '-', '_', '.' and '~'".to_owned()
        ))
    );
    assert_eq!(
        DnsLabel::parse(" ".into()),
        Err((UserErrorCode::Blank, "{field} can't be blank".to_owned()))
    );
    assert_eq!(
        Text::parse("x".repeat(256)),
        Err((
            UserErrorCode::TooLong,
            "{field} is longer than 255 characters".to_owned()
        ))
    );
    assert!(matches!(
        SipUri::parse("https://a.example".into()),
        Err((UserErrorCode::InvalidSipUri, message)) if message.starts_with("{field} is not a valid SIP URI: ")
    ));
    assert!(matches!(
        Secret::parse(String::new()),
        Err((UserErrorCode::Blank, _))
    ));

    let user: SipUser = valid("agent_1");
    assert_eq!(user.to_string(), "agent_1");
    assert_eq!(
        serde_json::to_value(&user).expect("serializes"),
        serde_json::json!("agent_1")
    );
    let unchecked: SipUser =
        serde_json::from_value(serde_json::json!("a b")).expect("read back as stored");
    assert_eq!(unchecked.as_str(), "a b");
}

#[test]
fn an_input_never_shows_its_secrets() {
    let given = input(
        EndpointType::CustomSip,
        &[("sip_uri", "sip:a@example.com"), ("password", "hunter2")],
    );
    let shown = format!("{given:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("sip:a@example.com"), "{shown}");
}
