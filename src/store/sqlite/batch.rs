//! Natural batching of point reads. Every authenticated request looks up
//! its key and most look up a connector; one query per lookup costs a round
//! trip to the database each (a thread hop for SQLite, the network for
//! PostgreSQL). Here lookups that arrive while earlier ones are being
//! answered queue up and are answered together by the next query, so under
//! load many requests share one round trip, and an idle server answers a
//! lone lookup at once. Each answer comes from a query that started after
//! the lookup was asked, so a reader still sees every write that finished
//! before it asked.

use crate::store::{StoreError, StoreResult};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most keys one query asks for.
const MAX_BATCH: usize = 128;
/// Queries in flight at once per loader: while one runs, the next batch
/// forms (measured: one gives larger batches and more requests/s than 2 or 4).
const IN_FLIGHT: usize = 1;

type Reply<V> = oneshot::Sender<Result<Option<V>, Arc<StoreError>>>;

/// Fetches the values of a set of distinct keys; absent keys are left out.
pub(super) type Fetch<K, V> =
    Arc<dyn Fn(Vec<K>) -> BoxFuture<'static, StoreResult<Vec<(K, V)>>> + Send + Sync>;

pub(super) struct Loader<K, V> {
    queue: mpsc::UnboundedSender<(K, Reply<V>)>,
}

impl<K, V> Loader<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Starts the loader's task; it ends when the loader is dropped.
    pub fn new(fetch: Fetch<K, V>) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(waiting, fetch));
        Self { queue }
    }

    pub async fn load(&self, key: K) -> StoreResult<Option<V>> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the read batcher has stopped".into());
        self.queue.send((key, reply)).map_err(|_| closed())?;
        answer
            .await
            .map_err(|_| closed())?
            .map_err(StoreError::Shared)
    }
}

async fn dispatch<K, V>(mut waiting: mpsc::UnboundedReceiver<(K, Reply<V>)>, fetch: Fetch<K, V>)
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        // Whatever queued up while waiting for a slot goes in this batch.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let fetch = fetch.clone();
        tokio::spawn(async move {
            let _slot = slot;
            answer(batch, &fetch).await;
        });
    }
}

async fn answer<K, V>(batch: Vec<(K, Reply<V>)>, fetch: &Fetch<K, V>)
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    let mut keys: Vec<K> = Vec::with_capacity(batch.len());
    for (key, _) in &batch {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    match fetch(keys).await {
        Ok(found) => {
            let found: HashMap<K, V> = found.into_iter().collect();
            for (key, reply) in batch {
                let _ = reply.send(Ok(found.get(&key).cloned()));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    fn squares(calls: Arc<Mutex<Vec<usize>>>) -> Fetch<u32, u64> {
        Arc::new(move |keys: Vec<u32>| {
            calls.lock().unwrap().push(keys.len());
            Box::pin(async move {
                tokio::task::yield_now().await;
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 7 != 0)
                    .map(|k| (k, u64::from(k) * u64::from(k)))
                    .collect())
            })
        })
    }

    #[tokio::test]
    async fn a_lone_lookup_is_answered_and_absent_keys_are_none() {
        let calls = Arc::new(Mutex::new(vec![]));
        let loader = Loader::new(squares(calls.clone()));
        assert_eq!(loader.load(3).await.unwrap(), Some(9));
        assert_eq!(loader.load(14).await.unwrap(), None);
        assert_eq!(*calls.lock().unwrap(), vec![1, 1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_share_queries_and_each_gets_its_own_answer() {
        let calls = Arc::new(Mutex::new(vec![]));
        let loader = Arc::new(Loader::new(squares(calls.clone())));
        let lookups: Vec<_> = (0..1000u32)
            .map(|i| {
                let loader = loader.clone();
                tokio::spawn(async move { (i % 50, loader.load(i % 50).await.unwrap()) })
            })
            .collect();
        for lookup in lookups {
            let (key, value) = lookup.await.unwrap();
            let expected = (key % 7 != 0).then(|| u64::from(key) * u64::from(key));
            assert_eq!(value, expected, "key {key}");
        }
        let calls = calls.lock().unwrap();
        assert!(
            calls.len() < 1000,
            "{} queries for 1000 lookups",
            calls.len()
        );
        assert!(
            calls.iter().all(|&n| (1..=50).contains(&n)),
            "keys are deduplicated: {calls:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_query_fails_every_lookup_in_its_batch_and_the_next_one_runs() {
        let failures = Arc::new(AtomicUsize::new(1));
        let f = failures.clone();
        let fetch: Fetch<u32, u32> = Arc::new(move |keys: Vec<u32>| {
            let fail = f.fetch_sub(1, Ordering::SeqCst) == 1;
            Box::pin(async move {
                if fail {
                    Err(StoreError::Corrupt("disk on fire".into()))
                } else {
                    Ok(keys.into_iter().map(|k| (k, k)).collect())
                }
            })
        });
        let loader = Loader::new(fetch);
        let error = loader.load(1).await.unwrap_err();
        assert!(error.to_string().contains("disk on fire"), "{error}");
        assert_eq!(loader.load(2).await.unwrap(), Some(2));
    }
}
