//! The rules a provider field's value is checked by, once, as it is parsed into its type
//! (`values.rs`); each refusal is a code and a message naming `{field}`.

use crate::domain::error::UserErrorCode;
use crate::domain::text::has_control_chars;

const MAX_ID_LEN: usize = 128;
const MAX_TEXT_LEN: usize = 255;
const MAX_LABEL_LEN: usize = 63;

/// Why a value was refused: its code and a message in which `{field}` stands for the field.
pub type Refusal = (UserErrorCode, String);

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

fn refused(code: UserErrorCode, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

/// `value` when `rule` holds for it.
pub(super) fn check(rule: Rule, value: String) -> Result<String, Refusal> {
    if value.trim().is_empty() {
        return Err(refused(UserErrorCode::Blank, "{field} can't be blank"));
    }
    match rule {
        Rule::SipUser => {
            let value = length(value, MAX_ID_LEN)?;
            let ok = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
            if !ok {
                return Err(refused(
                    UserErrorCode::Invalid,
                    "{field} may contain only letters, digits, '-', '_', '.' and '~'",
                ));
            }
            Ok(value)
        }
        Rule::DnsLabel => {
            let value = length(value, MAX_LABEL_LEN)?;
            if !is_dns_label(&value) {
                return Err(refused(
                    UserErrorCode::Invalid,
                    "{field} must be 1-63 letters, digits or inner '-' (it becomes part of the SIP host)",
                ));
            }
            Ok(value)
        }
        Rule::Text => length(value, MAX_TEXT_LEN),
        Rule::SipUri => match crate::domain::sip_uri::check(&value) {
            Ok(()) => Ok(value),
            Err(reason) => Err(refused(
                UserErrorCode::InvalidSipUri,
                format!("{{field}} is not a valid SIP URI: {reason}"),
            )),
        },
    }
}

/// A secret's new value: any non-empty text within the length limit.
pub(super) fn check_secret(value: String) -> Result<String, Refusal> {
    if value.is_empty() {
        return Err(refused(UserErrorCode::Blank, "{field} can't be blank"));
    }
    length(value, MAX_TEXT_LEN)
}

fn length(value: String, max: usize) -> Result<String, Refusal> {
    if value.chars().count() > max {
        return Err(refused(
            UserErrorCode::TooLong,
            format!("{{field}} is longer than {max} characters"),
        ));
    }
    if has_control_chars(&value) {
        return Err(refused(
            UserErrorCode::Invalid,
            "{field} contains control characters",
        ));
    }
    Ok(value)
}
