//! Both migration streams must describe the same tables and columns.

use agora::platform::db::Db;

use crate::helpers::{test_settings, TestDb, DEFAULT_POSTGRES};

async fn migrated_schema(test_db: &TestDb) -> agora::platform::db::Schema {
    let settings = test_settings(test_db);
    let db = Db::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    assert!(db.pending_migrations().await.unwrap().is_empty());
    let schema = db.schema().await.unwrap();
    db.close().await;
    schema
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_are_equivalent() {
    let admin = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES.to_string());
    let sqlite = migrated_schema(&TestDb::sqlite()).await;
    let postgres = migrated_schema(&TestDb::postgres(&admin).await).await;
    assert!(sqlite.contains_key("queue_messages"), "{sqlite:?}");
    let tables = |s: &agora::platform::db::Schema| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(tables(&sqlite), tables(&postgres), "same tables");
    for (table, columns) in &sqlite {
        assert_eq!(
            Some(columns),
            postgres.get(table),
            "columns and nullability of {table}"
        );
    }
}
