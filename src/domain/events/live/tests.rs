use futures_util::StreamExt;

use super::*;
use crate::domain::Mode;
use crate::domain::{api_keys, members, organizations};

/// A migrated SQLite database in a folder of its own (kept while the test runs).
async fn database() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/live.db?mode=rwc", dir.path().display());
    let db = crate::db::connect(&url).await.expect("connect");
    crate::db::migrate(&db).await.expect("migrate");
    (db.into(), dir)
}

fn actor(organization_id: Uuid) -> Actor {
    Actor {
        organization_id,
        role: Role::Owner,
        credential: Credential::User {
            user_id: "watcher".to_owned(),
        },
        request_id: None,
        expires_at: None,
    }
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_its_buffer_is_ended_as_too_slow() {
    let (db, _dir) = database().await;
    let hub = Hub::new(db.clone(), 1, || false);
    let org = organizations::system::create(&db, "Slow")
        .await
        .expect("org");
    members::system::upsert(&db, org.id, "watcher", Role::Owner)
        .await
        .expect("member");
    let watch = Watch {
        actor: actor(org.id),
        types: vec![EventType::ApiKeyCreated],
        object_ids: None,
        after: None,
        reads_log: true,
    };
    let mut stream = Box::pin(subscribe(&hub, watch).await.expect("subscribe"));
    // Caught up (nothing yet), then one live event taken.
    api_keys::system::create(&db, org.id, Mode::Test, "one")
        .await
        .expect("key");
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
    assert!(matches!(first, Ok(Some(Ok(_)))), "{first:?}");
    // Three commits, three batches, while the subscriber reads nothing: more than its
    // buffer of one.
    for name in ["two", "three", "four"] {
        api_keys::system::create(&db, org.id, Mode::Test, name)
            .await
            .expect("key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
    assert!(matches!(next, Ok(Some(Err(Ending::TooSlow)))), "{next:?}");
    let after = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
    assert!(matches!(after, Ok(None)), "it ends there: {after:?}");
}

#[tokio::test]
async fn what_committed_while_a_subscriber_caught_up_is_not_taken_for_falling_behind() {
    let (db, _dir) = database().await;
    let hub = Hub::new(db.clone(), 1, || false);
    let org = organizations::system::create(&db, "Busy")
        .await
        .expect("org");
    members::system::upsert(&db, org.id, "watcher", Role::Owner)
        .await
        .expect("member");
    // An event to continue after, then more than a buffer's worth before anyone reads.
    api_keys::system::create(&db, org.id, Mode::Test, "zero")
        .await
        .expect("key");
    let start = super::super::last_seq(&db, org.id).await.expect("seq");
    let watch = Watch {
        actor: actor(org.id),
        types: vec![EventType::ApiKeyCreated],
        object_ids: None,
        after: Some(start),
        reads_log: true,
    };
    let mut stream = Box::pin(subscribe(&hub, watch).await.expect("subscribe"));
    for name in ["one", "two", "three"] {
        api_keys::system::create(&db, org.id, Mode::Test, name)
            .await
            .expect("key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The table has them all: every one arrives, in order, and the stream stays open.
    let mut names = Vec::new();
    for _ in 0..3 {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        let Ok(Some(Ok(event))) = item else {
            panic!("expected an event, got {item:?}");
        };
        names.push(
            event
                .event
                .after
                .as_ref()
                .map(|after| &after["name"])
                .and_then(|name| name.as_str())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(names, ["one", "two", "three"]);
    api_keys::system::create(&db, org.id, Mode::Test, "live")
        .await
        .expect("key");
    let live = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
    assert!(matches!(live, Ok(Some(Ok(_)))), "{live:?}");
}
