//! Group commit for SQLite. With `synchronous=FULL` every commit waits for
//! an fsync, and SQLite takes one writer at a time, so separate write
//! transactions are bound by the disk's fsync rate. Here writes queued while
//! one group commits run together in the next: one transaction, each write
//! under its own savepoint (a failing write is undone alone and reports its
//! own error), one fsync for all. No caller hears of success before the
//! commit that made its write durable; if that commit fails, all hear it.

use crate::store::{StoreError, StoreResult};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::{SqliteConnection, SqlitePool};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction takes.
const MAX_GROUP: usize = 256;

pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<Box<dyn Write>>,
}

/// One queued write: applied inside the group's transaction, then told how
/// the commit went.
trait Write: Send {
    /// Runs the write; false when it failed (its savepoint is rolled back).
    fn apply<'a>(&'a mut self, conn: &'a mut SqliteConnection) -> BoxFuture<'a, bool>;
    fn finish(self: Box<Self>, commit: Result<(), Arc<StoreError>>);
}

struct Pending<T, F> {
    write: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Pending<T, F> {
    /// `write`, queued, and where its answer will arrive.
    fn new(write: F) -> (Self, oneshot::Receiver<StoreResult<T>>) {
        let (reply, answer) = oneshot::channel();
        let pending = Self {
            write: Some(write),
            result: None,
            reply,
        };
        (pending, answer)
    }
}

impl<T, F> Write for Pending<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
{
    fn apply<'a>(&'a mut self, conn: &'a mut SqliteConnection) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(write) = self.write.take() else {
                return false;
            };
            let result = AssertUnwindSafe(write(conn))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("the write panicked".into())));
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, commit: Result<(), Arc<StoreError>>) {
        let result = match commit {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(StoreError::Unavailable("the write was not run".into()))),
            Err(e) => Err(StoreError::Shared(e)),
        };
        let _ = self.reply.send(result);
    }
}

impl GroupCommit {
    /// Starts the committing thread; it ends when this is dropped. The
    /// writer is the one serial step of every write, and each of its
    /// statements is a round trip to SQLite's thread: on a thread of its own
    /// it is not queued behind the request and session tasks at each one.
    pub fn new(pool: SqlitePool) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a single-thread runtime builds");
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || runtime.block_on(commit_groups(pool, waiting)))
            .expect("the writer thread starts");
        Self { queue }
    }

    /// Runs `write` in the next group and answers once that group committed.
    /// `write` must use only the connection it is given.
    pub async fn run<T, F>(&self, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let (pending, answer) = Pending::new(write);
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.queue.send(Box::new(pending)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn commit_groups(pool: SqlitePool, mut waiting: mpsc::UnboundedReceiver<Box<dyn Write>>) {
    while let Some(first) = waiting.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let outcome = commit(&pool, &mut group).await.map_err(Arc::new);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, writes = group.len(), "group commit failed");
        }
        for write in group {
            write.finish(outcome.clone());
        }
    }
}

async fn commit(pool: &SqlitePool, group: &mut [Box<dyn Write>]) -> StoreResult<()> {
    let mut rest = group;
    while let Some((first, others)) = rest.split_first_mut() {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        // The first write needs no savepoint (one round trip less, and most
        // groups are small): when it fails, the transaction holds nothing
        // else, so it is rolled back whole and the others go in a new one.
        if !first.apply(&mut tx).await {
            tx.rollback().await?;
            rest = others;
            continue;
        }
        for write in others.iter_mut() {
            // Savepoints stay open until COMMIT releases them all (a RELEASE
            // per write would be one more round trip each); ROLLBACK TO
            // undoes the most recent one of the name, this write's.
            sqlx::query("SAVEPOINT write").execute(&mut *tx).await?;
            if !write.apply(&mut tx).await {
                sqlx::query("ROLLBACK TO write").execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        return Ok(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    async fn store() -> (tempfile::TempDir, SqlitePool, Arc<GroupCommit>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("t.db").display());
        let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let writes = Arc::new(GroupCommit::new(pool.clone()));
        (dir, pool, writes)
    }

    /// Inserts `k`, then fails when `then_fail`.
    async fn insert_row(conn: &mut SqliteConnection, k: i64, then_fail: bool) -> StoreResult<i64> {
        sqlx::query("INSERT INTO t (k, v) VALUES (?, 'x')")
            .bind(k)
            .execute(&mut *conn)
            .await?;
        if then_fail {
            return Err(StoreError::Conflict(format!("{k} changed its mind")));
        }
        Ok(k)
    }

    async fn insert(writes: &GroupCommit, k: i64, then_fail: bool) -> StoreResult<i64> {
        writes
            .run(move |conn| Box::pin(insert_row(conn, k, then_fail)))
            .await
    }

    async fn keys(pool: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_write_in_a_group_stands_or_falls_alone() {
        let (_dir, pool, writes) = store().await;
        insert(&writes, 7, false).await.unwrap();
        // 300 at once: most queue behind a commit and share the next one.
        let tasks: Vec<_> = (0..300i64)
            .map(|i| {
                let writes = writes.clone();
                tokio::spawn(async move { (i, insert(&writes, i, i % 10 == 3).await) })
            })
            .collect();
        let mut expected = vec![];
        for task in tasks {
            let (i, result) = task.await.unwrap();
            match (i, result) {
                (7, Err(StoreError::Backend(e))) => {
                    assert!(e.to_string().contains("UNIQUE"), "{e}")
                }
                (i, Err(StoreError::Conflict(m))) if i % 10 == 3 => {
                    assert_eq!(m, format!("{i} changed its mind"))
                }
                (i, Ok(k)) if i % 10 != 3 && i != 7 => {
                    assert_eq!(k, i);
                    expected.push(i);
                }
                (i, other) => panic!("write {i}: {other:?}"),
            }
        }
        expected.push(7);
        expected.sort();
        assert_eq!(
            keys(&pool).await,
            expected,
            "failed writes left nothing behind"
        );
    }

    /// A queued insert of `k` that fails after writing when `then_fail`,
    /// and where its answer will arrive.
    fn queued(k: i64, then_fail: bool) -> (Box<dyn Write>, oneshot::Receiver<StoreResult<i64>>) {
        pending(move |conn| Box::pin(insert_row(conn, k, then_fail)))
    }

    fn pending<F>(write: F) -> (Box<dyn Write>, oneshot::Receiver<StoreResult<i64>>)
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<i64>>
            + Send
            + 'static,
    {
        let (pending, answer) = Pending::new(write);
        (Box::new(pending), answer)
    }

    #[tokio::test]
    async fn a_group_whose_first_writes_fail_keeps_only_the_others() {
        let (_dir, pool, _writes) = store().await;
        let plan = [(1, true), (2, true), (3, false), (4, true), (5, false)];
        let (mut group, answers): (Vec<_>, Vec<_>) =
            plan.iter().map(|&(k, fail)| queued(k, fail)).unzip();
        commit(&pool, &mut group).await.unwrap();
        for write in group {
            write.finish(Ok(()));
        }
        for ((k, fail), answer) in plan.iter().zip(answers) {
            match answer.await.unwrap() {
                Err(StoreError::Conflict(_)) if *fail => {}
                Ok(got) if !fail => assert_eq!(got, *k),
                other => panic!("write {k}: {other:?}"),
            }
        }
        assert_eq!(keys(&pool).await, vec![3, 5], "failed writes left nothing");
        // A group of failures only commits nothing and reports no error.
        let (mut group, _answers): (Vec<_>, Vec<_>) =
            [queued(6, true), queued(7, true)].into_iter().unzip();
        commit(&pool, &mut group).await.unwrap();
        assert_eq!(keys(&pool).await, vec![3, 5]);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let (_dir, pool, writes) = store().await;
        let broken = 1;
        let panicked = writes
            .run(move |_conn| {
                Box::pin(async move {
                    assert_eq!(broken, 0, "a bug in a write");
                    Ok(())
                })
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unavailable(_))),
            "{panicked:?}"
        );
        assert_eq!(insert(&writes, 1, false).await.unwrap(), 1);
        assert_eq!(keys(&pool).await, vec![1]);
    }

    #[tokio::test]
    async fn a_group_that_cannot_start_fails_every_write_in_it() {
        let (_dir, pool, writes) = store().await;
        pool.close().await;
        let result = insert(&writes, 1, false).await;
        assert!(matches!(result, Err(StoreError::Shared(_))), "{result:?}");
    }
}
