//! A loader for `bench/search.py`: stores documents with extracted text
//! through the store, the way processing does, and times the indexing.
//!
//! `search_index DATABASE_URL CORPUS.jsonl CONCURRENCY`: each line of the
//! corpus is `{"file_name", "text", "user_id", "org_id", "connector_id"}`
//! (the user and connector must exist). Every document is inserted as
//! `processing`, then completed with its text by `record_processing` (the
//! transaction that indexes it) from CONCURRENCY tasks; prints the seconds
//! the completing took.

use inlet::domain::{Document, DocumentId, DocumentStatus, RequestOrigin, Timestamp};
use inlet::store::{self, Processed};
use serde_json::Value;
use std::io::BufRead;
use std::sync::Arc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, corpus, concurrency] = &args[..] else {
        eprintln!("usage: search_index DATABASE_URL CORPUS.jsonl CONCURRENCY");
        std::process::exit(2);
    };
    let concurrency: usize = concurrency.parse().unwrap();
    let store = store::open(url).await.unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(corpus).unwrap());
    let mut pending = vec![];
    for line in file.lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let now = Timestamp::now();
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        let doc = Document {
            id: DocumentId::new(),
            user_id: s("user_id"),
            org_id: s("org_id"),
            connector_id: Some(s("connector_id").parse().unwrap()),
            rp_collection_id: None,
            file_name: s("file_name"),
            raw_size: None,
            content_type: None,
            request_origin: RequestOrigin::InvestmentResearch,
            status: DocumentStatus::Processing,
            error_code: None,
            share_with_org: false,
            published_at: None,
            created_at: now,
            updated_at: now,
            file_metadata: Default::default(),
            sha256: None,
            blob_key: None,
            tags: vec![],
        };
        pending.push((doc, s("text")));
    }
    // Inserting is not what is measured: in production the row exists
    // long before its text is extracted.
    let inserts = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (doc, _) in &pending {
        let (store, doc, permit) = (
            store.clone(),
            doc.clone(),
            inserts.clone().acquire_owned().await.unwrap(),
        );
        tasks.spawn(async move {
            store.insert_document(&doc, &[], &[]).await.unwrap();
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    let started = std::time::Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(pending));
    for _ in 0..concurrency {
        let (store, queue) = (store.clone(), queue.clone());
        tasks.spawn(async move {
            loop {
                let Some((doc, text)) = queue.lock().unwrap().pop() else {
                    return;
                };
                let processed = Processed {
                    status: DocumentStatus::Completed,
                    raw_size: text.len() as i64,
                    sha256: String::new(),
                    content_type: "text/plain".into(),
                    error_code: None,
                    text,
                    file_metadata: None,
                    content: None,
                };
                store
                    .record_processing(&doc.id, processed, Timestamp::now())
                    .await
                    .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    println!("{:.3}", started.elapsed().as_secs_f64());
}
