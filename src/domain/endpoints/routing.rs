//! The rules of an endpoint's fields: its name and status, and where it routes — the URL and
//! provider config its type calls for, checked, normalised or generated.

use entity::enums::{EndpointStatus, EndpointType};
use sea_orm::ActiveEnum;

use super::{MAX_NAME_LEN, MAX_URL_LEN, Settings};
use crate::domain::error::{Field, FieldError, UserErrorCode};
use crate::domain::provider::{
    CustomSipConfig, ProviderConfig, ProviderConfigInput, SipUri, WEBHOOK_TAKES_NO_CONFIG,
};

pub(super) fn check_name(name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    crate::domain::text::check_name(name, MAX_NAME_LEN)
        .map_err(|(code, message)| errors.push(FieldError::new(Field::Name, code, message)))
        .ok()
}

pub(super) fn check_status(status: EndpointStatus, errors: &mut Vec<FieldError>) {
    if status == EndpointStatus::Error {
        errors.push(FieldError::new(
            Field::Status,
            UserErrorCode::StatusNotSettable,
            "{field} can be set to active or inactive only; error is set by the system",
        ));
    }
}

/// Checks a webhook URL and returns the form it is stored in: the URL as the WHATWG parser
/// normalises it (`HTTP://Example.com` → `http://example.com/`), so what is stored is exactly
/// what was checked. Input the parser would silently repair (white space, control characters,
/// backslashes) is refused rather than reinterpreted.
fn check_webhook_url(url: &str, allow_private: bool) -> Result<String, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("{{field}} is longer than {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("{field} contains white space or control characters".to_owned());
    }
    if url.contains('\\') {
        return Err("{field} contains a backslash; use '/' in URLs".to_owned());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("{{field}} is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("{field} of a webhook must use http or https".to_owned());
    }
    let Some(host) = parsed
        .host()
        .filter(|h| !matches!(h, url::Host::Domain("")))
    else {
        return Err("{field} has no host".to_owned());
    };
    if let url::Host::Domain(name) = &host {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.len() > 253
            || name
                .split('.')
                .any(|label| label.is_empty() || label.len() > 63)
        {
            return Err("{field} has a host name that isn't a valid DNS name (labels of 1 to 63 characters, 253 in all)".to_owned());
        }
    }
    if parsed.port() == Some(0) {
        return Err("{field} has port 0, which nothing listens on".to_owned());
    }
    // A URL is returned to every reader, so it may not carry a password.
    if parsed.password().is_some() {
        return Err(
            "{field} may not hold a password (user:password@); it is returned to every reader"
                .to_owned(),
        );
    }
    if !allow_private && let Some(reason) = crate::domain::webhook_host::private_host_reason(&host)
    {
        return Err(format!(
            "{{field}} is not allowed: its host is {reason}; webhooks must reach a public address"
        ));
    }
    let normalised = String::from(parsed);
    if normalised.len() > MAX_URL_LEN {
        return Err(format!("{{field}} is longer than {MAX_URL_LEN} characters"));
    }
    Ok(normalised)
}

/// The URL and provider config an endpoint of `ty` ends up with, from what the client sent and
/// (on update) what is stored. Every broken rule is pushed to `errors`.
pub(super) fn resolve_routing(
    ty: EndpointType,
    url: Option<String>,
    config: Option<ProviderConfigInput>,
    stored: Option<(&str, Option<&ProviderConfig>)>,
    settings: &Settings,
    errors: &mut Vec<FieldError>,
) -> Option<(String, Option<ProviderConfig>)> {
    let before = errors.len();
    if let Some(given) = &config
        && given.endpoint_type() != ty
    {
        errors.push(FieldError::new(
            Field::ProviderConfig,
            UserErrorCode::ProviderConfigMismatch,
            match ty {
                EndpointType::Webhook => WEBHOOK_TAKES_NO_CONFIG.to_owned(),
                _ => format!(
                    "{{field}} must be the {} config for a {} endpoint",
                    seed_name(ty),
                    seed_name(ty)
                ),
            },
        ));
        return None;
    }
    let stored_config = stored.and_then(|(_, c)| c);
    let validated = config.map(|c| c.parse(stored_config, errors));

    match ty {
        EndpointType::Webhook => {
            let url = match (url, stored) {
                (Some(url), _) => url,
                (None, Some((stored_url, _))) => return Some((stored_url.to_owned(), None)),
                (None, None) => {
                    errors.push(FieldError::new(
                        Field::Url,
                        UserErrorCode::Required,
                        "{field} is required for a webhook endpoint",
                    ));
                    return None;
                }
            };
            match check_webhook_url(&url, settings.allow_private_webhooks) {
                Ok(url) => Some((url, None)),
                Err(message) => {
                    errors.push(FieldError::new(
                        Field::Url,
                        UserErrorCode::InvalidUrl,
                        message,
                    ));
                    None
                }
            }
        }
        EndpointType::CustomSip => {
            let config_uri = validated
                .as_ref()
                .and_then(|c| c.as_ref())
                .and_then(|c| match c {
                    ProviderConfig::CustomSip(c) => Some(c.sip_uri.to_string()),
                    _ => None,
                });
            let url = match (url, &config_uri, stored) {
                (Some(url), _, _) => url,
                // On update the config's SIP URI may move the endpoint on its own.
                (None, Some(uri), Some(_)) => uri.clone(),
                (None, _, Some((stored_url, _))) => stored_url.to_owned(),
                (None, _, None) => {
                    errors.push(FieldError::new(
                        Field::Url,
                        UserErrorCode::Required,
                        "{field} is required for a custom_sip endpoint",
                    ));
                    return None;
                }
            };
            if let Err(reason) = crate::domain::sip_uri::check(&url) {
                errors.push(FieldError::new(
                    Field::Url,
                    UserErrorCode::InvalidSipUri,
                    format!("{{field}} is not a valid SIP URI: {reason}"),
                ));
                return None;
            }
            if let Some(uri) = &config_uri
                && *uri != url
            {
                errors.push(FieldError::new(
                    Field::ProviderConfigField(ty, "sip_uri"),
                    UserErrorCode::Invalid,
                    "{field} must equal the endpoint's url",
                ));
                return None;
            }
            let config = match validated {
                Some(Some(ProviderConfig::CustomSip(c))) => c,
                Some(_) => return None,
                // Without a config sent, the stored credentials stay and follow the new URI.
                None => {
                    // Checked above as the URL, which a SIP URI field's rule accepts too.
                    let sip_uri = SipUri::parse(url.clone())
                        .map_err(|(code, message)| {
                            errors.push(FieldError::new(Field::Url, code, message));
                        })
                        .ok()?;
                    match stored_config {
                        Some(ProviderConfig::CustomSip(c)) => CustomSipConfig {
                            sip_uri,
                            ..c.clone()
                        },
                        _ => CustomSipConfig {
                            sip_uri,
                            username: None,
                            password: None,
                        },
                    }
                }
            };
            (errors.len() == before).then_some((url, Some(ProviderConfig::CustomSip(config))))
        }
        _ => {
            if url.is_some() {
                errors.push(FieldError::new(
                    Field::Url,
                    UserErrorCode::NotAllowed,
                    format!(
                        "{{field}} is generated for {} endpoints from their provider config and can't be set",
                        seed_name(ty)
                    ),
                ));
            }
            let config = match (validated, stored_config) {
                (Some(Some(config)), _) => config,
                (Some(None), _) => return None,
                (None, Some(stored)) => stored.clone(),
                (None, None) => {
                    errors.push(FieldError::new(
                        Field::ProviderConfig,
                        UserErrorCode::Required,
                        format!("{{field}} is required for a {} endpoint", seed_name(ty)),
                    ));
                    return None;
                }
            };
            if errors.len() != before {
                return None;
            }
            let url = config
                .generated_url(&settings.sip_domains)
                .expect("every AI provider type generates its URL");
            Some((url, Some(config)))
        }
    }
}

/// The seed's name of a type or mode (`custom_sip`, `test`): its stored value.
pub(super) fn seed_name(value: impl ActiveEnum<Value = String>) -> String {
    value.to_value()
}
