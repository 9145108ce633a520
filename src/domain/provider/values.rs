//! A provider field's value, typed by its rule: each type can hold only a value its rule
//! accepts, parsed once from what a client sent (serde reads a stored value back unchecked, so
//! a rule tightened later never blocks a stored config). How each field type takes a client's
//! change: a required field reports its absence, an optional one doesn't, and a secret left out
//! keeps the stored one.

use std::fmt;

use entity::enums::EndpointType;
use serde::{Deserialize, Serialize};

use super::rules::{self, Refusal, Rule};
use super::secret::Secret;
use crate::domain::error::{Field, FieldError, UserErrorCode};
use crate::domain::secrets::SecretBox;

/// One field of a config as a client sent it: `None` keeps the stored value, `Some(None)`
/// clears it, and `Some(Some(text))` sets it to `text` once parsed.
pub type Change = Option<Option<String>>;

/// A value typed by its rule.
pub trait RuleValue: Sized + Clone {
    const RULE: Rule;

    /// `text` when the rule holds for it, else why not.
    fn parse(text: String) -> Result<Self, Refusal>;

    fn as_str(&self) -> &str;

    fn into_string(self) -> String;
}

/// Writes one type per rule, named as the rule.
macro_rules! rule_values {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {$(
        $(#[doc = $doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: String) -> Result<Self, Refusal> {
                rules::check(Rule::$name, text).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl RuleValue for $name {
            const RULE: Rule = Rule::$name;

            fn parse(text: String) -> Result<Self, Refusal> {
                Self::parse(text)
            }

            fn as_str(&self) -> &str {
                &self.0
            }

            fn into_string(self) -> String {
                self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )*};
}

rule_values! {
    /// A SIP URI's user part (`Rule::SipUser`).
    SipUser,
    /// A DNS label of a SIP host (`Rule::DnsLabel`).
    DnsLabel,
    /// Short free text (`Rule::Text`).
    Text,
    /// A `sip:`/`sips:` URI (`Rule::SipUri`).
    SipUri,
}

/// Collects the field errors of one provider config.
#[doc(hidden)]
pub struct Checker<'a> {
    pub(super) ty: EndpointType,
    pub(super) errors: &'a mut Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: &'static str, (code, message): Refusal) -> Reported {
        self.errors.push(FieldError::new(
            Field::ProviderConfigField(self.ty, field),
            code,
            message,
        ));
        Reported
    }

    fn missing(&mut self, field: &'static str) -> Reported {
        self.fail(
            field,
            (UserErrorCode::Required, "{field} is required".to_owned()),
        )
    }
}

/// A field's value was refused; the error is in the checker's list.
#[derive(Debug)]
pub struct Reported;

/// A plain field's type: its rule's type when the field is required, an `Option` of it when not.
pub trait PlainField: Sized + Clone {
    /// Whether a config must have the field.
    const REQUIRED: bool;
    const RULE: Rule;
    /// The field as transports carry it: `String` when required, `Option<String>` when not.
    type Text;

    /// The field after a client's `change`; `stored` is its value in the stored config.
    #[doc(hidden)]
    fn apply(
        check: &mut Checker<'_>,
        field: &'static str,
        change: Change,
        stored: Option<&Self>,
    ) -> Result<Self, Reported>;

    /// The value, for a transport to show.
    fn shown(&self) -> Option<&str>;

    fn into_text(self) -> Self::Text;
}

impl<T: RuleValue> PlainField for T {
    const REQUIRED: bool = true;
    const RULE: Rule = T::RULE;
    type Text = String;

    fn apply(
        check: &mut Checker<'_>,
        field: &'static str,
        change: Change,
        stored: Option<&Self>,
    ) -> Result<Self, Reported> {
        match (change, stored) {
            (Some(Some(text)), _) => T::parse(text).map_err(|r| check.fail(field, r)),
            (None, Some(stored)) => Ok(stored.clone()),
            (Some(None), _) | (None, None) => Err(check.missing(field)),
        }
    }

    fn shown(&self) -> Option<&str> {
        Some(self.as_str())
    }

    fn into_text(self) -> String {
        self.into_string()
    }
}

impl<T: RuleValue> PlainField for Option<T> {
    const REQUIRED: bool = false;
    const RULE: Rule = T::RULE;
    type Text = Option<String>;

    fn apply(
        check: &mut Checker<'_>,
        field: &'static str,
        change: Change,
        stored: Option<&Self>,
    ) -> Result<Self, Reported> {
        match change {
            Some(Some(text)) => T::parse(text).map(Some).map_err(|r| check.fail(field, r)),
            Some(None) => Ok(None),
            None => Ok(stored.cloned().flatten()),
        }
    }

    fn shown(&self) -> Option<&str> {
        self.as_ref().map(T::as_str)
    }

    fn into_text(self) -> Option<String> {
        self.map(T::into_string)
    }
}

/// A write-only field's type: `Secret` when the field is required, `Option<Secret>` when not.
pub trait SecretField: Sized {
    /// Whether a config must have the field.
    const REQUIRED: bool;

    /// The field after a client's `change`; left out, the `stored` one is kept.
    #[doc(hidden)]
    fn apply(
        check: &mut Checker<'_>,
        field: &'static str,
        change: Change,
        stored: Option<&Self>,
    ) -> Result<Self, Reported>;

    /// The field with its secret sealed under `context`; a secret the client sent again
    /// unchanged keeps the `stored` sealing, so that resending it changes nothing.
    fn sealed(&self, stored: Option<&Self>, secrets: &SecretBox, context: &str) -> Self;

    /// Whether a secret is set: all a transport ever shows of it.
    fn is_set(&self) -> bool;

    /// Whether the secret is still plaintext (a row from before encryption).
    fn is_plain(&self) -> bool;
}

impl SecretField for Secret {
    const REQUIRED: bool = true;

    fn apply(
        check: &mut Checker<'_>,
        field: &'static str,
        change: Change,
        stored: Option<&Self>,
    ) -> Result<Self, Reported> {
        match (change, stored) {
            (Some(Some(text)), _) => Secret::parse(text).map_err(|r| check.fail(field, r)),
            (None, Some(stored)) => Ok(stored.clone()),
            (Some(None), _) | (None, None) => Err(check.missing(field)),
        }
    }

    fn sealed(&self, stored: Option<&Self>, secrets: &SecretBox, context: &str) -> Self {
        match stored {
            // A stored plaintext (a row from before encryption) is sealed now.
            Some(stored) if !stored.is_plain() && self.same_as(stored, secrets, context) => {
                stored.clone()
            }
            _ => self.seal(secrets, context),
        }
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

    fn apply(
        check: &mut Checker<'_>,
        field: &'static str,
        change: Change,
        stored: Option<&Self>,
    ) -> Result<Self, Reported> {
        match change {
            Some(Some(text)) => Secret::parse(text)
                .map(Some)
                .map_err(|r| check.fail(field, r)),
            Some(None) => Ok(None),
            None => Ok(stored.cloned().flatten()),
        }
    }

    fn sealed(&self, stored: Option<&Self>, secrets: &SecretBox, context: &str) -> Self {
        self.as_ref()
            .map(|s| s.sealed(stored.and_then(Option::as_ref), secrets, context))
    }

    fn is_set(&self) -> bool {
        self.is_some()
    }

    fn is_plain(&self) -> bool {
        self.as_ref().is_some_and(Secret::is_plain)
    }
}
