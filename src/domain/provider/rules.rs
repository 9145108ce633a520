//! The rules a provider field's value is checked by, and how each field type reads a value a
//! client sent: a required field reports its absence, an optional one doesn't, and a secret left
//! out keeps the stored one.

use entity::enums::EndpointType;

use super::secret::Secret;
use crate::domain::error::{Field, FieldError, UserErrorCode};
use crate::domain::text::has_control_chars;

const MAX_ID_LEN: usize = 128;
const MAX_TEXT_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;

/// 1 to 63 ASCII letters, digits and inner hyphens (RFC 1035's label, digits first allowed).
pub(super) fn is_dns_label(value: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// What a provider field's value must look like, once given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// An identifier that becomes the user part of a generated SIP URI: only RFC 3261's
    /// unreserved characters, so it can't smuggle in a host, parameter or header.
    SipUser,
    /// An identifier that becomes a DNS label of a generated SIP host.
    DnsLabel,
    /// Free text of at most 255 characters, without control characters.
    Text,
    /// A `sip:`/`sips:` URI (`sip_uri::check`).
    SipUri,
}

/// Collects the field errors of one provider config.
pub struct Checker<'a> {
    pub(super) ty: EndpointType,
    pub(super) errors: &'a mut Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: &'static str, code: UserErrorCode, message: impl Into<String>) {
        self.errors.push(FieldError::new(
            Field::ProviderConfigField(self.ty, field),
            code,
            message,
        ));
    }

    fn missing(&mut self, field: &'static str) {
        self.fail(field, UserErrorCode::Required, "{field} is required");
    }

    /// A given value, checked by `rule`.
    fn check(&mut self, field: &'static str, rule: Rule, value: String) -> Option<String> {
        if value.trim().is_empty() {
            self.fail(field, UserErrorCode::Blank, "{field} can't be blank");
            return None;
        }
        match rule {
            Rule::SipUser => {
                let value = self.length(field, value, MAX_ID_LEN)?;
                let ok = value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
                if !ok {
                    self.fail(
                        field,
                        UserErrorCode::Invalid,
                        "{field} may contain only letters, digits, '-', '_', '.' and '~'",
                    );
                    return None;
                }
                Some(value)
            }
            Rule::DnsLabel => {
                let value = self.length(field, value, MAX_LABEL_LEN)?;
                if !is_dns_label(&value) {
                    self.fail(
                        field,
                        UserErrorCode::Invalid,
                        "{field} must be 1-63 letters, digits or inner '-' (it becomes part of the SIP host)",
                    );
                    return None;
                }
                Some(value)
            }
            Rule::Text => self.length(field, value, MAX_TEXT_LEN),
            Rule::SipUri => match crate::domain::sip_uri::check(&value) {
                Ok(()) => Some(value),
                Err(reason) => {
                    self.fail(
                        field,
                        UserErrorCode::InvalidSipUri,
                        format!("{{field}} is not a valid SIP URI: {reason}"),
                    );
                    None
                }
            },
        }
    }

    fn length(&mut self, field: &'static str, value: String, max: usize) -> Option<String> {
        if value.chars().count() > max {
            self.fail(
                field,
                UserErrorCode::TooLong,
                format!("{{field}} is longer than {max} characters"),
            );
            return None;
        }
        if has_control_chars(&value) {
            self.fail(
                field,
                UserErrorCode::Invalid,
                "{field} contains control characters",
            );
            return None;
        }
        Some(value)
    }

    /// A secret's new value: any non-empty text within the length limit.
    fn secret(&mut self, field: &'static str, value: String) -> Option<Secret> {
        if value.is_empty() {
            self.fail(field, UserErrorCode::Blank, "{field} can't be blank");
            return None;
        }
        self.length(field, value, MAX_TEXT_LEN).map(Secret::Plain)
    }
}

/// A field's value was refused; the error is in the checker's list.
#[derive(Debug)]
pub struct Reported;

/// A plain field's type: `String` when the field is required, `Option<String>` when not.
pub trait PlainField: Sized {
    /// Whether a config must have the field.
    const REQUIRED: bool;

    /// The value a client sent (`None` when left out), checked.
    #[doc(hidden)]
    fn read(
        check: &mut Checker<'_>,
        field: &'static str,
        rule: Rule,
        value: Option<String>,
    ) -> Result<Self, Reported>;

    /// The value, for a transport to show.
    fn shown(&self) -> Option<&str>;
}

impl PlainField for String {
    const REQUIRED: bool = true;

    fn read(
        check: &mut Checker<'_>,
        field: &'static str,
        rule: Rule,
        value: Option<String>,
    ) -> Result<Self, Reported> {
        let Some(value) = value else {
            check.missing(field);
            return Err(Reported);
        };
        check.check(field, rule, value).ok_or(Reported)
    }

    fn shown(&self) -> Option<&str> {
        Some(self)
    }
}

impl PlainField for Option<String> {
    const REQUIRED: bool = false;

    fn read(
        check: &mut Checker<'_>,
        field: &'static str,
        rule: Rule,
        value: Option<String>,
    ) -> Result<Self, Reported> {
        match value {
            None => Ok(None),
            Some(value) => check.check(field, rule, value).map(Some).ok_or(Reported),
        }
    }

    fn shown(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// A write-only field's type: `Secret` when the field is required, `Option<Secret>` when not.
pub trait SecretField: Sized {
    /// Whether a config must have the field.
    const REQUIRED: bool;

    /// The value a client sent, checked; left out, the `stored` one is kept.
    #[doc(hidden)]
    fn read(
        check: &mut Checker<'_>,
        field: &'static str,
        value: Option<String>,
        stored: Option<&Self>,
    ) -> Result<Self, Reported>;

    /// The field with its secret sealed under `context`.
    fn sealed(&self, secrets: &crate::domain::secrets::SecretBox, context: &str) -> Self;

    /// Whether a secret is set: all a transport ever shows of it.
    fn is_set(&self) -> bool;

    /// Whether the secret is still plaintext (a row from before encryption).
    fn is_plain(&self) -> bool;
}

impl SecretField for Secret {
    const REQUIRED: bool = true;

    fn read(
        check: &mut Checker<'_>,
        field: &'static str,
        value: Option<String>,
        stored: Option<&Self>,
    ) -> Result<Self, Reported> {
        match (value, stored) {
            (Some(value), _) => check.secret(field, value).ok_or(Reported),
            (None, Some(stored)) => Ok(stored.clone()),
            (None, None) => {
                check.missing(field);
                Err(Reported)
            }
        }
    }

    fn sealed(&self, secrets: &crate::domain::secrets::SecretBox, context: &str) -> Self {
        self.seal(secrets, context)
    }

    fn is_set(&self) -> bool {
        true
    }

    fn is_plain(&self) -> bool {
        Secret::is_plain(self)
    }
}

impl SecretField for Option<Secret> {
    const REQUIRED: bool = false;

    fn read(
        check: &mut Checker<'_>,
        field: &'static str,
        value: Option<String>,
        stored: Option<&Self>,
    ) -> Result<Self, Reported> {
        match value {
            Some(value) => check.secret(field, value).map(Some).ok_or(Reported),
            None => Ok(stored.cloned().flatten()),
        }
    }

    fn sealed(&self, secrets: &crate::domain::secrets::SecretBox, context: &str) -> Self {
        self.as_ref().map(|s| s.seal(secrets, context))
    }

    fn is_set(&self) -> bool {
        self.is_some()
    }

    fn is_plain(&self) -> bool {
        self.as_ref().is_some_and(Secret::is_plain)
    }
}
