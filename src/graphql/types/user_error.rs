//! Rule breaks a user can fix, with the path to the input field.

use super::*;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::UserErrorCode")]
/// Why an input was refused.
pub enum UserErrorCode {
    /// A required value is missing.
    Required,
    /// The value is empty or only white space.
    Blank,
    /// The value is longer than allowed.
    TooLong,
    /// The value has characters or a form that is not accepted.
    Invalid,
    /// Not a valid http(s) URL.
    InvalidUrl,
    /// Not a valid sip:/sips: URI.
    InvalidSipUri,
    /// The field can't be given for this endpoint type (e.g. a generated URL).
    NotAllowed,
    /// The provider config variant is not the one of the endpoint's type.
    ProviderConfigMismatch,
    /// The field can't change after creation.
    Immutable,
    /// ERROR is set by the system, not by clients.
    StatusNotSettable,
    /// The credential can't act in the requested mode.
    ModeNotAllowed,
    /// No such phone number in this organization and mode.
    PhoneNumberNotFound,
    /// The phone number already routes to another endpoint (send `reassign: true` to move it).
    PhoneNumberTaken,
    /// The organization has this number in this mode already.
    PhoneNumberExists,
    /// No such endpoint in this organization and mode.
    EndpointNotFound,
    /// A number routes only to an endpoint of its own mode.
    ModeMismatch,
    /// No such member in this organization.
    MemberNotFound,
    /// The user is a member already.
    MemberExists,
    /// Only an owner makes, unmakes or removes an owner.
    OwnerOnly,
    /// Nobody changes their own role.
    OwnRole,
    /// An organization always keeps an owner.
    LastOwner,
    /// The object changed since the version the mutation expected (`expectedUpdatedAt`):
    /// nothing was written; the payload's `currentEndpoint` is the version stored now.
    Stale,
}

/// A rule the input broke, that the user can fix.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// The path to the input field, e.g. `["input", "providerConfig", "vapi", "assistantId"]`.
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: UserErrorCode,
}

impl From<FieldError> for UserError {
    fn from(e: FieldError) -> Self {
        let path = field_path(e.field);
        Self {
            message: e.render(path.last().map_or("input", String::as_str)),
            field: Some(path),
            code: e.code.into(),
        }
    }
}

fn field_path(field: Field) -> Vec<String> {
    let tail: Vec<String> = match field {
        Field::Id => vec!["id".into()],
        Field::Name => vec!["name".into()],
        Field::Type => vec!["type".into()],
        Field::Url => vec!["url".into()],
        Field::Status => vec!["status".into()],
        Field::Mode => vec!["mode".into()],
        Field::PhoneNumberId => vec!["phoneNumberId".into()],
        Field::EndpointId => vec!["endpointId".into()],
        Field::E164 => vec!["e164".into()],
        Field::UserId => vec!["userId".into()],
        Field::Role => vec!["role".into()],
        Field::MemberId => vec!["memberId".into()],
        Field::ProviderConfig => vec!["providerConfig".into()],
        Field::ExpectedUpdatedAt => vec!["expectedUpdatedAt".into()],
        Field::Query => vec!["query".into()],
        Field::DocumentId => vec!["documentId".into()],
        Field::Variables => vec!["variables".into()],
        Field::ProviderConfigField(ty, name) => {
            vec![
                "providerConfig".into(),
                input_variant_name(ty),
                camel_case(name),
            ]
        }
    };
    std::iter::once("input".to_owned()).chain(tail).collect()
}

/// `vogent_sip_password` → `vogentSipPassword`, as async-graphql names input fields.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType;

    use super::UserErrorCode;

    /// GraphQL's names for the codes are derived from the variants; they must be the domain's
    /// one spelling, which REST gives.
    #[test]
    fn graphql_spells_every_code_as_the_domain_does() {
        for item in UserErrorCode::items() {
            let domain: crate::domain::UserErrorCode = item.value.into();
            assert_eq!(item.name, domain.as_str());
        }
    }
}
