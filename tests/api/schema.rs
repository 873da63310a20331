//! Both migration streams must describe the same tables and columns.

use agora::platform::db::Db;

use crate::helpers::{test_settings, TestDb, DEFAULT_POSTGRES};

const ALL: &[&str] = &[
    "platform",
    "auth",
    "mail",
    "notifications",
    "locations",
    "catalog",
    "orders",
    "files",
];

async fn migrated_schema(test_db: &TestDb) -> agora::platform::db::Schema {
    let settings = test_settings(test_db);
    let db = Db::connect(&settings).await.unwrap();
    db.migrate(ALL).await.unwrap();
    assert!(db.pending_migrations(ALL).await.unwrap().is_empty());
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

/// A process migrates the platform and its own domains; another process on the same
/// database adds its domains' tables later, and neither refuses the other's migrations.
#[tokio::test]
async fn each_process_migrates_only_the_domains_it_hosts() {
    let test_db = TestDb::new().await;
    let settings = test_settings(&test_db);
    let db = Db::connect(&settings).await.unwrap();
    let shop = ["platform", "catalog", "orders", "files"];
    db.migrate(&shop).await.unwrap();
    let schema = db.schema().await.unwrap();
    assert!(
        schema.contains_key("catalog_products"),
        "{:?}",
        schema.keys()
    );
    assert!(schema.contains_key("catalog_reservations"));
    assert!(schema.contains_key("orders"));
    assert!(!schema.contains_key("auth_users"), "{:?}", schema.keys());
    assert!(!schema.contains_key("mail_emails"));
    assert!(db.pending_migrations(&shop).await.unwrap().is_empty());
    assert!(!db.pending_migrations(ALL).await.unwrap().is_empty());

    // The auth process on the same database, then the first one started again.
    db.migrate(&["platform", "auth", "mail"]).await.unwrap();
    db.migrate(&shop).await.unwrap();
    let schema = db.schema().await.unwrap();
    assert!(schema.contains_key("auth_users"));
    assert!(schema.contains_key("catalog_products"));
    db.close().await;
}
