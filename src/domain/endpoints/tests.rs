//! Unit tests of the endpoint reads.

use super::*;
use crate::domain::Credential;
use entity::enums::Role;

#[test]
fn the_by_id_statement_is_find_scoped_rendered_anew() {
    let key = |mode| Credential::ApiKey {
        key_id: Uuid::now_v7(),
        mode,
        prefix: "kros_test_abcd".to_owned(),
    };
    let user = Credential::User {
        user_id: "u".to_owned(),
    };
    // Twice each, so that the second read uses the SQL the first rendered.
    for credential in [
        key(Mode::Test),
        key(Mode::Live),
        user.clone(),
        key(Mode::Test),
        user,
    ] {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let actor = Actor {
                organization_id: Uuid::now_v7(),
                role: Role::Member,
                credential: credential.clone(),
                request_id: None,
                expires_at: None,
            };
            let id = Uuid::now_v7();
            let cached = by_id_statement(backend, &actor, id);
            let built = find_scoped(&actor, id).limit(1).build(backend);
            assert_eq!(cached.sql, built.sql, "{backend:?} {credential:?}");
            assert_eq!(cached.values, built.values, "{backend:?} {credential:?}");
        }
    }
}
