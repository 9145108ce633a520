//! Every migration runs up, down and up again on a fresh database.

use migration::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;

use crate::helpers::*;

async fn migrate_up_down_up(backend: Backend) {
    let Some(test_db) = TestDb::new(backend).await else {
        eprintln!("TEST_DATABASE_URL is not set; PostgreSQL run skipped");
        return;
    };
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
async fn migrations_run_up_down_up_on_postgres() {
    migrate_up_down_up(Backend::Postgres).await;
}
