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

/// `Row` reads each column by its position: the positions it reads are `Column`'s order, the
/// order every statement here selects and returns the columns in.
#[test]
fn rows_are_read_in_the_columns_order() {
    use sea_orm::{ColumnTrait, Iterable};
    let names: Vec<String> = Column::iter()
        .map(|c| c.as_column_ref().1.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "organization_id",
            "name",
            "type",
            "url",
            "status",
            "provider_config",
            "mode",
            "created_at",
            "updated_at"
        ]
    );
    let select = find_scoped(&actor_of(None), Uuid::nil()).build(DbBackend::Postgres);
    let listed = select
        .sql
        .split(" FROM ")
        .next()
        .expect("a select")
        .to_owned();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let at: Vec<usize> = quoted
        .iter()
        .map(|q| listed.find(q.as_str()).expect("every column selected"))
        .collect();
    assert!(at.is_sorted(), "{listed}");
}

fn actor_of(mode: Option<Mode>) -> Actor {
    Actor {
        organization_id: Uuid::now_v7(),
        role: Role::Member,
        credential: match mode {
            Some(mode) => Credential::ApiKey {
                key_id: Uuid::now_v7(),
                mode,
                prefix: "kros_test_abcd".to_owned(),
            },
            None => Credential::User {
                user_id: "u".to_owned(),
            },
        },
        request_id: None,
        expires_at: None,
    }
}
