//! The database layer on the backend under test: transactions and constraint mapping.

use agora::platform::db::DbError;
use agora::platform::queue::{publish, Outgoing};
use chrono::Utc;
use sea_query::{Alias, Expr, Query};

use crate::helpers::spawn_app;

fn subscription(consumer: &str) -> sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new("queue_subscriptions"))
        .columns([
            Alias::new("consumer"),
            Alias::new("topic"),
            Alias::new("created_at"),
        ])
        .values_panic([consumer.into(), "t".into(), Utc::now().into()])
        .to_owned()
}

async fn count(db: &agora::platform::db::Db, consumer: &str) -> i64 {
    let (n,): (i64,) = db
        .fetch_one(
            Query::select()
                .expr(Expr::col(Alias::new("consumer")).count())
                .from(Alias::new("queue_subscriptions"))
                .and_where(Expr::col(Alias::new("consumer")).eq(consumer)),
        )
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn unique_and_foreign_key_violations_are_mapped() {
    let app = spawn_app().await;
    app.db.execute(&subscription("dup")).await.unwrap();
    let err = app.db.execute(&subscription("dup")).await.unwrap_err();
    assert!(matches!(err, DbError::UniqueViolation { .. }), "{err:?}");

    let orphan = Query::insert()
        .into_table(Alias::new("queue_deliveries"))
        .columns(
            [
                "id",
                "message_id",
                "consumer",
                "status",
                "attempts",
                "available_at",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            uuid::Uuid::now_v7().into(),
            uuid::Uuid::now_v7().into(),
            "c".into(),
            "pending".into(),
            0.into(),
            Utc::now().into(),
            Utc::now().into(),
            Utc::now().into(),
        ])
        .to_owned();
    let err = app.db.execute(&orphan).await.unwrap_err();
    assert!(
        matches!(err, DbError::ForeignKeyViolation { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn check_constraints_are_mapped() {
    let app = spawn_app().await;
    // A subscriber for topic `t`, so publishing creates a delivery row.
    app.db.execute(&subscription("checker")).await.unwrap();
    let mut tx = app.db.begin().await.unwrap();
    publish(&mut tx, Outgoing::new("t", "k", &serde_json::json!({})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let err = app
        .db
        .execute(
            Query::update()
                .table(Alias::new("queue_deliveries"))
                .value(Alias::new("status"), "bogus"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::CheckViolation { .. }), "{err:?}");
}

#[tokio::test]
async fn transactions_commit_or_roll_back_as_a_whole() {
    let app = spawn_app().await;
    let mut tx = app.db.begin().await.unwrap();
    tx.execute(&subscription("rolled-back")).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&app.db, "rolled-back").await, 0);

    {
        let mut tx = app.db.begin().await.unwrap();
        tx.execute(&subscription("dropped")).await.unwrap();
        // Dropped without commit.
    }
    assert_eq!(count(&app.db, "dropped").await, 0);

    let mut tx = app.db.begin().await.unwrap();
    tx.execute(&subscription("committed")).await.unwrap();
    // A failing statement leaves the transaction to be rolled back: nothing half-written.
    assert!(tx.execute(&subscription("committed")).await.is_err());
    tx.rollback().await.unwrap();
    assert_eq!(count(&app.db, "committed").await, 0);

    let mut tx = app.db.begin().await.unwrap();
    tx.execute(&subscription("committed")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&app.db, "committed").await, 1);
}
