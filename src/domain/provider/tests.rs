//! Unit tests of `provider`: the catalog, generated URIs, secrets and storage; parsing a
//! client's config in `tests/parsing.rs`, the rules' refusals in `tests/rules.rs`.

use uuid::Uuid;

use super::*;
use crate::domain::secrets::SecretBox;
use crate::domain::{Field, UserErrorCode};

mod parsing;
mod rules;

/// A value its rule accepts.
fn valid<T: RuleValue>(text: &str) -> T {
    T::parse(text.to_owned()).expect("a valid value")
}

#[test]
fn generated_urls_follow_each_provider_scheme() {
    let d = SipDomains::default();
    let vapi = ProviderConfig::Vapi(VapiConfig {
        assistant_id: valid("asst"),
        credential_id: None,
        vapi_phone_number_id: None,
    });
    assert_eq!(
        vapi.generated_url(&d).as_deref(),
        Some("sip:asst@sip.vapi.ai")
    );
    let byo = ProviderConfig::Vapi(VapiConfig {
        assistant_id: valid("asst"),
        credential_id: Some(valid("cred-1")),
        vapi_phone_number_id: None,
    });
    assert_eq!(
        byo.generated_url(&d).as_deref(),
        Some("sip:asst@cred-1.sip.vapi.ai")
    );
    let retell = ProviderConfig::Retell(RetellConfig {
        agent_id: valid("ag"),
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

/// The whole config a client sends for a provider of type `ty`.
fn input(ty: EndpointType, values: &[(&str, &str)]) -> ProviderConfigInput {
    ProviderConfigInput::whole(ty, values).expect("a provider type")
}

/// `input` parsed with nothing stored: the config, or each error's field and code.
fn validate(input: ProviderConfigInput) -> Result<ProviderConfig, Vec<(String, UserErrorCode)>> {
    parse(input, None)
}

fn parse(
    input: ProviderConfigInput,
    stored: Option<&ProviderConfig>,
) -> Result<ProviderConfig, Vec<(String, UserErrorCode)>> {
    let mut errors = Vec::new();
    match input.parse(stored, &mut errors) {
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
fn every_generated_url_is_a_valid_sip_uri() {
    let d = SipDomains::default();
    let configs = [
        validate(input(
            EndpointType::Elevenlabs,
            &[("elevenlabs_agent_id", "el_1")],
        )),
        validate(input(
            EndpointType::Vogent,
            &[
                ("vogent_sip_prefix", "p1"),
                ("vogent_sip_username", "u"),
                ("vogent_sip_password", "pw"),
            ],
        )),
        validate(input(
            EndpointType::Livekit,
            &[
                ("livekit_sip_trunk_id", "ST"),
                ("livekit_sip_uri", "sip:x.sip.livekit.cloud"),
            ],
        )),
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

#[test]
fn the_catalog_has_one_provider_per_endpoint_type_but_webhook() {
    use sea_orm::Iterable;
    for ty in EndpointType::iter() {
        let providers = PROVIDERS.iter().filter(|p| p.ty == ty).count();
        let expected = usize::from(ty != EndpointType::Webhook);
        assert_eq!(providers, expected, "{ty:?}");
    }
    for provider in PROVIDERS {
        let mut names: Vec<_> = provider.fields.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            provider.fields.len(),
            "{} names a field twice",
            provider.name
        );
        assert!(provider.sip_domain.len() <= 1, "{}", provider.name);
    }
    let flags: Vec<_> = PROVIDERS.iter().flat_map(|p| p.sip_domain).collect();
    for (i, a) in flags.iter().enumerate() {
        for b in &flags[i + 1..] {
            assert!(a.flag != b.flag && a.env != b.env, "{a:?} and {b:?}");
        }
    }
}

#[test]
fn providers_whose_uri_is_generated_have_a_domain_setting() {
    let domains = SipDomains::default();
    for provider in PROVIDERS {
        let Some(config) = minimal_config(provider.ty) else {
            continue;
        };
        let url = config.generated_url(&domains);
        let domain = domains.get(provider.ty);
        match provider.sip_domain {
            [setting] => {
                assert_eq!(domain, setting.default);
                let url = url.expect("a provider with a domain generates its URL");
                assert!(url.contains(domain), "{url} points at {domain}");
            }
            _ => assert_eq!(domain, "", "{}", provider.name),
        }
    }
    let mut moved = SipDomains::default();
    moved.set(EndpointType::Vapi, "sip.eu.vapi.ai".into());
    assert_eq!(
        minimal_config(EndpointType::Vapi)
            .and_then(|c| c.generated_url(&moved))
            .as_deref(),
        Some("sip:id1@id1.sip.eu.vapi.ai")
    );
}

/// A valid config of `ty` with every required field set to `id1`-like values.
fn minimal_config(ty: EndpointType) -> Option<ProviderConfig> {
    let provider = Provider::of(ty)?;
    let given: Vec<(&str, &str)> = provider
        .fields
        .iter()
        .map(|field| match field.kind {
            FieldKind::Plain(Rule::SipUri) => (field.name, "sip:id1@example.com"),
            _ => (field.name, "id1"),
        })
        .collect();
    Some(validate(input(ty, &given)).expect("every field given"))
}

#[test]
fn a_secret_left_out_keeps_the_stored_one_and_a_blank_one_is_refused() {
    let stored = validate(input(
        EndpointType::Vogent,
        &[
            ("vogent_sip_prefix", "p1"),
            ("vogent_sip_username", "u"),
            ("vogent_sip_password", "first"),
        ],
    ))
    .expect("valid");
    let update = input(
        EndpointType::Vogent,
        &[("vogent_sip_prefix", "p2"), ("vogent_sip_username", "u")],
    );
    let Ok(ProviderConfig::Vogent(updated)) = parse(update, Some(&stored)) else {
        panic!("a valid update");
    };
    assert_eq!(updated.vogent_sip_prefix.as_str(), "p2");
    assert_eq!(updated.vogent_sip_password, Secret::Plain("first".into()));

    let blank = input(
        EndpointType::CustomSip,
        &[("sip_uri", "sip:a@example.com"), ("password", "")],
    );
    assert_eq!(
        validate(blank),
        Err(vec![("password".to_owned(), UserErrorCode::Blank)])
    );
    let spaces = validate(input(
        EndpointType::CustomSip,
        &[("sip_uri", "sip:a@example.com"), ("password", "  ")],
    ))
    .expect("a password of spaces is a password");
    assert!(matches!(
        spaces.shown().last(),
        Some(("password", Shown::SecretSet(true)))
    ));
}

#[test]
fn secrets_are_stored_sealed_and_never_shown() {
    let secrets = SecretBox::new(&[7; 32]);
    let config = validate(input(
        EndpointType::Vogent,
        &[
            ("vogent_sip_prefix", "p1"),
            ("vogent_sip_username", "u"),
            ("vogent_sip_password", "hunter2"),
        ],
    ))
    .expect("valid");
    assert!(config.has_plain_secret());
    let id = Uuid::now_v7();
    let stored = config.to_stored(&secrets, id);
    assert!(!stored.to_string().contains("hunter2"), "{stored}");
    let read = ProviderConfig::from_stored(EndpointType::Vogent, Some(&stored))
        .expect("decodes")
        .expect("a config");
    assert!(!read.has_plain_secret());
    let ProviderConfig::Vogent(read) = &read else {
        panic!("{read:?}")
    };
    assert_eq!(
        read.vogent_sip_password
            .open(&secrets, &secret_context(id, "vogent_sip_password"))
            .as_deref(),
        Ok("hunter2")
    );
    let shown = format!("{:?}", config.shown());
    assert!(!shown.contains("hunter2"), "{shown}");
    let input_debug = format!(
        "{:?}",
        input(
            EndpointType::Vogent,
            &[
                ("vogent_sip_password", "hunter2"),
                ("vogent_sip_prefix", "p")
            ]
        )
    );
    assert!(!input_debug.contains("hunter2"), "{input_debug}");
    assert!(input_debug.contains("vogent_sip_prefix"), "{input_debug}");
}

#[test]
fn a_webhook_has_no_stored_config() {
    assert!(matches!(
        ProviderConfig::from_stored(EndpointType::Webhook, Some(&serde_json::json!({}))),
        Ok(None)
    ));
}

#[test]
fn sip_domains_must_be_host_names() {
    for good in [
        "sip.vapi.ai",
        "sip.eu.vapi.ai",
        "localhost",
        "10.0.0.1",
        "a-b.example",
    ] {
        assert_eq!(SipDomains::check(good), Ok(()), "{good}");
    }
    let long = format!("{}.example", "a".repeat(64));
    for bad in [
        "",
        "a b",
        "x@evil.example",
        "evil.example;maddr=1",
        "evil.example?X=1",
        "-a.example",
        "a..example",
        "host:5060",
        "[::1]",
        &long,
    ] {
        assert!(SipDomains::check(bad).is_err(), "{bad}");
    }
}
