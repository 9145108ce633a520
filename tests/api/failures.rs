//! Server faults reach clients as INTERNAL_SERVER_ERROR and nothing more: no SQL, no table
//! names, no driver messages.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

#[track_caller]
fn assert_opaque_internal_error(res: &Response) {
    assert_eq!(
        res.error_code(),
        Some("INTERNAL_SERVER_ERROR"),
        "{}",
        res.body
    );
    assert_eq!(res.body["errors"][0]["message"], "Internal server error");
    let text = res.body.to_string().to_lowercase();
    for leak in [
        "phone_numbers",
        "select",
        "table",
        "relation",
        "sqlx",
        "database",
    ] {
        assert!(!text.contains(leak), "the response names {leak:?}: {text}");
    }
}

db_test! {
    async fn database_faults_reach_clients_only_as_internal_server_error(app) {
        let key = app.org.test_key.clone();
        app.create_ok(&key, json!({ "name": "A", "type": "WEBHOOK", "url": "https://a.example" })).await;
        app.db.execute_unprepared("DROP TABLE phone_numbers").await.expect("drop table");

        let res = app
            .graphql(&key, "{ endpoints { nodes { name phoneNumbers { e164 } } } }", json!({}))
            .await;
        assert_eq!(res.status, StatusCode::OK);
        assert_opaque_internal_error(&res);

        let before = app.endpoint_rows().await;
        let res = app
            .graphql(&key, &CREATE, json!({ "input": { "name": "B", "type": "WEBHOOK",
                "url": "https://b.example", "phoneNumberId": uuid::Uuid::new_v4() } }))
            .await;
        assert_opaque_internal_error(&res);
        assert_eq!(res.body["data"], json!({ "createEndpoint": null }));
        assert_eq!(app.endpoint_rows().await, before, "nothing is written");
    }
}

db_test! {
    async fn unreachable_database_is_a_503_service_unavailable_without_details(app) {
        app.pool.clone().close().await.expect("close the pool");
        let res = app.graphql(&app.org.test_key, "{ viewer { mode } }", json!({})).await;
        assert!(res.body.get("data").is_none());
        assert_database_unavailable("GraphQL", res.status, &res.headers, &res.body);
        let text = res.body.to_string().to_lowercase();
        for leak in ["pool", "sqlx", "database", "closed"] {
            assert!(!text.contains(leak), "the response names {leak:?}: {text}");
        }
    }
}
