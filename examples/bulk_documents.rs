//! A loader for `bench/scale.py`: inserts generated documents through the
//! store's own `insert_document` (the transaction an upload's registration
//! runs, tags and search entry included), many at a time, and explains the
//! plans of the lists the benchmark times.
//!
//! `bulk_documents load DATABASE_URL MANIFEST.json START COUNT CONCURRENCY`
//! inserts documents START..START+COUNT and prints the seconds it took.
//! `bulk_documents explain DATABASE_URL MANIFEST.json` prints, as JSON, the
//! plan of each list of `bench/scale.py` for the manifest's first user.
//!
//! The manifest is `{"users": [{"user_id", "org_id", "connectors": [SHARED_ID,
//! PRIVATE_ID]}]}`. Document `i` is deterministic: it belongs to user
//! `i % users`; of every four of a user's documents two are in the shared
//! connector, one in the private one and one is an upload; its file name
//! is two words of a fixed list and its number; every tenth is tagged
//! `macro`, every third `weekly`; and it was created `i` milliseconds after
//! a fixed time, so the newest are the last loaded.

use inlet::domain::search::SearchQuery;
use inlet::domain::{Document, DocumentId, DocumentStatus, Principal, RequestOrigin, Timestamp};
use inlet::store::{self, DocumentQuery, DocumentSort, Position, SortKey};
use serde_json::Value;
use std::sync::Arc;

const WORDS: &[&str] = &[
    "copper",
    "lithium",
    "nickel",
    "rates",
    "credit",
    "equity",
    "macro",
    "energy",
    "retail",
    "software",
    "shipping",
    "mining",
    "utilities",
    "yield",
    "inflation",
    "currency",
    "banks",
    "autos",
    "chemicals",
    "telecom",
    "media",
    "gaming",
    "insurance",
    "property",
    "steel",
    "aluminium",
    "gold",
    "silver",
    "oil",
    "gas",
    "power",
    "water",
    "rail",
    "airlines",
    "defence",
    "pharma",
    "biotech",
    "devices",
    "payments",
    "brokers",
];
/// 2026-01-01T00:00:00Z.
const EPOCH_MICROS: i64 = 1_767_225_600_000_000;

struct User {
    user_id: String,
    org_id: String,
    shared: uuid::Uuid,
    private: uuid::Uuid,
}

fn users(manifest: &str) -> Vec<User> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| User {
            user_id: u["user_id"].as_str().unwrap().into(),
            org_id: u["org_id"].as_str().unwrap().into(),
            shared: u["connectors"][0].as_str().unwrap().parse().unwrap(),
            private: u["connectors"][1].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

fn document(users: &[User], i: u64) -> (Document, Vec<String>) {
    let user = &users[(i % users.len() as u64) as usize];
    let slot = (i / users.len() as u64) % 4;
    let (connector_id, origin, shared) = match slot {
        0 | 1 => (Some(user.shared), RequestOrigin::Email, true),
        2 => (Some(user.private), RequestOrigin::Email, false),
        _ => (None, RequestOrigin::FileUpload, false),
    };
    let word = |k: u64| WORDS[(k % WORDS.len() as u64) as usize];
    let at = Timestamp::from_micros(EPOCH_MICROS + i as i64 * 1000);
    let mut tags = vec![];
    if i.is_multiple_of(10) {
        tags.push("macro".to_string());
    }
    if i.is_multiple_of(3) {
        tags.push("weekly".to_string());
    }
    let doc = Document {
        id: DocumentId::new(),
        user_id: user.user_id.clone(),
        org_id: user.org_id.clone(),
        connector_id,
        rp_collection_id: None,
        file_name: format!("{}-{}-{i:07}.pdf", word(i * 7), word(i * 13 + 3)),
        raw_size: Some(10_000 + (i % 90_000) as i64),
        content_type: Some("application/pdf".into()),
        request_origin: origin,
        status: DocumentStatus::Completed,
        error_code: None,
        share_with_org: shared,
        published_at: None,
        created_at: at,
        updated_at: at,
        file_metadata: Default::default(),
        sha256: None,
        blob_key: None,
        tags: vec![],
    };
    (doc, tags)
}

async fn load(url: &str, users: Vec<User>, start: u64, count: u64, concurrency: usize) {
    let store = store::open(url).await.unwrap();
    let users = Arc::new(users);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(start));
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, users, next) = (store.clone(), users.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= start + count {
                    return;
                }
                let (doc, tags) = document(&users, i);
                store.insert_document(&doc, &tags, &[]).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    println!("{:.3}", started.elapsed().as_secs_f64());
}

/// The lists of `bench/scale.py`, by name, for `users[0]`.
fn lists(users: &[User]) -> Vec<(&'static str, DocumentQuery, Option<SearchQuery>)> {
    let base = DocumentQuery::newest(51);
    let search = |q: &str| Some(SearchQuery::parse(q).unwrap());
    vec![
        ("default", base.clone(), None),
        (
            "connector",
            DocumentQuery {
                connector_id: Some(users[0].shared),
                ..base.clone()
            },
            None,
        ),
        (
            "tags",
            DocumentQuery {
                tags: vec!["macro".into()],
                ..base.clone()
            },
            None,
        ),
        (
            "origin",
            DocumentQuery {
                origin: Some(RequestOrigin::FileUpload),
                ..base.clone()
            },
            None,
        ),
        (
            "file_name",
            DocumentQuery {
                file_name: Some("lithium".into()),
                ..base.clone()
            },
            None,
        ),
        (
            "page_200",
            DocumentQuery {
                offset: 199 * 50,
                ..base.clone()
            },
            None,
        ),
        (
            // As `page=200` asked again: it starts after the row before it.
            "page_200_seek",
            DocumentQuery {
                after: Some(Position {
                    key: SortKey::Time(Timestamp::now().as_micros()),
                    id: DocumentId::new(),
                }),
                ..base.clone()
            },
            None,
        ),
        (
            "search",
            DocumentQuery {
                sort_by: DocumentSort::Relevance,
                ..base.clone()
            },
            search("lithium"),
        ),
    ]
}

async fn explain(url: &str, users: Vec<User>) {
    let viewer = Principal {
        user_id: users[0].user_id.clone(),
        org_id: users[0].org_id.clone(),
        key_id: String::new(),
    };
    let store = store::open(url).await.unwrap();
    let mut plans = serde_json::Map::new();
    for (name, query, search) in lists(&users) {
        let plan = store
            .explain_document_list(&viewer, &query, search.as_ref())
            .await
            .unwrap();
        plans.insert(name.into(), plan.into());
    }
    println!("{}", Value::Object(plans));
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match &args[..] {
        [cmd, url, manifest, start, count, concurrency] if cmd == "load" => {
            load(
                url,
                users(manifest),
                start.parse().unwrap(),
                count.parse().unwrap(),
                concurrency.parse().unwrap(),
            )
            .await
        }
        [cmd, url, manifest] if cmd == "explain" => explain(url, users(manifest)).await,
        _ => {
            eprintln!(
                "usage: bulk_documents load DATABASE_URL MANIFEST.json START COUNT CONCURRENCY\n       \
                 bulk_documents explain DATABASE_URL MANIFEST.json"
            );
            std::process::exit(2);
        }
    }
}
