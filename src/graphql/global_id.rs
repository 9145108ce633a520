//! GraphQL's view of object ids (Relay's Global Object Identification): an object's `id` is its
//! UUID, the same one the REST API and the CLI use, and that UUID says which type it is (see
//! `domain::ids`), so `node(id:)` finds it with one lookup.

use async_graphql::ID;
use uuid::Uuid;

use crate::domain::DomainError;

/// The UUID an `ID` argument names. A UUID in its hyphenated form (the only form the gateway
/// writes; braces, `urn:uuid:` or no hyphens would give one object several ids); anything
/// else is a `BAD_USER_INPUT` error.
pub fn parse(id: &ID, argument: &str) -> Result<Uuid, DomainError> {
    uuid_of(id.as_str()).ok_or_else(|| {
        DomainError::BadInput(format!(
            "`{argument}` is not an id: an id is an object's `id`, a UUID such as \
         0193e4c4-7b9a-8d21-9c3e-5f1a2b3c4d5e"
        ))
    })
}

/// The UUID an id's text names, as `parse` reads it.
pub fn uuid_of(text: &str) -> Option<Uuid> {
    (text.len() == 36)
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
}

/// An object's `id`.
pub fn of(uuid: Uuid) -> ID {
    ID(uuid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_hyphenated_uuid() {
        let uuid = Uuid::now_v7();
        assert_eq!(parse(&of(uuid), "id").ok(), Some(uuid));
        assert_eq!(
            parse(&ID(uuid.to_string().to_uppercase()), "id").ok(),
            Some(uuid)
        );
        for text in [
            String::new(),
            "x".to_owned(),
            uuid.simple().to_string(),
            format!("{{{uuid}}}"),
            format!("urn:uuid:{uuid}"),
            format!(" {uuid}"),
            format!("gid://cockpit/Endpoint/{uuid}"),
        ] {
            assert!(parse(&ID(text.clone()), "id").is_err(), "{text}");
        }
    }
}
