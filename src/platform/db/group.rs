//! Writes that many tasks make at once, committed in groups: each task queues its item, and
//! whoever takes the writer's turn writes every item waiting at that moment in one
//! transaction. While one group commits the next gathers, so under load a commit carries
//! many items, and a lone item is written at once. Each task learns its own item's result.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{Db, DbError, Tx};

/// How a group of items is written inside one transaction.
#[async_trait]
pub trait GroupWrite: Send + Sync + 'static {
    type Item: Send;
    /// One result per item, in order: whether it changed anything.
    async fn write(&self, tx: &mut Tx, items: &[Self::Item]) -> Result<Vec<bool>, DbError>;
}

type Waiting<T> = (T, oneshot::Sender<Result<bool, String>>);

pub struct GroupCommit<W: GroupWrite> {
    db: Db,
    writer: W,
    waiting: Mutex<Vec<Waiting<W::Item>>>,
    turn: tokio::sync::Mutex<()>,
}

impl<W: GroupWrite> GroupCommit<W> {
    pub fn new(db: Db, writer: W) -> Self {
        Self {
            db,
            writer,
            waiting: Mutex::new(Vec::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Writes `item` with whatever else waits: whether it changed anything, or why the
    /// group's transaction failed (every item of the group then failed with it).
    pub async fn write(&self, item: W::Item) -> Result<bool, String> {
        let (done, written) = oneshot::channel();
        self.waiting.lock().expect("group lock").push((item, done));
        {
            let _turn = self.turn.lock().await;
            let group = std::mem::take(&mut *self.waiting.lock().expect("group lock"));
            // Empty when the previous turn took ours along.
            if !group.is_empty() {
                let (items, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                match self.write_all(&items).await {
                    Ok(changed) => {
                        for (reply, changed) in replies.into_iter().zip(changed) {
                            let _ = reply.send(Ok(changed));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        }
        written
            .await
            .unwrap_or_else(|_| Err("the group writer stopped".into()))
    }

    async fn write_all(&self, items: &[W::Item]) -> Result<Vec<bool>, DbError> {
        let mut tx = self.db.begin().await?;
        let changed = self.writer.write(&mut tx, items).await?;
        tx.commit().await?;
        Ok(changed)
    }
}
