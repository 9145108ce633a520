//! Every migration runs up, down and up again on a fresh database.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::helpers::*;

async fn migrate_up_down_up(backend: Backend) {
    let test_db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    let db = cockpit_gateway::db::connect(&test_db.url)
        .await
        .expect("connect");
    Migrator::up(&db, None).await.expect("up");
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .expect("status")
            .is_empty()
    );
    db.execute_unprepared("SELECT COUNT(*) FROM endpoints")
        .await
        .expect("endpoints exists");
    Migrator::down(&db, None).await.expect("down");
    assert!(
        db.execute_unprepared("SELECT COUNT(*) FROM endpoints")
            .await
            .is_err(),
        "down removes the tables"
    );
    assert_eq!(
        Migrator::get_applied_migrations(&db)
            .await
            .expect("status")
            .len(),
        0
    );
    Migrator::up(&db, None).await.expect("up again");
    for table in [
        "organizations",
        "organization_members",
        "api_keys",
        "endpoints",
        "phone_numbers",
        "events",
    ] {
        db.execute_unprepared(&format!("SELECT COUNT(*) FROM {table}"))
            .await
            .unwrap_or_else(|e| panic!("{table} exists after up, down, up: {e}"));
    }
    db.close().await.expect("close");
}

#[tokio::test]
async fn migrations_run_up_down_up_on_sqlite() {
    migrate_up_down_up(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn migrations_run_up_down_up_on_postgres() {
    migrate_up_down_up(Backend::Postgres).await;
}

/// A fresh database of `backend` with its first `applied` migrations. Keep the `TestDb` alive.
async fn migrated_up_to(backend: Backend, applied: u32) -> (TestDb, sea_orm::DatabaseConnection) {
    let test_db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    let db = cockpit_gateway::db::connect(&test_db.url)
        .await
        .expect("connect");
    Migrator::up(&db, Some(applied))
        .await
        .unwrap_or_else(|e| panic!("up to {applied}: {e}"));
    (test_db, db)
}

/// An organization written as the migrations of before would have it.
async fn old_organization(db: &sea_orm::DatabaseConnection) -> Uuid {
    let org = Uuid::now_v7();
    let backend = db.get_database_backend();
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DbBackend::Postgres => "INSERT INTO organizations (id, name, created_at) VALUES ($1, 'Old', now())",
            _ => "INSERT INTO organizations (id, name, created_at) VALUES (?, 'Old', '2026-01-01T00:00:00Z')",
        },
        [org.into()],
    ))
    .await
    .expect("insert organization");
    org
}

/// Members that joined before memberships had ids get one, which says it names a member.
async fn members_of_before_get_ids(backend: Backend) {
    // Every migration before the one that adds the ids.
    let (_test_db, db) = migrated_up_to(backend, 7).await;
    let org = old_organization(&db).await;
    let backend_kind = db.get_database_backend();
    for user in ["early-1", "early-2"] {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend_kind,
            match backend_kind {
                sea_orm::DbBackend::Postgres => "INSERT INTO organization_members (organization_id, user_id, role, created_at) VALUES ($1, $2, 'owner', now())",
                _ => "INSERT INTO organization_members (organization_id, user_id, role, created_at) VALUES (?, ?, 'owner', '2026-01-01T00:00:00Z')",
            },
            [org.into(), user.into()],
        ))
        .await
        .expect("insert member");
    }
    Migrator::up(&db, None).await.expect("up");
    let members = entity::organization_member::Entity::find()
        .all(&db)
        .await
        .expect("read members");
    assert_eq!(members.len(), 2);
    assert_ne!(members[0].id, members[1].id);
    for member in members {
        assert_eq!(
            cockpit_gateway::domain::ids::kind_of(member.id),
            Some(cockpit_gateway::domain::ids::Kind::OrganizationMember),
            "{}",
            member.id
        );
    }
    db.close().await.expect("close");
}

#[tokio::test]
async fn members_of_before_get_ids_on_sqlite() {
    members_of_before_get_ids(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn members_of_before_get_ids_on_postgres() {
    members_of_before_get_ids(Backend::Postgres).await;
}

/// Endpoint times written at a microsecond round up to the next millisecond: the version
/// stored then stays apart from every earlier one, and a JavaScript `Date` holds it.
async fn endpoint_times_round_up_to_a_millisecond(backend: Backend) {
    use entity::{endpoint, enums, organization};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    // Every migration before the one that rounds.
    let (_test_db, db) = migrated_up_to(backend, 10).await;
    let at = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().expect("time");
    let org = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("Old".into()),
        created_at: Set(at("2026-01-02T03:04:05.000001Z")),
    }
    .insert(&db)
    .await
    .expect("organization");
    let endpoint = |name: &str, created: &str, updated: &str| endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(org.id),
        name: Set(name.into()),
        r#type: Set(enums::EndpointType::Webhook),
        url: Set("https://hooks.example.com/in".into()),
        status: Set(enums::EndpointStatus::Active),
        provider_config: Set(None),
        mode: Set(enums::Mode::Test),
        created_at: Set(at(created)),
        updated_at: Set(at(updated)),
    };
    let fine = endpoint(
        "Fine",
        "2026-01-02T03:04:05.678001Z",
        "2026-01-02T03:04:05.678999Z",
    )
    .insert(&db)
    .await
    .expect("endpoint");
    let whole = endpoint("Whole", "2026-01-02T03:04:05.678Z", "2026-01-02T03:04:06Z")
        .insert(&db)
        .await
        .expect("endpoint");
    Migrator::up(&db, None).await.expect("up");
    let read = |id| {
        let db = &db;
        async move {
            endpoint::Entity::find_by_id(id)
                .one(db)
                .await
                .expect("read")
                .expect("the endpoint")
        }
    };
    let fine = read(fine.id).await;
    assert_eq!(fine.created_at, at("2026-01-02T03:04:05.679Z"));
    assert_eq!(fine.updated_at, at("2026-01-02T03:04:05.679Z"));
    let whole = read(whole.id).await;
    assert_eq!(whole.created_at, at("2026-01-02T03:04:05.678Z"));
    assert_eq!(whole.updated_at, at("2026-01-02T03:04:06Z"));
    // Down (to before this migration) leaves them as they are, and the code of before reads them.
    let from_it = u32::try_from(Migrator::migrations().len() - 10).expect("a few");
    Migrator::down(&db, Some(from_it))
        .await
        .expect("down to 10");
    assert_eq!(
        read(fine.id).await.updated_at,
        at("2026-01-02T03:04:05.679Z")
    );
    db.close().await.expect("close");
}

#[tokio::test]
async fn endpoint_times_round_up_to_a_millisecond_on_sqlite() {
    endpoint_times_round_up_to_a_millisecond(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn endpoint_times_round_up_to_a_millisecond_on_postgres() {
    endpoint_times_round_up_to_a_millisecond(Backend::Postgres).await;
}

/// Events recorded before events had ids get one each, which says it names an event.
async fn events_of_before_get_ids(backend: Backend) {
    // Every migration before the one that adds the ids.
    let (_test_db, db) = migrated_up_to(backend, 11).await;
    let org = old_organization(&db).await;
    let backend_kind = db.get_database_backend();
    let postgres = backend_kind == sea_orm::DbBackend::Postgres;
    for _ in 0..3 {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend_kind,
            if postgres {
                "INSERT INTO events (organization_id, type, object_id, actor_kind, occurred_at, data) VALUES ($1, 'endpoint.created', $2, 'system', now(), '{}')"
            } else {
                "INSERT INTO events (organization_id, type, object_id, actor_kind, occurred_at, data) VALUES (?, 'endpoint.created', ?, 'system', '2026-01-01T00:00:00Z', '{}')"
            },
            [org.into(), Uuid::now_v7().into()],
        ))
        .await
        .expect("insert event");
    }
    Migrator::up(&db, None).await.expect("up");
    let events = entity::event::Entity::find()
        .all(&db)
        .await
        .expect("read events");
    assert_eq!(events.len(), 3);
    let ids: std::collections::HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 3, "each its own id");
    for id in ids {
        assert_eq!(
            cockpit_gateway::domain::ids::kind_of(id),
            Some(cockpit_gateway::domain::ids::Kind::Event),
            "{id}"
        );
    }
    // Down takes the ids away again and keeps the events.
    // (to the 11 migrations before it, however many came after).
    let after_ids = u32::try_from(Migrator::migrations().len() - 11).expect("a few");
    Migrator::down(&db, Some(after_ids))
        .await
        .expect("down to 11");
    db.execute_unprepared("SELECT seq FROM events")
        .await
        .expect("events kept");
    assert!(
        db.execute_unprepared("SELECT id FROM events")
            .await
            .is_err()
    );
    db.close().await.expect("close");
}

#[tokio::test]
async fn events_of_before_get_ids_on_sqlite() {
    events_of_before_get_ids(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn events_of_before_get_ids_on_postgres() {
    events_of_before_get_ids(Backend::Postgres).await;
}

/// On PostgreSQL, events written after the migration that numbers them after commit wait
/// unnumbered (a negative `seq`) and then go on from the numbers the identity column gave;
/// down numbers those still waiting, in the order they were written, and the identity goes on
/// from there.
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn events_are_numbered_after_commit_from_where_the_identity_left_off_on_postgres() {
    let (_test_db, db) = migrated_up_to(Backend::Postgres, 17).await;
    let org = old_organization(&db).await;
    let insert = |db: sea_orm::DatabaseConnection, name: &'static str| async move {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO events (id, organization_id, type, object_id, actor_kind, occurred_at, data) \
             VALUES ($1, $2, 'endpoint.created', $1, 'system', now(), json_build_object('name', $3::text))",
            [Uuid::now_v7().into(), org.into(), name.into()],
        ))
        .await
        .expect("insert event");
    };
    let seqs = |db: sea_orm::DatabaseConnection| async move {
        db.query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT data->>'name' AS name, seq FROM events ORDER BY occurred_at, name",
        ))
        .await
        .expect("events")
        .iter()
        .map(|row| {
            (
                row.try_get::<String>("", "name").expect("name"),
                row.try_get::<i64>("", "seq").expect("seq"),
            )
        })
        .collect::<Vec<_>>()
    };
    insert(db.clone(), "a").await;
    insert(db.clone(), "b").await;
    Migrator::up(&db, Some(1)).await.expect("up to 18");
    insert(db.clone(), "c").await;
    insert(db.clone(), "d").await;
    let waiting = seqs(db.clone()).await;
    assert_eq!(&waiting[..2], [("a".to_owned(), 1), ("b".to_owned(), 2)]);
    assert!(
        waiting[2].1 < 0 && waiting[3].1 < waiting[2].1,
        "{waiting:?}"
    );
    Migrator::down(&db, Some(1)).await.expect("down to 17");
    insert(db.clone(), "e").await;
    let numbered: Vec<i64> = seqs(db.clone())
        .await
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    assert_eq!(numbered, [1, 2, 3, 4, 5]);
    // Up again: what the sequencer numbers next goes on after 5.
    Migrator::up(&db, None).await.expect("up");
    let next = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT nextval('events_numbers') AS n",
        ))
        .await
        .expect("nextval")
        .expect("a row");
    assert_eq!(next.try_get::<i64>("", "n").expect("n"), 6);
    db.close().await.expect("close");
}

/// The harness drops a test's schema even when a transaction in it was left open — as the
/// test's gateway leaves one (a slot being taken) when the test ends: the gateway runs on the
/// test's runtime, which the drop blocks, so that transaction would never end by itself, and
/// the drop used to wait for its locks for ever (a hung test binary).
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_test_schema_is_dropped_though_a_transaction_in_it_is_left_open_on_postgres() {
    use sea_orm::TransactionTrait;
    let test_db = TestDb::new(Backend::Postgres).await.expect(POSTGRES_UNSET);
    let db = sea_orm::Database::connect(&test_db.url)
        .await
        .expect("connect");
    db.execute_unprepared("CREATE TABLE held (id int)")
        .await
        .expect("a table");
    let schema = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT current_schema() AS name",
        ))
        .await
        .expect("query")
        .expect("a row")
        .try_get::<String>("", "name")
        .expect("the schema");
    let open = db.begin().await.expect("begin");
    open.execute_unprepared("INSERT INTO held VALUES (1)")
        .await
        .expect("a row lock held");
    // Dropped on a thread of its own, so that a drop that waits for ever fails the test.
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(test_db);
        let _ = done.send(());
    });
    dropped
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the schema dropped within a minute, the transaction still open");
    let admin =
        sea_orm::Database::connect(std::env::var("TEST_DATABASE_URL").expect(POSTGRES_UNSET))
            .await
            .expect("connect");
    let left = admin
        .query_one_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM pg_namespace WHERE nspname = '{schema}'"),
        ))
        .await
        .expect("query")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("a count");
    assert_eq!(left, 0, "schema {schema} is still there");
    drop(open);
}
