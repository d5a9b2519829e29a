//! Contract §11: `GET /documents?q=`. What is searched (file names, e-mail
//! subject and sender, tag names), the query language, highlights, and
//! tenancy first: nothing a caller may not see shows in a result, a count,
//! a snippet or `has_more`, and every change applies to the next query.

mod common;

use common::{
    assert_invalid_request, connector_id, connector_path, document_path, inbox_address, result_ids,
    TestDatabase, TestServer, DESK, DOCUMENTS,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `GET /documents?q=…&extra`, one page, whatever its status.
async fn search_page(s: &TestServer, key: &str, q: &str, extra: &str) -> Value {
    let q: String = url_encode(q);
    let path = if extra.is_empty() {
        format!("{DOCUMENTS}?q={q}")
    } else {
        format!("{DOCUMENTS}?q={q}&{extra}")
    };
    let resp = s.get(&path, key).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

/// The file names a search finds, over all pages.
async fn found(s: &TestServer, key: &str, q: &str) -> BTreeSet<String> {
    s.list_documents(key, &format!("q={}", url_encode(q)))
        .await
        .iter()
        .map(|d| d["file_name"].as_str().unwrap().to_string())
        .collect()
}

/// The documents a search finds, once the server's workers have processed
/// what it looks for.
async fn wait_found(s: &TestServer, key: &str, q: &str) -> Vec<Value> {
    common::wait_until(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(50),
        || async {
            let hits = s.list_documents(key, &format!("q={}", url_encode(q))).await;
            if hits.is_empty() {
                Err(format!("nothing found for {q}"))
            } else {
                Ok(hits)
            }
        },
    )
    .await
}

/// How many documents a search finds, over all pages.
async fn count(s: &TestServer, key: &str, q: &str) -> usize {
    s.list_documents(key, &format!("q={}", url_encode(q)))
        .await
        .len()
}

fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Uploads a completed document named `file_name` with tags.
async fn upload(s: &TestServer, key: &str, file_name: &str, tags: &[&str], shared: bool) -> Value {
    let doc = s
        .upload(
            key,
            file_name,
            b"bytes",
            json!({"tags": tags, "share_with_org": shared}),
        )
        .await;
    assert_eq!(doc["status"], "completed", "{doc}");
    doc
}

/// The research corpus every query-language test uses.
async fn corpus(s: &TestServer, key: &str) {
    for (name, tags) in [
        ("Lithium-Prices-Q3.pdf", &["metals"][..]),
        ("lithium supply outlook.docx", &[]),
        ("Copper and nickel weekly.pdf", &["metals"]),
        ("Café-Crème market note.txt", &[]),
        ("Battery makers rally.pdf", &["equities", "ev"]),
        ("China rates comment.pdf", &["macro"]),
        ("Pricing power in chemicals.pdf", &[]),
    ] {
        upload(s, key, name, tags, false).await;
    }
}

/// The query language and its results: one table, run on any backend
/// (and compared across both by `sqlite_and_postgresql_find_the_same_sets`).
const QUERIES: &[(&str, &[&str])] = &[
    // Words: all must match; case-insensitive; stemmed (prices ~ price).
    (
        "lithium",
        &["Lithium-Prices-Q3.pdf", "lithium supply outlook.docx"],
    ),
    ("LITHIUM price", &["Lithium-Prices-Q3.pdf"]),
    (
        "priced",
        &["Lithium-Prices-Q3.pdf", "Pricing power in chemicals.pdf"],
    ),
    // A phrase: consecutive words.
    ("\"lithium prices\"", &["Lithium-Prices-Q3.pdf"]),
    ("\"prices lithium\"", &[]),
    // OR, exclusion, prefix.
    (
        "copper OR battery",
        &["Copper and nickel weekly.pdf", "Battery makers rally.pdf"],
    ),
    ("lithium -supply", &["Lithium-Prices-Q3.pdf"]),
    (
        "pric*",
        &["Lithium-Prices-Q3.pdf", "Pricing power in chemicals.pdf"],
    ),
    // Accents fold both ways.
    ("cafe creme", &["Café-Crème market note.txt"]),
    ("CAFÉ", &["Café-Crème market note.txt"]),
    // Tag names are searched.
    (
        "metals",
        &["Lithium-Prices-Q3.pdf", "Copper and nickel weekly.pdf"],
    ),
    ("macro china", &["China rates comment.pdf"]),
    // Words that look like operators of the databases are only words.
    ("and nickel", &["Copper and nickel weekly.pdf"]),
    ("NOT", &[]),
    ("zinc", &[]),
];

#[tokio::test]
async fn the_query_language_finds_what_the_contract_says() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    corpus(&s, &key).await;
    for (q, expected) in QUERIES {
        assert_eq!(found(&s, &key, q).await, names(expected), "q={q}");
    }
}

#[tokio::test]
async fn results_carry_plain_text_highlights_with_offsets_and_sort_by_relevance() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    upload(&s, &key, "<b>lithium</b> & cobalt.pdf", &["lithium"], false).await;
    upload(&s, &key, "cobalt only.pdf", &[], false).await;
    let page = search_page(&s, &key, "lithium", "").await;
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let highlights = results[0]["highlights"].as_array().unwrap();
    assert!(!highlights.is_empty() && highlights.len() <= 3);
    for h in highlights {
        let text: Vec<char> = h["text"].as_str().unwrap().chars().collect();
        assert!(text.len() <= 300);
        for m in h["matches"].as_array().unwrap() {
            let (a, b) = (
                m[0].as_u64().unwrap() as usize,
                m[1].as_u64().unwrap() as usize,
            );
            let matched: String = text[a..b].iter().collect();
            assert_eq!(matched.to_lowercase(), "lithium", "{h}");
        }
    }
    // The snippet is the text as it is: markup in content stays text.
    assert!(highlights[0]["text"].as_str().unwrap().contains("<b>"));
    // Without q there are no highlights.
    let list = s.get_json(DOCUMENTS, &key).await;
    assert!(list["results"][0].get("highlights").is_none());
    // Relevance by default; other orders still apply.
    let both = search_page(&s, &key, "cobalt", "").await;
    assert_eq!(both["results"].as_array().unwrap().len(), 2);
    let by_name = search_page(&s, &key, "cobalt", "sort_by=file_name&sort_order=asc").await;
    let order: Vec<&str> = by_name["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["<b>lithium</b> & cobalt.pdf", "cobalt only.pdf"]);
    // Filters combine with q.
    let none = search_page(&s, &key, "cobalt", "origin=email").await;
    assert_eq!(none["results"], json!([]));
    let tagged = search_page(&s, &key, "cobalt", "tags=lithium").await;
    assert_eq!(tagged["results"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_queries_are_400_naming_q() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    let long = "a".repeat(10_000);
    for q in [
        "%22unclosed",
        "*",
        "OR%20OR",
        "OR",
        "-word",
        "NEAR(a%20b)",
        "col:lithium",
        "a%00b",
        "%00",
        long.as_str(),
        "",
        "%20%20",
        "lith*ium",
        "a)%20OR%20(b",
        "%27%3B%20DROP%20TABLE%20documents%3B--",
        "search_fts:x",
        "search_org:x",
        // `§` alone: the org terms' mark is no word of a query.
        "%C2%A7",
        "%22a%22*",
    ] {
        let resp = s.get(&format!("{DOCUMENTS}?q={q}"), &key).await;
        assert_invalid_request(resp, "q", &format!("q={}", &q[..q.len().min(40)])).await;
    }
    // Not UTF-8 once decoded.
    let resp = s.get(&format!("{DOCUMENTS}?q=%FF"), &key).await;
    assert_invalid_request(resp, "q", "q=%FF").await;
    // The most terms a query may have are still ranked, one weight each.
    upload(&s, &key, "w31 note.pdf", &[], false).await;
    let most: Vec<String> = (0..32).map(|i| format!("w{i}")).collect();
    let page = search_page(&s, &key, &most.join(" OR "), "").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1, "{page}");
}

#[tokio::test]
async fn a_document_is_searchable_once_completed_and_changes_apply_to_the_next_query() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    // Registered but never uploaded: not completed, not found.
    s.new_upload(&key, &json!({"file_name": "pending lithium.pdf"}))
        .await;
    assert!(found(&s, &key, "lithium").await.is_empty());
    let doc = upload(&s, &key, "lithium note.pdf", &["draft"], false).await;
    let id = doc["id"].as_str().unwrap();
    assert_eq!(found(&s, &key, "draft").await, names(&["lithium note.pdf"]));
    // Retagging: the old tag is no longer found, the new one is.
    let tag = s
        .post_json(common::TAGS, &key, &json!({"tag_name": "final"}))
        .await;
    let tag: Value = tag.json().await.unwrap();
    let resp = s
        .patch_json(&document_path(id), &key, &json!({"tags": [tag["id"]]}))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(found(&s, &key, "draft").await.is_empty());
    assert_eq!(found(&s, &key, "final").await, names(&["lithium note.pdf"]));
    // Deleted: gone from the next query.
    assert_eq!(s.delete(&document_path(id), &key).await.status(), 200);
    assert!(found(&s, &key, "lithium").await.is_empty());
}

#[tokio::test]
async fn email_subject_and_sender_are_searched() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    let inbox = s.create_email_connector(&key, "desk", false).await;
    let message = format!(
        "From: Desk <{DESK}>\r\nTo: {to}\r\nSubject: Lithium weekly wrap\r\n\
         Message-ID: <search-1@broker.example>\r\n\r\nbody\r\n",
        to = inbox_address(&inbox)
    );
    let (code, _) = s
        .deliver(DESK, &[&inbox_address(&inbox)], message.as_bytes())
        .await;
    assert_eq!(code, 250);
    s.run_jobs();
    let by_subject = wait_found(&s, &key, "\"lithium weekly\"").await;
    assert_eq!(by_subject[0]["request_origin"], "email");
    let by_sender = wait_found(&s, &key, "desk@broker.example").await;
    assert_eq!(by_subject[0]["id"], by_sender[0]["id"]);
    // The connector filter combines with q.
    let filtered = s
        .list_documents(
            &key,
            &format!("q=lithium&connector_id={}", connector_id(&inbox)),
        )
        .await;
    assert_eq!(filtered.len(), by_subject.len());
}

/// Two orgs with overlapping words, a shared and an unshared connector, a
/// document unshared mid-test and one deleted mid-search.
#[tokio::test]
async fn search_never_shows_what_the_caller_may_not_see() {
    let s = TestServer::start().await;
    let alice = s.create_key("acme", "alice");
    let bob = s.create_key("acme", "bob");
    let carol = s.create_key("globex", "carol");
    upload(&s, &alice, "alice private lithium.pdf", &[], false).await;
    let shared = upload(&s, &alice, "alice shared lithium.pdf", &[], true).await;
    upload(&s, &bob, "bob lithium.pdf", &[], false).await;
    for i in 0..3 {
        upload(
            &s,
            &carol,
            &format!("globex lithium {i}.pdf"),
            &["lithium"],
            true,
        )
        .await;
    }
    let shared_inbox = s.create_email_connector(&alice, "shared", true).await;
    let private_inbox = s.create_email_connector(&alice, "private", false).await;
    s.seed_connector_documents(&shared_inbox, 2, &["label:shared lithium"])
        .await;
    s.seed_connector_documents(&private_inbox, 2, &["label:private lithium"])
        .await;

    let bob_sees = names(&[
        "alice shared lithium.pdf",
        "bob lithium.pdf",
        "report-0.txt",
        "report-1.txt",
    ]);
    assert_eq!(found(&s, &bob, "lithium").await, bob_sees);
    assert_eq!(count(&s, &bob, "lithium").await, 4);
    assert_eq!(count(&s, &carol, "lithium").await, 3);
    assert_eq!(count(&s, &alice, "lithium").await, 6);
    // Pages and has_more count only what the caller sees.
    let page = search_page(&s, &bob, "lithium", "page_size=4").await;
    assert_eq!(page["has_more"], false);
    assert_eq!(page["results"].as_array().unwrap().len(), 4);
    let page = search_page(&s, &bob, "lithium", "page_size=3").await;
    assert_eq!(page["has_more"], true);
    // Snippets hold nothing of other tenants' documents.
    let all = search_page(&s, &bob, "lithium", "page_size=100").await;
    let text = all.to_string();
    for hidden in ["private", "globex", "alice private"] {
        assert!(!text.contains(hidden), "{hidden} leaked: {text}");
    }
    // Filtering by a connector bob cannot see: nothing, as for an empty one.
    let path = format!("connector_id={}", connector_id(&private_inbox));
    let hidden = search_page(&s, &bob, "lithium", &path).await;
    assert_eq!(
        (&hidden["results"], &hidden["has_more"]),
        (&json!([]), &json!(false))
    );
    // Carol's words never reach acme, even ranked by relevance.
    assert!(found(&s, &bob, "globex").await.is_empty());

    // Unsharing the connector and a document applies to the next query.
    let resp = s
        .put_json(
            &connector_path(&shared_inbox),
            &alice,
            &json!({"label": "shared", "share_with_org": false}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = s
        .patch_json(
            &document_path(shared["id"].as_str().unwrap()),
            &alice,
            &json!({"share_with_org": false}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        found(&s, &bob, "lithium").await,
        names(&["bob lithium.pdf"])
    );
    assert_eq!(count(&s, &bob, "lithium").await, 1);
    let page = search_page(&s, &bob, "lithium", "page_size=1").await;
    assert_eq!(page["has_more"], false);

    // A hard delete of carol's documents while searching: once it has
    // answered, no page shows them.
    let ids: Vec<String> = s
        .list_documents(&carol, "q=lithium")
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        let searching = s.get(&format!("{DOCUMENTS}?q=lithium"), &carol);
        let deleted = s.delete(&document_path(id), &carol);
        let (page, deleted) = tokio::join!(searching, deleted);
        assert_eq!(page.status(), 200);
        assert_eq!(deleted.status(), 200);
        let after = s.list_documents(&carol, "q=lithium").await;
        assert!(
            after.iter().all(|d| d["id"] != id.as_str()),
            "{id} still found"
        );
    }
    assert!(found(&s, &carol, "lithium").await.is_empty());
}

/// How words are weighed is a matter of the caller's org: another org's
/// documents never reorder its results by weighing its words (nor time
/// its searches by being counted).
#[tokio::test]
async fn another_orgs_documents_never_weigh_a_searchs_words() {
    let s = TestServer::start().await;
    let alice = s.create_key("acme", "alice");
    let carol = s.create_key("globex", "carol");
    // In acme "beta" is common and "alpha" rare, so alpha weighs more:
    // the note that says alpha three times comes first.
    upload(&s, &alice, "alpha alpha alpha beta.pdf", &[], false).await;
    upload(&s, &alice, "alpha beta beta beta.pdf", &[], false).await;
    for i in 0..3 {
        upload(&s, &alice, &format!("beta note {i}.pdf"), &[], false).await;
    }
    for i in 0..10 {
        upload(&s, &alice, &format!("gamma note {i}.pdf"), &[], false).await;
    }
    let order = |page: Value| result_ids(&page, "file_name");
    let before = order(search_page(&s, &alice, "alpha beta", "").await);
    assert_eq!(before.len(), 2, "{before:?}");
    // In globex, alpha is everywhere: counted over every org, it would
    // weigh nothing and beta would lead acme's results.
    for i in 0..20 {
        upload(&s, &carol, &format!("alpha memo {i}.pdf"), &[], true).await;
    }
    assert_eq!(
        order(search_page(&s, &alice, "alpha beta", "").await),
        before
    );
}

#[tokio::test]
async fn a_purged_connector_leaves_nothing_to_find() {
    let s = TestServer::start().await;
    let alice = s.create_key("acme", "alice");
    let inbox = s.create_email_connector(&alice, "gone", false).await;
    s.seed_connector_documents(&inbox, 3, &["label:purged lithium"])
        .await;
    assert_eq!(count(&s, &alice, "purged").await, 3);
    assert_eq!(s.hard_delete(&alice, &inbox).await.status(), 200);
    s.run_jobs();
    s.wait_until_purged(&alice, &inbox, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(count(&s, &alice, "purged").await, 0);
}

/// The same corpus on both databases gives the same set for every query.
#[tokio::test]
async fn sqlite_and_postgresql_find_the_same_sets() {
    let Some(database) = TestDatabase::create_always() else {
        eprintln!("SKIPPED: the comparison needs PostgreSQL");
        return;
    };
    let sqlite = TestServer::builder().sqlite().start().await;
    let postgres = TestServer::builder().postgres(database).start().await;
    let mut sets = vec![];
    for s in [&sqlite, &postgres] {
        let key = s.create_key("acme", "alice");
        corpus(s, &key).await;
        let mut results = vec![];
        for (q, _) in QUERIES {
            results.push((q.to_string(), found(s, &key, q).await));
        }
        // Beyond the table: hostile-looking but valid queries.
        for q in [
            "li*",
            "\"and\"",
            "a OR b OR nickel",
            "-x lithium",
            "pdf -metals -macro",
            "o'neil pdf",
            "ｌｉｔｈｉｕｍ",
        ] {
            results.push((q.to_string(), found(s, &key, q).await));
        }
        sets.push(results);
    }
    assert_eq!(sets[0], sets[1]);
}

#[tokio::test]
async fn the_index_compacts_on_demand_and_finds_the_same() {
    let s = TestServer::builder().manual_jobs().start().await;
    // One processing transaction per document: a new index segment each.
    for i in 0..6 {
        let text = format!("note {i} on lithium prices");
        s.upload(
            &s.admin_key,
            &format!("n{i}.txt"),
            text.as_bytes(),
            json!({}),
        )
        .await;
        s.run_jobs();
    }
    let before = found(&s, &s.admin_key, "lithium").await;
    assert_eq!(before.len(), 6);
    let out = s.cli(&["admin", "compact-search-index"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    if s.database_url().is_some() {
        assert!(
            stderr.contains("maintains its search index itself"),
            "{stderr}"
        );
    } else {
        let (segments, after) = stdout.trim().split_once(" -> ").expect(&stdout);
        assert!(segments.parse::<u32>().unwrap() > 1, "{stdout}");
        assert_eq!(after, "1", "{stdout}");
    }
    assert_eq!(found(&s, &s.admin_key, "lithium").await, before);
    assert_eq!(found(&s, &s.admin_key, "pric*").await, before);
}
